package cli

// mikrobill audit: verify the audit plugin's log, prove that an event is in
// it, and check such a proof offline. verify and prove launch the
// installed audit plugin on its own (plugins.LaunchStandalone: the host's
// launch, lock check included) against its data directory, so they work
// while the host is down; SQLite in WAL mode lets them read beside a
// running host. verify holds the log to the public key and checkpoint size
// the host keeps in its own store when the store can be opened (or to the
// ones given as flags). verify-proof needs nothing but the proof file and
// the public key.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// Exit codes of `mikrobill audit verify` and `verify-proof`.
const (
	exitFailed   = 1 // could not check
	exitNotSound = 2 // checked: not sound
)

func newAudit(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify the audit log, prove an event is in it, check a proof offline",
		Long: `The audit plugin keeps the audit trail in a hash-chained log with a Merkle tree
(RFC 6962) and checkpoints signed with its own Ed25519 key. These commands
check it:

  verify         the whole log: chain, tree, checkpoints, and against the key
                 and size the host pinned (exit 0 sound, 2 not sound, 1 error)
  prove          the inclusion proof of one event, as JSON to keep
  verify-proof   check such a proof with the public key alone (offline)
  trust          show, or reset, the key and size the host pinned

verify and prove start the installed audit plugin (from the plugin
directory, checked against plugins.lock as the host does) on its data
directory, so they work while the host is down. docs/operations.md, "The
audit trail", says what to do when a verification fails.`,
	}
	cmd.AddCommand(newAuditVerify(g), newAuditProve(g), newAuditVerifyProof(g), newAuditTrust(g))
	return cmd
}

// auditFlags are the flags verify and prove share.
type auditFlags struct {
	plugin  string
	timeout time.Duration
}

func (f *auditFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.plugin, "plugin", "", "the audit plugin's name (default: the one plugin of kind audit in the plugin directory)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "how long the whole command may take")
}

// findAuditPlugin is the manifest of the audit plugin in the plugin
// directory: the one called name, or the only one of kind audit.
func findAuditPlugin(cfg *config.Config, name string) (*manifest.Manifest, error) {
	found, err := plugins.Discover(cfg.Plugins.Dir)
	if err != nil {
		return nil, err
	}
	var audits []plugins.Found
	for _, f := range found {
		if name != "" && f.Name == name {
			if f.Err != nil {
				return nil, fmt.Errorf("plugin %q in %s has problems: %v", f.Name, f.Dir, f.Err)
			}
			if f.Manifest.Kind != sdk.KindAudit {
				return nil, fmt.Errorf("plugin %q is a %s plugin, not an audit plugin", f.Name, f.Manifest.Kind)
			}
			return f.Manifest, nil
		}
		if name == "" && f.Err == nil && f.Manifest.Kind == sdk.KindAudit {
			audits = append(audits, f)
		}
	}
	switch {
	case name != "":
		return nil, fmt.Errorf("no plugin %q in %s; `mikrobill plugin list` shows what is there", name, cfg.Plugins.Dir)
	case len(audits) == 0:
		return nil, fmt.Errorf("no audit plugin in %s: install one (make build bundles plugins/audit), or point --plugin-dir at the folder that holds it", cfg.Plugins.Dir)
	case len(audits) > 1:
		names := make([]string, len(audits))
		for i, f := range audits {
			names[i] = f.Name
		}
		return nil, fmt.Errorf("several audit plugins in %s (%s): choose one with --plugin", cfg.Plugins.Dir, strings.Join(names, ", "))
	}
	return audits[0].Manifest, nil
}

// startAudit launches the audit plugin on its own and returns its client
// with its proofs; stop it with the returned function.
func startAudit(ctx context.Context, g *globals, cfg *config.Config, name string) (audit.Sink, audit.Prover, func(), error) {
	man, err := findAuditPlugin(cfg, name)
	if err != nil {
		return nil, nil, nil, err
	}
	log := g.logger(cfg).Named("audit")
	if log.GetLevel() == hclog.Info {
		log.SetLevel(hclog.Warn) // the plugin's start-up lines would bury the answer
	}
	saved, closeStore := standaloneSettings(ctx, cfg, log)
	defer closeStore()
	proc, err := plugins.LaunchStandalone(ctx, cfg, man, saved, log)
	if err != nil {
		return nil, nil, nil, err
	}
	stop := func() { proc.Stop(context.Background()) }
	sink, err := proc.Audit()
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	p, _ := sink.(audit.Prover)
	return sink, p, stop, nil
}

// standaloneSettings reads, for a plugin launched on its own, the settings
// operators saved in the host's store, so it runs as the serving host runs
// it (its durability, say). A store that cannot be opened within a few
// seconds is not fatal: verifying a log must work when the database is
// gone; the plugin then gets the configuration file's settings alone, and
// the log says so. Call the returned function when the plugin has started.
func standaloneSettings(ctx context.Context, cfg *config.Config, log hclog.Logger) (func(context.Context, string) (json.RawMessage, error), func()) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		log.Warn("the host's store cannot be opened: the plugin gets the configuration file's settings alone, not those saved in the admin UI", "error", err)
		return nil, func() {}
	}
	key, err := cfg.EncryptionKey()
	if err == nil {
		var cipher *store.Cipher
		if cipher, err = store.NewCipher(key); err == nil {
			return savedSettings(st, cipher), func() { st.Close() }
		}
	}
	st.Close()
	log.Warn("the host's encryption key cannot be read: the plugin gets the configuration file's settings alone, not those saved in the admin UI", "error", err)
	return nil, func() {}
}

// hostTrust reads what the host pinned about the audit log from its store,
// if the store can be opened within a few seconds: nil, with the reason,
// when it cannot or nothing is pinned yet.
func hostTrust(ctx context.Context, cfg *config.Config) (*store.AuditTrust, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return nil, "the host's store cannot be opened (" + err.Error() + ")"
	}
	defer st.Close()
	t, err := st.Q().AuditTrust(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "the host has not pinned a key yet (it pins the first it sees)"
	}
	if err != nil {
		return nil, err.Error()
	}
	return &t, ""
}

// parsePublicKey reads an Ed25519 public key written as standard or raw
// base64 or hex.
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString, hex.DecodeString} {
		if b, err := dec(s); err == nil && len(b) == ed25519.PublicKeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%q is not an Ed25519 public key: give its 32 bytes in base64 (as `mikrobill plugin inspect audit` shows it) or hex, or its fingerprint SHA256:...", s)
}

func newAuditVerify(g *globals) *cobra.Command {
	var f auditFlags
	var knownSize uint64
	var publicKey string
	var noHost bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit log: hash chain, Merkle tree, signed checkpoints (exit 0 sound, 2 not)",
		Long: `verify starts the installed audit plugin on its data directory and runs its
Verify over the whole log: every event's hash chain, the Merkle tree against
the latest signed checkpoint, every checkpoint's signature and that each
extends the one before.

It holds the log to what the host keeps in its own store, out of the log's
reach: the public key it pinned when it first saw the log (a log re-signed
with another key fails) and the largest checkpoint size it saw (a log file
rolled back to an older copy fails). --public-key and --known-size give
them instead, for example from where you wrote them down; --no-host skips
the store.

It prints how many events and checkpoints were checked, the latest
checkpoint and the result; a log that is not sound names the first bad
event and the reason (chain, tree, signature, consistency, truncated,
rollback). It does not change the host's store.

Exit status: 0 the log is sound, 2 it is not, 1 it could not be checked.`,
		Example: `  mikrobill audit verify
  mikrobill audit verify --public-key SHA256:2mC1... --known-size 120000
  mikrobill audit verify --data-dir /var/lib/mikrobill --no-host`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			req := &audit.VerifyRequest{KnownSize: knownSize}
			var fingerprint string // of a key given as a fingerprint
			held := "nothing pinned (--no-host)"
			if !noHost {
				t, why := hostTrust(ctx, cfg)
				if t == nil {
					held = why
				} else {
					key, err := base64.StdEncoding.DecodeString(t.PublicKey)
					if err == nil && len(key) == ed25519.PublicKeySize {
						req.PublicKey = key
					}
					req.KnownSize = max(req.KnownSize, t.KnownSize)
					held = fmt.Sprintf("the host's pinned key %s and known size %d", fingerprintOf(req.PublicKey), t.KnownSize)
				}
			}
			if publicKey != "" {
				if strings.HasPrefix(publicKey, "SHA256:") {
					fingerprint, req.PublicKey = publicKey, nil
				} else if req.PublicKey, err = parsePublicKey(publicKey); err != nil {
					return &exitError{code: exitFailed, msg: err.Error()}
				}
				held = "the key given"
			}
			sink, _, stop, err := startAudit(ctx, g, cfg, f.plugin)
			if err != nil {
				return &exitError{code: exitFailed, msg: err.Error()}
			}
			defer stop()
			resp, err := sink.Verify(ctx, req)
			if err != nil {
				return &exitError{code: exitFailed, msg: "verify the audit log: " + err.Error()}
			}
			if fingerprint != "" && resp.Checkpoint != nil && fingerprintOf(resp.Checkpoint.PublicKey) != fingerprint {
				resp.OK, resp.Reason = false, audit.ReasonSignature
				resp.Message = fmt.Sprintf("the log's checkpoints are signed by %s, not by the key %s you gave: the log was re-signed", fingerprintOf(resp.Checkpoint.PublicKey), fingerprint)
			}
			w := g.stdout
			fmt.Fprintf(w, "checked:     %d events, %d checkpoints\n", resp.Checked, resp.CheckpointsChecked)
			if cp := resp.Checkpoint; cp != nil {
				fmt.Fprintf(w, "checkpoint:  size %d, root %s, taken %s, signed by %s\n", cp.Size, base64.StdEncoding.EncodeToString(cp.RootHash),
					cp.Time.UTC().Format(time.RFC3339), fingerprintOf(cp.PublicKey))
			} else {
				fmt.Fprintln(w, "checkpoint:  none yet")
			}
			fmt.Fprintf(w, "held to:     %s\n", held)
			if !resp.OK {
				fmt.Fprintf(w, "result:      NOT SOUND: %s at event %d: %s\n", resp.Reason, resp.FirstBadSequence, resp.Message)
				return &exitError{code: exitNotSound, msg: ""}
			}
			fmt.Fprintf(w, "result:      sound (%s)\n", resp.Message)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().Uint64Var(&knownSize, "known-size", 0, "the largest checkpoint size seen before (the host's known size, when larger, wins)")
	cmd.Flags().StringVar(&publicKey, "public-key", "", "the log's public key (base64 or hex) or its fingerprint SHA256:... (instead of the host's pinned key)")
	cmd.Flags().BoolVar(&noHost, "no-host", false, "do not read the pinned key and known size from the host's store")
	return cmd
}

// proofFile is what `mikrobill audit prove` writes and `verify-proof`
// reads: the event, its leaf, the signed checkpoint and the audit path.
// Bytes are standard base64.
type proofFile struct {
	// Format names this layout: "mikrobill-audit-proof/1".
	Format     string          `json:"format"`
	Event      proofEvent      `json:"event"`
	LeafIndex  uint64          `json:"leaf_index"`
	Checkpoint proofCheckpoint `json:"checkpoint"`
	Proof      [][]byte        `json:"proof"`
}

// proofFormat is proofFile.Format.
const proofFormat = "mikrobill-audit-proof/1"

type proofEvent struct {
	ID           string            `json:"id"`
	Time         time.Time         `json:"time"`
	Actor        string            `json:"actor"`
	Action       string            `json:"action"`
	ResourceType string            `json:"resource_type"`
	ResourceID   string            `json:"resource_id"`
	Outcome      string            `json:"outcome"`
	RemoteAddr   string            `json:"remote_addr"`
	RequestID    string            `json:"request_id"`
	Metadata     map[string]string `json:"metadata"`
	Sequence     uint64            `json:"sequence"`
	Hash         string            `json:"hash"`
	PrevHash     string            `json:"prev_hash"`
}

type proofCheckpoint struct {
	Origin    string    `json:"origin"`
	Size      uint64    `json:"size"`
	RootHash  []byte    `json:"root_hash"`
	Time      time.Time `json:"time"`
	PublicKey []byte    `json:"public_key"`
	Signature []byte    `json:"signature"`
}

func toProofFile(p *audit.ProveInclusionResponse) *proofFile {
	e, cp := p.Event, p.Checkpoint
	return &proofFile{Format: proofFormat, LeafIndex: p.LeafIndex, Proof: p.Proof,
		Event: proofEvent{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID,
			Outcome: string(e.Outcome), RemoteAddr: e.RemoteAddr, RequestID: e.RequestID, Metadata: e.Metadata,
			Sequence: e.Sequence, Hash: e.Hash, PrevHash: e.PrevHash},
		Checkpoint: proofCheckpoint{Origin: cp.Origin, Size: cp.Size, RootHash: cp.RootHash, Time: cp.Time, PublicKey: cp.PublicKey, Signature: cp.Signature}}
}

func (f *proofFile) inclusion() *audit.ProveInclusionResponse {
	e, cp := f.Event, f.Checkpoint
	return &audit.ProveInclusionResponse{LeafIndex: f.LeafIndex, Proof: f.Proof,
		Event: audit.Event{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID,
			Outcome: audit.Outcome(e.Outcome), RemoteAddr: e.RemoteAddr, RequestID: e.RequestID, Metadata: e.Metadata,
			Sequence: e.Sequence, Hash: e.Hash, PrevHash: e.PrevHash},
		Checkpoint: audit.Checkpoint{Origin: cp.Origin, Size: cp.Size, RootHash: cp.RootHash, Time: cp.Time, PublicKey: cp.PublicKey, Signature: cp.Signature}}
}

func newAuditProve(g *globals) *cobra.Command {
	var f auditFlags
	var treeSize uint64
	var out string
	cmd := &cobra.Command{
		Use:   "prove EVENT_ID [--tree-size N] [--out FILE]",
		Short: "Print the proof that an audit event is in the log, as JSON to keep",
		Long: `prove starts the installed audit plugin on its data directory and asks it for
the inclusion proof of the event EVENT_ID (the event_id of GET
/api/v1/audit, the audit page and exports): the event as stored, its leaf,
a signed checkpoint of the log's Merkle tree, and the RFC 6962 audit path
from the event to the checkpoint's root.

The proof is against the latest checkpoint, or, with --tree-size, the
checkpoint of that size (an export's closing checkpoint, say). An event no
checkpoint covers yet makes the plugin sign one.

The JSON (format "mikrobill-audit-proof/1") is all a reader needs, with
the log's public key, to check the event is in the log without the host,
the plugin or the database: give it to ` + "`mikrobill audit verify-proof`" + `.`,
		Example: `  mikrobill audit prove 8c1f2a0b9d3e4f5a6b7c8d9e --out invoice-paid.proof.json
  mikrobill audit prove 8c1f2a0b9d3e4f5a6b7c8d9e --tree-size 120000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			_, prover, stop, err := startAudit(ctx, g, cfg, f.plugin)
			if err != nil {
				return &exitError{code: exitFailed, msg: err.Error()}
			}
			defer stop()
			if prover == nil {
				return &exitError{code: exitFailed, msg: "the audit plugin keeps no Merkle tree or checkpoints: it cannot prove events"}
			}
			p, err := prover.ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: args[0], TreeSize: treeSize})
			switch {
			case errors.Is(err, audit.ErrUnknownEvent):
				return &exitError{code: exitFailed, msg: fmt.Sprintf("no event %q in the audit log: copy the event_id from the audit page or GET /api/v1/audit (an event recorded a moment ago may still wait in the host's queue)", args[0])}
			case errors.Is(err, audit.ErrNoProofs):
				return &exitError{code: exitFailed, msg: "the audit plugin keeps no Merkle tree or checkpoints: it cannot prove events"}
			case err != nil:
				return &exitError{code: exitFailed, msg: "prove the event: " + err.Error()}
			}
			b, err := json.MarshalIndent(toProofFile(p), "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if out == "" {
				_, err = g.stdout.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return &exitError{code: exitFailed, msg: err.Error()}
			}
			fmt.Fprintf(g.stderr, "wrote the proof of event %s (sequence %d) under the checkpoint of size %d to %s\n", p.Event.ID, p.Event.Sequence, p.Checkpoint.Size, out)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().Uint64Var(&treeSize, "tree-size", 0, "prove against the checkpoint of this size (default: the latest)")
	cmd.Flags().StringVar(&out, "out", "", "write the proof to this file instead of standard output")
	return cmd
}

func newAuditVerifyProof(g *globals) *cobra.Command {
	var publicKey string
	cmd := &cobra.Command{
		Use:   "verify-proof FILE --public-key KEY",
		Short: "Check an inclusion proof offline, with the log's public key alone",
		Long: `verify-proof checks a proof written by ` + "`mikrobill audit prove`" + ` (FILE, or - for
standard input) with nothing but the log's public key: no host, no plugin,
no database. It checks that the checkpoint is signed by KEY, that the event's
hash is its hash chain hash over the event and the hash before it (the
event was not changed), and that the audit path leads from the event to the
checkpoint's Merkle root (the event is in the log the checkpoint signs).

KEY is the log's Ed25519 public key in base64 or hex, as ` + "`mikrobill plugin inspect\naudit`" + ` and GET /api/v1/audit/checkpoint show it, or its fingerprint
SHA256:... (then the key in the proof must have that fingerprint).

Exit status: 0 the proof holds, 2 it does not, 1 the file cannot be read.`,
		Example: `  mikrobill audit verify-proof invoice-paid.proof.json --public-key MCowBQYDK2VwAyEA...
  mikrobill audit verify-proof invoice-paid.proof.json --public-key SHA256:2mC1...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if publicKey == "" {
				return &exitError{code: exitFailed, msg: "--public-key is required: the log's public key (base64 or hex) or its fingerprint SHA256:..., from where you wrote it down"}
			}
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				fh, err := os.Open(args[0])
				if errors.Is(err, fs.ErrNotExist) {
					return &exitError{code: exitFailed, msg: fmt.Sprintf("no proof file %s: write one with `mikrobill audit prove EVENT_ID --out %s` (or pass - to read the proof from standard input)", args[0], args[0])}
				}
				if err != nil {
					return &exitError{code: exitFailed, msg: fmt.Sprintf("read the proof file: %v", err)}
				}
				defer fh.Close()
				r = fh
			}
			var pf proofFile
			dec := json.NewDecoder(r)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&pf); err != nil {
				return &exitError{code: exitFailed, msg: fmt.Sprintf("%s is not an audit proof (JSON of `mikrobill audit prove`): %v", args[0], err)}
			}
			if pf.Format != proofFormat {
				return &exitError{code: exitFailed, msg: fmt.Sprintf("%s has format %q; this mikrobill reads %q", args[0], pf.Format, proofFormat)}
			}
			var key ed25519.PublicKey
			if fp, ok := strings.CutPrefix(publicKey, "SHA256:"); ok {
				got := sha256.Sum256(pf.Checkpoint.PublicKey)
				if len(pf.Checkpoint.PublicKey) != ed25519.PublicKeySize || base64.RawStdEncoding.EncodeToString(got[:]) != strings.TrimRight(fp, "=") {
					fmt.Fprintf(g.stdout, "NOT VALID: the proof's checkpoint is signed by %s, not by the key %s\n", fingerprintOf(pf.Checkpoint.PublicKey), publicKey)
					return &exitError{code: exitNotSound}
				}
				key = pf.Checkpoint.PublicKey
			} else {
				var err error
				if key, err = parsePublicKey(publicKey); err != nil {
					return &exitError{code: exitFailed, msg: err.Error()}
				}
				if !bytes.Equal(key, pf.Checkpoint.PublicKey) {
					fmt.Fprintf(g.stdout, "NOT VALID: the proof's checkpoint names the key %s, not %s\n", fingerprintOf(pf.Checkpoint.PublicKey), fingerprintOf(key))
					return &exitError{code: exitNotSound}
				}
			}
			if err := audit.VerifyInclusion(key, pf.inclusion()); err != nil {
				fmt.Fprintf(g.stdout, "NOT VALID: %v\n", err)
				return &exitError{code: exitNotSound}
			}
			e := pf.Event
			fmt.Fprintf(g.stdout, "valid: event %s (sequence %d: %s by %s on %s %s at %s) is in the audit log under the checkpoint of size %d taken %s, signed by %s\n",
				e.ID, e.Sequence, e.Action, e.Actor, e.ResourceType, e.ResourceID, e.Time.UTC().Format(time.RFC3339),
				pf.Checkpoint.Size, pf.Checkpoint.Time.UTC().Format(time.RFC3339), fingerprintOf(key))
			return nil
		},
	}
	cmd.Flags().StringVar(&publicKey, "public-key", "", "the log's public key (base64 or hex) or its fingerprint SHA256:... (required)")
	return cmd
}

func newAuditTrust(g *globals) *cobra.Command {
	var reset bool
	cmd := &cobra.Command{
		Use:   "trust [--reset]",
		Short: "Show (or reset) the audit log key and checkpoint size the host pinned",
		Long: `trust shows what the host keeps in its own store about the audit plugin's
log: the public key it pinned when it first saw a checkpoint, and the
largest checkpoint size it has seen. The daily verification holds the log
to both, so a log re-signed with another key or rolled back to an older
copy fails.

--reset forgets both, after you replaced the log on purpose (restored a
backup you trust, or started a new log with a new key): the next
verification pins what it finds. Resetting is recorded in the audit trail.
Do not reset to make a failed verification go away: find out first what
happened (docs/operations.md, "When the audit log fails verification").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, _, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			q := st.Q()
			t, err := q.AuditTrust(ctx)
			if errors.Is(err, store.ErrNotFound) {
				fmt.Fprintln(g.stdout, "nothing pinned: the host pins the audit log's key and size when it first sees a checkpoint")
				return nil
			}
			if err != nil {
				return err
			}
			key, _ := base64.StdEncoding.DecodeString(t.PublicKey)
			fmt.Fprintf(g.stdout, "public key:  %s\nfingerprint: %s\npinned at:   %s\nknown size:  %d", t.PublicKey, fingerprintOf(key), t.PinnedAt.Format(time.RFC3339), t.KnownSize)
			if !t.KnownAt.IsZero() {
				fmt.Fprintf(g.stdout, " (seen %s)", t.KnownAt.Format(time.RFC3339))
			}
			fmt.Fprintln(g.stdout)
			if !reset {
				return nil
			}
			err = st.Tx(ctx, func(tx *store.Tx) error {
				if err := tx.Q().ResetAuditTrust(ctx); err != nil {
					return err
				}
				_, err := tx.Q().AppendAudit(ctx, &store.AuditEntry{EventID: newEventID(), OccurredAt: time.Now(), Actor: "cli", Action: "audit.trust_reset",
					ResourceType: "audit_log", Metadata: map[string]string{"public_key_fingerprint": fingerprintOf(key), "known_size": fmt.Sprint(t.KnownSize)}})
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "reset: the next verification pins the key and size it finds")
			return nil
		},
	}
	cmd.Flags().BoolVar(&reset, "reset", false, "forget the pinned key and known size")
	return cmd
}

// newEventID is a fresh audit event id, as billing makes them.
func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fingerprintOf is audit.KeyFingerprint of an Ed25519 key, or says it is
// none.
func fingerprintOf(key []byte) string {
	if len(key) != ed25519.PublicKeySize {
		return "(no key)"
	}
	return audit.KeyFingerprint(key)
}

// printAuditKey adds the audit log's public key to `plugin inspect`: the
// plugin's own (it is started on its data directory to tell it) and the
// one the host pinned.
func printAuditKey(g *globals, cfg *config.Config, m *manifest.Manifest) {
	w := g.stdout
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := g.logger(cfg).Named("audit")
	log.SetLevel(hclog.Error)
	saved, closeStore := standaloneSettings(ctx, cfg, log)
	defer closeStore()
	proc, err := plugins.LaunchStandalone(ctx, cfg, m, saved, log)
	if err != nil {
		fmt.Fprintf(w, "public key:       unknown: %v\n", err)
	} else {
		details := proc.Health().Details
		proc.Stop(ctx)
		if key := details["public_key"]; key != "" {
			fmt.Fprintf(w, "public key:       %s\nfingerprint:      %s\n", key, details["public_key_fingerprint"])
		} else {
			fmt.Fprintln(w, "public key:       the plugin's health does not show one")
		}
	}
	t, why := hostTrust(ctx, cfg)
	if t == nil {
		fmt.Fprintf(w, "pinned by host:   none (%s)\n", why)
		return
	}
	key, _ := base64.StdEncoding.DecodeString(t.PublicKey)
	fmt.Fprintf(w, "pinned by host:   %s (since %s; known checkpoint size %d)\n", fingerprintOf(key), t.PinnedAt.Format(time.RFC3339), t.KnownSize)
}
