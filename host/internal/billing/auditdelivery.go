package billing

// Delivering the audit trail to the audit plugin. Every audit event is
// recorded in the host's audit_log by the audit job (AuditArgs), which is
// queued in the transaction of the action it records. With an audit plugin
// installed, audit_log is the durable queue of what the plugin has not
// taken yet: one drainer (AuditDrainArgs, unique, so it never runs twice
// at once, on one host or several) sends the undelivered events in the
// log's order (its ids) to the plugin's Append, up to auditDrainBatch at a
// time, and marks them delivered. A drainer that crashes between Append
// and the mark sends the batch again; Append skips events it holds by id,
// so nothing is doubled. While the plugin cannot take events, actions
// still complete, their events wait in audit_log, and AuditStatus says how
// far behind the plugin is.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

const (
	// auditDrainBatch is how many events one Append carries.
	auditDrainBatch = 500
	// auditDrainBudget is how long one run of the drainer sends batches
	// before it hands over to its next run (River's job timeout is a
	// minute).
	auditDrainBudget = 20 * time.Second
	// auditDrainRetryMax is the longest a drain waits before it tries a
	// plugin that refused a batch again.
	auditDrainRetryMax = 30 * time.Second
	// AuditDrainInterval is how often the leader queues a drain besides
	// the one each event queues: it restarts delivery once a plugin that
	// was down is back, and catches an event recorded while the drainer
	// was finishing.
	AuditDrainInterval = 30 * time.Second
)

// AuditDrainArgs sends the host's undelivered audit events to the audit
// plugin (auditDrainWorker).
type AuditDrainArgs struct{}

// Kind implements river.JobArgs.
func (AuditDrainArgs) Kind() string { return "audit_drain" }

// InsertOpts implements river.JobArgsWithInsertOpts: one drain at a time,
// queued, waiting or running, across every host on the database. A
// finished drain does not hold the place, so the next event queues the
// next.
func (AuditDrainArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

type auditDrainWorker struct {
	river.WorkerDefaults[AuditDrainArgs]
	s *Service
}

// Work sends batches until none is left or its budget is spent; then it
// snoozes, which runs it again at once, with a backlog left. While the
// plugin cannot take events, it snoozes a little longer each time: the
// events wait in the host's log.
//
// An event recorded while the drain runs cannot queue another drain (this
// one holds the unique place), so the drain finishes only when a look
// under the log's order lock (store.LockAuditOrder, which each audit job
// takes to record its event) finds nothing left, and marks itself
// completed in that same transaction: an event recorded before is seen and
// sent; one recorded after finds this drain completed and queues the next.
func (w *auditDrainWorker) Work(ctx context.Context, job *river.Job[AuditDrainArgs]) error {
	s := w.s
	sink, ok := s.auditSink()
	if !ok {
		return nil // no audit plugin runs: the events wait in audit_log
	}
	start := time.Now()
	for {
		n, err := s.deliverAudit(ctx, sink, auditDrainBatch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A singleton audit plugin that another host runs: the
			// error moves the drain to that host (package jobs).
			var elsewhere *plugins.ElsewhereError
			if errors.As(err, &elsewhere) {
				return err
			}
			// The same drain tries again, later each time (up to
			// auditDrainRetryMax); events recorded meanwhile join it.
			wait := min(time.Duration(job.Attempt)*time.Second, auditDrainRetryMax)
			s.log.Warn("the audit plugin did not take the audit trail; the events wait in the host's audit log", "retry_in", wait, "error", err)
			return river.JobSnooze(wait)
		}
		if time.Since(start) > auditDrainBudget {
			return river.JobSnooze(0)
		}
		if n == auditDrainBatch {
			continue
		}
		done := false
		err = s.st.Tx(ctx, func(tx *store.Tx) error {
			q := tx.Q()
			if err := q.LockAuditOrder(ctx); err != nil {
				return err
			}
			if left, err := q.UndeliveredAudit(ctx, 1); err != nil || len(left) > 0 {
				return err
			}
			done = true
			return jobs.CompleteTx(ctx, tx, job)
		})
		if err != nil || done {
			return err
		}
	}
}

// deliverAudit sends the next batch of up to limit undelivered events to
// sink, in the host log's order, and marks them delivered. It returns how
// many it sent.
func (s *Service) deliverAudit(ctx context.Context, sink audit.Sink, limit int) (int, error) {
	q := s.st.Q()
	batch, err := q.UndeliveredAudit(ctx, limit)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	req := &audit.AppendRequest{Events: make([]audit.Event, len(batch))}
	ids := make([]int64, len(batch))
	for i, e := range batch {
		req.Events[i] = auditEventOf(&e)
		ids[i] = e.ID
	}
	if _, err := sink.Append(ctx, req); err != nil {
		return 0, fmt.Errorf("append %d audit events (from host log id %d): %w", len(batch), batch[0].ID, err)
	}
	if err := q.MarkAuditDelivered(ctx, ids); err != nil {
		return 0, err
	}
	return len(batch), nil
}

// auditEventOf is a host log entry as the audit contract carries it.
func auditEventOf(e *store.AuditEntry) audit.Event {
	return audit.Event{ID: e.EventID, Time: e.OccurredAt, Actor: e.Actor, Action: e.Action, ResourceType: e.ResourceType,
		ResourceID: e.ResourceID, Outcome: audit.Outcome(e.Outcome), Metadata: e.Metadata}
}

// AuditDelivery is how the audit trail's delivery to the audit plugin
// stands.
type AuditDelivery struct {
	// Installed is whether an audit plugin is installed and enabled
	// (running or not). Without one, the host's log is the record and
	// nothing is behind.
	Installed bool `json:"installed"`
	// Backlog is what waits in the host's log for the plugin.
	Backlog store.AuditBacklog `json:"backlog"`
	// Lag is how long the oldest waiting event has waited (zero when none
	// waits).
	Lag time.Duration `json:"-"`
	// Behind is whether the oldest waiting event has waited longer than
	// MaxLag.
	Behind bool `json:"behind"`
	// MaxLag is how long an event may wait before the trail is behind.
	MaxLag time.Duration `json:"-"`
}

// AuditDelivery reports the delivery of the audit trail.
func (s *Service) AuditDelivery(ctx context.Context) (*AuditDelivery, error) {
	d := &AuditDelivery{MaxLag: s.cfg.AuditMaxLag}
	if s.plugins != nil {
		d.Installed = s.plugins.AuditInstalled()
	}
	if !d.Installed {
		return d, nil
	}
	b, err := s.st.Q().AuditBacklog(ctx)
	if err != nil {
		return nil, err
	}
	d.Backlog = b
	if b.Count > 0 {
		d.Lag = max(s.now().Sub(b.Oldest), 0)
		d.Behind = d.Lag > d.MaxLag
	}
	return d, nil
}

// DrainAudit queues a drain of the audit trail (an operator's "deliver
// now", and tests).
func (s *Service) DrainAudit(ctx context.Context) error {
	if s.queue == nil {
		return errors.New("the job queue is not set up; the audit trail cannot be delivered")
	}
	_, err := s.queue.Insert(ctx, AuditDrainArgs{}, nil)
	return err
}
