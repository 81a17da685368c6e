package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/audit"
)

// fixtureEvents is the size of the log the query and verify benchmarks
// read.
const fixtureEvents = 1_000_000

var fixture struct {
	once sync.Once
	dir  string
	err  error
}

// TestMain removes the benchmarks' shared fixture when the run ends.
func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		_ = os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// fixtureDir builds, once per process, a log of fixtureEvents events in
// batches of 1,000 (a checkpoint after each 1,000, as by default), and
// returns its data directory, shared by the benchmarks that read it.
func fixtureDir(b *testing.B) string {
	b.Helper()
	fixture.once.Do(func() {
		// MIKROBILL_AUDIT_BENCH_DIR keeps the fixture between runs (it is
		// built there when empty, and not removed).
		dir := os.Getenv("MIKROBILL_AUDIT_BENCH_DIR")
		if dir != "" {
			if _, err := os.Stat(filepath.Join(dir, dbFile)); err == nil {
				return
			}
			fixture.err = os.MkdirAll(dir, 0o700)
		} else {
			dir, fixture.err = os.MkdirTemp("", "audit-bench-")
			fixture.dir = dir
		}
		if fixture.err != nil {
			return
		}
		start := time.Now()
		l := NewLog()
		l.settings = defaultSettings()
		key, err := loadOrCreateKey(dir)
		if err != nil {
			fixture.err = err
			return
		}
		st, err := openStore(context.Background(), dir, key, time.Now, durabilityFull)
		if err != nil {
			fixture.err = err
			return
		}
		defer st.close()
		for i := 1; i <= fixtureEvents; i += 1000 {
			if _, err := st.append(context.Background(), events(i, 1000), 1000); err != nil {
				fixture.err = err
				return
			}
		}
		fi, _ := os.Stat(filepath.Join(dir, dbFile))
		var size int64
		if fi != nil {
			size = fi.Size()
		}
		fmt.Fprintf(os.Stderr, "fixture: %d events in %s, %d MiB\n", fixtureEvents, time.Since(start).Round(time.Second), size>>20)
	})
	if fixture.err != nil {
		b.Fatalf("build the fixture: %v", fixture.err)
	}
	if dir := os.Getenv("MIKROBILL_AUDIT_BENCH_DIR"); dir != "" {
		return dir
	}
	return fixture.dir
}

// BenchmarkAppendBatch100 appends batches of 100 events to a log that
// grows through the run, with each durability (full: every batch is on
// disk when Append returns; normal: in the OS's page cache). The events/s
// and CPU time include indexing every appended event (the background
// indexer, and the catch-up of its tail when the loop ends). Target: at
// least 20,000 events/s.
func BenchmarkAppendBatch100(b *testing.B) {
	for _, durability := range []string{durabilityFull, durabilityNormal} {
		b.Run(durability, func(b *testing.B) {
			l := openLog(b, b.TempDir(), map[string]any{"durability": durability})
			ctx := context.Background()
			st, err := l.store()
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			cpu, start := cpuTime(), time.Now()
			for b.Loop() {
				if _, err := l.Append(ctx, &audit.AppendRequest{Events: events(n+1, 100)}); err != nil {
					b.Fatal(err)
				}
				n += 100
			}
			// The rate counts the indexing of every appended event: the
			// run ends when the index has caught up.
			if err := st.catchUp(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(n), "cpu-µs/event")
		})
	}
}

// BenchmarkQueryPage1M reads a filtered page of 50 events from the middle
// of a 1,000,000-event log (actor and outcome, with a page token; and an
// action prefix, newest first). Target: under 20 ms a page.
func BenchmarkQueryPage1M(b *testing.B) {
	dir := fixtureDir(b)
	l := openLog(b, dir, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  audit.QueryRequest
	}{
		{"actor+outcome", audit.QueryRequest{Actor: "admin-3", Outcome: audit.OutcomeFailure, PageSize: 50}},
		{"action-prefix-desc", audit.QueryRequest{Action: "plan.", Descending: true, PageSize: 50}},
		{"resource", audit.QueryRequest{ResourceType: "invoice", ResourceID: "42", PageSize: 50}},
		{"time-range", audit.QueryRequest{Since: t0.Add(400_000 * time.Second), Until: t0.Add(500_000 * time.Second), PageSize: 50}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// A page in the middle of the log, as a user paging far
			// reaches it (the time range starts there by itself).
			req := tc.req
			if tc.name != "time-range" {
				req.PageToken = encodeToken(fixtureEvents/2, &req)
			}
			for b.Loop() {
				page, err := l.Query(ctx, &req)
				if err != nil || len(page.Events) != 50 {
					b.Fatalf("%d events, %v", len(page.Events), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}

// BenchmarkVerify1M verifies a 1,000,000-event log in full: every hash,
// every leaf, the root at each of its 1,000 checkpoints, their signatures
// and consistency proofs. Target: under 10 s.
func BenchmarkVerify1M(b *testing.B) {
	dir := fixtureDir(b)
	l := openLog(b, dir, nil)
	cpu := cpuTime()
	for b.Loop() {
		v, err := l.Verify(context.Background(), &audit.VerifyRequest{})
		if err != nil || !v.OK || v.Checked != fixtureEvents {
			b.Fatalf("Verify = %+v, %v", v, err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/verify")
}

// cpuTime is the CPU time (user and system) the process has used: the
// machines these run on are shared, so wall time alone says little about
// the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
