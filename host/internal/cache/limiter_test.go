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
	// 3 per 10s: a burst of 3, then one more every 3.33s.
	const interval = 10 * time.Second / 3
	steps := []struct {
		name    string
		advance time.Duration
		key     string
		want    allowResult
	}{
		{"first", 0, "a", allowResult{true, 2, t0.Add(interval)}},
		{"second at once", 0, "a", allowResult{true, 1, t0.Add(2 * interval)}},
		{"third, the burst spent", 0, "a", allowResult{true, 0, t0.Add(3 * interval)}},
		{"fourth denied until one interval has passed", time.Second, "a", allowResult{false, 0, t0.Add(interval)}},
		{"denied requests do not count", time.Second, "a", allowResult{false, 0, t0.Add(interval)}},
		{"other key has its own burst", 0, "b", allowResult{true, 2, t0.Add(2*time.Second + interval)}},
		{"still denied just before", interval - 2*time.Second - time.Nanosecond, "a", allowResult{false, 0, t0.Add(interval)}},
		{"one more when the interval has passed", time.Nanosecond, "a", allowResult{true, 0, t0.Add(4 * interval)}},
		{"and then denied again", 0, "a", allowResult{false, 0, t0.Add(2 * interval)}},
		{"a whole window idle gives the full burst back", 4 * interval, "a", allowResult{true, 2, t0.Add(6 * interval)}},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if got := allow(s.key, 3, 10*time.Second); got != s.want {
			t.Fatalf("%s: Allow = %+v; want %+v", s.name, got, s.want)
		}
	}
	checkMetrics(t, reg, map[string]float64{
		requests("allow", "allowed"): 6,
		requests("allow", "denied"):  4,
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

	// Keys back at their full limit are swept once the map grows, so it
	// does not keep every key ever seen.
	l = NewMemoryLimiter(nil)
	l.now = func() time.Time { return now }
	for i := range minSweep {
		allow("sweep"+strconv.Itoa(i), 1, time.Second)
	}
	if n := len(l.tats); n != minSweep {
		t.Fatalf("the limiter holds %d keys; want %d", n, minSweep)
	}
	now = now.Add(time.Hour)
	allow("fresh", 1, time.Second)
	if n := len(l.tats); n != 1 {
		t.Fatalf("after a sweep the limiter holds %d keys; want 1 (only the live one)", n)
	}

	l.reset()
	if got := allow("fresh", 1, time.Second); got != (allowResult{true, 0, now.Add(time.Second)}) {
		t.Fatalf("after reset: Allow = %+v; want a full limit", got)
	}
}
