// Package jobs is the host's job queue: River (riverqueue) on the host's own
// database, with its pgx driver on PostgreSQL and its SQLite driver on the
// embedded database.
//
// Jobs are inserted in the same transaction as the change that causes them
// (InsertTx with a store.Tx), so a change and its jobs commit together or not
// at all. River retries failed jobs with backoff, drops duplicates of unique
// jobs, and runs periodic jobs on the elected leader only, so several hosts
// on one PostgreSQL never run them twice.
//
// The job kinds and their workers live with the code that owns them
// (package billing); this package runs them. Start with New, Migrate, Start.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Config is how the queue runs.
type Config struct {
	// Workers is how many jobs run at once (default DefaultWorkers).
	Workers int
	// FetchCooldown is the least time between two fetches of available
	// jobs (default DefaultFetchCooldown). Each fetch takes up to the free
	// workers' worth, so Workers / FetchCooldown bounds how many jobs a
	// second one host starts, and Workers how many start together.
	FetchCooldown time.Duration
	// PollInterval is how often the queue looks for new jobs when no
	// notification says there are some (default 1s, at least
	// FetchCooldown).
	PollInterval time.Duration
	// Retention keeps completed jobs this long (default 24h).
	Retention time.Duration
	// JobTimeout bounds one run of a job (default 1m).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River takes
	// it as stranded (its host died mid-run) and makes it available
	// again; it must be longer than JobTimeout (default JobTimeout + 1m;
	// River's own is an hour). Workers must therefore be safe to run
	// twice.
	RescueAfter time.Duration
	// ID names this host among several (default River's).
	ID string
	// Logger receives River's log lines (under "jobs").
	Logger hclog.Logger
	// RetryPolicy replaces River's (attempt^4 seconds with jitter); tests
	// use a fast one.
	RetryPolicy river.ClientRetryPolicy
}

// DefaultWorkers and DefaultFetchCooldown start at most 100 jobs a second
// in a host, at most 5 at once. Jobs start in bursts of up to Workers, one
// burst per cool-down, and a burst takes the CPU and the embedded
// database's write turn from the webhooks being answered: River's own 10
// workers and 100 ms cool-down, for the same 100 a second, answered paid
// webhooks 30 % slower at the 99th percentile (docs/BENCHMARKS.md,
// "Webhooks end to end").
const (
	DefaultWorkers       = 5
	DefaultFetchCooldown = 50 * time.Millisecond
)

// Queue is the job queue of one host.
type Queue struct {
	st   *store.Store
	pg   *river.Client[pgx.Tx]
	lite *river.Client[*sql.Tx]
	log  hclog.Logger
	// workers is each queue's MaxWorkers, the singleton plugins' too
	// (singleton.go).
	workers int
}

// Migrate applies River's own migrations on the store's database.
func Migrate(ctx context.Context, st *store.Store) error {
	var err error
	if st.Dialect() == store.Postgres {
		var m *rivermigrate.Migrator[pgx.Tx]
		if m, err = rivermigrate.New(riverpgxv5.New(st.Pool()), nil); err == nil {
			_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
	} else {
		var m *rivermigrate.Migrator[*sql.Tx]
		if m, err = rivermigrate.New(riversqlite.New(st.JobsDB()), nil); err == nil {
			_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("migrate the job queue: %w", err)
	}
	return nil
}

// New makes the queue over the store with the given workers and periodic
// jobs. Nothing runs until Start.
func New(st *store.Store, workers *river.Workers, periodic []*river.PeriodicJob, cfg Config) (*Queue, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.FetchCooldown <= 0 {
		cfg.FetchCooldown = DefaultFetchCooldown
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.PollInterval < cfg.FetchCooldown {
		cfg.PollInterval = cfg.FetchCooldown // River requires it
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = time.Minute
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = cfg.JobTimeout + time.Minute
	}
	if cfg.RescueAfter <= cfg.JobTimeout {
		return nil, fmt.Errorf("create the job queue: rescue after %s must be longer than the job timeout %s, or a job still running would be run again", cfg.RescueAfter, cfg.JobTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	log := cfg.Logger.Named("jobs")
	rc := &river.Config{
		ID:                          cfg.ID,
		Queues:                      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:                     workers,
		PeriodicJobs:                periodic,
		FetchCooldown:               cfg.FetchCooldown,
		FetchPollInterval:           cfg.PollInterval,
		CompletedJobRetentionPeriod: cfg.Retention,
		JobTimeout:                  cfg.JobTimeout,
		RescueStuckJobsAfter:        cfg.RescueAfter,
		MaxAttempts:                 25,
		Logger:                      slogFor(log),
		RetryPolicy:                 cfg.RetryPolicy,
		// Jobs that call a singleton plugin another host runs move to
		// its queue (singleton.go).
		Middleware: []rivertype.Middleware{&singletonMover{st: st, log: log}},
	}
	q := &Queue{st: st, log: log, workers: cfg.Workers}
	var err error
	if st.Dialect() == store.Postgres {
		q.pg, err = river.NewClient(riverpgxv5.New(st.Pool()), rc)
	} else {
		rc.PollOnly = true // SQLite has no LISTEN/NOTIFY
		q.lite, err = river.NewClient(riversqlite.New(st.JobsDB()), rc)
	}
	if err != nil {
		return nil, fmt.Errorf("create the job queue: %w", err)
	}
	return q, nil
}

// Start runs the workers, the periodic jobs (on the leader) and River's
// maintenance.
func (q *Queue) Start(ctx context.Context) error {
	if q.pg != nil {
		return q.pg.Start(ctx)
	}
	return q.lite.Start(ctx)
}

// Stop lets running jobs finish (until ctx ends, then cancels them) and stops.
func (q *Queue) Stop(ctx context.Context) error {
	var err error
	if q.pg != nil {
		err = q.pg.Stop(ctx)
	} else {
		err = q.lite.Stop(ctx)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if q.pg != nil {
			return q.pg.StopAndCancel(context.Background())
		}
		return q.lite.StopAndCancel(context.Background())
	}
	return err
}

// InsertTx inserts a job in the transaction of the change that causes it.
func (q *Queue) InsertTx(ctx context.Context, tx *store.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	var res *rivertype.JobInsertResult
	var err error
	if q.pg != nil {
		res, err = q.pg.InsertTx(ctx, tx.PgxTx(), args, opts)
	} else {
		res, err = q.lite.InsertTx(tx.Context(ctx), tx.SQLTx(), args, opts)
	}
	return res, store.FromDatabase(err)
}

// InsertManyTx inserts several jobs in the transaction of the change that
// causes them, in one statement (one round trip to PostgreSQL, where
// InsertTx takes one a job). Each job's own InsertOpts apply as with
// InsertTx: a job that is unique and queued already is skipped.
//
// On SQLite the statement reads nothing back (River's InsertManyFastTx:
// its unique conflicts are skipped too, DO NOTHING), since every
// statement of the transaction holds the embedded database's one writer.
// On PostgreSQL InsertManyFastTx is COPY, which fails the whole
// transaction on a unique conflict, so there the jobs go in with
// InsertManyTx, which skips the duplicate. The jobs of one call must not
// share a unique key: PostgreSQL refuses such a batch, SQLite keeps one.
func (q *Queue) InsertManyTx(ctx context.Context, tx *store.Tx, params []river.InsertManyParams) error {
	var err error
	if q.pg != nil {
		_, err = q.pg.InsertManyTx(ctx, tx.PgxTx(), params)
	} else {
		_, err = q.lite.InsertManyFastTx(tx.Context(ctx), tx.SQLTx(), params)
	}
	return store.FromDatabase(err)
}

// CompleteTx marks job completed in tx, the transaction of the work's
// last change: the work and its completion commit together. The worker
// then returns nil.
func CompleteTx[T river.JobArgs](ctx context.Context, tx *store.Tx, job *river.Job[T]) error {
	var err error
	if tx.PgxTx() != nil {
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx.PgxTx(), job)
	} else {
		_, err = river.JobCompleteTx[*riversqlite.Driver](tx.Context(ctx), tx.SQLTx(), job)
	}
	return store.FromDatabase(err)
}

// Insert inserts a job on its own.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	var res *rivertype.JobInsertResult
	var err error
	if q.pg != nil {
		res, err = q.pg.Insert(ctx, args, opts)
	} else {
		res, err = q.lite.Insert(ctx, args, opts)
	}
	return res, store.FromDatabase(err)
}

// List lists jobs.
func (q *Queue) List(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error) {
	if q.pg != nil {
		return q.pg.JobList(ctx, params)
	}
	return q.lite.JobList(ctx, params)
}

// Get reads one job.
func (q *Queue) Get(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	if q.pg != nil {
		return q.pg.JobGet(ctx, id)
	}
	return q.lite.JobGet(ctx, id)
}

// Retry makes a failed (discarded), cancelled or retrying job available to
// run now.
func (q *Queue) Retry(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	if q.pg != nil {
		return q.pg.JobRetry(ctx, id)
	}
	return q.lite.JobRetry(ctx, id)
}

// Subscribe returns a channel of job events (completed, failed, ...).
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	if q.pg != nil {
		return q.pg.Subscribe(kinds...)
	}
	return q.lite.Subscribe(kinds...)
}

// Counts returns how many jobs are in each state, by kind, from River's
// table.
func (q *Queue) Counts(ctx context.Context) (map[[2]string]int, error) {
	rows, err := q.st.Q().DB().Query(ctx, "SELECT kind, state, COUNT(*) FROM river_job GROUP BY kind, state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[2]string]int{}
	for rows.Next() {
		var kind, state string
		var n int
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return nil, err
		}
		out[[2]string{kind, state}] = n
	}
	return out, rows.Err()
}
