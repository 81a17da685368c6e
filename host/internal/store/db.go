package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of the store. Repository methods wrap them with what they were
// doing; test them with errors.Is.
var (
	// ErrNotFound: no row matched.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint refused the write (the thing exists).
	ErrConflict = errors.New("conflict with an existing record")
	// ErrReferenced: a foreign key refused the write (a referenced record is
	// missing, or the record is still referenced).
	ErrReferenced = errors.New("referenced record missing or still in use")
	// ErrInvalid: a check constraint refused the value.
	ErrInvalid = errors.New("value refused by the database")
	// ErrUnavailable: the database could not be reached or lost the
	// connection (PostgreSQL restarting or terminating it, the network), or
	// SQLite stayed locked past its busy timeout. Reads and whole
	// transactions are tried once more on a fresh connection first (see
	// Store.Tx); what still fails, or could not be repeated safely, is this.
	// The HTTP layer answers 503 with Retry-After.
	ErrUnavailable = errors.New("the database is unavailable")
)

// FieldError is a refusal a person can act on: the field of theirs at
// fault and, in words fit to show them, what is wrong and what to do (`a
// location named "main" exists; choose another name`). Repository methods
// return it where they know which value was refused (a name taken, a
// customer that does not exist); find it with errors.As. It wraps its Kind
// (ErrConflict, ErrReferenced, ErrInvalid or ErrNotFound), so errors.Is
// sees through it, and the driver's error when there was one.
type FieldError struct {
	// Kind is ErrConflict, ErrReferenced, ErrInvalid or ErrNotFound.
	Kind error
	// Field is the JSON field at fault, such as "name" or "customer_id".
	Field string
	// Message says what is wrong and what to do, without database words.
	Message string
	// Err is the error it replaces (nil when none).
	Err error
}

func (e *FieldError) Error() string { return e.Message }

// Unwrap gives errors.Is and errors.As the Kind and the replaced error.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// fieldError replaces err by a FieldError when err is of kind; any other
// error (nil included) is returned as it is.
func fieldError(err, kind error, field, msg string) error {
	if err == nil || !errors.Is(err, kind) {
		return err
	}
	return &FieldError{Kind: kind, Field: field, Message: msg, Err: err}
}

// nameTaken is the FieldError of a unique name that is in use.
func nameTaken(err error, field, msg string) error { return fieldError(err, ErrConflict, field, msg) }

// constraintError is a constraint's refusal as one of the store's errors.
// Its message is the store's alone: the driver's words ("UNIQUE constraint
// failed: router_locations.name (2067)") name tables and constraints,
// which mean nothing to whoever sent the value and would reach them in API
// answers. The driver's error stays in the chain, for errors.As.
type constraintError struct {
	kind   error
	driver error
}

func (e *constraintError) Error() string   { return e.kind.Error() }
func (e *constraintError) Unwrap() []error { return []error{e.kind, e.driver} }

// DB runs queries: the store itself, or a transaction. Queries use "?"
// placeholders on both backends (they are rewritten to $1, $2, ... for
// PostgreSQL).
type DB interface {
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a query that returns rows.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a query that returns at most one row; Scan reports
	// ErrNotFound when there is none.
	QueryRow(ctx context.Context, query string, args ...any) Row
	// Dialect says which SQL the backend speaks.
	Dialect() Dialect
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result.
type Row interface {
	Scan(dest ...any) error
}

// Dialect is "postgres" or "sqlite".
type Dialect string

// Dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// rebind rewrites ? placeholders to $n outside quoted strings.
func rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// mapErr turns driver errors into the store's errors. Constraint
// violations become ErrConflict, ErrReferenced or ErrInvalid with the
// store's message only (see constraintError); repository methods that know
// which value was refused say so with a FieldError.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if connLost(err) {
		return &unavailableError{err}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return &constraintError{ErrConflict, err}
		case "23503":
			return &constraintError{ErrReferenced, err}
		case "23514", "23502":
			return &constraintError{ErrInvalid, err}
		case "25006": // read_only_sql_transaction: a write in ReadTx
			return &constraintError{ErrReadOnly, err}
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &constraintError{ErrConflict, err}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &constraintError{ErrReferenced, err}
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return &constraintError{ErrInvalid, err}
		}
	}
	return err
}

// pgxDB runs queries on a pool or a transaction.
type pgxDB struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
	// pool is set when q is the pool itself (not a transaction): a
	// statement that met a lost connection is then tried once more on a
	// fresh one, when that is safe (retryable).
	pool *pgxpool.Pool
}

var (
	_ DB = pgxDB{}
	_    = (*pgxpool.Pool)(nil)
)

func (d pgxDB) Dialect() Dialect { return Postgres }

// again reports whether a statement that failed with err is tried once
// more on a fresh connection: only outside a transaction, while ctx lasts,
// and when repeating it is safe (retryable). The pool's other connections
// are dropped first: a connection lost to a restart or a termination
// seldom goes alone.
func (d pgxDB) again(ctx context.Context, query string, err error) bool {
	if d.pool == nil || ctx.Err() != nil || !retryable(query, err) {
		return false
	}
	d.pool.Reset()
	return true
}

func (d pgxDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	query = rebind(Postgres, query)
	tag, err := d.q.Exec(ctx, query, args...)
	if err != nil && d.again(ctx, query, err) {
		tag, err = d.q.Exec(ctx, query, args...)
	}
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

func (d pgxDB) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	query = rebind(Postgres, query)
	rows, err := d.query(ctx, query, args)
	if err != nil && d.again(ctx, query, err) {
		rows, err = d.query(ctx, query, args)
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return rows, nil
}

// query runs a query; outside a transaction it reads the first row (or the
// end) at once, so that an error of a lost connection, which pgx reports
// only there, can still be retried.
func (d pgxDB) query(ctx context.Context, query string, args []any) (*pgxRows, error) {
	rows, err := d.q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	r := &pgxRows{Rows: rows}
	if d.pool == nil {
		return r, nil
	}
	r.peeked, r.first = true, rows.Next()
	if !r.first {
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, err
		}
	}
	return r, nil
}

func (d pgxDB) QueryRow(ctx context.Context, query string, args ...any) Row {
	query = rebind(Postgres, query)
	return &pgxRow{d: d, ctx: ctx, query: query, args: args, row: d.q.QueryRow(ctx, query, args...)}
}

// pgxRow is QueryRow's row: its Scan is where a lost connection shows.
type pgxRow struct {
	d     pgxDB
	ctx   context.Context
	query string
	args  []any
	row   pgx.Row
}

func (r *pgxRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if err != nil && r.d.again(r.ctx, r.query, err) {
		err = r.d.q.QueryRow(r.ctx, r.query, r.args...).Scan(dest...)
	}
	return mapErr(err)
}

// pgxRows are a query's rows; peeked when the first Next was read ahead
// (query).
type pgxRows struct {
	pgx.Rows
	peeked, first bool
}

func (r *pgxRows) Next() bool {
	if r.peeked {
		r.peeked = false
		return r.first
	}
	return r.Rows.Next()
}

func (r *pgxRows) Scan(dest ...any) error { return mapErr(r.Rows.Scan(dest...)) }
func (r *pgxRows) Err() error             { return mapErr(r.Rows.Err()) }

// sqlDB runs queries on a database/sql pool or transaction.
type sqlDB struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	// writer is the store's write turn (Store.writer) when q is the pool:
	// Exec takes it. In a transaction (which holds it) it is nil.
	writer *writeTurn
	// detached: statements run without the caller's cancellation (a
	// transaction's, which other callers' may share: group.go).
	detached bool
	// group, on the pool: a write outside a transaction joins the queue
	// of transactions waiting for the writer (group.go).
	group *Store
}

var _ DB = sqlDB{}

func (d sqlDB) Dialect() Dialect { return SQLite }

func (d sqlDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if d.detached {
		ctx = context.WithoutCancel(ctx)
	}
	if d.group != nil && groupable(query) {
		var n int64
		err := d.group.groupTx(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.q.db.Exec(ctx, query, args...)
			return err
		})
		return n, err
	}
	if d.writer != nil {
		unlock, err := d.writer.lock(ctx)
		if err != nil {
			return 0, err
		}
		defer unlock()
	}
	res, err := d.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, mapErr(err)
	}
	return n, nil
}

func (d sqlDB) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	if d.detached {
		ctx = context.WithoutCancel(ctx)
	}
	rows, err := d.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return &sqlRows{rows}, nil
}

func (d sqlDB) QueryRow(ctx context.Context, query string, args ...any) Row {
	if d.detached {
		ctx = context.WithoutCancel(ctx)
	}
	return errRow{d.q.QueryRowContext(ctx, query, args...)}
}

type sqlRows struct{ *sql.Rows }

func (r *sqlRows) Scan(dest ...any) error { return mapErr(r.Rows.Scan(dest...)) }
func (r *sqlRows) Err() error             { return mapErr(r.Rows.Err()) }
func (r *sqlRows) Close()                 { _ = r.Rows.Close() }

type errRow struct{ Row }

func (r errRow) Scan(dest ...any) error { return mapErr(r.Row.Scan(dest...)) }
