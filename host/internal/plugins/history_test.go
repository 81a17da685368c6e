package plugins

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestHistorySamplesARealPlugin samples a running plugin by calling the
// sampling step directly: its state, health and process are in the
// sample, and so are the calls the host made to it through its client.
func TestHistorySamplesARealPlugin(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "pay", Kind: "payment"})
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p, _ := m.Plugin("pay")
	gw, err := p.Payment()
	if err != nil {
		t.Fatal(err)
	}
	// The launch's Configure and first health check are calls too: start
	// the interval that counts only the calls below.
	p.lat.Take()
	const calls = 5
	for i := range calls {
		if _, err := gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
			OrderID: fmt.Sprint("o", i), Amount: payment.Money{Amount: 1000, Currency: "IDR"}, IdempotencyKey: fmt.Sprint("k", i),
		}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	m.sampleAll(now)

	h, err := m.History("pay", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Time) != 1 || h.Time[0] != float64(now.UnixMilli())/1000 {
		t.Fatalf("time = %v; want the one sample, taken at %v", h.Time, now.Unix())
	}
	if h.State[0] != string(StateRunning) || h.Health[0] != "ok" || h.Restarts[0] != 0 {
		t.Errorf("state %s, health %s, restarts %d; want running, ok, 0", h.State[0], h.Health[0], h.Restarts[0])
	}
	if h.Calls[0] != calls || h.Errors[0] != 0 {
		t.Errorf("calls %d, errors %d; want the %d calls made, none failed", h.Calls[0], h.Errors[0], calls)
	}
	if h.LatencyP50MS[0] == nil || *h.LatencyP50MS[0] <= 0 || h.LatencyP99MS[0] == nil || *h.LatencyP99MS[0] < *h.LatencyP50MS[0] {
		t.Errorf("latency p50 %v, p99 %v; want both measured, p99 >= p50", h.LatencyP50MS[0], h.LatencyP99MS[0])
	}
	if runtime.GOOS == "linux" && (h.RSSBytes[0] == nil || *h.RSSBytes[0] == 0) {
		t.Errorf("rss_bytes = %v; want the plugin's resident memory read from /proc", h.RSSBytes[0])
	}
	if h.CPUPercent[0] != nil {
		t.Errorf("cpu_percent of the first sample = %v; want null (nothing to compare with)", *h.CPUPercent[0])
	}

	// A second sample of the same process has its CPU use; the interval
	// holds the calls made since the first sample only.
	m.sampleAll(now.Add(5 * time.Second))
	h, _ = m.History("pay", 0)
	if runtime.GOOS == "linux" && h.CPUPercent[1] == nil {
		t.Error("cpu_percent of the second sample is null; want the plugin's CPU use since the first")
	}
	if h.Calls[1] > 1 { // at most a health check of the host's own
		t.Errorf("the second interval counts %d calls; want those of the first forgotten", h.Calls[1])
	}

	// After a restart: a new process, one restart more, and no CPU figure
	// across the two processes.
	if err := m.Restart("pay"); err != nil {
		t.Fatal(err)
	}
	m.sampleAll(now.Add(10 * time.Second))
	h, _ = m.History("pay", 0)
	if h.Restarts[2] != 1 || h.State[2] != string(StateRunning) {
		t.Errorf("after a restart: restarts %d, state %s; want 1, running", h.Restarts[2], h.State[2])
	}
	if h.CPUPercent[2] != nil {
		t.Errorf("cpu_percent across a restart = %v; want null", *h.CPUPercent[2])
	}

	// A disabled plugin has no process and no health.
	if err := m.Disable("pay"); err != nil {
		t.Fatal(err)
	}
	m.sampleAll(now.Add(15 * time.Second))
	h, _ = m.History("pay", 0)
	if h.State[3] != string(StateDisabled) || h.Health[3] != healthUnknown || h.RSSBytes[3] != nil {
		t.Errorf("disabled: state %s, health %s, rss %v; want disabled, unknown, null", h.State[3], h.Health[3], h.RSSBytes[3])
	}

	if _, err := m.History("nope", 0); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("History of an unknown plugin: %v; want sdk.ErrNotFound", err)
	}
}

// TestHistoryIsBounded samples more often than the ring holds: it keeps
// the last hour's worth, oldest first.
func TestHistoryIsBounded(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.HistoryInterval = 20 * time.Minute // three samples an hour
	f.Add(tp{Name: "pa"})
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	start := time.Now()
	for i := range 7 {
		m.sampleAll(start.Add(time.Duration(i) * time.Second))
	}
	h, _ := m.History("pa", 0)
	if h.Capacity != 3 || h.IntervalSeconds != 1200 {
		t.Errorf("capacity %d, interval %vs; want 3 and 1200", h.Capacity, h.IntervalSeconds)
	}
	want := []float64{}
	for i := 4; i < 7; i++ {
		want = append(want, float64(start.Add(time.Duration(i)*time.Second).UnixMilli())/1000)
	}
	if fmt.Sprint(h.Time) != fmt.Sprint(want) {
		t.Errorf("time = %v; want the last three samples, oldest first: %v", h.Time, want)
	}
	for _, n := range []int{len(h.State), len(h.Health), len(h.Restarts), len(h.RSSBytes), len(h.CPUPercent), len(h.Calls), len(h.Errors), len(h.LatencyMeanMS), len(h.LatencyP50MS), len(h.LatencyP99MS)} {
		if n != len(h.Time) {
			t.Fatalf("a column has %d values, time has %d; every column must match", n, len(h.Time))
		}
	}
}

// TestSamplerRunsAndStopsWithTheManager lets the manager's own sampler
// run on a short interval, and stops it with the manager.
func TestSamplerRunsAndStopsWithTheManager(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.HistoryInterval = 100 * time.Millisecond
	f.Add(tp{Name: "pa"})
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	sdktest.WaitFor(t, 30*time.Second, "the sampler to take three samples of a running plugin", func() bool {
		h, _ := m.History("pa", 0)
		running := 0
		for _, s := range h.State {
			if s == string(StateRunning) {
				running++
			}
		}
		return running >= 3
	})
	// Stop waits for the sampler (the manager's wait group): a sampler
	// that did not end with the manager would hold it up until the
	// test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m.Stop(ctx)
}
