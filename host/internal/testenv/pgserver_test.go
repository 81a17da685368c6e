package testenv

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestPGServerRestart starts a private server, restarts it with "fast"
// (clients see admin shutdown, 57P01) and shows that a new connection works
// afterwards.
func TestPGServerRestart(t *testing.T) {
	s := NewPGServer(t)
	url := s.CreateDB("restart_test")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (n int)"); err != nil {
		t.Fatal(err)
	}
	s.Restart("fast")
	_, err = conn.Exec(ctx, "SELECT 1")
	var pgErr *pgconn.PgError
	if err == nil || (errors.As(err, &pgErr) && pgErr.Code != "57P01") {
		t.Errorf("query on a connection the restart closed: %v; want a connection error", err)
	}
	conn2, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer conn2.Close(ctx)
	if _, err := conn2.Exec(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Errorf("the table made before the restart: %v", err)
	}
}
