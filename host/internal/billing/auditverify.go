package billing

// Verifying the audit plugin's log. The daily job (AuditVerifyArgs, on the
// leader) asks the plugin's Verify to check its hash chain, its Merkle
// tree and its signed checkpoints, against two things the host keeps in
// its own store, out of the plugin's reach (store.AuditTrust): the public
// key it saw first (pinned: a log re-signed with another key fails) and
// the largest checkpoint size it has seen (KnownSize: a log file rolled
// back to an older copy fails). The host checks the answer's checkpoint
// itself too (its signature under the pinned key, its size), so a plugin
// that answers "sound" about a log it should not cannot raise what the
// host trusts. Each result is stored; a failed one is logged, audited,
// and shown by /health and the audit page.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// ErrNoAuditPlugin: no audit plugin runs, so there is no log to verify or
// prove from; the host's own audit log is the record.
var ErrNoAuditPlugin = errors.New("no audit plugin is running")

// ReasonError is an AuditVerification's Reason when the verification
// could not run (the plugin did not answer): not a finding about the log.
const ReasonError = "error"

// AuditVerifyArgs verifies the audit plugin's log (auditVerifyWorker).
type AuditVerifyArgs struct{}

// Kind implements river.JobArgs.
func (AuditVerifyArgs) Kind() string { return "audit_verify" }

// InsertOpts implements river.JobArgsWithInsertOpts: one verification at
// a time.
func (AuditVerifyArgs) InsertOpts() river.InsertOpts { return AuditDrainArgs{}.InsertOpts() }

type auditVerifyWorker struct {
	river.WorkerDefaults[AuditVerifyArgs]
	s *Service
}

// Work verifies the log; without an audit plugin there is nothing to do.
func (w *auditVerifyWorker) Work(ctx context.Context, _ *river.Job[AuditVerifyArgs]) error {
	_, err := w.s.VerifyAuditLog(ctx)
	if errors.Is(err, ErrNoAuditPlugin) {
		return nil
	}
	return err
}

// prover is the running audit plugin with its checkpoints and proofs.
func (s *Service) prover() (audit.Sink, audit.Prover, error) {
	sink, ok := s.auditSink()
	if !ok {
		return nil, nil, ErrNoAuditPlugin
	}
	p, ok := sink.(audit.Prover)
	if !ok {
		return nil, nil, audit.ErrNoProofs
	}
	return sink, p, nil
}

// trust is what the host trusts about the log, with the pinned public
// key (nil when none is pinned yet).
func (s *Service) trust(ctx context.Context) (store.AuditTrust, ed25519.PublicKey, error) {
	t, err := s.st.Q().AuditTrust(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return t, nil, nil
	}
	if err != nil {
		return t, nil, err
	}
	key, err := base64.StdEncoding.DecodeString(t.PublicKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return t, nil, fmt.Errorf("the audit log's pinned public key in the host's store is not an Ed25519 key (%q); reset it with `mikrobill audit trust --reset` once the log is known good", t.PublicKey)
	}
	return t, key, nil
}

// see records a checkpoint the plugin showed: it pins the checkpoint's key
// when none is pinned, and raises the known size when the checkpoint is
// signed by the pinned key. It reports whether the checkpoint is signed by
// the pinned key.
func (s *Service) see(ctx context.Context, cp *audit.Checkpoint) (bool, error) {
	if cp == nil || len(cp.PublicKey) != ed25519.PublicKeySize {
		return false, nil
	}
	q := s.st.Q()
	pinned, err := q.PinAuditKey(ctx, base64.StdEncoding.EncodeToString(cp.PublicKey), s.now())
	if err != nil {
		return false, err
	}
	key, _ := base64.StdEncoding.DecodeString(pinned)
	if !bytes.Equal(key, cp.PublicKey) || cp.Verify(key) != nil {
		return false, nil
	}
	return true, q.SeeAuditCheckpoint(ctx, cp.Size, base64.StdEncoding.EncodeToString(cp.RootHash), s.now())
}

// VerifyAuditLog verifies the audit plugin's log against the key and the
// checkpoint size the host keeps, stores the result and returns it. A log
// that does not verify is a result (OK false, with the first bad event
// and the reason), logged and audited; a verification that could not run
// is stored with Reason ReasonError and returned as an error too.
func (s *Service) VerifyAuditLog(ctx context.Context) (*store.AuditVerification, error) {
	sink, ok := s.auditSink()
	if !ok {
		return nil, ErrNoAuditPlugin
	}
	v := &store.AuditVerification{CheckedAt: s.now()}
	trust, key, err := s.trust(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := sink.Verify(ctx, &audit.VerifyRequest{KnownSize: trust.KnownSize, PublicKey: key})
	if err != nil {
		v.Reason, v.Message = ReasonError, "the audit log could not be verified: "+err.Error()
		s.log.Error("the audit log could not be verified", "error", err)
		if rerr := s.st.Q().RecordAuditVerification(ctx, v); rerr != nil {
			return nil, rerr
		}
		return v, fmt.Errorf("verify the audit log: %w", err)
	}
	v.OK, v.Checked, v.Message = resp.OK, resp.Checked, resp.Message
	v.FirstBadSequence, v.Reason = resp.FirstBadSequence, string(resp.Reason)
	if cp := resp.Checkpoint; cp != nil {
		v.CheckpointSize, v.CheckpointRoot, v.CheckpointAt = cp.Size, base64.StdEncoding.EncodeToString(cp.RootHash), cp.Time
		v.PublicKey = base64.StdEncoding.EncodeToString(cp.PublicKey)
	}
	if v.OK {
		// What the plugin calls sound must also hold for the host: its
		// checkpoint signed by the pinned key, no smaller than the largest
		// seen before.
		switch {
		case resp.Checkpoint == nil:
			// A log without checkpoints yet: only its chain was checked.
		case key != nil && (!bytes.Equal(resp.Checkpoint.PublicKey, key) || resp.Checkpoint.Verify(key) != nil):
			v.OK, v.Reason = false, string(audit.ReasonSignature)
			v.Message = fmt.Sprintf("the latest checkpoint is signed by %s, not by the key the host pinned (%s): the log was re-signed",
				fingerprint(resp.Checkpoint.PublicKey), audit.KeyFingerprint(key))
		case resp.Checkpoint.Size < trust.KnownSize:
			v.OK, v.Reason = false, string(audit.ReasonRollback)
			v.FirstBadSequence = resp.Checkpoint.Size + 1
			v.Message = fmt.Sprintf("the latest checkpoint covers %d events, but the host saw one of %d before: the log was rolled back", resp.Checkpoint.Size, trust.KnownSize)
		default:
			if _, err := s.see(ctx, resp.Checkpoint); err != nil {
				return nil, err
			}
		}
	}
	if !v.OK {
		v.FirstBadEventID = badEventID(v.Message)
	}
	if err := s.st.Q().RecordAuditVerification(ctx, v); err != nil {
		return nil, err
	}
	outcome := "success"
	if !v.OK {
		outcome = "failure"
		s.log.Error("the audit log failed its verification", "reason", v.Reason, "first_bad_sequence", v.FirstBadSequence,
			"first_bad_event", v.FirstBadEventID, "message", v.Message)
	}
	meta := map[string]string{"checked": strconv.FormatUint(v.Checked, 10), "checkpoint_size": strconv.FormatUint(v.CheckpointSize, 10)}
	if !v.OK {
		meta["reason"], meta["first_bad_sequence"] = v.Reason, strconv.FormatUint(v.FirstBadSequence, 10)
	}
	if s.queue != nil {
		if err := s.Audit(ctx, AuditEvent{Actor: "system", Action: "audit.verified", ResourceType: "audit_log", Outcome: outcome, Metadata: meta}); err != nil {
			s.log.Error("the audit log's verification was not audited", "error", err)
		}
	}
	return v, nil
}

// badEventIDPattern finds the event id the plugin's message names:
// `event 42 ("0a1b...")`.
var badEventIDPattern = regexp.MustCompile(`event \d+ \("([^"]+)"`)

// badEventID is the id of the first bad event as the plugin's message
// names it, or "".
func badEventID(msg string) string {
	if m := badEventIDPattern.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// fingerprint is KeyFingerprint of a key that may not be one.
func fingerprint(key []byte) string {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Sprintf("a %d-byte value that is not an Ed25519 key", len(key))
	}
	return audit.KeyFingerprint(key)
}

// AuditCheckpoint returns the audit plugin's latest checkpoint (with take,
// one it takes now over the whole log) and records it as seen: its key is
// pinned if none is, and the known size raised when it is signed by the
// pinned key. Trusted says whether it is.
func (s *Service) AuditCheckpoint(ctx context.Context, take bool) (cp *audit.Checkpoint, trusted bool, err error) {
	_, p, err := s.prover()
	if err != nil {
		return nil, false, err
	}
	resp, err := p.GetCheckpoint(ctx, &audit.GetCheckpointRequest{Take: take})
	if err != nil {
		return nil, false, fmt.Errorf("the audit plugin's checkpoint: %w", err)
	}
	trusted, err = s.see(ctx, &resp.Checkpoint)
	return &resp.Checkpoint, trusted, err
}

// AuditStatus is the audit trail's state for /health and the audit page.
type AuditStatus struct {
	AuditDelivery
	// Verification is the latest verification (nil: none yet).
	Verification *store.AuditVerification
	// Trust is what the host keeps about the log (nil: nothing yet).
	Trust *store.AuditTrust
}

// Failed reports whether the latest verification found the log unsound
// (not a verification that could not run).
func (st *AuditStatus) Failed() bool {
	return st.Verification != nil && !st.Verification.OK && st.Verification.Reason != ReasonError
}

// KeyFingerprint is the pinned key's fingerprint ("" when none).
func (st *AuditStatus) KeyFingerprint() string {
	if st.Trust == nil {
		return ""
	}
	key, err := base64.StdEncoding.DecodeString(st.Trust.PublicKey)
	if err != nil {
		return ""
	}
	return fingerprint(key)
}

// AuditStatus reports the delivery of the audit trail, the latest
// verification and what the host trusts.
func (s *Service) AuditStatus(ctx context.Context) (*AuditStatus, error) {
	d, err := s.AuditDelivery(ctx)
	if err != nil {
		return nil, err
	}
	st := &AuditStatus{AuditDelivery: *d}
	q := s.st.Q()
	if v, err := q.LatestAuditVerification(ctx); err == nil {
		st.Verification = &v
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if t, err := q.AuditTrust(ctx); err == nil {
		st.Trust = &t
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return st, nil
}
