package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// The schema history: the same versions in both folders, each written in
// its backend's SQL.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

func (s *Store) provider() (*goose.Provider, func(), error) {
	db, closeDB, err := s.SQLDB()
	if err != nil {
		return nil, nil, err
	}
	dialect, dir := goose.DialectPostgres, "migrations/postgres"
	if s.dialect == SQLite {
		dialect, dir = goose.DialectSQLite3, "migrations/sqlite"
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		closeDB()
		return nil, nil, err
	}
	p, err := goose.NewProvider(dialect, db, sub, goose.WithTableName("mikrobill_schema_version"))
	if err != nil {
		closeDB()
		return nil, nil, fmt.Errorf("prepare migrations: %w", err)
	}
	return p, closeDB, nil
}

// Migrate applies every migration not applied yet and returns the versions
// it applied.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	p, closeDB, err := s.provider()
	if err != nil {
		return nil, err
	}
	defer closeDB()
	results, err := p.Up(ctx)
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	if err != nil {
		return applied, fmt.Errorf("migrate the database: %w", err)
	}
	return applied, nil
}

// SchemaVersion returns the version the database is at and the newest this
// host knows.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, closeDB, err := s.provider()
	if err != nil {
		return 0, 0, err
	}
	defer closeDB()
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, err
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

// LatestVersion is the newest schema version this host knows, read from
// its embedded migrations (no database needed).
func LatestVersion() (int64, error) {
	entries, err := fs.ReadDir(migrations, "migrations/sqlite")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		v, err := goose.NumericComponent(e.Name())
		if err != nil {
			return 0, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}
