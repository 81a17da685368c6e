package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// HostRow is one host sharing the store, as it registered itself (table
// hosts, package hosts keeps it fresh).
type HostRow struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname,omitempty"`
	// Address is the host's own URL: its public_url, or the address it
	// listens on.
	Address     string    `json:"address,omitempty"`
	Version     string    `json:"version,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// StoppedAt is when the host shut down cleanly (zero while it runs,
	// or when it died without saying so).
	StoppedAt time.Time `json:"stopped_at,omitzero"`
	// Plugins is the host's view of its plugins at its last heartbeat (a
	// JSON array, as GET /health/plugins lists them).
	Plugins json.RawMessage `json:"plugins"`
	// Secrets are digests of the host's shared secrets, by setting
	// (never the secrets).
	Secrets map[string]string `json:"-"`
}

// dbNowMillis is the database's clock in milliseconds: the heartbeats of
// all hosts are stamped and compared on one clock, so hosts whose clocks
// drift apart do not see each other as gone.
func dbNowMillis(d Dialect) string {
	if d == Postgres {
		return "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
}

// DBNow is the database's clock (see dbNowMillis).
func (q *Queries) DBNow(ctx context.Context) (time.Time, error) {
	var ms int64
	if err := q.db.QueryRow(ctx, "SELECT "+dbNowMillis(q.db.Dialect())).Scan(&ms); err != nil {
		return time.Time{}, fmt.Errorf("read the database's clock: %w", err)
	}
	return FromMillis(ms), nil
}

// RegisterHost records a host that starts (or starts again under the
// same id): started now, heard from now, not stopped.
func (q *Queries) RegisterHost(ctx context.Context, h HostRow) error {
	if h.ID == "" {
		return fmt.Errorf("register a host: %w: no host id", ErrInvalid)
	}
	if len(h.Plugins) == 0 {
		h.Plugins = json.RawMessage("[]")
	}
	secrets, err := json.Marshal(h.Secrets)
	if err != nil {
		return err
	}
	now := dbNowMillis(q.db.Dialect())
	_, err = q.db.Exec(ctx, `INSERT INTO hosts (id, hostname, address, version, started_at, heartbeat_at, stopped_at, plugins_json, secrets_json)
		VALUES (?, ?, ?, ?, `+now+`, `+now+`, NULL, ?, ?)
		ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, address = excluded.address, version = excluded.version,
		started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, stopped_at = NULL, plugins_json = excluded.plugins_json,
		secrets_json = excluded.secrets_json`,
		h.ID, h.Hostname, h.Address, h.Version, string(h.Plugins), string(secrets))
	if err != nil {
		return fmt.Errorf("register host %q: %w", h.ID, err)
	}
	return nil
}

// HostHeartbeat records that host id is alive, with its plugins' states
// (nil keeps the last ones). A host whose row is gone (removed by an
// operator) or marked stopped registers again instead: false means it
// must.
func (q *Queries) HostHeartbeat(ctx context.Context, id string, plugins json.RawMessage) (bool, error) {
	now := dbNowMillis(q.db.Dialect())
	var n int64
	var err error
	if plugins == nil {
		n, err = q.db.Exec(ctx, "UPDATE hosts SET heartbeat_at = "+now+" WHERE id = ? AND stopped_at IS NULL", id)
	} else {
		n, err = q.db.Exec(ctx, "UPDATE hosts SET heartbeat_at = "+now+", plugins_json = ? WHERE id = ? AND stopped_at IS NULL", string(plugins), id)
	}
	if err != nil {
		return false, fmt.Errorf("heartbeat of host %q: %w", id, err)
	}
	return n > 0, nil
}

// StopHost records a clean shutdown of host id.
func (q *Queries) StopHost(ctx context.Context, id string) error {
	_, err := q.db.Exec(ctx, "UPDATE hosts SET stopped_at = "+dbNowMillis(q.db.Dialect())+" WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("mark host %q stopped: %w", id, err)
	}
	return nil
}

// ListHosts returns every host that registered, by id.
func (q *Queries) ListHosts(ctx context.Context) ([]HostRow, error) {
	rows, err := q.db.Query(ctx, "SELECT id, hostname, address, version, started_at, heartbeat_at, stopped_at, plugins_json, secrets_json FROM hosts ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	defer rows.Close()
	var out []HostRow
	for rows.Next() {
		var h HostRow
		var started, beat int64
		var stopped sql.NullInt64
		var plugins, secrets string
		if err := rows.Scan(&h.ID, &h.Hostname, &h.Address, &h.Version, &started, &beat, &stopped, &plugins, &secrets); err != nil {
			return nil, fmt.Errorf("list hosts: %w", err)
		}
		if err := json.Unmarshal([]byte(secrets), &h.Secrets); err != nil {
			return nil, fmt.Errorf("host %q's secrets_json: %w", h.ID, err)
		}
		h.StartedAt, h.HeartbeatAt, h.StoppedAt = FromMillis(started), FromMillis(beat), FromNullMillis(stopped)
		h.Plugins = json.RawMessage(plugins)
		out = append(out, h)
	}
	return out, rows.Err()
}

// JobLeader returns the id of the job queue's elected leader (River's
// river_leader, whose ids are host ids) and whether one is elected now.
// On SQLite there is one host, which is the leader once its queue runs.
func (q *Queries) JobLeader(ctx context.Context) (string, bool, error) {
	if q.db.Dialect() != Postgres {
		return "", false, nil
	}
	var id string
	err := q.db.QueryRow(ctx, "SELECT leader_id FROM river_leader WHERE expires_at > now()").Scan(&id)
	if errors.Is(err, ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the job queue's leader: %w", err)
	}
	return id, true, nil
}

// DeposeGoneLeader ends the leadership of the job queue's leader when it is
// a registered host that stopped, or whose last heartbeat is older than
// goneAfter, and tells River's electors it resigned, so a live host takes
// over now rather than when the dead leader's term expires (River's term
// is its election interval plus 10 seconds). It returns the deposed
// leader's id ("" when the leader is alive, unknown to the registry, or
// there is none). PostgreSQL only: on SQLite there is one host.
func (q *Queries) DeposeGoneLeader(ctx context.Context, goneAfter time.Duration) (string, error) {
	if q.db.Dialect() != Postgres {
		return "", nil
	}
	// River's elector listens on "<schema>.river_leadership" for
	// {"action": "resigned"}, as its own resignation sends it.
	var id string
	err := q.db.QueryRow(ctx, `WITH gone AS (
			DELETE FROM river_leader l USING hosts h
			WHERE h.id = l.leader_id
			AND (h.stopped_at IS NOT NULL OR h.heartbeat_at < `+dbNowMillis(Postgres)+` - ?)
			RETURNING l.leader_id
		)
		SELECT leader_id, pg_notify(current_schema() || '.river_leadership',
			json_build_object('leader_id', leader_id, 'action', 'resigned')::text) IS NULL FROM gone`,
		goneAfter.Milliseconds()).Scan(&id, new(bool))
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("depose the job queue's gone leader: %w", err)
	}
	return id, nil
}

// NotifyHosts sends payload to every host listening on channel (PostgreSQL
// NOTIFY, delivered when the transaction commits); on SQLite, which has
// one host, it does nothing.
func (q *Queries) NotifyHosts(ctx context.Context, channel, payload string) error {
	if q.db.Dialect() != Postgres {
		return nil
	}
	if _, err := q.db.Exec(ctx, "SELECT pg_notify(?, ?)", channel, payload); err != nil {
		return fmt.Errorf("notify the other hosts: %w", err)
	}
	return nil
}

// PluginSettingsVersions returns when each plugin's saved settings last
// changed (unix milliseconds), by plugin: what a host compares with the
// settings its plugins run with.
func (q *Queries) PluginSettingsVersions(ctx context.Context) (map[string]int64, error) {
	rows, err := q.db.Query(ctx, "SELECT plugin, updated_at FROM plugin_settings")
	if err != nil {
		return nil, fmt.Errorf("list saved plugin settings: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var p string
		var at int64
		if err := rows.Scan(&p, &at); err != nil {
			return nil, fmt.Errorf("list saved plugin settings: %w", err)
		}
		out[p] = at
	}
	return out, rows.Err()
}
