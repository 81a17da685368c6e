package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"sync"

	"modernc.org/sqlite"
)

// Prepared statements kept per SQLite connection.
//
// database/sql hands a query with arguments to the driver's QueryContext or
// ExecContext, and modernc.org/sqlite prepares the statement, runs it and
// finalizes it each time: SQLite's tokenizer, parser and planner run for
// every query. Under 32 concurrent paid webhooks that was a fifth of the
// host's CPU (docs/BENCHMARKS.md, "Webhooks under concurrency"). A
// connection opened by
// openSQLiteDB keeps the statements it prepared, keyed by their text, and
// runs a query it has seen again on the statement it kept: SQLite resets
// it and binds the new arguments. SQLite prepares a kept statement again
// by itself when the schema changes (sqlite3_prepare_v2).
//
// A statement is used by one query at a time: a query whose kept
// statement still has its rows open (a nested query with the same text in
// one transaction) is prepared anew, as before. At most stmtCacheSize
// statements are kept per connection; queries beyond them are prepared
// each time.
const stmtCacheSize = 128

// openSQLiteDB opens dsn with modernc.org/sqlite, its connections keeping
// their prepared statements.
//
// turn, when not nil, is the store's write turn as River's pool takes it
// for its own writes (see cachingConn.turn). The application's pool passes
// nil: its callers take the turn themselves (sqlDB, groupTx).
func openSQLiteDB(dsn string, turn *backgroundTurn) (*sql.DB, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(stmtCachingConnector{base, turn}), nil
}

type stmtCachingConnector struct {
	driver.Connector
	turn *backgroundTurn
}

// backgroundTurn is the write turn as a background writer takes it
// (writeTurn.lockBackground): after the host's writers.
type backgroundTurn struct {
	turn        *writeTurn
	hostWaiting func() bool
}

func (b *backgroundTurn) lock(ctx context.Context) (func(), error) {
	return b.turn.lockBackground(ctx, b.hostWaiting)
}

func (c stmtCachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	for _, need := range []any{
		(*driver.ConnBeginTx)(nil), (*driver.ConnPrepareContext)(nil), (*driver.ExecerContext)(nil),
		(*driver.QueryerContext)(nil), (*driver.Pinger)(nil), (*driver.SessionResetter)(nil), (*driver.Validator)(nil),
	} {
		if !reflect.TypeOf(conn).Implements(reflect.TypeOf(need).Elem()) {
			conn.Close()
			return nil, errors.New("store: the sqlite driver's connection lacks " + reflect.TypeOf(need).Elem().String())
		}
	}
	return &cachingConn{Conn: conn, stmts: map[string]*keptStmt{}, turn: c.turn}, nil
}

// cachingConn is one SQLite connection with the statements it keeps. It
// forwards every optional interface the driver's connection implements
// (sqlite.NewConnector's doc lists them).
type cachingConn struct {
	driver.Conn
	mu    sync.Mutex
	stmts map[string]*keptStmt
	// turn is nil, or the store's write turn, which this connection takes
	// for each transaction (from BEGIN to its end) and for each statement
	// outside one that may write (until its rows are closed): River's
	// pool. River's writes then queue for SQLite's one writer with the
	// host's instead of taking SQLite's lock under them, where a host
	// writer holding the turn met SQLITE_BUSY and slept in SQLite's busy
	// handler (1, 2, 5 ms ... between tries) while every writer queued
	// behind it waited too. River lets the host's writers go first, for a
	// while (writeTurn.lockBackground). The release wakes the
	// checkpointer.
	turn *backgroundTurn
	// inTx is set while a transaction of this connection holds the turn
	// (database/sql uses a connection from one goroutine at a time).
	inTx bool
}

type keptStmt struct {
	stmt driver.Stmt
	busy bool // its rows are open
}

// Unwrap gives sqlite.Limit and the like the driver's connection.
func (c *cachingConn) Unwrap() driver.Conn { return c.Conn }

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.turn == nil {
		return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	}
	release, err := c.turn.lock(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		release()
		return nil, err
	}
	c.inTx = true
	t := &turnTx{Tx: tx}
	t.release = func() {
		t.once.Do(func() {
			c.inTx = false
			release()
		})
	}
	return t, nil
}

// turnTx is a transaction of River's pool: its end gives the write turn
// back, whether it committed or not.
type turnTx struct {
	driver.Tx
	once    sync.Once
	release func()
}

func (t *turnTx) Commit() error {
	defer t.release()
	return t.Tx.Commit()
}

func (t *turnTx) Rollback() error {
	defer t.release()
	return t.Tx.Rollback()
}

// takeTurn takes the write turn for a statement outside a transaction
// that may write; it returns the release to call when the statement is
// done, nil when no turn was needed.
func (c *cachingConn) takeTurn(ctx context.Context, query string) (func(), error) {
	if c.turn == nil || c.inTx || readOnly(query) {
		return nil, nil
	}
	return c.turn.lock(ctx)
}

// then calls done, if there is one.
func then(done func()) {
	if done != nil {
		done()
	}
}

// readOnly says whether a statement is a SELECT, the one kind that cannot
// write. Anything else (INSERT, UPDATE, DELETE, WITH ... UPDATE, PRAGMA) is
// taken for a write.
func readOnly(query string) bool { return startsWith(query, "SELECT") }

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *cachingConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *cachingConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *cachingConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

// take returns the kept statement for query, prepared now if it was not
// kept yet, marked busy; nil when it is busy or the cache is full (the
// caller then runs the query without it).
func (c *cachingConn) take(ctx context.Context, query string) (*keptStmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.stmts[query]; ok {
		if k.busy {
			return nil, nil
		}
		k.busy = true
		return k, nil
	}
	if len(c.stmts) >= stmtCacheSize {
		return nil, nil
	}
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	k := &keptStmt{stmt: st, busy: true}
	c.stmts[query] = k
	return k, nil
}

func (c *cachingConn) release(k *keptStmt) {
	c.mu.Lock()
	k.busy = false
	c.mu.Unlock()
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	done, err := c.takeTurn(ctx, query)
	if err != nil {
		return nil, err
	}
	defer then(done)
	k, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	defer c.release(k)
	return k.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	done, err := c.takeTurn(ctx, query)
	if err != nil {
		return nil, err
	}
	k, err := c.take(ctx, query)
	if err != nil {
		then(done)
		return nil, err
	}
	if k == nil {
		rows, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
		if err != nil || done == nil {
			then(done)
			return rows, err
		}
		// A write's implicit transaction ends when its rows are closed:
		// the turn is held until then.
		return &keptRows{Rows: rows, release: done}, nil
	}
	rows, err := k.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.release(k)
		then(done)
		return nil, err
	}
	return &keptRows{Rows: rows, release: func() { c.release(k); then(done) }}, nil
}

// Close finalizes the kept statements, then closes the connection.
func (c *cachingConn) Close() error {
	c.mu.Lock()
	var errs []error
	for q, k := range c.stmts {
		errs = append(errs, k.stmt.Close())
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	errs = append(errs, c.Conn.Close())
	return errors.Join(errs...)
}

// keptRows are the rows of a kept statement, or of a write outside a
// transaction on River's pool: closing them frees the statement for the
// next query, and gives the write turn back. The column type methods the driver's rows
// have are forwarded (sql.Rows.ColumnTypes reads them).
type keptRows struct {
	driver.Rows
	once    sync.Once
	release func()
}

func (r *keptRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.release)
	return err
}

func (r *keptRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *keptRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *keptRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}
