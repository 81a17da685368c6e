// Package hosts is what several hosts sharing one store know of each
// other: each running host registers itself in the store's hosts table and
// keeps its row fresh with a heartbeat (carrying its plugins' states), and
// marks it stopped on a clean shutdown; a host not heard from for GoneAfter
// is gone.
//
// The job queue's leader (River's, whose client id is the host id) runs
// the periodic jobs. When the leader is a host that is gone, the live
// hosts depose it at their next heartbeat (store.DeposeGoneLeader) and
// River's electors take over at once, instead of after the dead leader's
// term (River's 5 s election interval plus 10 s).
//
// What an operator changes through one host and every host must apply —
// a plugin's saved settings, a lasting disable or its enable, a
// marketplace action (install, upgrade, rollback, remove) — is announced
// to the others with PostgreSQL NOTIFY on Channel. A notification is only a
// hint: a host that gets one reads what changed from the store, and every
// Resync it reads it all again, so a notification lost while its listener
// reconnects costs at most Resync. On SQLite there is one host and nothing
// to announce.
package hosts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Channel is the PostgreSQL notification channel of the hosts.
const Channel = "mikrobill_hosts"

// Defaults.
const (
	DefaultHeartbeat = 2 * time.Second
	// GoneBeats is how many heartbeats a host may miss before it is gone.
	GoneBeats = 4
	// DefaultResync is how often a host reads everything it must apply
	// from the store, notified or not.
	DefaultResync = 10 * time.Second
	// actionRetry is how soon a marketplace action this host could not
	// carry out is tried again.
	actionRetry = time.Minute
)

// What changed (Change.Kind).
const (
	KindSettings = "settings"
	KindDisable  = "disable"
	KindActions  = "actions"
)

// Change is the payload of a notification.
type Change struct {
	Kind   string `json:"kind"`
	Plugin string `json:"plugin,omitempty"`
	Host   string `json:"host"`
}

// Local is what a host applies of what another host changed.
type Local interface {
	// PluginStates is this host's view of its plugins, published with
	// each heartbeat (marshalled to JSON).
	PluginStates() any
	// Reconfigure reads the plugin's saved settings from the store and
	// hands them to the running plugin (none saved: the file's).
	Reconfigure(ctx context.Context, plugin string) error
	// SetDisabled disables or enables the plugin here, as a lasting
	// disable recorded in the store says; doing what is already so, or a
	// plugin this host does not have, is not an error.
	SetDisabled(plugin string, disabled bool) error
	// ApplyActions brings the plugin directory and the running plugins to
	// the latest finished marketplace actions (pluginstall.Converge) and
	// returns what it could not bring in line.
	ApplyActions(ctx context.Context, wants []store.PluginAction) []error
}

// Config is a host's place among the hosts.
type Config struct {
	// ID names the host (ResolveID).
	ID string
	// Address is the host's own URL; Version its version.
	Address, Version string
	// Heartbeat is how often the host says it is alive (DefaultHeartbeat);
	// it is gone after GoneBeats missed.
	Heartbeat time.Duration
	// Resync is how often everything to apply is read again
	// (DefaultResync).
	Resync time.Duration
	// Secrets are the secrets every host sharing the store must share, by
	// setting (security.jwt_secret, ...): a host refuses to start when one
	// differs from a live host's. Only digests are kept in the store.
	Secrets map[string]string
	Logger  hclog.Logger
}

// Registry is one host's membership: its heartbeat, the listener of the
// other hosts' changes, and the view of all hosts.
type Registry struct {
	st    *store.Store
	cfg   Config
	local Local
	log   hclog.Logger

	mu       sync.Mutex
	settings map[string]int64  // saved settings' updated_at as applied here
	disabled map[string]bool   // plugins disabled here by a lasting disable
	actions  map[string]string // latest done action id per plugin, as applied
	retryAt  time.Time         // when failed actions are tried again

	trigger map[string]chan struct{}
	passes  atomic.Int64 // sync passes finished, of every kind (for tests)
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New makes the registry; nothing runs until Start.
func New(st *store.Store, local Local, cfg Config) *Registry {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	r := &Registry{st: st, cfg: cfg, local: local, log: cfg.Logger.Named("hosts"),
		trigger: map[string]chan struct{}{}}
	for _, k := range []string{KindSettings, KindDisable, KindActions} {
		r.trigger[k] = make(chan struct{}, 1)
	}
	return r
}

// ID is this host's id.
func (r *Registry) ID() string { return r.cfg.ID }

// GoneAfter is how long a host may go unheard before it is gone.
func (r *Registry) GoneAfter() time.Duration { return GoneBeats * r.cfg.Heartbeat }

// Start registers the host, takes what the store says now as applied (the
// plugins just started with it), and runs the heartbeat, the listener and
// the appliers until Stop.
func (r *Registry) Start(ctx context.Context) error {
	q := r.st.Q()
	if err := r.checkSecrets(ctx); err != nil {
		return err
	}
	if err := q.RegisterHost(ctx, r.row()); err != nil {
		return err
	}
	var err error
	if r.settings, err = q.PluginSettingsVersions(ctx); err != nil {
		return err
	}
	dis, err := q.PluginsDisabled(ctx)
	if err != nil {
		return err
	}
	r.disabled = map[string]bool{}
	for p := range dis {
		r.disabled[p] = true
	}
	latest, err := q.LatestPluginActions(ctx)
	if err != nil {
		return err
	}
	r.actions = actionIDs(latest)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.run(func() { r.heartbeatLoop(runCtx) })
	r.run(func() { r.applyLoop(runCtx, KindSettings, r.syncSettings) })
	r.run(func() { r.applyLoop(runCtx, KindDisable, r.syncDisables) })
	r.run(func() { r.applyLoop(runCtx, KindActions, r.syncActions) })
	if r.st.Dialect() == store.Postgres {
		r.run(func() { r.listen(runCtx) })
	}
	r.log.Info("host registered", "id", r.cfg.ID, "heartbeat", r.cfg.Heartbeat, "gone_after", r.GoneAfter())
	return nil
}

func (r *Registry) run(f func()) {
	r.wg.Add(1)
	go func() { defer r.wg.Done(); f() }()
}

// Stop ends the loops and marks the host stopped (a clean shutdown).
func (r *Registry) Stop(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
	}
	return r.st.Q().StopHost(ctx, r.cfg.ID)
}

func (r *Registry) row() store.HostRow {
	hostname, _ := os.Hostname()
	return store.HostRow{ID: r.cfg.ID, Hostname: hostname, Address: r.cfg.Address, Version: r.cfg.Version, Plugins: r.states(),
		Secrets: r.secretDigests()}
}

// secretDigests are digests of the shared secrets: equal secrets give
// equal digests, and a digest does not give the secret away.
func (r *Registry) secretDigests() map[string]string {
	out := make(map[string]string, len(r.cfg.Secrets))
	for k, v := range r.cfg.Secrets {
		mac := hmac.New(sha256.New, []byte(v))
		mac.Write([]byte("mikrobill shared secret digest"))
		out[k] = hex.EncodeToString(mac.Sum(nil))
	}
	return out
}

// CheckSecrets is what Start checks first, for a host to refuse to start
// before it starts anything else.
func CheckSecrets(ctx context.Context, st *store.Store, cfg Config) error {
	return New(st, nil, cfg).checkSecrets(ctx)
}

// ErrSecretsDiffer is a host whose shared secrets are not those of the
// live hosts on the store.
var ErrSecretsDiffer = errors.New("the secrets differ from the other hosts'")

// checkSecrets refuses a host whose shared secrets differ from a live
// host's: a JWT, session cookie or pay link one host made would fail on
// the other, and settings one encrypted could not be read by the other.
func (r *Registry) checkSecrets(ctx context.Context) error {
	q := r.st.Q()
	rows, err := q.ListHosts(ctx)
	if err != nil {
		return err
	}
	now, err := q.DBNow(ctx)
	if err != nil {
		return err
	}
	mine := r.secretDigests()
	var errs []error
	for _, h := range rows {
		if h.ID == r.cfg.ID || !h.StoppedAt.IsZero() || now.Sub(h.HeartbeatAt) > r.GoneAfter() {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(mine)) {
			if theirs, ok := h.Secrets[k]; ok && theirs != mine[k] {
				errs = append(errs, fmt.Errorf("%w: %s is not the one of host %q, which runs on this database", ErrSecretsDiffer, k, h.ID))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\nevery host on one database needs the same security.jwt_secret, security.cookie_secret and security.encryption_key: set them alike in each host's configuration (or, outside production, copy <data_dir>/secrets.json from a running host)", errors.Join(errs...))
	}
	return nil
}

func (r *Registry) states() json.RawMessage {
	if r.local == nil {
		return nil
	}
	raw, err := json.Marshal(r.local.PluginStates())
	if err != nil {
		r.log.Error("plugin states not published", "error", err)
		return nil
	}
	return raw
}

// heartbeatLoop keeps the host's row fresh and deposes a gone leader.
func (r *Registry) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Heartbeat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.beat(ctx)
		if err != nil && ctx.Err() == nil && !failing {
			r.log.Error("heartbeat failed; the other hosts see this one as gone after "+r.GoneAfter().String(), "error", err)
		} else if err == nil && failing {
			r.log.Info("heartbeat recorded again")
		}
		failing = err != nil
	}
}

func (r *Registry) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Heartbeat)
	defer cancel()
	q := r.st.Q()
	ok, err := q.HostHeartbeat(ctx, r.cfg.ID, r.states())
	if err != nil {
		return err
	}
	if !ok {
		if err := q.RegisterHost(ctx, r.row()); err != nil {
			return err
		}
	}
	gone, err := q.DeposeGoneLeader(ctx, r.GoneAfter())
	if err != nil {
		return err
	}
	if gone != "" {
		r.log.Warn("the job queue's leader is gone; a live host takes over its periodic jobs", "gone_leader", gone)
	}
	return nil
}

// Changed tells every host that kind changed for plugin, after this host
// applied it itself: this host takes the store's state as applied, and the
// others read it.
func (r *Registry) Changed(ctx context.Context, kind, plugin string) error {
	q := r.st.Q()
	switch kind {
	case KindSettings:
		vers, err := q.PluginSettingsVersions(ctx)
		if err != nil {
			return err
		}
		r.mu.Lock()
		if v, ok := vers[plugin]; ok {
			r.settings[plugin] = v
		} else {
			delete(r.settings, plugin)
		}
		r.mu.Unlock()
	case KindDisable:
		dis, err := q.PluginsDisabled(ctx)
		if err != nil {
			return err
		}
		r.mu.Lock()
		if _, ok := dis[plugin]; ok {
			r.disabled[plugin] = true
		} else {
			delete(r.disabled, plugin)
		}
		r.mu.Unlock()
	case KindActions:
		latest, err := q.LatestPluginActions(ctx)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.actions = actionIDs(latest)
		r.mu.Unlock()
	default:
		return fmt.Errorf("unknown change %q", kind)
	}
	raw, _ := json.Marshal(Change{Kind: kind, Plugin: plugin, Host: r.cfg.ID})
	return q.NotifyHosts(ctx, Channel, string(raw))
}

// applyLoop runs sync when kind is notified, and every Resync.
func (r *Registry) applyLoop(ctx context.Context, kind string, sync func(context.Context) error) {
	t := time.NewTicker(r.cfg.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.trigger[kind]:
		}
		if err := sync(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("changes from other hosts not applied; tried again in "+r.cfg.Resync.String(), "what", kind, "error", err)
		}
		r.passes.Add(1)
	}
}

func (r *Registry) poke(kind string) {
	if ch, ok := r.trigger[kind]; ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// syncSettings reconfigures the plugins whose saved settings changed since
// this host last applied them.
func (r *Registry) syncSettings(ctx context.Context) error {
	vers, err := r.st.Q().PluginSettingsVersions(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	var changed []string
	for p, v := range vers {
		if r.settings[p] != v {
			changed = append(changed, p)
		}
	}
	for p := range r.settings {
		if _, ok := vers[p]; !ok {
			changed = append(changed, p)
		}
	}
	r.mu.Unlock()
	for _, p := range changed {
		err := r.local.Reconfigure(ctx, p)
		if err != nil {
			// The settings were accepted where they were saved; a plugin
			// here that refuses them keeps its own until the next change,
			// and its health says so.
			r.log.Error("settings saved through another host refused by the plugin here", "plugin", p, "error", err)
		} else {
			r.log.Info("settings saved through another host applied", "plugin", p)
		}
		r.mu.Lock()
		if v, ok := vers[p]; ok {
			r.settings[p] = v
		} else {
			delete(r.settings, p)
		}
		r.mu.Unlock()
	}
	return nil
}

// syncDisables disables the plugins a lasting disable names and enables
// those whose lasting disable was cleared.
func (r *Registry) syncDisables(ctx context.Context) error {
	dis, err := r.st.Q().PluginsDisabled(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	want := map[string]bool{}
	for p := range dis {
		if !r.disabled[p] {
			want[p] = true
		}
	}
	for p := range r.disabled {
		if _, ok := dis[p]; !ok {
			want[p] = false
		}
	}
	r.mu.Unlock()
	var errs []error
	for p, disabled := range want {
		if err := r.local.SetDisabled(p, disabled); err != nil {
			errs = append(errs, fmt.Errorf("plugin %q: %w", p, err))
			continue
		}
		r.log.Info("lasting disable from another host applied", "plugin", p, "disabled", disabled)
		r.mu.Lock()
		if disabled {
			r.disabled[p] = true
		} else {
			delete(r.disabled, p)
		}
		r.mu.Unlock()
	}
	return errors.Join(errs...)
}

// syncActions carries out the marketplace actions finished through other
// hosts since this host last did; what fails is tried again after
// actionRetry (a marketplace that is down is not asked every Resync).
func (r *Registry) syncActions(ctx context.Context) error {
	latest, err := r.st.Q().LatestPluginActions(ctx)
	if err != nil {
		return err
	}
	ids := actionIDs(latest)
	r.mu.Lock()
	same := len(ids) == len(r.actions)
	for p, id := range ids {
		same = same && r.actions[p] == id
	}
	retry := !r.retryAt.IsZero() && time.Now().After(r.retryAt)
	r.mu.Unlock()
	if same && !retry {
		return nil
	}
	var wants []store.PluginAction
	for _, a := range latest {
		wants = append(wants, a)
	}
	errs := r.local.ApplyActions(ctx, wants)
	r.mu.Lock()
	r.actions, r.retryAt = ids, time.Time{}
	if len(errs) > 0 {
		r.retryAt = time.Now().Add(actionRetry)
	}
	r.mu.Unlock()
	return errors.Join(errs...)
}

func actionIDs(latest map[string]store.PluginAction) map[string]string {
	out := make(map[string]string, len(latest))
	for p, a := range latest {
		out[p] = a.ID
	}
	return out
}

// listen waits for the other hosts' notifications on a connection of its
// own, and reconnects when it is lost; after each (re)connection it reads
// everything again, for what was announced while it was not listening.
func (r *Registry) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("listener of the other hosts' changes lost; reconnecting (changes are read again every "+r.cfg.Resync.String()+" meanwhile)", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (r *Registry) listenOnce(ctx context.Context) error {
	cc := r.st.Pool().Config().ConnConfig.Copy()
	dial, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(dial, cc)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	for _, k := range []string{KindSettings, KindDisable, KindActions} {
		r.poke(k)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var c Change
		if err := json.Unmarshal([]byte(n.Payload), &c); err != nil {
			r.log.Warn("notification not understood", "payload", n.Payload, "error", err)
			continue
		}
		r.poke(c.Kind)
	}
}

// ResolveID returns the host's id: configured (server.host_id), or the one
// kept in <dataDir>/host-id, or a new one (the machine's name and a random
// suffix) written there.
func ResolveID(configured, dataDir string) (string, error) {
	if configured != "" {
		if err := config.CheckHostID(configured); err != nil {
			return "", err
		}
		return configured, nil
	}
	path := filepath.Join(dataDir, IDFile)
	if raw, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(raw))
		if err := config.CheckHostID(id); err != nil {
			return "", fmt.Errorf("%s: %w; fix or remove the file (a new id is made)", path, err)
		}
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the host id: %w", err)
	}
	hostname, _ := os.Hostname()
	hostname = strings.Trim(badIDChars.ReplaceAllString(strings.ToLower(hostname), "-"), "-")
	if hostname == "" {
		hostname = "host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := fmt.Sprintf("%.48s-%s", hostname, hex.EncodeToString(b[:]))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("keep the host id: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the host id: %w", err)
	}
	return id, nil
}

// IDFile is the file in the data directory that keeps a generated host id.
const IDFile = "host-id"

var badIDChars = regexp.MustCompile(`[^a-z0-9.-]+`)
