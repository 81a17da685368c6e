package billing_test

// The audit plugin (plugins/audit, a real process over gRPC) against the
// host's plain audit_log table, the same work in the same run:
//
//   - append: 100-event batches (the plugin's Append; the table: the
//     batch's rows inserted in one transaction), in events a second;
//   - query: a filtered page (one actor's newest 50) over 1,000,000 events
//     (the plugin's Query; the table: SearchAudit);
//   - verify: 1,000,000 events (the plugin's Verify: chain, Merkle tree,
//     checkpoints; the table: a full scan recomputing the chain hashes,
//     the least a verification of it could do).
//
// Each reports the plugin's time as a ratio to the table's (x-table). The
// 1,000,000-event fixtures (the plugin's data directory and an SQLite
// store) are built once per run in a temporary directory, removed when the
// run ends.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// benchAuditN is the size of the fixtures.
const benchAuditN = 1_000_000

var (
	benchAuditOnce  sync.Once
	benchAuditDir   string
	benchAuditErr   error
	benchAuditStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchAuditDir != "" {
		_ = os.RemoveAll(benchAuditDir)
	}
	os.Exit(code)
}

// benchAuditEvent is event i of the fixtures: seven actors, five actions.
func benchAuditEvent(i int) audit.Event {
	return audit.Event{ID: fmt.Sprintf("ev-%07d", i), Time: benchAuditStart.Add(time.Duration(i) * time.Second),
		Actor: fmt.Sprintf("user:operator%d", i%7), Action: []string{"plan.created", "plan.updated", "customer.updated", "invoice.paid", "subscription.expired"}[i%5],
		ResourceType: "plan", ResourceID: fmt.Sprint(i % 300), Outcome: audit.OutcomeSuccess,
		Metadata: map[string]string{"name": fmt.Sprintf("Paket %d", i%300), "price": fmt.Sprint(100000 + i)}}
}

// benchAuditFixtures builds (once per run) the plugin's log and the
// host's table with the same 1,000,000 events.
func benchAuditFixtures(b *testing.B) string {
	b.Helper()
	benchAuditOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mikrobill-audit-bench-")
		if err != nil {
			benchAuditErr = err
			return
		}
		benchAuditDir = dir
		start := time.Now()
		// The plugin's log, through Append in batches of 1,000.
		pdir := filepath.Join(dir, "plugin")
		sink, stop := startAuditPluginIn(b, pdir)
		defer stop()
		ctx := context.Background()
		for i := 0; i < benchAuditN && benchAuditErr == nil; i += 1000 {
			req := &audit.AppendRequest{Events: make([]audit.Event, 0, 1000)}
			for j := i; j < i+1000; j++ {
				req.Events = append(req.Events, benchAuditEvent(j))
			}
			_, benchAuditErr = sink.Append(ctx, req)
		}
		if benchAuditErr == nil {
			_, benchAuditErr = sink.(audit.Prover).GetCheckpoint(ctx, &audit.GetCheckpointRequest{Take: true})
		}
		// The host's table: the same events, as the audit job writes them.
		st, err := store.Open(ctx, store.Options{DataDir: filepath.Join(dir, "host")})
		if err == nil {
			_, err = st.Migrate(ctx)
		}
		for i := 0; i < benchAuditN && err == nil; i += 10_000 {
			err = st.Tx(ctx, func(tx *store.Tx) error {
				for j := i; j < i+10_000; j++ {
					e := benchAuditEvent(j)
					if _, err := tx.Q().AppendAudit(ctx, &store.AuditEntry{EventID: e.ID, OccurredAt: e.Time, Actor: e.Actor, Action: e.Action,
						ResourceType: e.ResourceType, ResourceID: e.ResourceID, Outcome: string(e.Outcome), Metadata: e.Metadata, Delivered: true}); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if st != nil {
			st.Close()
		}
		if benchAuditErr == nil {
			benchAuditErr = err
		}
		b.Logf("built the 1,000,000-event fixtures in %s", time.Since(start).Round(time.Second))
	})
	if benchAuditErr != nil {
		b.Fatal(benchAuditErr)
	}
	return benchAuditDir
}

// hostChainScan reads the whole table in id order and recomputes the hash
// chain over it: the baseline of Verify.
func hostChainScan(ctx context.Context, st *store.Store) (int, error) {
	rows, err := st.Q().DB().Query(ctx, "SELECT event_id, occurred_at, actor, action, resource_type, resource_id, outcome, metadata_json FROM audit_log ORDER BY id")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	prev, n := "", 0
	for rows.Next() {
		var e audit.Event
		var at int64
		var meta, outcome string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.ResourceType, &e.ResourceID, &outcome, &meta); err != nil {
			return n, err
		}
		e.Time, e.Outcome = store.FromMillis(at), audit.Outcome(outcome)
		_ = json.Unmarshal([]byte(meta), &e.Metadata)
		prev = audit.ChainHash(prev, e)
		n++
	}
	return n, rows.Err()
}

// BenchmarkAuditPluginRatio: see the file's comment. Run with
// -benchtime 1x (make bench): each sub-benchmark does a fixed amount of
// work and reports its own rate.
func BenchmarkAuditPluginRatio(b *testing.B) {
	dir := benchAuditFixtures(b)
	ctx := context.Background()
	sink, stop := startAuditPluginIn(b, filepath.Join(dir, "plugin"))
	b.Cleanup(stop)
	st, err := store.Open(ctx, store.Options{DataDir: filepath.Join(dir, "host")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc := billing.New(st, nil, nil, billing.Config{}, nil)

	// A filtered page over 1,000,000 events, 200 times.
	const pages = 200
	var tableNs float64
	b.Run("query/table", func(b *testing.B) {
		for range b.N {
			t0 := time.Now()
			for range pages {
				p, err := svc.SearchAudit(ctx, billing.AuditQuery{Actor: "user:operator3", Limit: 50})
				if err != nil || len(p.Records) != 50 {
					b.Fatalf("host page: %v", err)
				}
			}
			tableNs = float64(time.Since(t0).Nanoseconds()) / pages
		}
		b.ReportMetric(tableNs/1e6, "ms/page")
	})
	b.Run("query/plugin", func(b *testing.B) {
		var ns float64
		for range b.N {
			t0 := time.Now()
			for range pages {
				p, err := sink.Query(ctx, &audit.QueryRequest{Actor: "user:operator3", PageSize: 50, Descending: true})
				if err != nil || len(p.Events) != 50 {
					b.Fatalf("plugin page: %v", err)
				}
			}
			ns = float64(time.Since(t0).Nanoseconds()) / pages
		}
		b.ReportMetric(ns/1e6, "ms/page")
		b.ReportMetric(ns/tableNs, "x-table")
		b.Logf("a filtered page over 1,000,000 events: plugin %.2f ms, host table %.2f ms: %.2fx", ns/1e6, tableNs/1e6, ns/tableNs)
	})

	// Verify 1,000,000 events.
	b.Run("verify/table", func(b *testing.B) {
		for range b.N {
			t0 := time.Now()
			n, err := hostChainScan(ctx, st)
			if err != nil || n < benchAuditN {
				b.Fatalf("host scan: %d, %v", n, err)
			}
			tableNs = float64(time.Since(t0).Nanoseconds())
		}
		b.ReportMetric(tableNs/1e9, "s")
	})
	b.Run("verify/plugin", func(b *testing.B) {
		var ns float64
		for range b.N {
			t0 := time.Now()
			v, err := sink.Verify(ctx, &audit.VerifyRequest{})
			if err != nil || !v.OK || v.Checked < benchAuditN {
				b.Fatalf("plugin verify: %+v, %v", v, err)
			}
			ns = float64(time.Since(t0).Nanoseconds())
		}
		b.ReportMetric(ns/1e9, "s")
		b.ReportMetric(ns/tableNs, "x-table")
		b.Logf("verify 1,000,000 events: plugin %.2f s (chain, Merkle tree, checkpoints), host table chain scan %.2f s: %.2fx", ns/1e9, tableNs/1e9, ns/tableNs)
	})

	// Appends of 100-event batches: 100 batches.
	const batches = 100
	next := benchAuditN + 1
	batch := func() []audit.Event {
		out := make([]audit.Event, 100)
		for i := range out {
			out[i] = benchAuditEvent(next)
			out[i].ID = fmt.Sprintf("ap-%07d", next)
			next++
		}
		return out
	}
	var tableRate float64
	b.Run("append/table", func(b *testing.B) {
		for range b.N {
			t0 := time.Now()
			for range batches {
				evs := batch()
				if err := st.Tx(ctx, func(tx *store.Tx) error {
					for _, e := range evs {
						if _, err := tx.Q().AppendAudit(ctx, &store.AuditEntry{EventID: e.ID, OccurredAt: e.Time, Actor: e.Actor, Action: e.Action,
							ResourceType: e.ResourceType, ResourceID: e.ResourceID, Outcome: string(e.Outcome), Metadata: e.Metadata}); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			tableRate = batches * 100 / time.Since(t0).Seconds()
		}
		b.ReportMetric(tableRate, "events/s")
	})
	b.Run("append/plugin", func(b *testing.B) {
		var rate float64
		for range b.N {
			t0 := time.Now()
			for range batches {
				if _, err := sink.Append(ctx, &audit.AppendRequest{Events: batch()}); err != nil {
					b.Fatal(err)
				}
			}
			rate = batches * 100 / time.Since(t0).Seconds()
		}
		b.ReportMetric(rate, "events/s")
		b.ReportMetric(tableRate/rate, "x-table")
		b.Logf("appends of 100-event batches: plugin %.0f events/s, host table %.0f events/s: the plugin takes %.2fx the table's time", rate, tableRate, tableRate/rate)
	})
}
