// Package store is the host's database: PostgreSQL through pgx (pgxpool)
// when a database URL is configured, otherwise an embedded SQLite file in the
// data directory (modernc.org/sqlite, no cgo, WAL, foreign keys on).
//
// Both backends share one schema history (migrations/postgres and
// migrations/sqlite, the same versions, applied with goose at start and by
// `mikrobill migrate`) and one repository layer: queries are written once
// with "?" placeholders (DB rewrites them for PostgreSQL), timestamps are
// stored as Unix milliseconds in BIGINT columns, and the repository contract
// tests (contract_test.go) run against both.
//
// Start with Open, Store.Q (queries outside a transaction) and Store.Tx.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go

	"github.com/mikrobill/mikrobill/host/internal/redact"
)

// FileName is the embedded database's file in the data directory.
const FileName = "mikrobill.db"

// Options say which database to open.
type Options struct {
	// URL is a postgres:// URL; empty opens the embedded SQLite file.
	URL string
	// DataDir holds the SQLite file.
	DataDir string
	// MaxConns bounds the PostgreSQL pool (0: pgx's default).
	MaxConns int32
	// MinConns keeps connections open (PostgreSQL).
	MinConns int32
	// ConnMaxLifetime recycles connections (PostgreSQL; 0: pgx's default).
	ConnMaxLifetime time.Duration
	// StatementTimeout bounds every statement (PostgreSQL; 0: no bound).
	StatementTimeout time.Duration
}

// Store is an open database.
type Store struct {
	dialect Dialect
	where   string
	// Now is the clock for created_at and friends (tests replace it).
	Now func() time.Time

	pool  *pgxpool.Pool // PostgreSQL
	sqldb *sql.DB       // SQLite: the application's pool
	jobdb *sql.DB       // SQLite: River's pool (one connection, as River asks)
	ckpt  *checkpointer // SQLite: the WAL's checkpoints (checkpoint.go)
	// writer is the SQLite file's one write lock as seen in this process
	// (a channel of one): transactions and statements outside one take it
	// before SQLite's, on both pools (River's takes it in its connection:
	// cachingConn.turn), so writers queue here and are woken in turn,
	// instead of sleeping in SQLite's busy handler (1, 2, 5, 10, ... 100 ms
	// between tries) while holding a connection of the pool that readers
	// wait for.
	writer *writeTurn
	// group queues the SQLite transactions that wait for the writer, to
	// commit them together (group.go).
	group *txGroup
}

// sqliteConns bounds the application's SQLite pool: one writer at a time
// (see Store.writer) and readers beside it (WAL). Idle connections are
// kept (a connection opened again parses the schema again) for
// sqliteConnIdle after a burst.
const (
	sqliteConns    = 8
	sqliteConnIdle = time.Minute
)

// sqliteBusy is how long a writer waits for the write lock, here and in
// SQLite (busy_timeout in sqliteDSN), before the database counts as
// unavailable.
const sqliteBusy = 10 * time.Second

// riverTakesTheTurn: River's pool takes the write turn for its writes
// (cachingConn.turn). A variable for BenchmarkRiverBesideTheHost's
// baseline, where River meets SQLite's lock as it did before.
var riverTakesTheTurn = true

// sqliteBusyTimeout is SQLite's busy timeout in sqliteDSN: sqliteBusy (a
// variable for the tests, which set it to 0 to see every time a writer
// meets SQLite's lock taken).
var sqliteBusyTimeout = sqliteBusy

// sqliteTempStore is where SQLite keeps its temporary storage (sqliteDSN):
// MEMORY; a variable for BenchmarkGroupCommitJournal's baseline, SQLite's
// default (DEFAULT: files).
var sqliteTempStore = "MEMORY"

// Open opens (and for SQLite creates) the database. It does not migrate:
// call Migrate.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.URL != "" {
		return openPostgres(ctx, o)
	}
	return openSQLite(ctx, o.DataDir)
}

func openPostgres(ctx context.Context, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w; write it as postgres://user:password@host:5432/name", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.MinConns > 0 {
		cfg.MinConns = o.MinConns
	}
	if o.ConnMaxLifetime > 0 {
		cfg.MaxConnLifetime = o.ConnMaxLifetime
	}
	if o.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	s := &Store{dialect: Postgres, pool: pool, where: redact.URL(o.URL), Now: time.Now}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w; check that it runs and that the URL (DATABASE_URL or DB_*) is right", s.where, err)
	}
	return s, nil
}

// sqliteDSN opens the file with WAL, foreign keys, a busy timeout,
// transactions that take the write lock when they begin (so concurrent
// writers wait for each other instead of failing), no checkpoint on
// commit (the store's checkpointer runs them: checkpoint.go), and
// temporary storage in memory: the statement journals of savepoints and
// statements (each transaction of a group commit is a savepoint, whose
// journal holds every page it changes; past 64 KiB SQLite's default moves
// the journal to a temporary file, made and written page by page for the
// rest of the SQLite transaction) and the temporary tables and indexes of
// a sort (TestStatementJournalsStayInMemory).
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(" +
		strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10) + ")&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)&_pragma=temp_store(" + sqliteTempStore + ")&_txlock=immediate"
}

func openSQLite(ctx context.Context, dataDir string) (*Store, error) {
	if dataDir == "" {
		return nil, errors.New("no data directory for the embedded database")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, FileName)
	db, err := openSQLiteDB(sqliteDSN(path), nil)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(sqliteConns)
	db.SetMaxIdleConns(sqliteConns)
	db.SetConnMaxIdleTime(sqliteConnIdle)
	ckpt := newCheckpointer(db)
	writer := newWriteTurn(ckpt.wrote)
	ckpt.turn = writer
	ckpt.start()
	group := &txGroup{}
	var bg *backgroundTurn
	if riverTakesTheTurn {
		bg = &backgroundTurn{turn: writer, hostWaiting: func() bool {
			return writer.waiting.Load() > 0 || group.waiting()
		}}
	}
	jobs, err := openSQLiteDB(sqliteDSN(path), bg)
	if err != nil {
		ckpt.close()
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	jobs.SetMaxOpenConns(1)
	s := &Store{dialect: SQLite, sqldb: db, jobdb: jobs, ckpt: ckpt, where: path, Now: time.Now, writer: writer, group: group}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w; check that the data directory is writable", path, err)
	}
	return s, nil
}

// Dialect returns the backend's SQL dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// Driver returns "sqlite" or "postgres".
func (s *Store) Driver() string { return string(s.dialect) }

// Where says where the data lives: the SQLite file, or the PostgreSQL URL
// with its password removed.
func (s *Store) Where() string { return s.where }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.Q().db.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Close closes the database.
func (s *Store) Close() error {
	if s.pool != nil {
		s.pool.Close()
	}
	if s.ckpt != nil {
		s.ckpt.close()
	}
	var err error
	if s.sqldb != nil {
		err = s.sqldb.Close()
	}
	if s.jobdb != nil {
		err = errors.Join(err, s.jobdb.Close())
	}
	return err
}

// Q returns the queries, outside a transaction.
func (s *Store) Q() *Queries {
	if s.pool != nil {
		return &Queries{db: pgxDB{q: s.pool, pool: s.pool}, store: s}
	}
	return &Queries{db: sqlDB{q: s.sqldb, writer: s.writer, group: s}, store: s}
}

// writeTurn is this process's turn at the SQLite write lock (see
// Store.writer), and how it was used: how long it was held and how long
// writers waited for it, for the metrics (WriteTurnStats).
type writeTurn struct {
	ch                  chan struct{}
	held, waited, waits atomic.Int64 // nanoseconds, nanoseconds, count
	// commits made by groups of transactions (group.go), and the
	// transactions and writes committed in them.
	commits, committed atomic.Int64
	// wrote is called after each release: the WAL may have grown (the
	// checkpointer's wake-up).
	wrote func()
	// waiting counts the host's writers blocked waiting for the turn
	// (not River's: lockBackground).
	waiting atomic.Int32
}

func newWriteTurn(wrote func()) *writeTurn {
	return &writeTurn{ch: make(chan struct{}, 1), wrote: wrote}
}

// lock takes the turn and returns its release. Waiting longer than
// SQLite's busy timeout is ErrUnavailable, as SQLite's own busy error is.
func (w *writeTurn) lock(ctx context.Context) (func(), error) {
	release, waited, err := w.take(ctx)
	if waited >= 0 {
		w.waitedFor(waited)
	}
	return release, err
}

// take is lock without counting the wait, which it returns (-1 when the
// turn was free) for the caller to count.
func (w *writeTurn) take(ctx context.Context) (func(), time.Duration, error) {
	return w.takeFor(ctx, w.wrote)
}

// lockQuiet is lock for the checkpointer, which appends nothing: its
// release does not wake the checkpointer again.
func (w *writeTurn) lockQuiet(ctx context.Context) (func(), error) {
	release, waited, err := w.takeFor(ctx, nil)
	if waited >= 0 {
		w.waitedFor(waited)
	}
	return release, err
}

// takeFor is take with wrote (nil: none) called after the release.
func (w *writeTurn) takeFor(ctx context.Context, wrote func()) (func(), time.Duration, error) {
	select {
	case w.ch <- struct{}{}:
		return w.release(time.Now(), wrote), -1, nil
	default:
	}
	w.waiting.Add(1)
	defer w.waiting.Add(-1)
	return w.wait(ctx, wrote)
}

// wait waits for the turn, for at most SQLite's busy timeout.
func (w *writeTurn) wait(ctx context.Context, wrote func()) (func(), time.Duration, error) {
	start := time.Now()
	t := time.NewTimer(sqliteBusy)
	defer t.Stop()
	select {
	case w.ch <- struct{}{}:
		now := time.Now()
		return w.release(now, wrote), now.Sub(start), nil
	case <-ctx.Done():
		return nil, time.Since(start), ctx.Err()
	case <-t.C:
		return nil, time.Since(start), &unavailableError{fmt.Errorf("the embedded database stayed busy for %s (another write held it)", sqliteBusy)}
	}
}

// backgroundYield bounds how long a background writer (River's pool) lets
// the host's writers go first, and backgroundPoll is how often it looks
// whether they still wait (variables for the tests).
var (
	backgroundYield = 50 * time.Millisecond
	backgroundPoll  = 500 * time.Microsecond
)

// lockBackground takes the turn for River's pool. The host's writers go
// first (hostWaiting: a transaction or write queued or waiting for the
// turn), also those that come while River waits, for up to
// backgroundYield: a webhook's credit waits for no job fetch or
// completion, as when River met SQLite's lock and slept in SQLite's busy
// handler. Until then River looks every backgroundPoll and takes the turn
// when it is free and no host writer waits; after it, it waits in turn as
// any writer does, so it is never starved of the turn. Its wait is counted
// with the others'.
func (w *writeTurn) lockBackground(ctx context.Context, hostWaiting func() bool) (func(), error) {
	start := time.Now()
	var t *time.Timer
	for time.Since(start) < backgroundYield {
		if !hostWaiting() {
			select {
			case w.ch <- struct{}{}:
				if t != nil {
					w.waitedFor(time.Since(start))
				}
				return w.release(time.Now(), w.wrote), nil
			default:
			}
		}
		if t == nil {
			t = time.NewTimer(backgroundPoll)
			defer t.Stop()
		} else {
			t.Reset(backgroundPoll)
		}
		select {
		case <-ctx.Done():
			w.waitedFor(time.Since(start))
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	release, _, err := w.wait(ctx, w.wrote)
	w.waitedFor(time.Since(start))
	return release, err
}

// waitedFor counts a writer's wait.
func (w *writeTurn) waitedFor(d time.Duration) {
	w.waits.Add(1)
	w.waited.Add(int64(d))
}

func (w *writeTurn) release(taken time.Time, wrote func()) func() {
	return func() {
		w.held.Add(int64(time.Since(taken)))
		<-w.ch
		if wrote != nil {
			wrote()
		}
	}
}

// WriteTurnStats is how this process used the embedded database's one
// writer: the time the write turn was held (by a transaction or a write
// outside one), and the writers that waited for it and how long. Held time
// growing nearly as fast as the clock means writes are what bounds the
// host: consider PostgreSQL.
type WriteTurnStats struct {
	Held, Waited time.Duration
	Waits        int64
	// Commits is how many commits the groups of transactions made
	// (group.go), Committed how many transactions and writes outside one
	// they committed: Committed/Commits is the mean group.
	Commits, Committed int64
}

// WriteTurn returns the embedded database's write turn figures; false on
// PostgreSQL, which has no such turn.
func (s *Store) WriteTurn() (WriteTurnStats, bool) {
	if s.writer == nil {
		return WriteTurnStats{}, false
	}
	w := s.writer
	return WriteTurnStats{Held: time.Duration(w.held.Load()), Waited: time.Duration(w.waited.Load()), Waits: w.waits.Load(),
		Commits: w.commits.Load(), Committed: w.committed.Load()}, true
}

// Pool returns the PostgreSQL pool (nil on SQLite), for River.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// JobsDB returns River's SQLite pool (nil on PostgreSQL).
func (s *Store) JobsDB() *sql.DB { return s.jobdb }

// SQLDB returns a database/sql handle on the store (for goose): the SQLite
// pool, or a handle over the PostgreSQL pool that the caller must close.
func (s *Store) SQLDB() (*sql.DB, func(), error) {
	if s.sqldb != nil {
		return s.sqldb, func() {}, nil
	}
	db := stdlibOpen(s.pool)
	return db, func() { db.Close() }, nil
}

// Tx is a transaction. Use its Queries for everything inside it (on SQLite
// the application pool is small and a query outside the transaction may
// wait for it), and hand it to the job queue to insert jobs atomically with
// the change that causes them.
type Tx struct {
	q     *Queries
	pgTx  pgx.Tx
	sqlTx *sql.Tx
	// detached: the transaction's statements run without their caller's
	// cancellation (SQLite's group commit, group.go).
	detached bool
}

// Context returns the context for a statement that runs in the
// transaction through SQLTx or PgxTx: on SQLite, ctx without its
// cancellation, since an interrupted statement rolls back the whole
// transaction, which other callers' may share (group.go).
func (t *Tx) Context(ctx context.Context) context.Context {
	if t.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// Q returns the transaction's queries.
func (t *Tx) Q() *Queries { return t.q }

// PgxTx is the PostgreSQL transaction (nil on SQLite), for River.
func (t *Tx) PgxTx() pgx.Tx { return t.pgTx }

// SQLTx is the SQLite transaction (nil on PostgreSQL), for River.
func (t *Tx) SQLTx() *sql.Tx { return t.sqlTx }

// Tx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise (and on panic).
//
// On PostgreSQL, a transaction that lost its connection before its commit
// (a restart, an administrator terminating connections) runs again, once,
// whole, on a fresh connection: the server rolled the first run back. So fn
// may run twice; it must do nothing outside the transaction that cannot be
// repeated (plugin calls and the like go before or after Tx; jobs go in
// with the job queue's InsertTx). A connection lost during the commit
// leaves its outcome unknown: that is ErrUnavailable, never repeated. On
// SQLite nothing is repeated (a busy database already waited its busy
// timeout), and the transactions of this process take their turn at the
// write lock before they begin (Store.writer), holding no connection
// while they wait. Those that wait are committed together (group.go):
// each in a savepoint of its own, its function run on the goroutine of
// the group's first caller, its statements without its caller's
// cancellation; its outcome is its own, and is told only once the group
// committed. So on SQLite fn must not wait for its caller's goroutine
// (nothing in fn may need the caller to go on), and a statement run
// through SQLTx takes Context(ctx).
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	err := s.tx(ctx, fn)
	var ce *commitError
	if s.pool == nil || err == nil || errors.As(err, &ce) || ctx.Err() != nil || !IsUnavailable(err) {
		return err
	}
	s.pool.Reset() // the pool's other connections are likely gone too
	return s.tx(ctx, fn)
}

// commitError is a failed commit, which Tx never repeats.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

func (s *Store) tx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if s.pool != nil {
		pt, err := s.pool.Begin(ctx)
		if err != nil {
			return mapErr(err)
		}
		tx := &Tx{pgTx: pt, q: &Queries{db: pgxDB{q: pt}, store: s}}
		defer func() {
			if p := recover(); p != nil {
				_ = pt.Rollback(context.WithoutCancel(ctx))
				panic(p)
			}
		}()
		if err := fn(tx); err != nil {
			// Asked before the rollback, which hands the connection back to
			// the pool (and so to other goroutines).
			closed := pt.Conn().IsClosed()
			_ = pt.Rollback(context.WithoutCancel(ctx))
			if closed && !errors.Is(err, ErrUnavailable) {
				// The connection died under the transaction: whatever the
				// body's last statement reported (a bare EOF from another
				// client on this transaction, such as the job queue's),
				// nothing was committed and the database is what failed.
				return &unavailableError{err}
			}
			return err
		}
		if err := pt.Commit(ctx); err != nil {
			return &commitError{mapErr(err)}
		}
		return nil
	}
	return s.groupTx(ctx, fn)
}

// Stats are connection pool figures, for metrics.
type Stats struct {
	Open, InUse, Idle int
	WaitCount         int64
	WaitDuration      time.Duration
	MaxOpen           int
}

// Stats returns the application pool's figures.
func (s *Store) Stats() Stats {
	if s.pool != nil {
		st := s.pool.Stat()
		return Stats{
			Open: int(st.TotalConns()), InUse: int(st.AcquiredConns()), Idle: int(st.IdleConns()),
			WaitCount: st.EmptyAcquireCount(), WaitDuration: st.AcquireDuration(), MaxOpen: int(st.MaxConns()),
		}
	}
	st := s.sqldb.Stats()
	return Stats{Open: st.OpenConnections, InUse: st.InUse, Idle: st.Idle, WaitCount: st.WaitCount, WaitDuration: st.WaitDuration, MaxOpen: st.MaxOpenConnections}
}

// Queries are the repository methods, on the store or in a transaction.
type Queries struct {
	db    DB
	store *Store
}

// DB returns the underlying query runner.
func (q *Queries) DB() DB { return q.db }

// now is the store's clock in UTC, to the millisecond: what the database
// keeps, so a record a create or update method fills in reads back equal.
func (s *Store) now() time.Time { return FromMillis(Millis(s.Now())) }

// Millis stores a time as Unix milliseconds (UTC).
func Millis(t time.Time) int64 { return t.UnixMilli() }

// MillisOrNil stores an optional time: nil for the zero time.
func MillisOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// FromMillis reads a time stored as Unix milliseconds.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// FromNullMillis reads an optional time; NULL is the zero time.
func FromNullMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return FromMillis(ms.Int64)
}
