package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
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
	rows, err := q.db.Query(ctx, `SELECT id, event_id, occurred_at, actor, action, resource_type, resource_id, outcome, metadata_json, delivered
		FROM audit_log ORDER BY id DESC`+page.sql())
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		var meta string
		if err := rows.Scan(&e.ID, &e.EventID, &at, &e.Actor, &e.Action, &e.ResourceType, &e.ResourceID, &e.Outcome, &meta, &e.Delivered); err != nil {
			return nil, 0, err
		}
		e.OccurredAt = FromMillis(at)
		_ = json.Unmarshal([]byte(meta), &e.Metadata)
		out = append(out, e)
	}
	return out, total, rows.Err()
}
