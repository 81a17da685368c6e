package cli

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
)

// singletonRunner is what the singleton leases start and stop
// (hosts.Runner): a singleton plugin and the job queue of its jobs.
type singletonRunner struct {
	mgr   *plugins.Manager
	queue *jobs.Queue
	log   hclog.Logger
}

func (r singletonRunner) Singletons() []string { return r.mgr.Singletons() }

// Gain works the plugin's queue and starts the plugin: jobs that find it
// still starting wait for it (a call waits while a plugin starts).
func (r singletonRunner) Gain(plugin string) {
	if err := r.queue.WorkSingleton(plugin); err != nil {
		r.log.Error("the singleton plugin's job queue is not worked here", "plugin", plugin, "error", err)
	}
	r.mgr.Gain(plugin)
}

// Lose stops working the plugin's queue (its running jobs finish, or fail
// once the plugin stops, and are retried on the plugin's next host) and
// stops the plugin, both within the given time.
func (r singletonRunner) Lose(plugin, holder string, within time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.queue.StopSingleton(ctx, plugin); err != nil && ctx.Err() == nil {
			r.log.Warn("the singleton plugin's job queue did not stop cleanly", "plugin", plugin, "error", err)
		}
	}()
	r.mgr.Lose(plugin, holder, within)
	<-done
}
