package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SingletonLease is which host runs a singleton plugin (table
// singleton_leases; package hosts keeps the leases).
type SingletonLease struct {
	Plugin string `json:"plugin"`
	// HostID is the holder's id.
	HostID string `json:"host_id"`
	// AcquiredAt is when the holder took the lease; RenewedAt when it last
	// renewed it (the database's clock).
	AcquiredAt time.Time `json:"acquired_at"`
	RenewedAt  time.Time `json:"renewed_at"`
}

// ClaimSingleton takes or renews the lease of plugin for host and returns
// the holder afterwards: host when it holds the lease now, or the live
// host that holds it. The lease is host's when nobody holds it, host holds
// it already (renewed), its holder did not renew it for goneAfter, or its
// holder shut down cleanly. It is one statement, so two hosts claiming at
// once never both win: PostgreSQL's upsert locks the row and checks the
// condition on the latest version; SQLite runs one writer at a time.
func (q *Queries) ClaimSingleton(ctx context.Context, plugin, host string, goneAfter time.Duration) (string, error) {
	if plugin == "" || host == "" {
		return "", fmt.Errorf("claim a singleton lease: %w: plugin and host are required", ErrInvalid)
	}
	now := dbNowMillis(q.db.Dialect())
	var holder string
	err := q.db.QueryRow(ctx, `INSERT INTO singleton_leases (plugin, host_id, acquired_at, renewed_at) VALUES (?, ?, `+now+`, `+now+`)
		ON CONFLICT (plugin) DO UPDATE SET host_id = excluded.host_id, renewed_at = excluded.renewed_at,
			acquired_at = CASE WHEN singleton_leases.host_id = excluded.host_id THEN singleton_leases.acquired_at ELSE excluded.acquired_at END
		WHERE singleton_leases.host_id = excluded.host_id
			OR singleton_leases.renewed_at < excluded.renewed_at - ?
			OR EXISTS (SELECT 1 FROM hosts h WHERE h.id = singleton_leases.host_id AND h.stopped_at IS NOT NULL)
		RETURNING host_id`, plugin, host, goneAfter.Milliseconds()).Scan(&holder)
	if errors.Is(err, ErrNotFound) {
		// Not taken: another host holds it.
		err = q.db.QueryRow(ctx, "SELECT host_id FROM singleton_leases WHERE plugin = ?", plugin).Scan(&holder)
		if errors.Is(err, ErrNotFound) {
			// Released between the two statements: the next claim takes it.
			return "", nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("claim the lease of singleton plugin %q: %w", plugin, err)
	}
	return holder, nil
}

// ReleaseSingleton gives up host's lease of plugin (nothing when host does
// not hold it): another host takes it at its next claim.
func (q *Queries) ReleaseSingleton(ctx context.Context, plugin, host string) error {
	if _, err := q.db.Exec(ctx, "DELETE FROM singleton_leases WHERE plugin = ? AND host_id = ?", plugin, host); err != nil {
		return fmt.Errorf("release the lease of singleton plugin %q: %w", plugin, err)
	}
	return nil
}

// SingletonLeases lists the leases, by plugin, expired ones included (the
// caller compares RenewedAt with DBNow).
func (q *Queries) SingletonLeases(ctx context.Context) ([]SingletonLease, error) {
	rows, err := q.db.Query(ctx, "SELECT plugin, host_id, acquired_at, renewed_at FROM singleton_leases ORDER BY plugin")
	if err != nil {
		return nil, fmt.Errorf("list singleton leases: %w", err)
	}
	defer rows.Close()
	var out []SingletonLease
	for rows.Next() {
		var l SingletonLease
		var acq, ren int64
		if err := rows.Scan(&l.Plugin, &l.HostID, &acq, &ren); err != nil {
			return nil, fmt.Errorf("list singleton leases: %w", err)
		}
		l.AcquiredAt, l.RenewedAt = FromMillis(acq), FromMillis(ren)
		out = append(out, l)
	}
	return out, rows.Err()
}
