package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PluginRecord is one record of a plugin's durable store (sdk.Host's
// Store* calls): a key of the plugin's own namespace and its value.
type PluginRecord struct {
	Key   string
	Value []byte
	// ExpiresAt is when the record stops being read (zero: never).
	ExpiresAt time.Time
}

// The plugin records are kept in the table plugin_records, keys as bytes:
// both backends compare and order them bytewise, as Go compares strings, so
// a prefix is the key range [prefix, prefixEnd(prefix)) and needs neither
// LIKE (whose % and _ would be wildcards, and which SQLite matches without
// regard to case) nor a collation. A record whose expires_at has passed
// reads as absent; DeleteExpiredPluginRecords removes it.

// expiresAt is the expiry of a record written at now with ttl (nil: none).
// The TTL is rounded up to the millisecond the database keeps, so a short
// one still outlives its write.
func expiresAt(now time.Time, ttl time.Duration) any {
	if ttl <= 0 {
		return nil
	}
	return Millis(now) + int64((ttl+time.Millisecond-1)/time.Millisecond)
}

func checkPluginRecord(plugin string, ttl time.Duration) error {
	if plugin == "" {
		return fmt.Errorf("%w: no plugin name", ErrInvalid)
	}
	if ttl < 0 {
		return fmt.Errorf("%w: a record's ttl cannot be negative, got %s", ErrInvalid, ttl)
	}
	return nil
}

// nonNil keeps an empty value from being bound as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// GetPluginRecord reads a plugin's live record. A missing or expired record
// is ErrNotFound.
func (q *Queries) GetPluginRecord(ctx context.Context, plugin, key string) ([]byte, error) {
	var value []byte
	err := q.db.QueryRow(ctx, `SELECT value FROM plugin_records
		WHERE plugin = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`,
		plugin, []byte(key), Millis(q.store.now())).Scan(&value)
	if err != nil {
		return nil, fmt.Errorf("read record %q of plugin %q: %w", key, plugin, err)
	}
	return value, nil
}

// SetPluginRecord writes a plugin's record, replacing any, to expire after
// ttl (zero: never).
func (q *Queries) SetPluginRecord(ctx context.Context, plugin, key string, value []byte, ttl time.Duration) error {
	if err := checkPluginRecord(plugin, ttl); err != nil {
		return fmt.Errorf("write record %q of plugin %q: %w", key, plugin, err)
	}
	now := q.store.now()
	_, err := q.db.Exec(ctx, `INSERT INTO plugin_records (plugin, key, value, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
			updated_at = excluded.updated_at,
			created_at = CASE WHEN plugin_records.expires_at <= excluded.updated_at THEN excluded.created_at
				ELSE plugin_records.created_at END`,
		plugin, []byte(key), nonNil(value), expiresAt(now, ttl), Millis(now), Millis(now))
	if err != nil {
		return fmt.Errorf("write record %q of plugin %q: %w", key, plugin, err)
	}
	return nil
}

// SetPluginRecordIfAbsent writes a plugin's record only when it has no live
// one under key (none, or one that has expired, which it replaces), and
// reports whether it wrote. It is one statement, so of concurrent callers
// exactly one writes: a lock, or a guard against a replay.
func (q *Queries) SetPluginRecordIfAbsent(ctx context.Context, plugin, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkPluginRecord(plugin, ttl); err != nil {
		return false, fmt.Errorf("write record %q of plugin %q: %w", key, plugin, err)
	}
	now := q.store.now()
	n, err := q.db.Exec(ctx, `INSERT INTO plugin_records (plugin, key, value, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
			created_at = excluded.created_at, updated_at = excluded.updated_at
		WHERE plugin_records.expires_at IS NOT NULL AND plugin_records.expires_at <= excluded.updated_at`,
		plugin, []byte(key), nonNil(value), expiresAt(now, ttl), Millis(now), Millis(now))
	if err != nil {
		return false, fmt.Errorf("write record %q of plugin %q: %w", key, plugin, err)
	}
	return n > 0, nil
}

// DeletePluginRecord removes a plugin's record. ErrNotFound: it had no live
// one (an expired record is removed all the same).
func (q *Queries) DeletePluginRecord(ctx context.Context, plugin, key string) error {
	var expires sql.NullInt64
	err := q.db.QueryRow(ctx, "DELETE FROM plugin_records WHERE plugin = ? AND key = ? RETURNING expires_at",
		plugin, []byte(key)).Scan(&expires)
	if err == nil && expires.Valid && expires.Int64 <= Millis(q.store.now()) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete record %q of plugin %q: %w", key, plugin, err)
	}
	return nil
}

// ListPluginRecords returns up to limit live records of a plugin whose keys
// start with prefix and sort after after (the last key of the previous
// page; "" for the first), in key order (bytewise).
func (q *Queries) ListPluginRecords(ctx context.Context, plugin, prefix, after string, limit int) ([]PluginRecord, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list records of plugin %q: %w: limit must be positive, got %d", plugin, ErrInvalid, limit)
	}
	query := `SELECT key, value, expires_at FROM plugin_records
		WHERE plugin = ? AND key > ? AND key >= ? AND (expires_at IS NULL OR expires_at > ?)`
	args := []any{plugin, []byte(after), []byte(prefix), Millis(q.store.now())}
	if end, ok := prefixEnd([]byte(prefix)); ok {
		query += " AND key < ?"
		args = append(args, end)
	}
	query += fmt.Sprintf(" ORDER BY key LIMIT %d", limit)
	rows, err := q.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list records of plugin %q: %w", plugin, err)
	}
	defer rows.Close()
	var out []PluginRecord
	for rows.Next() {
		var key, value []byte
		var expires sql.NullInt64
		if err := rows.Scan(&key, &value, &expires); err != nil {
			return nil, fmt.Errorf("list records of plugin %q: %w", plugin, err)
		}
		out = append(out, PluginRecord{Key: string(key), Value: value, ExpiresAt: FromNullMillis(expires)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list records of plugin %q: %w", plugin, err)
	}
	return out, nil
}

// prefixEnd is the least byte string greater than every string that starts
// with prefix; ok is false when there is none (an empty prefix, or one of
// 0xff bytes only).
func prefixEnd(prefix []byte) (end []byte, ok bool) {
	end = append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1], true
		}
	}
	return nil, false
}

// DeleteExpiredPluginRecords removes up to limit records whose expiry has
// passed, of every plugin, and returns how many it removed. Call it until
// it removes fewer than limit: each call is one short statement, so other
// writers are not held up for long.
func (q *Queries) DeleteExpiredPluginRecords(ctx context.Context, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("delete expired plugin records: %w: limit must be positive, got %d", ErrInvalid, limit)
	}
	n, err := q.db.Exec(ctx, fmt.Sprintf(`DELETE FROM plugin_records WHERE (plugin, key) IN (
		SELECT plugin, key FROM plugin_records WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT %d)`, limit),
		Millis(q.store.now()))
	if err != nil {
		return 0, fmt.Errorf("delete expired plugin records: %w", err)
	}
	return n, nil
}
