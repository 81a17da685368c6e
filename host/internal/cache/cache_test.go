package cache

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMemory(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	m := NewMemory(2)
	m.now = func() time.Time { return now }

	if _, found, _ := m.Get(ctx, "a"); found {
		t.Fatal("empty cache found a key")
	}
	if stored, _ := m.Set(ctx, "a", []byte("1"), time.Second, false); !stored {
		t.Fatal("Set did not store")
	}
	if stored, _ := m.Set(ctx, "a", []byte("2"), 0, true); stored {
		t.Fatal("Set with onlyIfAbsent replaced an existing key")
	}
	if v, found, _ := m.Get(ctx, "a"); !found || string(v) != "1" {
		t.Fatalf("Get(a) = %q, %v; want 1, true", v, found)
	}
	now = now.Add(time.Second)
	if _, found, _ := m.Get(ctx, "a"); found {
		t.Fatal("expired key still found")
	}
	if stored, _ := m.Set(ctx, "a", []byte("3"), 0, true); !stored {
		t.Fatal("Set with onlyIfAbsent refused an expired key")
	}

	// LRU bound: a is used, b is not; adding c evicts b.
	m.Set(ctx, "b", []byte("b"), 0, false)
	m.Get(ctx, "a")
	m.Set(ctx, "c", []byte("c"), 0, false)
	if _, found, _ := m.Get(ctx, "b"); found {
		t.Fatal("least recently used key was not evicted")
	}
	if _, found, _ := m.Get(ctx, "a"); !found {
		t.Fatal("recently used key was evicted")
	}
	if deleted, _ := m.Delete(ctx, "a"); !deleted {
		t.Fatal("Delete did not report an existing key")
	}
	if deleted, _ := m.Delete(ctx, "a"); deleted {
		t.Fatal("Delete reported a missing key")
	}
}

// metricValues gathers g into "name{label="value",...}" -> value, for
// counters and gauges.
func metricValues(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// checkMetrics fails t unless each metric in want has its value in g.
func checkMetrics(t *testing.T, g prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	got := metricValues(t, g)
	sub := map[string]float64{}
	for k := range want {
		if v, ok := got[k]; ok {
			sub[k] = v
		}
	}
	if diff := cmp.Diff(want, sub); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func requests(op, result string) string {
	return fmt.Sprintf("mikrobill_cache_requests_total{op=%q,result=%q}", op, result)
}

func backendGauge(b string) string { return fmt.Sprintf("mikrobill_cache_backend{backend=%q}", b) }

func failovers(direction string) string {
	return fmt.Sprintf("mikrobill_cache_failovers_total{direction=%q}", direction)
}

func TestMemoryMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	mt, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMemoryWithMetrics(0, mt)

	m.Get(ctx, "a")                        // miss
	m.Set(ctx, "a", []byte("1"), 0, false) // ok
	m.Set(ctx, "a", []byte("2"), 0, true)  // ok (not stored, but no error)
	m.Get(ctx, "a")                        // hit
	m.Get(ctx, "a")                        // hit
	m.Delete(ctx, "a")                     // ok
	m.Delete(ctx, "a")                     // ok
	m.Get(ctx, "a")                        // miss
	m.Get(ctx, "b")                        // miss
	checkMetrics(t, reg, map[string]float64{
		requests("get", "hit"):       2,
		requests("get", "miss"):      3,
		requests("get", "error"):     0,
		requests("set", "ok"):        2,
		requests("set", "error"):     0,
		requests("delete", "ok"):     2,
		requests("delete", "error"):  0,
		requests("allow", "allowed"): 0,
	})

	// A second NewMetrics on the same registry shares the instruments.
	mt2, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("second NewMetrics on one registry: %v", err)
	}
	NewMemoryWithMetrics(0, mt2).Get(ctx, "x")
	checkMetrics(t, reg, map[string]float64{requests("get", "miss"): 4})

	// No registerer: nil metrics, and counting with them is a no-op.
	none, err := NewMetrics(nil)
	if err != nil || none != nil {
		t.Fatalf("NewMetrics(nil) = %v, %v; want nil, nil", none, err)
	}
	none.request(opGet, resultHit)
	none.setBackend(BackendRedis)
	none.failover(directionToRedis)
	if _, found, _ := NewMemoryWithMetrics(0, nil).Get(ctx, "a"); found {
		t.Fatal("found a key in an empty cache")
	}
}

func TestMemoryClear(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(0)
	m.Set(ctx, "a", []byte("1"), 0, false)
	m.Set(ctx, "b", []byte("2"), time.Minute, false)
	m.clear()
	if n := m.Len(); n != 0 {
		t.Fatalf("Len after clear = %d; want 0", n)
	}
	if _, found, _ := m.Get(ctx, "a"); found {
		t.Fatal("found a key after clear")
	}
	if stored, _ := m.Set(ctx, "a", []byte("3"), 0, true); !stored {
		t.Fatal("onlyIfAbsent refused a key removed by clear")
	}
}
