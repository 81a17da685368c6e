package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestStrandedJobIsRescued: a job left running by a host that died mid-run
// (SIGKILL: nothing marks it failed) runs again on a live host once
// RescueAfter has passed, not after River's default hour.
func TestStrandedJobIsRescued(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, s); err != nil {
			t.Fatal(err)
		}
		var runs atomic.Int64
		workers := river.NewWorkers()
		river.AddWorker(workers, &countWorker{runs: &runs})
		cfg := jobs.Config{PollInterval: 100 * time.Millisecond, JobTimeout: time.Second, RescueAfter: 2 * time.Second}
		q, err := jobs.New(s, workers, nil, cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := q.Insert(ctx, countArgs{Key: "stranded"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The dead host's run: running, attempted a minute ago.
		if s.Dialect() == store.Postgres {
			_, err = s.Pool().Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '1 minute',
				attempted_by = ARRAY['dead-host'] WHERE id = $1`, res.Job.ID)
		} else {
			_, err = s.JobsDB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1,
				attempted_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 minute'), attempted_by = json_array('dead-host') WHERE id = ?`, res.Job.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Stop(context.Background()) })
		sdktest.WaitFor(t, 30*time.Second, "the stranded job's second run", func() bool { return runs.Load() == 1 })
	})
}

// TestRescueAfterLongerThanTheJobTimeout: a rescue that could start a job
// again while its run may still go on is refused.
func TestRescueAfterLongerThanTheJobTimeout(t *testing.T) {
	s := storetest.SQLite(t)
	_, err := jobs.New(s, river.NewWorkers(), nil, jobs.Config{JobTimeout: time.Minute, RescueAfter: 30 * time.Second})
	if err == nil || err.Error() != "create the job queue: rescue after 30s must be longer than the job timeout 1m0s, or a job still running would be run again" {
		t.Errorf("New with a rescue shorter than the job timeout: %v", err)
	}
}
