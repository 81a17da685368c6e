package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditEntry is an audit event the host keeps itself (when no audit plugin
// is installed, and as the record of what it handed to one).
type AuditEntry struct {
	ID           int64             `json:"id"`
	EventID      string            `json:"event_id"`
	OccurredAt   time.Time         `json:"occurred_at"`
	Actor        string            `json:"actor"`
	Action       string            `json:"action"`
	ResourceType string            `json:"resource_type"`
	ResourceID   string            `json:"resource_id"`
	Outcome      string            `json:"outcome"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	Delivered    bool              `json:"delivered"`
}

// AppendAudit stores an audit event once: the same event id twice is kept
// once (reports false the second time).
func (q *Queries) AppendAudit(ctx context.Context, e *AuditEntry) (bool, error) {
	meta, err := json.Marshal(e.Metadata)
	if err != nil {
		return false, err
	}
	if e.Outcome == "" {
		e.Outcome = "success"
	}
	e.OccurredAt = truncMillis(e.OccurredAt)
	n, err := q.db.Exec(ctx, `INSERT INTO audit_log (event_id, occurred_at, actor, action, resource_type, resource_id, outcome, metadata_json, delivered)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
		e.EventID, Millis(e.OccurredAt), e.Actor, e.Action, e.ResourceType, e.ResourceID, e.Outcome, string(meta), e.Delivered)
	if err != nil {
		return false, fmt.Errorf("append audit event %s: %w", e.EventID, err)
	}
	return n == 1, nil
}

// ListAudit lists audit events, newest first.
func (q *Queries) ListAudit(ctx context.Context, page Page) ([]AuditEntry, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_log").Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.db.Query(ctx, "SELECT "+auditColumns+" FROM audit_log ORDER BY id DESC"+page.sql())
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	out, err := scanAudit(rows, page.Limit)
	return out, total, err
}

// auditScanPrealloc bounds the entries scanAudit makes room for at once.
const auditScanPrealloc = 32

// auditColumns are the columns scanAudit reads, in its order.
const auditColumns = "id, event_id, occurred_at, actor, action, resource_type, resource_id, outcome, metadata_json, delivered"

// scanAudit reads the rows of a query of auditColumns and closes them;
// size is the query's limit, which most reads do not reach: the audit
// drain asks for 500 every 30 s and usually finds none, so at most
// auditScanPrealloc entries are made room for before a row is read.
func scanAudit(rows Rows, size int) ([]AuditEntry, error) {
	defer rows.Close()
	out := make([]AuditEntry, 0, min(size, auditScanPrealloc))
	for rows.Next() {
		var e AuditEntry
		var at int64
		var meta string
		if err := rows.Scan(&e.ID, &e.EventID, &at, &e.Actor, &e.Action, &e.ResourceType, &e.ResourceID, &e.Outcome, &meta, &e.Delivered); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		e.OccurredAt = FromMillis(at)
		_ = json.Unmarshal([]byte(meta), &e.Metadata)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditFilter selects audit events. Empty fields match every event.
type AuditFilter struct {
	Actor string
	// Action is matched whole, or with ActionPrefix as the start of the
	// action ("plan." matches "plan.created" and "plan.deleted").
	Action       string
	ActionPrefix bool
	ResourceType string
	ResourceID   string
	// Outcome is "success" or "failure".
	Outcome string
	// From and To bound OccurredAt: at or after From, before To. The zero
	// time leaves that side open.
	From, To time.Time
}

// where is f as a WHERE clause (empty when f matches everything) and its
// arguments.
func (f AuditFilter) where() (string, []any) {
	var conds []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = ?")
			args = append(args, v)
		}
	}
	eq("actor", f.Actor)
	switch {
	case f.Action != "" && f.ActionPrefix:
		// substr, not LIKE: the same on both backends (SQLite's LIKE
		// ignores case) and nothing in the prefix is a wildcard.
		conds = append(conds, "substr(action, 1, ?) = ?")
		args = append(args, utf8.RuneCountInString(f.Action), f.Action)
	default:
		eq("action", f.Action)
	}
	eq("resource_type", f.ResourceType)
	eq("resource_id", f.ResourceID)
	eq("outcome", f.Outcome)
	if !f.From.IsZero() {
		conds = append(conds, "occurred_at >= ?")
		args = append(args, Millis(f.From))
	}
	if !f.To.IsZero() {
		conds = append(conds, "occurred_at < ?")
		args = append(args, Millis(f.To))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// AuditCursor is a place in the audit log's order (newest first): an
// event's time and, among events of the same millisecond, its id. The
// zero AuditCursor is the top of the log.
type AuditCursor struct {
	At time.Time
	ID int64
}

// AuditCursorOf is the place of e.
func AuditCursorOf(e AuditEntry) AuditCursor { return AuditCursor{At: e.OccurredAt, ID: e.ID} }

// SearchAudit is a keyset page of the audit log: up to limit events that
// match f, newest first (by time, then id), after the cursor: older than
// it, or, with newer, the ones just newer than it (still listed newest
// first). The zero cursor starts at the newest event. It never counts or
// skips rows, so a page deep in a long log costs what the first one does.
// limit is 1 to MaxLimit+1, so that a caller showing MaxLimit events can
// ask for one more to learn whether another page follows.
func (q *Queries) SearchAudit(ctx context.Context, f AuditFilter, after AuditCursor, newer bool, limit int) ([]AuditEntry, error) {
	if limit < 1 || limit > MaxLimit+1 {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d, got %d", ErrInvalid, MaxLimit+1, limit)
	}
	page := Page{Limit: limit}
	where, args := f.where()
	order, up := " ORDER BY occurred_at DESC, id DESC", false
	if after != (AuditCursor{}) {
		// A row value: both backends walk the (occurred_at, id) index
		// from the cursor on.
		cond := "(occurred_at, id) < (?, ?)"
		if newer {
			cond = "(occurred_at, id) > (?, ?)"
			order, up = " ORDER BY occurred_at, id", true
		}
		args = append(args, Millis(after.At), after.ID)
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
	}
	rows, err := q.db.Query(ctx, "SELECT "+auditColumns+" FROM audit_log"+where+order+fmt.Sprintf(" LIMIT %d", page.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("search audit log: %w", err)
	}
	out, err := scanAudit(rows, page.Limit)
	if up {
		slices.Reverse(out)
	}
	return out, err
}
