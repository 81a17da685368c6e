package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// The sweep of the plugins' durable store.
const (
	// PluginRecordsSweepInterval is how often expired plugin records are
	// removed. They read as absent from the moment they expire; the sweep
	// only gives their space back.
	PluginRecordsSweepInterval = time.Hour
	// sweepBatch is how many rows one statement removes, so the sweep never
	// holds up other writers (SQLite has one) for long.
	sweepBatch = 500
)

// PluginRecordsSweepArgs removes the expired records of every plugin's
// durable store (periodic).
type PluginRecordsSweepArgs struct{}

// Kind implements river.JobArgs.
func (PluginRecordsSweepArgs) Kind() string { return "plugin_records_sweep" }

type pluginRecordsSweepWorker struct {
	river.WorkerDefaults[PluginRecordsSweepArgs]
	st  *store.Store
	log hclog.Logger
}

// Work removes expired plugin records in batches until none is left (or
// the job's context ends: the next run carries on).
func (w *pluginRecordsSweepWorker) Work(ctx context.Context, _ *river.Job[PluginRecordsSweepArgs]) error {
	var total int64
	defer func() {
		if total > 0 {
			w.log.Info("expired plugin records removed", "count", total)
		}
	}()
	for {
		n, err := w.st.Q().DeleteExpiredPluginRecords(ctx, sweepBatch)
		total += n
		if err != nil {
			return fmt.Errorf("sweep expired plugin records: %w", err)
		}
		if n < sweepBatch {
			return nil
		}
	}
}

// AddPluginRecordsSweep adds the sweep's worker to workers and returns its
// periodic job (every PluginRecordsSweepInterval, and at start when
// runOnStart), for New. Like every periodic job it runs on the elected
// leader only.
func AddPluginRecordsSweep(workers *river.Workers, st *store.Store, log hclog.Logger, runOnStart bool) *river.PeriodicJob {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	river.AddWorker(workers, &pluginRecordsSweepWorker{st: st, log: log.Named("jobs")})
	return river.NewPeriodicJob(river.PeriodicInterval(PluginRecordsSweepInterval),
		func() (river.JobArgs, *river.InsertOpts) { return PluginRecordsSweepArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: runOnStart, ID: "plugin_records_sweep"})
}
