package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// Version is the plugin's version, as in plugin.json.
const Version = "0.1.0"

// keyFile holds the log's Ed25519 signing key (PKCS #8, PEM, mode 0600).
const keyFile = "signing-key.pem"

// Settings of the plugin (plugin.json's config_schema).
type Settings struct {
	CheckpointEvery           int `json:"checkpoint_every"`
	CheckpointIntervalSeconds int `json:"checkpoint_interval_seconds"`
	RetentionDays             int `json:"retention_days"`
	// Durability is when an append counts as stored: "full" (the default:
	// on disk, through kill -9 and a power cut) or "normal" (through kill
	// -9; a power cut or OS crash may lose the last appends, which the
	// host has already dropped from its queue). See store.go's openStore.
	Durability string `json:"durability"`
}

func defaultSettings() Settings {
	return Settings{CheckpointEvery: 1000, CheckpointIntervalSeconds: 60, Durability: durabilityFull}
}

// Log is the audit plugin: an audit.Sink and audit.Prover over a store.
type Log struct {
	sdk.Base

	// now is the clock (tests replace it).
	now func() time.Time

	mu       sync.Mutex
	st       *store
	settings Settings
	stop     chan struct{}
	done     chan struct{}
	// lastArch is when the hourly work last ran (only tick uses it).
	lastArch time.Time
}

var (
	_ audit.Sink      = (*Log)(nil)
	_ audit.Prover    = (*Log)(nil)
	_ sdk.HTTPHandler = (*Log)(nil)
	_ sdk.Shutdowner  = (*Log)(nil)
)

// NewLog returns the plugin, not yet configured.
func NewLog() *Log { return &Log{now: time.Now, settings: defaultSettings()} }

// store returns the open store, or ErrFailedPrecondition before Configure.
func (l *Log) store() (*store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		return nil, fmt.Errorf("%w: the audit log is not open yet (the host configures the plugin first)", sdk.ErrFailedPrecondition)
	}
	return l.st, nil
}

func (l *Log) config() Settings {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.settings
}

// Describe names the plugin and, once the key exists, its fingerprint, so
// `mikrobill plugin inspect` shows it.
func (l *Log) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	desc := "Tamper-evident audit log: hash chain, Merkle tree and signed checkpoints in SQLite"
	if st, err := l.store(); err == nil {
		desc += "; signing key " + audit.KeyFingerprint(st.publicKey())
	} else if dir := os.Getenv("MIKROBILL_PLUGIN_DATA_DIR"); dir != "" {
		if key, err := readKey(dir); err == nil {
			desc += "; signing key " + audit.KeyFingerprint(key.Public().(ed25519.PublicKey))
		}
	}
	return &sdk.DescribeResponse{Name: "audit", Version: Version, Description: desc}, nil
}

// Configure opens the log in the data directory (making the signing key on
// the first start) and starts the checkpoint and retention schedule.
func (l *Log) Configure(ctx context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	set := defaultSettings()
	if err := sdk.DecodeConfig(req.Settings, &set); err != nil {
		return nil, err
	}
	if set.Durability != durabilityFull && set.Durability != durabilityNormal {
		return nil, fmt.Errorf("%w: durability %q is not one this plugin knows; use %q (appends survive a power cut; the default) or %q (they survive a crash of the plugin, not of the machine)", sdk.ErrInvalidArgument, set.Durability, durabilityFull, durabilityNormal)
	}
	if req.DataDir == "" {
		return nil, fmt.Errorf("%w: the host gave no data directory; the audit log needs one to keep its database and signing key", sdk.ErrFailedPrecondition)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settings = set
	if l.st == nil || l.st.dir != req.DataDir || l.st.durability != set.Durability {
		key, err := loadOrCreateKey(req.DataDir)
		if err != nil {
			return nil, err
		}
		if l.st != nil && l.st.dir == req.DataDir {
			// The same log with another durability: close it first (one
			// writer at a time), after the append in progress, if any (one
			// that waits for it fails on the closed log; the host retries).
			l.stopSchedule()
			_ = l.st.close() // waits for s.mu
			l.st = nil
		}
		st, err := openStore(ctx, req.DataDir, key, l.now, set.Durability)
		if err != nil {
			return nil, err
		}
		if l.st != nil {
			l.stopSchedule()
			_ = l.st.close()
		}
		l.st = st
		l.Logger().Info("audit log open", "dir", req.DataDir, "events", st.tree.End(), "key", audit.KeyFingerprint(st.publicKey()))
		if st.indexNote != "" {
			l.Logger().Warn("audit index rebuilt", "reason", st.indexNote)
		}
		if st.broken != "" {
			l.Logger().Error("audit log broken: it takes no events until an operator looks at it", "problem", st.broken)
		}
	} else {
		l.stopSchedule()
	}
	l.startSchedule(set)
	var resp sdk.ConfigureResponse
	if l.st.broken != "" {
		resp.Warnings = append(resp.Warnings, "the audit log does not verify and takes no events: "+l.st.broken)
	}
	return &resp, nil
}

// startSchedule runs the timed checkpoints and retention. l.mu is held.
func (l *Log) startSchedule(set Settings) {
	stop, done := make(chan struct{}), make(chan struct{})
	l.stop, l.done = stop, done
	st := l.st
	interval := time.Duration(set.CheckpointIntervalSeconds) * time.Second
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			l.tick(ctx, st, set)
			cancel()
		}
	}()
}

// tick takes a checkpoint when there are new events and, once an hour,
// refreshes the query statistics and, when retention is on, archives what
// is older than it.
func (l *Log) tick(ctx context.Context, st *store, set Settings) {
	st.mu.Lock()
	pending := st.tree.End() > st.last.Size
	st.mu.Unlock()
	if pending {
		if _, err := st.checkpoint(ctx); err != nil {
			l.Logger().Error("scheduled checkpoint failed", "error", err)
		}
	}
	if l.now().Sub(l.lastArch) < time.Hour {
		return
	}
	l.lastArch = l.now()
	if err := st.optimize(ctx); err != nil {
		l.Logger().Warn("refreshing query statistics failed", "error", err)
	}
	if set.RetentionDays > 0 {
		cutoff := l.now().Add(-time.Duration(set.RetentionDays) * 24 * time.Hour)
		if res, err := st.archive(ctx, cutoff); err != nil {
			l.Logger().Error("archiving old audit events failed", "error", err)
		} else if res.Events > 0 {
			l.Logger().Info("archived old audit events", "events", res.Events, "segment", res.Segment)
		}
	}
}

// stopSchedule stops the schedule's goroutine. l.mu is held.
func (l *Log) stopSchedule() {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop, l.done = nil, nil
	}
}

// Shutdown stops the schedule and closes the database.
func (l *Log) Shutdown(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopSchedule()
	if l.st != nil {
		err := l.st.close()
		l.st = nil
		return err
	}
	return nil
}

// CheckHealth is ok unless the log is broken; its details are what an
// operator writes down (the key's fingerprint) and checks (the size).
func (l *Log) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	st, err := l.store()
	if err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: err.Error()}, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	pub := st.publicKey()
	details := map[string]any{
		"events":                 st.tree.End(),
		"archived_events":        st.archivedThrough,
		"public_key":             base64.StdEncoding.EncodeToString(pub),
		"public_key_fingerprint": audit.KeyFingerprint(pub),
		"last_checkpoint_size":   st.last.Size,
	}
	if !st.last.Time.IsZero() {
		details["last_checkpoint_time"] = st.last.Time.Format(time.RFC3339Nano)
	}
	if st.broken != "" {
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: "audit log broken, appends refused: " + st.broken, Details: details}, nil
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: fmt.Sprintf("%d events, last checkpoint at %d", st.tree.End(), st.last.Size), Details: details}, nil
}

// Append stores a batch: each event checked with Validate, duplicates by
// id skipped (also against archived events), the rest chained and added to
// the tree in one transaction.
func (l *Log) Append(ctx context.Context, req *audit.AppendRequest) (*audit.AppendResponse, error) {
	for i := range req.Events {
		if err := req.Events[i].Validate(); err != nil {
			return nil, err
		}
	}
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	resp, err := st.append(ctx, req.Events, uint64(l.config().CheckpointEvery))
	if err != nil {
		if errors.Is(err, audit.ErrChainBroken) {
			l.Logger().Error("append refused", "error", err)
		}
		return nil, err
	}
	return resp, nil
}

// GetCheckpoint returns the latest checkpoint, taking one first with Take.
func (l *Log) GetCheckpoint(ctx context.Context, req *audit.GetCheckpointRequest) (*audit.GetCheckpointResponse, error) {
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	if req.Take {
		cp, err := st.checkpoint(ctx)
		if err != nil {
			return nil, err
		}
		return &audit.GetCheckpointResponse{Checkpoint: cp}, nil
	}
	st.mu.Lock()
	cp := st.last
	st.mu.Unlock()
	if cp.Size == 0 {
		return nil, fmt.Errorf("%w: the audit log has no checkpoint yet; ask with take set to sign one", sdk.ErrNotFound)
	}
	return &audit.GetCheckpointResponse{Checkpoint: cp}, nil
}

// loadOrCreateKey reads the signing key, making it on the first start.
func loadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	key, err := readKey(dir)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make the audit log's signing key: %w", err)
	}
	pemKey, err := marshalKey(key)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, keyFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write the audit log's signing key: %w", err)
	}
	if _, err := f.Write(pemKey); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write the audit log's signing key: %w", err)
	}
	return key, syncDir(dir)
}

func readKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s is not a PEM private key; restore it from a backup (a new key makes every earlier checkpoint unverifiable with the old public key)", sdk.ErrFailedPrecondition, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", sdk.ErrFailedPrecondition, path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T, want an Ed25519 key", sdk.ErrFailedPrecondition, path, k)
	}
	return key, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func marshalKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
