// Package storetest gives tests a fresh, migrated store on each backend:
// an embedded SQLite file always, and PostgreSQL when
// MIKROBILL_TEST_POSTGRES_URL is set (CI sets it). Every test gets a database
// of its own, so tests run in parallel. When the variable is set and the
// server does not answer, the test fails; it never skips silently.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// EnvPostgres names the variable with an administrative PostgreSQL URL.
const EnvPostgres = "MIKROBILL_TEST_POSTGRES_URL"

// Each runs fn once per backend, as subtests "sqlite" and "postgres".
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(EnvPostgres) == "" {
			t.Skipf("%s is not set: the PostgreSQL run of this test is skipped (CI sets it; so can you, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)", EnvPostgres)
		}
		fn(t, Postgres(t))
	})
}

// SQLite returns a migrated store in a temporary directory.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return open(t, store.Options{DataDir: t.TempDir()})
}

// Postgres returns a migrated store on a new database of its own.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	return PostgresAt(t, PostgresURL(t))
}

// PostgresAt returns a migrated store on the database at url, with a
// connection pool of its own: one of several hosts sharing the database.
func PostgresAt(t testing.TB, url string) *store.Store {
	t.Helper()
	return open(t, store.Options{URL: url, MaxConns: 8})
}

// PostgresURL creates an empty database for the test and returns its URL;
// the database is dropped when the test ends. It fails the test when
// MIKROBILL_TEST_POSTGRES_URL is unset or the server does not answer.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		t.Fatalf("%s is not set", EnvPostgres)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL does not answer: %v", EnvPostgres, err)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "mb_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

func open(t testing.TB, o store.Options) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(fmt.Errorf("migrate: %w", err))
	}
	return s
}
