package store_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestRetriedOnAFreshConnection: on PostgreSQL, statements outside a
// transaction that meet connections the server terminated are sent again
// on a fresh one, a transaction that lost its connection before its commit
// runs again whole (its first run rolled back), and a database that takes
// no connections is ErrUnavailable.
func TestRetriedOnAFreshConnection(t *testing.T) {
	admin := os.Getenv(storetest.EnvPostgres)
	if admin == "" {
		t.Skipf("%s is not set: this test needs PostgreSQL", storetest.EnvPostgres)
	}
	ctx := context.Background()
	dbURL := storetest.PostgresURL(t)
	u, _ := url.Parse(dbURL)
	name := strings.TrimPrefix(u.Path, "/")
	s, err := store.Open(ctx, store.Options{URL: dbURL, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ac, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ac.Close(context.Background()) })
	t.Cleanup(func() { _, _ = ac.Exec(context.Background(), "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true") })
	terminate := func() {
		t.Helper()
		if _, err := ac.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
			t.Fatal(err)
		}
	}
	q := s.Q().DB()
	count := func() int {
		t.Helper()
		var n int
		if err := q.QueryRow(ctx, "SELECT COUNT(*) FROM sequences").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Warm the pool, then lose every connection before each statement.
	for range 3 {
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	terminate()
	if _, err := q.Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, ?)", "a", 1); err != nil {
		t.Errorf("an insert after the server terminated the connections: %v", err)
	}
	terminate()
	if n := count(); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
	terminate()
	rows, err := q.Query(ctx, "SELECT name FROM sequences ORDER BY name")
	if err != nil {
		t.Fatalf("a query after the server terminated the connections: %v", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil || len(names) != 1 || names[0] != "a" {
		t.Errorf("rows %v, %v", names, err)
	}
	rows.Close()

	// A transaction whose connection is terminated under it runs again.
	runs := 0
	err = s.Tx(ctx, func(tx *store.Tx) error {
		runs++
		if _, err := tx.Q().DB().Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, ?)", "b", runs); err != nil {
			return err
		}
		if runs == 1 {
			var ok bool
			return tx.Q().DB().QueryRow(ctx, "SELECT pg_terminate_backend(pg_backend_pid())").Scan(&ok)
		}
		return nil
	})
	if err != nil || runs != 2 {
		t.Fatalf("transaction that lost its connection: %v after %d runs; want it run again, once", err, runs)
	}
	var v int64
	if err := q.QueryRow(ctx, "SELECT value FROM sequences WHERE name = ?", "b").Scan(&v); err != nil || v != 2 {
		t.Errorf("the row of the transaction: value %d, %v; want the second run's alone", v, err)
	}

	// No connections at all: ErrUnavailable, from reads and transactions.
	if _, err := ac.Exec(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	terminate()
	if err := q.QueryRow(ctx, "SELECT value FROM sequences WHERE name = ?", "a").Scan(&v); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a read while the database takes no connections: %v, want ErrUnavailable", err)
	}
	if err := s.Tx(ctx, func(*store.Tx) error { return nil }); !errors.Is(err, store.ErrUnavailable) || !store.IsUnavailable(err) {
		t.Errorf("a transaction while the database takes no connections: %v, want ErrUnavailable", err)
	}
}

// TestFromDatabase: what another client of the database (the job queue)
// reports for a lost connection, bare, is ErrUnavailable once classified;
// other errors pass through unchanged.
func TestFromDatabase(t *testing.T) {
	other := errors.New("job args do not encode")
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"already unavailable", store.ErrUnavailable, true},
		{"another error", other, false},
		{"nil", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := store.FromDatabase(tt.err)
			if store.IsUnavailable(got) != tt.want {
				t.Errorf("IsUnavailable(FromDatabase(%v)) = %v, want %v", tt.err, !tt.want, tt.want)
			}
			if !tt.want && got != tt.err {
				t.Errorf("FromDatabase(%v) = %v, want it unchanged", tt.err, got)
			}
		})
	}
}
