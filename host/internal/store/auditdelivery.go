package store

// The audit log as a delivery queue. With an audit plugin installed, the
// host's audit_log holds every event until billing's audit_drain job has
// handed it to the plugin (delivered set): UndeliveredAudit reads the next
// batch in id order, MarkAuditDelivered closes it, AuditBacklog says how
// far behind the plugin is. AuditTrust and the audit verifications are
// what the host keeps, outside the plugin, to check the plugin's log.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// auditOrderLock is the PostgreSQL advisory lock (an arbitrary constant)
// that LockAuditOrder takes.
const auditOrderLock = 0x6d62_6175_6469_74 // "mbaudit"

// LockAuditOrder, inside a transaction that appends to the audit log,
// makes concurrent appends commit one after another, so that the log's ids
// are also the order in which its events became visible: the drainer,
// which sends in id order, then never finds a lower id committed after a
// higher one it sent. PostgreSQL takes a transaction-scoped advisory lock;
// SQLite has one writer at a time already.
func (q *Queries) LockAuditOrder(ctx context.Context) error {
	if q.db.Dialect() != Postgres {
		return nil
	}
	if _, err := q.db.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", int64(auditOrderLock)); err != nil {
		return fmt.Errorf("lock the audit log's order: %w", err)
	}
	return nil
}

// UndeliveredAudit returns up to limit events not yet handed to the audit
// plugin, oldest (lowest id) first.
func (q *Queries) UndeliveredAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit must be at least 1, got %d", ErrInvalid, limit)
	}
	rows, err := q.db.Query(ctx, "SELECT "+auditColumns+" FROM audit_log WHERE NOT delivered ORDER BY id"+fmt.Sprintf(" LIMIT %d", limit))
	if err != nil {
		return nil, fmt.Errorf("read undelivered audit events: %w", err)
	}
	return scanAudit(rows, limit)
}

// MarkAuditDelivered records that the events with these ids reached the
// audit plugin.
func (q *Queries) MarkAuditDelivered(ctx context.Context, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
		if _, err := q.db.Exec(ctx, "UPDATE audit_log SET delivered = TRUE WHERE id IN ("+marks+")", args...); err != nil {
			return fmt.Errorf("mark audit events delivered: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// AuditBacklog is how far the audit plugin is behind the host's log.
type AuditBacklog struct {
	// Count is how many events wait to be delivered.
	Count int64 `json:"count"`
	// Oldest is when the oldest of them happened (zero when none wait).
	Oldest time.Time `json:"oldest,omitzero"`
}

// AuditBacklog counts the events not yet handed to the audit plugin.
func (q *Queries) AuditBacklog(ctx context.Context) (AuditBacklog, error) {
	var b AuditBacklog
	var oldest sql.NullInt64
	// The oldest by id is the first in line; its time is the one that says
	// how long the line has waited.
	err := q.db.QueryRow(ctx, `SELECT COUNT(*), (SELECT occurred_at FROM audit_log WHERE NOT delivered ORDER BY id LIMIT 1)
		FROM audit_log WHERE NOT delivered`).Scan(&b.Count, &oldest)
	if err != nil {
		return b, fmt.Errorf("count undelivered audit events: %w", err)
	}
	b.Oldest = FromNullMillis(oldest)
	return b, nil
}

// AuditTrust is what the host trusts about the audit plugin's log.
type AuditTrust struct {
	// PublicKey is the checkpoint signing key the host saw first (base64),
	// pinned: a checkpoint signed by another key fails verification.
	PublicKey string    `json:"public_key"`
	PinnedAt  time.Time `json:"pinned_at"`
	// KnownSize is the largest checkpoint size the host has seen, with
	// its root hash (base64) and when it saw it: a log whose latest
	// checkpoint is smaller was rolled back.
	KnownSize uint64    `json:"known_size"`
	KnownRoot string    `json:"known_root,omitempty"`
	KnownAt   time.Time `json:"known_at,omitzero"`
}

// AuditTrust reads what the host trusts; ErrNotFound before the first
// checkpoint was seen.
func (q *Queries) AuditTrust(ctx context.Context) (AuditTrust, error) {
	var t AuditTrust
	var pinned int64
	var size int64
	var at sql.NullInt64
	err := q.db.QueryRow(ctx, "SELECT public_key, pinned_at, known_size, known_root, known_at FROM audit_trust WHERE id = 1").
		Scan(&t.PublicKey, &pinned, &size, &t.KnownRoot, &at)
	if errors.Is(err, ErrNotFound) {
		return t, err
	}
	if err != nil {
		return t, fmt.Errorf("read the audit trust record: %w", err)
	}
	t.PinnedAt, t.KnownSize, t.KnownAt = FromMillis(pinned), uint64(size), FromNullMillis(at)
	return t, nil
}

// PinAuditKey pins key (base64) as the audit log's signing key unless one
// is pinned already, and returns the pinned key.
func (q *Queries) PinAuditKey(ctx context.Context, key string, at time.Time) (string, error) {
	if _, err := q.db.Exec(ctx, `INSERT INTO audit_trust (id, public_key, pinned_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`,
		key, Millis(at)); err != nil {
		return "", fmt.Errorf("pin the audit log's key: %w", err)
	}
	t, err := q.AuditTrust(ctx)
	return t.PublicKey, err
}

// SeeAuditCheckpoint raises the known checkpoint size to size (with its
// root) if it is larger than the one known; the trust record must exist
// (PinAuditKey).
func (q *Queries) SeeAuditCheckpoint(ctx context.Context, size uint64, root string, at time.Time) error {
	if _, err := q.db.Exec(ctx, `UPDATE audit_trust SET known_size = ?, known_root = ?, known_at = ? WHERE id = 1 AND known_size < ?`,
		int64(size), root, Millis(at), int64(size)); err != nil {
		return fmt.Errorf("record the audit checkpoint seen: %w", err)
	}
	return nil
}

// ResetAuditTrust forgets the pinned key and the known checkpoint, for an
// operator who has replaced the audit log on purpose (a new key, a
// restored archive): the next verification pins what it finds.
func (q *Queries) ResetAuditTrust(ctx context.Context) error {
	if _, err := q.db.Exec(ctx, "DELETE FROM audit_trust"); err != nil {
		return fmt.Errorf("reset the audit trust record: %w", err)
	}
	return nil
}

// AuditVerification is the result of one verification of the audit
// plugin's log.
type AuditVerification struct {
	ID        int64     `json:"id"`
	CheckedAt time.Time `json:"checked_at"`
	OK        bool      `json:"ok"`
	// Checked is how many events were checked.
	Checked uint64 `json:"checked"`
	// FirstBadSequence and FirstBadEventID name the first bad event (when
	// the plugin could name one); Reason is the kind of failure ("chain",
	// "tree", "signature", "consistency", "truncated", "rollback", or
	// "error" when the verification could not run) and Message says what
	// was wrong.
	FirstBadSequence uint64 `json:"first_bad_sequence,omitempty"`
	FirstBadEventID  string `json:"first_bad_event_id,omitempty"`
	Reason           string `json:"reason,omitempty"`
	Message          string `json:"message,omitempty"`
	// The checkpoint the log verified against.
	CheckpointSize uint64    `json:"checkpoint_size"`
	CheckpointRoot string    `json:"checkpoint_root,omitempty"`
	CheckpointAt   time.Time `json:"checkpoint_at,omitzero"`
	PublicKey      string    `json:"public_key,omitempty"`
}

// RecordAuditVerification stores a verification's result.
func (q *Queries) RecordAuditVerification(ctx context.Context, v *AuditVerification) error {
	v.CheckedAt = truncMillis(v.CheckedAt)
	err := q.db.QueryRow(ctx, `INSERT INTO audit_verifications (checked_at, ok, checked, first_bad_sequence, first_bad_event_id, reason, message,
		checkpoint_size, checkpoint_root, checkpoint_at, public_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		Millis(v.CheckedAt), v.OK, int64(v.Checked), int64(v.FirstBadSequence), v.FirstBadEventID, v.Reason, v.Message,
		int64(v.CheckpointSize), v.CheckpointRoot, MillisOrNil(v.CheckpointAt), v.PublicKey).Scan(&v.ID)
	if err != nil {
		return fmt.Errorf("record the audit verification: %w", err)
	}
	return nil
}

// LatestAuditVerification returns the newest verification; ErrNotFound
// when none ran yet.
func (q *Queries) LatestAuditVerification(ctx context.Context) (AuditVerification, error) {
	var v AuditVerification
	var at int64
	var checked, bad, size int64
	var cpAt sql.NullInt64
	err := q.db.QueryRow(ctx, `SELECT id, checked_at, ok, checked, first_bad_sequence, first_bad_event_id, reason, message,
		checkpoint_size, checkpoint_root, checkpoint_at, public_key FROM audit_verifications ORDER BY id DESC LIMIT 1`).
		Scan(&v.ID, &at, &v.OK, &checked, &bad, &v.FirstBadEventID, &v.Reason, &v.Message, &size, &v.CheckpointRoot, &cpAt, &v.PublicKey)
	if errors.Is(err, ErrNotFound) {
		return v, err
	}
	if err != nil {
		return v, fmt.Errorf("read the latest audit verification: %w", err)
	}
	v.CheckedAt, v.Checked, v.FirstBadSequence, v.CheckpointSize, v.CheckpointAt = FromMillis(at), uint64(checked), uint64(bad), uint64(size), FromNullMillis(cpAt)
	return v, nil
}
