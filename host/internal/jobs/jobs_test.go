package jobs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

type countArgs struct {
	Key string `json:"key" river:"unique"`
}

func (countArgs) Kind() string { return "test_count" }

type countWorker struct {
	river.WorkerDefaults[countArgs]
	runs *atomic.Int64
}

func (w *countWorker) Work(context.Context, *river.Job[countArgs]) error {
	w.runs.Add(1)
	return nil
}

func TestInsertTxRunsWithTheCommitOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, s); err != nil {
			t.Fatal(err)
		}
		var runs atomic.Int64
		workers := river.NewWorkers()
		river.AddWorker(workers, &countWorker{runs: &runs})
		q, err := jobs.New(s, workers, nil, jobs.Config{PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Stop(context.Background()) })

		// Rolled back: the job never existed.
		boom := errors.New("boom")
		err = s.Tx(ctx, func(tx *store.Tx) error {
			if _, err := q.InsertTx(ctx, tx, countArgs{Key: "rolled-back"}, nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		// Committed twice with the same unique key: runs once.
		for range 2 {
			if err := s.Tx(ctx, func(tx *store.Tx) error {
				_, err := q.InsertTx(ctx, tx, countArgs{Key: "k"}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for runs.Load() < 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		// The run is counted before River records it completed: wait for
		// the record (a loaded machine takes its time), then check that
		// no second job ran meanwhile.
		var counts map[[2]string]int
		for {
			var err error
			if counts, err = q.Counts(ctx); err != nil {
				t.Fatal(err)
			}
			if counts[[2]string{"test_count", "completed"}] >= 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := counts[[2]string{"test_count", "completed"}]; n != 1 {
			t.Errorf("completed test_count jobs: %d (%v)", n, counts)
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("the job ran %d times, want once", n)
		}
	})
}

// TestInsertManyTxSkipsQueuedUniqueJobs: InsertManyTx's jobs commit with
// the transaction, and one that is unique and queued already is skipped
// (the others still go in), on SQLite as on PostgreSQL.
func TestInsertManyTxSkipsQueuedUniqueJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, s); err != nil {
			t.Fatal(err)
		}
		workers := river.NewWorkers()
		river.AddWorker(workers, &countWorker{runs: new(atomic.Int64)})
		q, err := jobs.New(s, workers, nil, jobs.Config{PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		// Not started: what is inserted stays available to be counted.
		unique := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			_, err := q.InsertTx(ctx, tx, countArgs{Key: "queued"}, unique)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err = s.Tx(ctx, func(tx *store.Tx) error {
			if err := q.InsertManyTx(ctx, tx, []river.InsertManyParams{{Args: countArgs{Key: "rolled-back"}, InsertOpts: unique}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			return q.InsertManyTx(ctx, tx, []river.InsertManyParams{
				{Args: countArgs{Key: "queued"}, InsertOpts: unique},
				{Args: countArgs{Key: "new-1"}, InsertOpts: unique},
				{Args: countArgs{Key: "new-2"}, InsertOpts: unique},
			})
		}); err != nil {
			t.Fatalf("InsertManyTx with a unique job queued already: %v", err)
		}
		counts, err := q.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := counts[[2]string{"test_count", "available"}]; n != 3 {
			t.Errorf("available test_count jobs: %d (%v), want 3: the queued one, new-1 and new-2", n, counts)
		}
	})
}
