package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestConnectionLossIsRecognised: the errors of a lost or refused
// connection on both backends are told from a statement that failed, mapped
// to ErrUnavailable, and repeated only when that is safe.
func TestConnectionLossIsRecognised(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A real refused connection: nothing listens on port 1.
	_, connectErr := pgconn.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=5")
	var ce *pgconn.ConnectError
	if !errors.As(connectErr, &ce) {
		t.Fatalf("connect to a closed port: %T %v, want a *pgconn.ConnectError", connectErr, connectErr)
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tt := range []struct {
		name        string
		err         error
		lost        bool
		retryRead   bool // a SELECT that failed so is sent again
		retryWrite  bool // an INSERT that failed so is sent again
		unavailable bool // IsUnavailable, wherever the error came from
	}{
		{"57P01 admin shutdown", &pgconn.PgError{Code: "57P01"}, true, true, true, true},
		{"57P02 crash shutdown", &pgconn.PgError{Code: "57P02"}, true, true, true, true},
		{"57P03 cannot connect now", &pgconn.PgError{Code: "57P03"}, true, true, true, true},
		{"08006 connection failure", &pgconn.PgError{Code: "08006"}, true, true, true, true},
		{"08003 connection does not exist", &pgconn.PgError{Code: "08003"}, true, true, true, true},
		{"connect refused", connectErr, true, true, true, true},
		{"conn closed by pgx", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true, true, true, true},
		{"end of stream", fmt.Errorf("read: %w", io.EOF), true, true, false, false},
		{"unexpected end of stream", io.ErrUnexpectedEOF, true, true, false, false},
		{"connection reset", reset, true, true, false, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false, false, false, false},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, false, false, false, false},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false, false, false, false},
		{"no rows", sql.ErrNoRows, false, false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := connLost(tt.err); got != tt.lost {
				t.Errorf("connLost = %v, want %v", got, tt.lost)
			}
			if got := errors.Is(mapErr(tt.err), ErrUnavailable); got != tt.lost {
				t.Errorf("mapErr is ErrUnavailable: %v, want %v", got, tt.lost)
			}
			if got := retryable("SELECT id FROM plans WHERE id = $1", tt.err); got != tt.retryRead {
				t.Errorf("retryable(SELECT) = %v, want %v", got, tt.retryRead)
			}
			if got := retryable("INSERT INTO plans (name) VALUES ($1) RETURNING id", tt.err); got != tt.retryWrite {
				t.Errorf("retryable(INSERT) = %v, want %v", got, tt.retryWrite)
			}
			if got := IsUnavailable(tt.err); got != tt.unavailable {
				t.Errorf("IsUnavailable = %v, want %v", got, tt.unavailable)
			}
		})
	}
}

// TestSQLiteBusyIsUnavailable: SQLite still locked when its busy timeout
// ends is ErrUnavailable (a 503), not an internal error.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(0)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if _, err := a.ExecContext(ctx, "CREATE TABLE x (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO x VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	_, err = sqlDB{q: b}.Exec(ctx, "INSERT INTO x VALUES (2)")
	if !errors.Is(err, ErrUnavailable) || !IsUnavailable(err) {
		t.Errorf("a write while another holds the lock: %v, want ErrUnavailable", err)
	}
}
