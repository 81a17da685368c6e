package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Jobs of singleton plugins (a manifest's "singleton": true, run by one
// host at a time): each such plugin has a job queue of its own
// (manifest.SingletonQueue), which only the host that runs the plugin
// works (WorkSingleton while it holds the plugin's lease, StopSingleton
// when it loses it). A job in the default queue that calls a singleton
// plugin another host runs (the call fails with an error that names the
// plugin through a SingletonPlugin method, plugins.ElsewhereError) moves
// to that plugin's queue and runs again there, on the plugin's host, at
// once: it is not a failure and costs no attempt. So a job is never lost
// nor worked twice because the plugin it needs runs elsewhere.

// singletonCall is an error of a call to a singleton plugin that does not
// run on this host.
type singletonCall interface{ SingletonPlugin() string }

// elsewhereRetry is how soon a job already in its singleton plugin's
// queue runs again when the plugin left this host meanwhile (the new
// holder works the queue as soon as it took the lease).
const elsewhereRetry = time.Second

// singletonMover moves the jobs that met a singleton plugin running on
// another host to that plugin's queue.
type singletonMover struct {
	river.MiddlewareDefaults
	st  *store.Store
	log hclog.Logger
}

var _ rivertype.WorkerMiddleware = (*singletonMover)(nil)

// Work runs the job and moves it when it met a singleton plugin elsewhere.
func (m *singletonMover) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	err := doInner(ctx)
	var call singletonCall
	if err == nil || !errors.As(err, &call) {
		return err
	}
	queue, qerr := manifest.SingletonQueue(call.SingletonPlugin())
	if qerr != nil {
		return err // a plugin that loaded has a name that makes a queue
	}
	if job.Queue == queue {
		return river.JobSnooze(elsewhereRetry)
	}
	if _, uerr := m.st.Q().DB().Exec(ctx, "UPDATE river_job SET queue = ? WHERE id = ?", queue, job.ID); uerr != nil {
		return errors.Join(err, uerr) // retried as a failure
	}
	m.log.Debug("job moved to the queue of the singleton plugin it calls", "job", job.ID, "kind", job.Kind, "queue", queue)
	return river.JobSnooze(0)
}

// WorkSingleton starts working the queue of singleton plugin name: this
// host took its lease. Working it already is not an error.
func (q *Queue) WorkSingleton(name string) error {
	queue, err := manifest.SingletonQueue(name)
	if err != nil {
		return err
	}
	cfg := river.QueueConfig{MaxWorkers: q.workers}
	if q.pg != nil {
		err = q.pg.Queues().Add(queue, cfg)
	} else {
		err = q.lite.Queues().Add(queue, cfg)
	}
	if errors.Is(err, &river.QueueAlreadyAddedError{}) {
		return nil
	}
	return err
}

// StopSingleton stops working the queue of singleton plugin name, letting
// the jobs it runs finish until ctx ends: this host lost its lease. Not
// working it is not an error.
func (q *Queue) StopSingleton(ctx context.Context, name string) error {
	queue, err := manifest.SingletonQueue(name)
	if err != nil {
		return err
	}
	if q.pg != nil {
		err = q.pg.Queues().Remove(ctx, queue)
	} else {
		err = q.lite.Queues().Remove(ctx, queue)
	}
	if errors.Is(err, &river.QueueNotFoundError{}) {
		return nil
	}
	return err
}
