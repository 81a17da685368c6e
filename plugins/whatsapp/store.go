package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go

	"github.com/mikrobill/mikrobill/sdk/notify"
)

// QueueFile is the queue's SQLite database, in the plugin's data directory.
const QueueFile = "queue.db"

// store is the durable queue: every message from Send until it is sent,
// and what became of it, plus the sessions the operator created. Every
// write is a short transaction committed to disk (synchronous FULL) before
// it returns; transactions take the write lock when they begin
// (_txlock=immediate), so concurrent writers wait for each other (busy
// timeout) instead of failing, and readers (the sender) never wait for a
// writer's fsync (WAL).
type store struct {
	db *sql.DB
}

// message is one queued or sent message.
type message struct {
	Seq            int64
	ID             string // the WhatsApp message id, chosen at enqueue
	IdempotencyKey string
	// Session is the session asked for (Send's SessionID) until the
	// message is sent, then the session that sent it.
	Session     string
	Location    string
	To          string // digits with country code
	Text        string
	Attachments []notify.Attachment
	// NAttachments is how many attachments the message has in the store
	// (Attachments is filled in by loadAttachments).
	NAttachments int
	Status       notify.DeliveryStatus
	Attempts     int
	NextAttempt  time.Time
	Error        string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const schema = `
CREATE TABLE IF NOT EXISTS messages (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT    NOT NULL UNIQUE,
	idempotency_key TEXT    NOT NULL UNIQUE,
	session         TEXT    NOT NULL DEFAULT '',
	location        TEXT    NOT NULL DEFAULT '',
	recipient       TEXT    NOT NULL,
	body            TEXT    NOT NULL DEFAULT '',
	n_attachments   INTEGER NOT NULL DEFAULT 0,
	status          TEXT    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_ms INTEGER NOT NULL DEFAULT 0,
	error           TEXT    NOT NULL DEFAULT '',
	created_ms      INTEGER NOT NULL,
	updated_ms      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_queued ON messages (next_attempt_ms, seq) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS messages_status ON messages (status, updated_ms);
CREATE TABLE IF NOT EXISTS attachments (
	message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
	idx         INTEGER NOT NULL,
	filename    TEXT    NOT NULL,
	mime_type   TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	PRIMARY KEY (message_seq, idx)
);
CREATE TABLE IF NOT EXISTS device_state (
	session TEXT    PRIMARY KEY,
	gen     INTEGER NOT NULL,
	sha256  TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS sessions (
	id         TEXT    PRIMARY KEY,
	phone      TEXT    NOT NULL DEFAULT '',
	push_name  TEXT    NOT NULL DEFAULT '',
	created_ms INTEGER NOT NULL
);
`

// openStore opens (creating) the queue in dir.
func openStore(dir string) (*store, error) {
	path := filepath.Join(dir, QueueFile)
	// The queue holds customers' numbers, messages and receipts: create it
	// private before SQLite does (its WAL and shared-memory files take the
	// database file's mode), and make an older file private too.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create the queue %s: %w (is the data directory writable?)", path, err)
	}
	_ = f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("make the queue %s private: %w", path, err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open the queue %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open the queue %s: %w (is the data directory writable, and the file a SQLite database?)", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// newMessageID is a WhatsApp message id in whatsmeow's form: "3EB0" and
// uppercase hex, here of 16 random bytes. It is chosen once, at enqueue, and
// reused on every attempt.
func newMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "3EB0" + strings.ToUpper(hex.EncodeToString(b))
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// enqueue records m (ID, CreatedAt and Status filled in when empty) in one
// transaction. When the idempotency key is known it returns the first
// message instead, with dup true.
func (s *store) enqueue(ctx context.Context, m *message) (_ *message, dup bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("queue a message: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if first, err := scanMessage(tx.QueryRowContext(ctx, selectMessage+` WHERE idempotency_key = ?`, m.IdempotencyKey)); err == nil {
		return first, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("queue a message: %w", err)
	}
	if m.ID == "" {
		now := time.Now()
		m.ID, m.Status, m.CreatedAt, m.UpdatedAt = newMessageID(), notify.DeliveryStatusQueued, now, now
	}
	m.NAttachments = len(m.Attachments)
	res, err := tx.ExecContext(ctx, `INSERT INTO messages (id, idempotency_key, session, location, recipient, body, n_attachments, status, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.IdempotencyKey, m.Session, m.Location, m.To, m.Text, len(m.Attachments), string(m.Status), ms(m.CreatedAt), ms(m.UpdatedAt))
	if err != nil {
		return nil, false, fmt.Errorf("queue a message: %w", err)
	}
	if m.Seq, err = res.LastInsertId(); err != nil {
		return nil, false, fmt.Errorf("queue a message: %w", err)
	}
	for i, a := range m.Attachments {
		if _, err := tx.ExecContext(ctx, `INSERT INTO attachments (message_seq, idx, filename, mime_type, data) VALUES (?, ?, ?, ?, ?)`, m.Seq, i, a.Filename, a.MIMEType, a.Data); err != nil {
			return nil, false, fmt.Errorf("queue a message's attachment %q: %w", a.Filename, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("queue a message: %w", err)
	}
	return m, false, nil
}

const selectMessage = `SELECT seq, id, idempotency_key, session, location, recipient, body, n_attachments, status, attempts, next_attempt_ms, error, created_ms, updated_ms FROM messages`

type rowScanner interface{ Scan(dest ...any) error }

func scanMessage(r rowScanner) (*message, error) {
	var m message
	var status string
	var next, created, updated int64
	if err := r.Scan(&m.Seq, &m.ID, &m.IdempotencyKey, &m.Session, &m.Location, &m.To, &m.Text, &m.NAttachments, &status, &m.Attempts, &next, &m.Error, &created, &updated); err != nil {
		return nil, err
	}
	m.Status, m.NextAttempt, m.CreatedAt, m.UpdatedAt = notify.DeliveryStatus(status), fromMS(next), fromMS(created), fromMS(updated)
	return &m, nil
}

// lookup finds a message by id or, when id is empty, by idempotency key;
// ErrUnknownMessage when there is none.
func (s *store) lookup(ctx context.Context, id, key string) (*message, error) {
	q, arg := selectMessage+` WHERE id = ?`, id
	if id == "" {
		q, arg = selectMessage+` WHERE idempotency_key = ?`, key
	}
	m, err := scanMessage(s.db.QueryRowContext(ctx, q, arg))
	if errors.Is(err, sql.ErrNoRows) {
		what := fmt.Sprintf("id %q", id)
		if id == "" {
			what = fmt.Sprintf("idempotency key %q", key)
		}
		return nil, fmt.Errorf("%w: no message has %s", notify.ErrUnknownMessage, what)
	}
	if err != nil {
		return nil, fmt.Errorf("look up a message: %w", err)
	}
	return m, nil
}

// due lists up to limit queued messages whose next attempt is due at now,
// oldest first from after the sequence number after, without their
// attachments.
func (s *store) due(ctx context.Context, now time.Time, after int64, limit int) ([]*message, error) {
	rows, err := s.db.QueryContext(ctx, selectMessage+` WHERE status = 'queued' AND next_attempt_ms <= ? AND seq > ? ORDER BY seq LIMIT ?`, ms(now), after, limit)
	if err != nil {
		return nil, fmt.Errorf("read the queue: %w", err)
	}
	defer rows.Close()
	var out []*message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("read the queue: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// nextDue is when the earliest queued message not due at now becomes due
// (zero when none waits).
func (s *store) nextDue(ctx context.Context, now time.Time) (time.Time, error) {
	var next sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MIN(next_attempt_ms) FROM messages WHERE status = 'queued' AND next_attempt_ms > ?`, ms(now)).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, err
	}
	return fromMS(next.Int64), nil
}

// loadAttachments fills in m's attachments.
func (s *store) loadAttachments(ctx context.Context, m *message) error {
	if m.NAttachments == 0 {
		m.Attachments = nil
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT filename, mime_type, data FROM attachments WHERE message_seq = ? ORDER BY idx`, m.Seq)
	if err != nil {
		return fmt.Errorf("read message %s's attachments: %w", m.ID, err)
	}
	defer rows.Close()
	m.Attachments = nil
	for rows.Next() {
		var a notify.Attachment
		if err := rows.Scan(&a.Filename, &a.MIMEType, &a.Data); err != nil {
			return fmt.Errorf("read message %s's attachments: %w", m.ID, err)
		}
		m.Attachments = append(m.Attachments, a)
	}
	return rows.Err()
}

// markSent records that session sent the message. Its attachments go: no
// attempt needs them any more.
func (s *store) markSent(ctx context.Context, id, session string, at time.Time) error {
	return s.finish(ctx, id, `UPDATE messages SET status = 'sent', session = ?, attempts = attempts + 1, error = '', updated_ms = ? WHERE id = ? AND status = 'queued'`, session, ms(at), id)
}

// markFailed gives a message up with the reason; its attachments go.
func (s *store) markFailed(ctx context.Context, id, reason string) error {
	return s.finish(ctx, id, `UPDATE messages SET status = 'failed', attempts = attempts + 1, error = ?, updated_ms = ? WHERE id = ? AND status = 'queued'`, reason, ms(time.Now()), id)
}

// finish runs update (on message id) and deletes the message's attachments,
// in one transaction.
func (s *store) finish(ctx context.Context, id, update string, args ...any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record message %s: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, update, args...); err != nil {
		return fmt.Errorf("record message %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM attachments WHERE message_seq = (SELECT seq FROM messages WHERE id = ?)`, id); err != nil {
		return fmt.Errorf("record message %s: drop its attachments: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record message %s: %w", id, err)
	}
	return nil
}

// prune deletes the messages that were done (sent, delivered, read or
// failed) before cutoff: their idempotency keys are forgotten with them.
func (s *store) prune(ctx context.Context, cutoff time.Time) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune the queue: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	const done = `status <> 'queued' AND updated_ms < ?`
	if _, err := tx.ExecContext(ctx, `DELETE FROM attachments WHERE message_seq IN (SELECT seq FROM messages WHERE `+done+`)`, ms(cutoff)); err != nil {
		return 0, fmt.Errorf("prune the queue: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE `+done, ms(cutoff))
	if err != nil {
		return 0, fmt.Errorf("prune the queue: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune the queue: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// markRetry leaves a message queued for another attempt at next.
func (s *store) markRetry(ctx context.Context, id, reason string, next time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE messages SET attempts = attempts + 1, error = ?, next_attempt_ms = ?, updated_ms = ? WHERE id = ? AND status = 'queued'`, reason, ms(next), ms(time.Now()), id)
	if err != nil {
		return fmt.Errorf("record message %s for a retry: %w", id, err)
	}
	return nil
}

// statusRank orders the statuses a receipt may move a message through:
// a receipt never moves it back (read stays read when a late delivered
// receipt arrives).
var statusRank = map[notify.DeliveryStatus]int{
	notify.DeliveryStatusQueued:    0,
	notify.DeliveryStatusSent:      1,
	notify.DeliveryStatusDelivered: 2,
	notify.DeliveryStatusRead:      3,
}

// applyReceipt moves messages to status (delivered, read or failed) unless
// they are already past it; it returns how many moved.
//
// A receipt may overtake the sender's record of the send: a message still
// queued then takes the receipt's session as its sender.
func (s *store) applyReceipt(ctx context.Context, session string, ids []string, status notify.DeliveryStatus, reason string, at time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	// The statuses a message may be in to move to status.
	var from []string
	switch status {
	case notify.DeliveryStatusFailed:
		from = []string{"queued", "sent"}
	default:
		for st, r := range statusRank {
			if r < statusRank[status] {
				from = append(from, string(st))
			}
		}
	}
	args := []any{string(status), session, reason, ms(at)}
	for _, id := range ids {
		args = append(args, id)
	}
	for _, f := range from {
		args = append(args, f)
	}
	q := `UPDATE messages SET status = ?, session = CASE status WHEN 'queued' THEN ? ELSE session END, error = ?, updated_ms = ? WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `) AND status IN (?` + strings.Repeat(", ?", len(from)-1) + `)`
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("record a %s receipt: %w", status, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// countByStatus counts the messages of each status.
func (s *store) countByStatus(ctx context.Context) (map[notify.DeliveryStatus]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM messages GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count messages: %w", err)
	}
	defer rows.Close()
	out := map[notify.DeliveryStatus]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count messages: %w", err)
		}
		out[notify.DeliveryStatus(st)] = n
	}
	return out, rows.Err()
}

// sessionRecord is a session the operator created.
type sessionRecord struct {
	ID, Phone, PushName string
}

func (s *store) sessions(ctx context.Context) ([]sessionRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, phone, push_name FROM sessions ORDER BY created_ms, id`)
	if err != nil {
		return nil, fmt.Errorf("read the sessions: %w", err)
	}
	defer rows.Close()
	var out []sessionRecord
	for rows.Next() {
		var r sessionRecord
		if err := rows.Scan(&r.ID, &r.Phone, &r.PushName); err != nil {
			return nil, fmt.Errorf("read the sessions: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *store) saveSession(ctx context.Context, r sessionRecord) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id, phone, push_name, created_ms) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET phone = excluded.phone, push_name = excluded.push_name`, r.ID, r.Phone, r.PushName, ms(time.Now()))
	if err != nil {
		return fmt.Errorf("save session %q: %w", r.ID, err)
	}
	return nil
}

func (s *store) deleteSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("forget session %q: %w", id, err)
	}
	return nil
}

// importMessage records a message taken from the durable store (another
// host accepted it) with its id, status and attachments, unless the queue
// has its id or its idempotency key already; it reports whether it did.
func (s *store) importMessage(ctx context.Context, m *message) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("import message %s: %w", m.ID, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if m.Status == "" {
		m.Status = notify.DeliveryStatusQueued
	}
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO messages (id, idempotency_key, session, location, recipient, body, n_attachments, status, attempts, error, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.IdempotencyKey, m.Session, m.Location, m.To, m.Text, len(m.Attachments), string(m.Status), m.Attempts, m.Error, ms(m.CreatedAt), ms(m.UpdatedAt))
	if err != nil {
		return false, fmt.Errorf("import message %s: %w", m.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("import message %s: %w", m.ID, err)
	}
	m.Seq = seq
	for i, a := range m.Attachments {
		if _, err := tx.ExecContext(ctx, `INSERT INTO attachments (message_seq, idx, filename, mime_type, data) VALUES (?, ?, ?, ?, ?)`, seq, i, a.Filename, a.MIMEType, a.Data); err != nil {
			return false, fmt.Errorf("import message %s's attachment %q: %w", m.ID, a.Filename, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("import message %s: %w", m.ID, err)
	}
	return true, nil
}

// queuedIDs lists the ids of the queued messages.
func (s *store) queuedIDs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM messages WHERE status = 'queued' ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read the queue: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read the queue: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// applyDone records the outcome another host reached for a message still
// queued here.
func (s *store) applyDone(ctx context.Context, d doneRecord) error {
	return s.finish(ctx, d.ID, `UPDATE messages SET status = ?, session = ?, error = ?, updated_ms = ? WHERE id = ? AND status = 'queued'`, string(d.Status), d.Session, d.Error, ms(d.UpdatedAt), d.ID)
}

// deviceGen is the generation of a session's device state that this data
// directory holds (last written to the durable store, or imported from it),
// and its checksum (empty after a logout).
type deviceGen struct {
	Gen    int64
	SHA256 string
}

func (s *store) deviceGen(ctx context.Context, session string) (deviceGen, error) {
	var g deviceGen
	err := s.db.QueryRowContext(ctx, `SELECT gen, sha256 FROM device_state WHERE session = ?`, session).Scan(&g.Gen, &g.SHA256)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("read session %q's device state generation: %w", session, err)
	}
	return g, nil
}

// deviceGens is every session's deviceGen.
func (s *store) deviceGens(ctx context.Context) (map[string]deviceGen, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT session, gen, sha256 FROM device_state`)
	if err != nil {
		return nil, fmt.Errorf("read the device state generations: %w", err)
	}
	defer rows.Close()
	out := map[string]deviceGen{}
	for rows.Next() {
		var id string
		var g deviceGen
		if err := rows.Scan(&id, &g.Gen, &g.SHA256); err != nil {
			return nil, fmt.Errorf("read the device state generations: %w", err)
		}
		out[id] = g
	}
	return out, rows.Err()
}

func (s *store) setDeviceGen(ctx context.Context, session string, g deviceGen) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO device_state (session, gen, sha256) VALUES (?, ?, ?) ON CONFLICT (session) DO UPDATE SET gen = excluded.gen, sha256 = excluded.sha256`, session, g.Gen, g.SHA256)
	if err != nil {
		return fmt.Errorf("record session %q's device state generation: %w", session, err)
	}
	return nil
}
