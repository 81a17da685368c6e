package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrReadOnly is a write attempted in ReadTx.
var ErrReadOnly = errors.New("a write in a read transaction")

// ReadTx runs fn with queries that all read one snapshot of the store:
// what one of them sees committed the others see too, and nothing that
// commits while fn runs. A page built from several reads (a customer's
// subscription and their invoices) then never shows half of a transaction
// that committed between two of them (an invoice paid, the subscription
// it extended not yet).
//
// fn only reads: a write returns ErrReadOnly (PostgreSQL's READ ONLY
// transaction refuses it too). Keep fn short and free of calls that wait
// on anything but the store: on PostgreSQL the snapshot holds back
// vacuum, and on SQLite it holds back the WAL's checkpoint. Like Tx, on
// PostgreSQL it runs fn again once on a fresh connection when the one it
// had was lost.
func (s *Store) ReadTx(ctx context.Context, fn func(q *Queries) error) error {
	err := s.readTx(ctx, fn)
	if s.pool == nil || err == nil || ctx.Err() != nil || !IsUnavailable(err) {
		return err
	}
	s.pool.Reset()
	return s.readTx(ctx, fn)
}

func (s *Store) readTx(ctx context.Context, fn func(q *Queries) error) error {
	if s.pool != nil {
		pt, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return mapErr(err)
		}
		// Nothing to commit: it ends in a rollback, as on SQLite.
		defer func() { _ = pt.Rollback(context.WithoutCancel(ctx)) }()
		return fn(&Queries{db: pgxDB{q: pt}, store: s})
	}
	// ReadOnly makes it a plain (deferred) BEGIN, where the store's
	// connections otherwise begin IMMEDIATE, taking the write lock: the
	// snapshot starts at the first read and takes no lock.
	st, err := s.sqldb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mapErr(err)
	}
	defer func() { _ = st.Rollback() }()
	return fn(&Queries{db: readOnlyDB{sqlDB{q: st}}, store: s})
}

// readOnlyDB is a SQLite read transaction's queries: SQLite would make a
// write in it a write transaction of its own, outside the write turn and
// the group commit (group.go), so writes are refused here.
type readOnlyDB struct{ sqlDB }

func (d readOnlyDB) Exec(_ context.Context, query string, _ ...any) (int64, error) {
	return 0, readOnlyError(query)
}

func (d readOnlyDB) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	if writes(query) {
		return nil, readOnlyError(query)
	}
	return d.sqlDB.Query(ctx, query, args...)
}

func (d readOnlyDB) QueryRow(ctx context.Context, query string, args ...any) Row {
	if writes(query) {
		return refusedRow{readOnlyError(query)}
	}
	return d.sqlDB.QueryRow(ctx, query, args...)
}

func readOnlyError(query string) error {
	verb, _, _ := strings.Cut(strings.TrimSpace(query), " ")
	return fmt.Errorf("%w: %s writes; run it in Store.Tx, not ReadTx", ErrReadOnly, strings.ToUpper(verb))
}

// writes says whether a statement starts as a write (what a read
// transaction's Query may not run: INSERT ... RETURNING, say).
func writes(query string) bool {
	return startsWith(query, "INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
}

type refusedRow struct{ err error }

func (r refusedRow) Scan(...any) error { return r.err }
