package sdktest

// The small helpers a plugin's tests need besides the harness: a buffer
// the code under test writes from its goroutines, a logger that captures
// what a plugin logs, a clock the test moves, and a wait for a condition.
// The SDK's and the host's own tests use these too.

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Buffer is a bytes.Buffer that is safe for concurrent use: give it to a
// logger, or to a process as its output, and read it in the test while
// they write.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a logger named "test" that writes JSON lines at the trace
// level into the returned Buffer, for the test to read: what a plugin logs
// (at any level) is part of its behaviour, and a secret must never be in
// it. If the test fails, the log is written to the test log.
//
//	log, logs := sdktest.Logger(t)
//	h := sdktest.Serve(t, &Gateway{}, sdktest.WithLogger(log))
//	...
//	if strings.Contains(logs.String(), serverKey) {
//		t.Error("the server key is in the plugin's log")
//	}
func Logger(t testing.TB) (hclog.Logger, *Buffer) {
	t.Helper()
	logs := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: "test", Output: logs, Level: hclog.Trace, JSONFormat: true}), logs
}

// Clock is a clock a test moves by hand; give its Now to the code under
// test (FakeHost.Now, a plugin's clock). A Clock from NewClock stands at
// its start until Advance moves it. The zero Clock follows the real time,
// moved ahead by every Advance: for code that also meets the real time,
// such as a fake server's sessions or a client library's own checks. It is
// safe for concurrent use.
type Clock struct {
	mu    sync.Mutex
	start time.Time // zero: the real time
	ahead time.Duration
}

// NewClock returns a Clock that stands at start.
func NewClock(start time.Time) *Clock { return &Clock{start: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start.IsZero() {
		return time.Now().Add(c.ahead)
	}
	return c.start.Add(c.ahead)
}

// Advance moves the clock ahead by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ahead += d
}

// WaitFor waits until cond holds: it calls cond at growing intervals (from
// a millisecond up to a tenth of a second) and fails the test with t.Fatalf
// if cond does not hold within timeout; what names the awaited condition in
// that message ("the plugin restarted"). Call it from the test's goroutine.
//
// It is how a test waits for what happens on other goroutines or in other
// processes: wait on the event with a generous timeout, never sleep a fixed
// time, and never assert how long something took (machines are noisy).
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}
