// Package store is the host's database: an embedded SQLite file in the data
// directory by default.
//
// Start with Open and Store.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go
)

// FileName is the embedded database's file in the data directory.
const FileName = "mikrobill.db"

// Store is an open database.
type Store struct {
	db     *sql.DB
	driver string
	where  string
}

// OpenSQLite opens (creating if needed) the embedded database in dataDir,
// with WAL, foreign keys and a busy timeout.
func OpenSQLite(ctx context.Context, dataDir string) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, FileName)
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, driver: "sqlite", where: path}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w; check that the data directory is writable", path, err)
	}
	return s, nil
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Driver returns "sqlite" or "postgres".
func (s *Store) Driver() string { return s.driver }

// Where says where the data lives (a file path, or a host and database name).
func (s *Store) Where() string { return s.where }

// DB returns the database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
