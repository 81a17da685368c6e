package plugins

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

// BenchmarkPluginUpgradeSwitch upgrades a payment plugin blue-green while
// four callers call it without a pause, and reports the calls refused or
// failed during the switch (target 0) and the 99th percentile latency of
// the calls made during the switch (from SwitchPlugin's start to its
// return, the grace period included) against the calls of the steady
// state before it, in the same run (ratio).
func BenchmarkPluginUpgradeSwitch(b *testing.B) {
	f := newFixtureB(b)
	f.cfg.Plugins.UpgradeGrace = 300 * time.Millisecond
	f.Add(tp{Name: "pay", Kind: "payment"})
	m, err := f.start()
	if err != nil {
		b.Fatal(err)
	}
	p, _ := m.Plugin("pay")
	gw, err := p.Payment()
	if err != nil {
		b.Fatal(err)
	}
	type sample struct {
		at  time.Time
		dur time.Duration
	}
	var (
		mu      sync.Mutex
		samples []sample
		failed  atomic.Int64
		n       atomic.Int64
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	for w := range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := n.Add(1)
				begin := time.Now()
				_, err := gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
					OrderID: fmt.Sprintf("o-%d-%d", w, i), Amount: payment.Money{Amount: 1000, Currency: "IDR"}, IdempotencyKey: fmt.Sprintf("k-%d-%d", w, i)})
				d := time.Since(begin)
				if err != nil {
					failed.Add(1)
				}
				mu.Lock()
				samples = append(samples, sample{begin, d})
				mu.Unlock()
			}
		})
	}
	p99 := func(from, to time.Time) (time.Duration, int) {
		mu.Lock()
		defer mu.Unlock()
		var ds []time.Duration
		for _, s := range samples {
			if !s.at.Before(from) && s.at.Before(to) {
				ds = append(ds, s.dur)
			}
		}
		if len(ds) == 0 {
			return 0, 0
		}
		slices.Sort(ds)
		return ds[len(ds)*99/100], len(ds)
	}
	var steady, during []float64
	var refused int64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		steadyFrom := time.Now()
		time.Sleep(500 * time.Millisecond)
		steadyTo := time.Now()
		f.replace(tp{Name: "pay", Kind: "payment", Version: fmt.Sprintf("%d.0.0", i+2)})
		before := failed.Load()
		b.StartTimer()
		from := time.Now()
		if err := m.SwitchPlugin(context.Background(), "pay"); err != nil {
			b.Fatal(err)
		}
		to := time.Now()
		b.StopTimer()
		refused += failed.Load() - before
		s, _ := p99(steadyFrom, steadyTo)
		d, _ := p99(from, to)
		steady, during = append(steady, float64(s.Microseconds())), append(during, float64(d.Microseconds()))
		b.StartTimer()
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	ms, md := med(steady), med(during)
	b.ReportMetric(float64(refused), "refused")
	b.ReportMetric(ms, "p99-steady-µs")
	b.ReportMetric(md, "p99-switch-µs")
	if ms > 0 {
		b.ReportMetric(md/ms, "p99-ratio")
	}
	b.ReportMetric(float64(n.Load()), "calls")
}
