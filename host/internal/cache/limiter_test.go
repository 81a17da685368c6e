package cache

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type allowResult struct {
	allowed   bool
	remaining int
	reset     time.Time
}

func TestMemoryLimiter(t *testing.T) {
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	now := t0
	reg := prometheus.NewRegistry()
	mt, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	l := NewMemoryLimiter(mt)
	l.now = func() time.Time { return now }

	allow := func(key string, limit int, window time.Duration) allowResult {
		t.Helper()
		a, r, reset, err := l.Allow(ctx, key, limit, window)
		if err != nil {
			t.Fatalf("Allow(%q): %v", key, err)
		}
		return allowResult{a, r, reset}
	}
	steps := []struct {
		name    string
		advance time.Duration
		key     string
		want    allowResult
	}{
		{"first opens the window", 0, "a", allowResult{true, 2, t0.Add(10 * time.Second)}},
		{"second", time.Second, "a", allowResult{true, 1, t0.Add(10 * time.Second)}},
		{"third, the last allowed", time.Second, "a", allowResult{true, 0, t0.Add(10 * time.Second)}},
		{"fourth denied", time.Second, "a", allowResult{false, 0, t0.Add(10 * time.Second)}},
		{"other key has its own window", 0, "b", allowResult{true, 2, t0.Add(13 * time.Second)}},
		{"still denied just before the end", 7*time.Second - time.Nanosecond, "a", allowResult{false, 0, t0.Add(10 * time.Second)}},
		{"new window at the end", time.Nanosecond, "a", allowResult{true, 2, t0.Add(20 * time.Second)}},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if got := allow(s.key, 3, 10*time.Second); got != s.want {
			t.Fatalf("%s: Allow = %+v; want %+v", s.name, got, s.want)
		}
	}
	checkMetrics(t, reg, map[string]float64{
		requests("allow", "allowed"): 5,
		requests("allow", "denied"):  2,
		requests("allow", "error"):   0,
	})

	for _, bad := range []struct {
		limit  int
		window time.Duration
	}{{0, time.Second}, {-1, time.Second}, {1, 0}, {1, time.Microsecond}} {
		if _, _, _, err := l.Allow(ctx, "a", bad.limit, bad.window); err == nil {
			t.Errorf("Allow with limit %d per %s: no error", bad.limit, bad.window)
		}
	}

	// Ended windows are swept once the map grows, so it does not keep
	// every key ever seen.
	l = NewMemoryLimiter(nil)
	l.now = func() time.Time { return now }
	for i := range minSweep {
		allow("sweep"+strconv.Itoa(i), 1, time.Second)
	}
	if n := len(l.windows); n != minSweep {
		t.Fatalf("the limiter holds %d windows; want %d", n, minSweep)
	}
	now = now.Add(time.Hour)
	allow("fresh", 1, time.Second)
	if n := len(l.windows); n != 1 {
		t.Fatalf("after a sweep the limiter holds %d windows; want 1 (only the live one)", n)
	}

	l.reset()
	if got := allow("fresh", 1, time.Second); got != (allowResult{true, 0, now.Add(time.Second)}) {
		t.Fatalf("after reset: Allow = %+v; want a new window", got)
	}
}
