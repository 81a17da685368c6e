package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestPluginRecordsSweep: the periodic sweep, registered as the host
// registers it, removes every expired plugin record (more than one batch
// of them) and leaves the live ones.
func TestPluginRecordsSweep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, s); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		s.Now = func() time.Time { return now }
		const expired = 1201 // more than two batches
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			for i := range expired {
				if err := tx.Q().SetPluginRecord(ctx, fmt.Sprintf("payment-%d", i%3), fmt.Sprintf("idem/%04d", i), []byte("x"), time.Minute); err != nil {
					return err
				}
			}
			if err := tx.Q().SetPluginRecord(ctx, "payment-0", "live/ttl", []byte("x"), 48*time.Hour); err != nil {
				return err
			}
			return tx.Q().SetPluginRecord(ctx, "payment-0", "live/forever", []byte("x"), 0)
		}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(24 * time.Hour) // the store's clock only: River keeps its own

		workers := river.NewWorkers()
		periodic := []*river.PeriodicJob{jobs.AddPluginRecordsSweep(workers, s, nil, true)}
		q, err := jobs.New(s, workers, periodic, jobs.Config{PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		events, stop := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
		defer stop()
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Stop(context.Background()) })

		timeout := time.After(60 * time.Second)
		for done := false; !done; {
			select {
			case ev := <-events:
				if ev.Job.Kind != (jobs.PluginRecordsSweepArgs{}).Kind() {
					continue
				}
				if ev.Kind != river.EventKindJobCompleted {
					t.Fatalf("the sweep failed: %v", ev.Job.Errors)
				}
				done = true
			case <-timeout:
				t.Fatal("the sweep did not run within 60s of the queue's start (it runs at start on the leader)")
			}
		}
		var rows int
		if err := s.Q().DB().QueryRow(ctx, "SELECT COUNT(*) FROM plugin_records").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 2 {
			t.Errorf("%d plugin records left after the sweep; want the 2 live ones", rows)
		}
		for _, k := range []string{"live/ttl", "live/forever"} {
			if _, err := s.Q().GetPluginRecord(ctx, "payment-0", k); err != nil {
				t.Errorf("live record %s: %v", k, err)
			}
		}
		if _, err := s.Q().GetPluginRecord(ctx, "payment-1", "idem/0001"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired record: %v; want ErrNotFound", err)
		}
	})
}
