package sdktest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// recorder stands for the test a helper reports to: it keeps what the
// helper logs and whether it failed, and runs the cleanups when told.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	logs     []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = true
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// run calls f as a test body would be: on its own goroutine, which
// Fatalf ends.
func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

func TestWaitFor(t *testing.T) {
	t.Run("returns once the condition holds", func(t *testing.T) {
		var calls atomic.Int64
		r := &recorder{TB: t}
		r.run(func() { sdktest.WaitFor(r, time.Minute, "the fifth call", func() bool { return calls.Add(1) >= 5 }) })
		if r.Failed() || calls.Load() != 5 {
			t.Errorf("failed %v after %d calls; want success after 5 calls", r.Failed(), calls.Load())
		}
	})
	t.Run("fails the test naming the condition", func(t *testing.T) {
		r := &recorder{TB: t}
		r.run(func() { sdktest.WaitFor(r, 20*time.Millisecond, "the impossible", func() bool { return false }) })
		if !r.Failed() || len(r.logs) != 1 || !strings.Contains(r.logs[0], "waiting for: the impossible") {
			t.Errorf("failed %v, logged %q; want a failure naming the impossible", r.Failed(), r.logs)
		}
	})
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	c := sdktest.NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Errorf("NewClock(%s).Now() = %s", start, got)
	}
	c.Advance(90 * time.Minute)
	if got, want := c.Now(), start.Add(90*time.Minute); !got.Equal(want) {
		t.Errorf("after Advance(90m): %s, want %s", got, want)
	}

	var real sdktest.Clock
	real.Advance(time.Hour)
	before := time.Now()
	got := real.Now()
	after := time.Now()
	if got.Before(before.Add(time.Hour)) || got.After(after.Add(time.Hour)) {
		t.Errorf("the zero Clock advanced by 1h says %s; want between %s and %s", got, before.Add(time.Hour), after.Add(time.Hour))
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	var b sdktest.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Errorf("%d bytes written, want 800", n)
	}
}

func TestLogger(t *testing.T) {
	r := &recorder{TB: t}
	log, logs := sdktest.Logger(r)
	log.Named("plugin").Trace("checkout created", "order", "INV-1")
	for _, want := range []string{`"@level":"trace"`, `"@module":"test.plugin"`, `"@message":"checkout created"`, `"order":"INV-1"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}

	// A passing test's log stays out of the test log; a failing test's is
	// written to it.
	for _, f := range r.cleanups {
		f()
	}
	if len(r.logs) != 0 {
		t.Errorf("a passing test's log was written to the test log: %q", r.logs)
	}
	r.failed = true
	for _, f := range r.cleanups {
		f()
	}
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], "checkout created") {
		t.Errorf("a failing test's log was not written to the test log: %q", r.logs)
	}
}

// A Clock moves the FakeHost's time: a record kept for an hour is gone
// once the clock has moved an hour on.
func ExampleClock() {
	ctx := context.Background()
	clock := sdktest.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	host := sdktest.NewFakeHost()
	host.Now = clock.Now
	if _, err := host.StoreSet(ctx, "replay:evt-1", []byte("PAY-1"), sdk.StoreSetOptions{TTL: time.Hour}); err != nil {
		fmt.Println(err)
	}
	clock.Advance(59 * time.Minute)
	_, kept, _ := host.StoreGet(ctx, "replay:evt-1")
	clock.Advance(time.Minute)
	_, keptLater, _ := host.StoreGet(ctx, "replay:evt-1")
	fmt.Println(kept, keptLater)
	// Output: true false
}
