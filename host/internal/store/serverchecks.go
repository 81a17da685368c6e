package store

import (
	"context"
	"fmt"
)

// ServerWarnings reads the database server's settings that make the
// host slower as its tables grow, and says what to change: on PostgreSQL,
// autovacuum turned off. The embedded SQLite has none. The host logs each
// at its start; none stops it.
func (s *Store) ServerWarnings(ctx context.Context) ([]string, error) {
	if s.dialect != Postgres {
		return nil, nil
	}
	var autovacuum string
	if err := s.pool.QueryRow(ctx, `SHOW autovacuum`).Scan(&autovacuum); err != nil {
		return nil, fmt.Errorf("read PostgreSQL's autovacuum setting at %s: %w", s.where, err)
	}
	if w := autovacuumWarning(autovacuum); w != "" {
		return []string{w}, nil
	}
	return nil, nil
}

// autovacuumWarning is the warning for PostgreSQL's autovacuum setting
// ("on" or "off"), or "".
//
// Without autovacuum nothing analyzes the tables, and PostgreSQL keeps
// planning with what it knew when they were small: measured with
// BenchmarkPostgresWebhookFloor, a paid webhook's statements went from 427
// to 166 a second over 16,000 webhooks, where with autovacuum they held
// level (docs/operations.md, "Moving from `make run` to PostgreSQL").
func autovacuumWarning(setting string) string {
	if setting != "off" {
		return ""
	}
	return "autovacuum is off on this PostgreSQL server: nothing analyzes or vacuums the host's tables, so queries slow down as they grow " +
		"(each paid webhook's statements read more); turn it on (autovacuum = on in postgresql.conf, the default, then reload), " +
		"or run VACUUM ANALYZE on the host's database regularly"
}
