package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Connection loss: how the store tells a database that went away (a
// PostgreSQL restart, an administrator terminating connections, the
// network) from a statement that failed, what it repeats, and what it
// reports as ErrUnavailable.

// unavailableError is ErrUnavailable with the driver's error in the chain
// (for the log); its message is the store's.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return "the database is unavailable (" + e.err.Error() + "); try again shortly"
}

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// IsUnavailable reports whether err means the database could not be
// reached or lost the connection: ErrUnavailable, or a database driver's
// error of that kind that did not pass through the store (the job
// queue's). Network errors of other origins (a plugin's, an HTTP
// client's) are not the database's and do not count.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var fromPgconn interface{ SafeToRetry() bool }
	var pgErr *pgconn.PgError
	var sqErr *sqlite.Error
	var connectErr *pgconn.ConnectError
	if !errors.As(err, &fromPgconn) && !errors.As(err, &pgErr) && !errors.As(err, &sqErr) && !errors.As(err, &connectErr) &&
		!errors.Is(err, pgconn.ErrConnClosed) {
		return false
	}
	return connLost(err)
}

// FromDatabase classifies an error that another client of the host's
// database returned (the job queue's River client, on the same pool or
// transaction): a lost connection becomes ErrUnavailable, like the store's
// own errors, so callers answer 503 and retry instead of failing with an
// internal error. Other errors are returned as they are.
func FromDatabase(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !connLost(err) {
		return err
	}
	return &unavailableError{err}
}

// connLost reports whether err is a lost or refused connection, on either
// backend: a PostgreSQL error of class 08 (connection exception) or
// 57P01-57P03 (the server terminating connections: shut down, crash,
// cannot connect now), a failure to connect or to acquire a connection, the
// connection closed under pgx, a network error or an end of stream; or
// SQLite busy or locked past its busy timeout. An expired or cancelled
// context is not a lost connection.
func connLost(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connectErr *pgconn.ConnectError
	if serverTerminated(err) || errors.As(err, &connectErr) {
		return true // whatever the server said when refusing the connection
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return false // the server answered: the statement failed, not the connection
	}
	var netErr net.Error
	var sqErr *sqlite.Error
	switch {
	case errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	case errors.As(err, &sqErr):
		code := sqErr.Code() & 0xff // the primary code of an extended one
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	// pgx reports a connection it closed itself in words only.
	return strings.Contains(err.Error(), "conn closed")
}

// serverTerminated reports whether PostgreSQL said it is ending the
// connection (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
// connect now) or that the connection failed (class 08). The statement
// that got this answer did not run to a commit.
func serverTerminated(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "57P01", "57P02", "57P03":
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08")
}

// retryable reports whether a statement that failed with err may be sent
// again on a fresh connection without doing its work twice: when nothing
// reached the server (pgconn.SafeToRetry, a refused connection, one pgx
// had closed already), when the
// server said it was ending the connection (the statement did not run to
// a commit), or when the connection broke under a read (a SELECT changes
// nothing). A write whose connection broke after it was sent may have been
// applied: it is not repeated.
func retryable(query string, err error) bool {
	if !connLost(err) {
		return false
	}
	var connectErr *pgconn.ConnectError
	if pgconn.SafeToRetry(err) || serverTerminated(err) || errors.As(err, &connectErr) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	return isRead(query)
}

// isRead reports whether a statement is a plain SELECT.
func isRead(query string) bool {
	q := strings.TrimSpace(query)
	return len(q) >= 6 && strings.EqualFold(q[:6], "select") && !strings.Contains(strings.ToUpper(q), " FOR UPDATE")
}
