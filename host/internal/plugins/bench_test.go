package plugins

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

// BenchmarkRecoveryRatio compares SIGKILL-to-serving-again (the supervisor
// notices the exit, restarts at once, and a call made right after the kill
// succeeds) with a cold launch of the same plugin to its first served call
// (an operator's enable of a disabled plugin). Interleaved; medians printed.
func BenchmarkRecoveryRatio(b *testing.B) {
	for range b.N {
		f := newFixtureB(b)
		f.cfg.Plugins.Restart.Budget = 1000
		f.Add(tp{Name: "phoenix", Kind: "payment"})
		m, err := f.start()
		if err != nil {
			b.Fatal(err)
		}
		p, _ := m.Plugin("phoenix")
		gw, _ := p.Payment()
		call := func(i int) error {
			_, err := gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
				OrderID: fmt.Sprint("o", i), Amount: payment.Money{Amount: 1000, Currency: "IDR"}, IdempotencyKey: fmt.Sprint("k", i),
			})
			return err
		}
		const n = 15
		var cold, recovery []time.Duration
		for i := range n {
			// Cold launch: disabled, then enabled, then the first call.
			if err := m.Disable("phoenix"); err != nil {
				b.Fatal(err)
			}
			begin := time.Now()
			if err := m.Enable("phoenix"); err != nil {
				b.Fatal(err)
			}
			if err := call(2 * i); err != nil {
				b.Fatal(err)
			}
			cold = append(cold, time.Since(begin))

			// Recovery: SIGKILL, then a call that waits for the restart.
			pid := p.Status().PID
			begin = time.Now()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			for p.Status().PID == pid {
				time.Sleep(50 * time.Microsecond) // until the host has noticed
			}
			if err := call(2*i + 1); err != nil {
				b.Fatal(err)
			}
			recovery = append(recovery, time.Since(begin))
		}
		c, r := median(cold), median(recovery)
		fmt.Printf("\n(c) SIGKILL to serving again %s vs cold launch to serving %s: %.2fx (target at most 1.3x), median of %d each\n",
			r.Round(100*time.Microsecond), c.Round(100*time.Microsecond), float64(r)/float64(c), n)
		b.ReportMetric(float64(r)/float64(c), "recovery-x")
		b.ReportMetric(float64(r.Microseconds())/1000, "recovery-ms")
		b.ReportMetric(float64(c.Microseconds())/1000, "cold-ms")
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
