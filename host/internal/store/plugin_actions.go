package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PluginAction is an install, upgrade, rollback or remove of a plugin as
// one host carried it out for an admin (table plugin_actions). Every host
// sharing the store applies the latest finished one of each plugin at its
// start, from the same target (FolderSHA256).
type PluginAction struct {
	ID           string    `json:"id"`
	Action       string    `json:"action"`
	Plugin       string    `json:"plugin"`
	Version      string    `json:"version,omitempty"`
	FromVersion  string    `json:"from_version,omitempty"`
	Source       string    `json:"source,omitempty"`
	FolderSHA256 string    `json:"folder_sha256,omitempty"`
	State        string    `json:"state"` // running, done, failed
	Error        string    `json:"error,omitempty"`
	RequestedBy  string    `json:"requested_by,omitempty"`
	Host         string    `json:"host,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
}

const pluginActionColumns = "id, action, plugin, version, from_version, source, folder_sha256, state, error, requested_by, host, created_at, finished_at"

// RecordPluginAction inserts a plugin action or, by its id, updates what
// may change as it runs: the versions, the folder hash, the state, the
// error and when it finished.
func (q *Queries) RecordPluginAction(ctx context.Context, a PluginAction) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = q.store.now()
	}
	var finished any
	if !a.FinishedAt.IsZero() {
		finished = Millis(a.FinishedAt)
	}
	_, err := q.db.Exec(ctx, `INSERT INTO plugin_actions (`+pluginActionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, from_version = excluded.from_version,
		folder_sha256 = excluded.folder_sha256, state = excluded.state, error = excluded.error, finished_at = excluded.finished_at`,
		a.ID, a.Action, a.Plugin, a.Version, a.FromVersion, a.Source, a.FolderSHA256, a.State, a.Error, a.RequestedBy, a.Host,
		Millis(a.CreatedAt), finished)
	if err != nil {
		return fmt.Errorf("record the %s of plugin %q: %w", a.Action, a.Plugin, err)
	}
	return nil
}

// PluginActions returns the latest plugin actions, newest first, at most
// limit.
func (q *Queries) PluginActions(ctx context.Context, limit int) ([]PluginAction, error) {
	return q.pluginActions(ctx, "SELECT "+pluginActionColumns+" FROM plugin_actions ORDER BY created_at DESC, id DESC"+fmt.Sprintf(" LIMIT %d", limit))
}

// LatestPluginActions returns each plugin's latest finished (done) action,
// by plugin name: what every host sharing the store should have.
func (q *Queries) LatestPluginActions(ctx context.Context) (map[string]PluginAction, error) {
	all, err := q.pluginActions(ctx, "SELECT "+pluginActionColumns+" FROM plugin_actions WHERE state = 'done' ORDER BY created_at, id")
	if err != nil {
		return nil, err
	}
	out := map[string]PluginAction{}
	for _, a := range all {
		out[a.Plugin] = a
	}
	return out, nil
}

func (q *Queries) pluginActions(ctx context.Context, query string) ([]PluginAction, error) {
	rows, err := q.db.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("list plugin actions: %w", err)
	}
	defer rows.Close()
	var out []PluginAction
	for rows.Next() {
		var a PluginAction
		var created int64
		var finished sql.NullInt64
		if err := rows.Scan(&a.ID, &a.Action, &a.Plugin, &a.Version, &a.FromVersion, &a.Source, &a.FolderSHA256, &a.State, &a.Error,
			&a.RequestedBy, &a.Host, &created, &finished); err != nil {
			return nil, err
		}
		a.CreatedAt, a.FinishedAt = FromMillis(created), FromNullMillis(finished)
		out = append(out, a)
	}
	return out, rows.Err()
}

// InterruptPluginActions marks the actions host left running as failed:
// the host stopped (or was killed) during them. It runs at the host's
// start and returns how many it marked.
func (q *Queries) InterruptPluginActions(ctx context.Context, host string) (int64, error) {
	n, err := q.db.Exec(ctx, `UPDATE plugin_actions SET state = 'failed',
		error = 'interrupted: the host stopped during the action; the plugin directory was left as its next start found it', finished_at = ?
		WHERE state = 'running' AND host = ?`, Millis(q.store.now()), host)
	if err != nil {
		return 0, fmt.Errorf("mark interrupted plugin actions: %w", err)
	}
	return n, nil
}
