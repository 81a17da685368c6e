package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// webhookSenders is how many webhooks are in flight at once in
// BenchmarkWebhookConcurrentRatio, as a busy gateway (or several) sends
// them.
const webhookSenders = 32

// BenchmarkWebhookConcurrentRatio sends, on each store, a few thousand
// paid webhooks (MIKROBILL_BENCH_INVOICES, 2000) from 32 senders at once,
// and as the baseline measured in the same run the same number of signed
// pings (the same round trip to the plugin, nothing to confirm or credit)
// from 32 senders. It reports paid webhooks a second (only those whose
// invoice is paid afterwards count), their p99 latency, and the ratio to
// the pings' rate. The invoices' provisioning and messages are queued
// jobs the rig has no router or WhatsApp plugin to work, so they are not
// part of what is timed.
func BenchmarkWebhookConcurrentRatio(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("MIKROBILL_BENCH_INVOICES")); err == nil && v > 0 {
		n = v
	}
	for _, backend := range benchBackends() {
		r := newWebhookRig(b, backend)
		r.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: webhookSenders * 2}}
		for range b.N {
			batch := r.prepare(b, n)
			pings := make([]prepared, n)
			for i := range pings {
				pings[i] = r.ping()
			}
			pingTook, pingLat := r.fire(b, pings)
			took, lat := r.fire(b, batch)
			paid := r.countPaid(b, batch)
			rate, pingRate := float64(paid)/took.Seconds(), float64(n)/pingTook.Seconds()
			fmt.Printf("(f) %d webhooks from %d senders on %s: %.0f paid/s (%d of %d invoices paid), p50 %s, p99 %s; signed pings %.0f/s, p99 %s; paid/ping rate %.2fx\n",
				n, webhookSenders, backend, rate, paid, n, percentile(lat, 50), percentile(lat, 99), pingRate, percentile(pingLat, 99), rate/pingRate)
			b.ReportMetric(rate, "paid/s/"+backend)
			b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms/"+backend)
			b.ReportMetric(rate/pingRate, "paid/ping-x/"+backend)
		}
	}
}

// fire sends every webhook from webhookSenders goroutines at once and
// returns how long all took and each one's latency. Any answer but 200 is
// a failure of the benchmark.
func (r *webhookRig) fire(b *testing.B, ps []prepared) (time.Duration, []time.Duration) {
	b.Helper()
	next := make(chan prepared)
	lat := make([]time.Duration, 0, len(ps))
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	begin := time.Now()
	for range webhookSenders {
		wg.Go(func() {
			for p := range next {
				start := time.Now()
				err := r.post(p)
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for _, p := range ps {
		next <- p
	}
	close(next)
	wg.Wait()
	took := time.Since(begin)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return took, lat
}

// post sends one webhook; an answer other than the plugin's 200 is an
// error.
func (r *webhookRig) post(p prepared) error {
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/webhooks/payment-template", bytes.NewReader(p.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Example-Signature", p.sig)
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(raw) != `{"received":true}` {
		return fmt.Errorf("webhook: %d %s", resp.StatusCode, raw)
	}
	return nil
}

// countPaid is how many of the webhooks' invoices are paid.
func (r *webhookRig) countPaid(b *testing.B, ps []prepared) int {
	b.Helper()
	paid := 0
	for _, p := range ps {
		var got struct {
			Invoice struct {
				Status string `json:"status"`
			} `json:"invoice"`
		}
		if code, _ := r.call(b, http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", p.invoice), nil, &got); code == http.StatusOK && got.Invoice.Status == "paid" {
			paid++
		}
	}
	return paid
}

// percentile is the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(i, 0)].Round(100 * time.Microsecond)
}
