package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
)

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

// mapErr turns driver errors into the store's errors, keeping the driver's
// message.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return fmt.Errorf("%w (%s)", ErrConflict, pgErr.ConstraintName)
		case "23503":
			return fmt.Errorf("%w (%s)", ErrReferenced, pgErr.ConstraintName)
		case "23514", "23502":
			return fmt.Errorf("%w (%s)", ErrInvalid, pgErr.Message)
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w (%s)", ErrConflict, sqErr.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w (%s)", ErrReferenced, sqErr.Error())
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return fmt.Errorf("%w (%s)", ErrInvalid, sqErr.Error())
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
}

var (
	_ DB = pgxDB{}
	_    = (*pgxpool.Pool)(nil)
)

func (d pgxDB) Dialect() Dialect { return Postgres }

func (d pgxDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := d.q.Exec(ctx, rebind(Postgres, query), args...)
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

func (d pgxDB) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := d.q.Query(ctx, rebind(Postgres, query), args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return pgxRows{rows}, nil
}

func (d pgxDB) QueryRow(ctx context.Context, query string, args ...any) Row {
	return errRow{d.q.QueryRow(ctx, rebind(Postgres, query), args...)}
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Scan(dest ...any) error { return mapErr(r.Rows.Scan(dest...)) }
func (r pgxRows) Err() error             { return mapErr(r.Rows.Err()) }

// sqlDB runs queries on a database/sql pool or transaction.
type sqlDB struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

var _ DB = sqlDB{}

func (d sqlDB) Dialect() Dialect { return SQLite }

func (d sqlDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
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
	rows, err := d.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return &sqlRows{rows}, nil
}

func (d sqlDB) QueryRow(ctx context.Context, query string, args ...any) Row {
	return errRow{d.q.QueryRowContext(ctx, query, args...)}
}

type sqlRows struct{ *sql.Rows }

func (r *sqlRows) Scan(dest ...any) error { return mapErr(r.Rows.Scan(dest...)) }
func (r *sqlRows) Err() error             { return mapErr(r.Rows.Err()) }
func (r *sqlRows) Close()                 { _ = r.Rows.Close() }

type errRow struct{ Row }

func (r errRow) Scan(dest ...any) error { return mapErr(r.Row.Scan(dest...)) }
