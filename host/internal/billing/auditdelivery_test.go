package billing_test

// The host's audit log as the audit plugin's delivery queue: events reach
// the plugin once each, in the host log's order, in batches; while the
// plugin cannot take them, actions still complete, the backlog is counted,
// and it drains, with nothing doubled, once the plugin is back.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// auditEnv is billing with its job queue running and sink as the audit
// plugin (none when nil).
func auditEnv(t *testing.T, st *store.Store, log *testutil.AuditLog, cfg billing.Config) *billing.Service {
	t.Helper()
	ctx := context.Background()
	if err := jobs.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	var plugs testutil.Plugins
	if log != nil {
		plugs.AuditSink = sdktest.Serve(t, log).Audit()
	}
	svc, err := billing.NewWithQueue(st, nil, plugs, cfg, nil, billing.QueueConfig{Jobs: jobs.Config{PollInterval: 100 * time.Millisecond, RetryPolicy: fastRetry{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Queue().Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Queue().Stop(ctx)
	})
	return svc
}

// recordAudit records n events through the audit job, several at once as
// requests do.
func recordAudit(t *testing.T, svc *billing.Service, from, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < from+n; i += 4 {
				ev := billing.AuditEvent{Actor: "user:1", Action: "plan.updated", ResourceType: "plan", ResourceID: fmt.Sprint(i)}
				if err := svc.Audit(context.Background(), ev); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

// hostOrder is the host log's events in its order (by id), with
// whether each was delivered.
func hostOrder(t *testing.T, q *store.Queries) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	for off := 0; ; off += store.MaxLimit {
		page, _, err := q.ListAudit(context.Background(), store.Page{Limit: store.MaxLimit, Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < store.MaxLimit {
			break
		}
	}
	slices.Reverse(out) // ListAudit is newest (highest id) first
	return out
}

// hostCount is how many events the host's log holds.
func hostCount(t *testing.T, st *store.Store) int {
	t.Helper()
	_, total, err := st.Q().ListAudit(context.Background(), store.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// waitFor polls cond until it holds or 60 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAuditDeliveryInOrderOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		log := &testutil.AuditLog{}
		svc := auditEnv(t, st, log, billing.Config{})
		ctx := context.Background()
		const n = 600
		recordAudit(t, svc, 0, n)
		waitFor(t, "every event delivered", func() bool { return log.Len() == n })
		host := hostOrder(t, st.Q())
		got := log.Events()
		if len(host) != n || len(got) != n {
			t.Fatalf("host log %d events, plugin %d, want %d each", len(host), len(got), n)
		}
		for i := range host {
			if got[i].ID != host[i].EventID {
				t.Fatalf("plugin event %d is %s, host log has %s there: not in the host log's order", i+1, got[i].ID, host[i].EventID)
			}
		}
		waitFor(t, "every event marked delivered", func() bool {
			d, err := svc.AuditDelivery(ctx)
			return err == nil && d.Backlog.Count == 0
		})
		// Batched: far fewer Appends than events.
		if a := log.Appends(); a >= n/2 {
			t.Errorf("%d Append calls for %d events: the drainer is not batching", a, n)
		}
	})
}

func TestAuditBacklogWhilePluginDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		log := &testutil.AuditLog{}
		svc := auditEnv(t, st, log, billing.Config{AuditMaxLag: time.Millisecond})
		ctx := context.Background()
		recordAudit(t, svc, 0, 50)
		waitFor(t, "the first events delivered", func() bool { return log.Len() == 50 })

		// The plugin cannot take events: actions still record theirs.
		log.SetAppendErr(fmt.Errorf("%w: the audit plugin is restarting", sdk.ErrPluginUnavailable))
		recordAudit(t, svc, 50, 300)
		var d *billing.AuditDelivery
		waitFor(t, "the backlog counted", func() bool {
			var err error
			d, err = svc.AuditDelivery(ctx)
			return err == nil && d.Backlog.Count == 300
		})
		if !d.Installed || !d.Behind || d.Backlog.Oldest.IsZero() || d.Lag <= 0 {
			t.Errorf("delivery while the plugin is down: %+v", d)
		}
		if log.Len() != 50 {
			t.Fatalf("the plugin holds %d events while refusing Append", log.Len())
		}

		// Back: the next drain sends the backlog, nothing doubled.
		log.SetAppendErr(nil)
		if err := svc.DrainAudit(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the backlog delivered", func() bool { return log.Len() == 350 })
		seen := map[string]bool{}
		for _, e := range log.Events() {
			if seen[e.ID] {
				t.Fatalf("event %s delivered twice", e.ID)
			}
			seen[e.ID] = true
		}
		host := hostOrder(t, st.Q())
		for i, e := range log.Events() {
			if host[i].EventID != e.ID {
				t.Fatalf("plugin event %d is %s, host log has %s", i+1, e.ID, host[i].EventID)
			}
		}
		waitFor(t, "nothing behind", func() bool {
			d, err := svc.AuditDelivery(ctx)
			return err == nil && d.Backlog.Count == 0 && !d.Behind
		})
	})
}

func TestAuditRedeliveryIsSafe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		log := &testutil.AuditLog{}
		svc := auditEnv(t, st, log, billing.Config{})
		ctx := context.Background()
		recordAudit(t, svc, 0, 40)
		waitFor(t, "delivered", func() bool { return log.Len() == 40 })
		// A drainer that crashed after Append, before marking: the same
		// events go again, and the plugin keeps each once. Under the log's
		// order lock, as every change to what waits is made: without it
		// the drain that delivered the 40 could finish after the reset
		// without seeing it, holding the one place DrainAudit queues in.
		err := st.Tx(ctx, func(tx *store.Tx) error {
			if err := tx.Q().LockAuditOrder(ctx); err != nil {
				return err
			}
			_, err := tx.Q().DB().Exec(ctx, "UPDATE audit_log SET delivered = FALSE")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.DrainAudit(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "marked again", func() bool {
			d, err := svc.AuditDelivery(ctx)
			return err == nil && d.Backlog.Count == 0
		})
		if log.Len() != 40 {
			t.Errorf("the plugin holds %d events after a redelivery, want 40", log.Len())
		}
	})
}

func TestNoAuditPluginNothingBehind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		svc := auditEnv(t, st, nil, billing.Config{AuditMaxLag: time.Millisecond})
		recordAudit(t, svc, 0, 5)
		waitFor(t, "recorded", func() bool { return len(hostOrder(t, st.Q())) == 5 })
		d, err := svc.AuditDelivery(context.Background())
		if err != nil || d.Installed || d.Behind || d.Backlog.Count != 0 {
			t.Errorf("without an audit plugin: %+v, %v", d, err)
		}
	})
}
