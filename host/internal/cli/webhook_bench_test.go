package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// The webhook benchmarks run the host in this process (its allocations are
// counted; the plugin's, in its own process, are not) with the real
// payment-template plugin, configured against a fake Example Pay on
// loopback. One op is one signed "payment.paid" webhook over HTTP, end to
// end: the host hands the raw request to the plugin, which verifies the
// signature, asks Example Pay's status API, checks the amount and guards
// against replays through the host's KV; the host then confirms with the
// plugin's GetPayment (Example Pay again) and credits the invoice in one
// transaction with its provision, message and audit jobs. Each op pays a
// fresh invoice whose payment was started at the gateway beforehand, in
// batches outside the timer.

// webhookBatch is how many invoices are prepared at a time, untimed.
const webhookBatch = 50

// webhookRig is a host with payment-template, the fake gateway behind it and
// an admin token.
type webhookRig struct {
	backend string
	addr    string
	tok     string
	ep      *examplePay
	secret  string
	plan    int64
	cust    int64
	client  *http.Client
	seq     int
}

// benchBackends are the stores to measure: SQLite always, PostgreSQL when
// MIKROBILL_TEST_POSTGRES_URL is set.
func benchBackends() []string {
	if os.Getenv(storetest.EnvPostgres) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// newWebhookRig starts a host on backend with payment-template configured.
func newWebhookRig(b *testing.B, backend string) *webhookRig {
	b.Helper()
	d := testenv.NewPluginDir(b)
	d.AddBundled("payment-template")
	env := []string{"RATE_LIMIT_MAX=100000000"} // the preparation calls the API thousands of times
	if backend == "postgres" {
		env = append(env, "DATABASE_URL="+storetest.PostgresURL(b))
	}
	addr, dataDir := startBenchHost(b, d.Dir, env)
	r := &webhookRig{backend: backend, addr: addr, ep: newExamplePay(b), secret: "whsec_bench_0123456789abcdef",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	r.tok = benchToken(b, append(env, "MIKROBILL_DATA_DIR="+dataDir))
	settings := map[string]any{"api_key": r.ep.key, "webhook_secret": r.secret, "base_url": r.ep.srv.URL}
	if code, raw := r.call(b, http.MethodPut, "/api/v1/plugin-settings/payment-template", settings, nil); code != http.StatusOK {
		b.Fatalf("save settings: %d %s", code, raw)
	}
	var loc, plan, cust struct {
		ID int64 `json:"id"`
	}
	for _, c := range []struct {
		path string
		body map[string]any
		out  any
	}{
		{"/api/v1/locations", map[string]any{"name": "main", "plugin": "mikrotik"}, &loc},
		{"/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M", "shared_users": 1,
			"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true}, &plan},
	} {
		if code, raw := r.call(b, http.MethodPost, c.path, c.body, c.out); code != http.StatusCreated {
			b.Fatalf("POST %s: %d %s", c.path, code, raw)
		}
	}
	if code, raw := r.call(b, http.MethodPost, "/api/v1/customers", map[string]any{"name": "Budi", "phone": "+6281234567890",
		"router_username": "budi", "router_password": "rahasia-123", "location_id": loc.ID}, &cust); code != http.StatusCreated {
		b.Fatalf("POST /api/v1/customers: %d %s", code, raw)
	}
	r.plan, r.cust = plan.ID, cust.ID
	return r
}

// call sends a JSON API request with the admin token.
func (r *webhookRig) call(b *testing.B, method, path string, body, out any) (int, []byte) {
	b.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, "http://"+r.addr+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.tok)
	resp, err := r.client.Do(req)
	if err != nil {
		b.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, raw
}

// prepared is one webhook ready to send: its body and signature.
type prepared struct {
	invoice int64
	body    []byte
	sig     string
}

// prepare makes n unpaid invoices, starts paying each with payment-template
// (a pending payment at Example Pay), marks them paid at Example Pay and
// returns the signed webhooks that say so.
func (r *webhookRig) prepare(b *testing.B, n int) []prepared {
	b.Helper()
	out := make([]prepared, 0, n)
	for range n {
		var inv struct {
			ID int64 `json:"id"`
		}
		if code, raw := r.call(b, http.MethodPost, "/api/v1/invoices", map[string]any{"customer_id": r.cust, "plan_id": r.plan}, &inv); code != http.StatusCreated {
			b.Fatalf("POST /api/v1/invoices: %d %s", code, raw)
		}
		var started payStarted
		if code, raw := r.call(b, http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv.ID), map[string]any{"gateway": "payment-template"}, &started); code != http.StatusOK {
			b.Fatalf("pay: %d %s", code, raw)
		}
		p := r.ep.markPaid(started.Payment.ID)
		r.seq++
		body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("evt_%s_%d", r.backend, r.seq), "type": "payment.paid",
			"created_at": time.Now().UTC().Format(time.RFC3339), "data": p})
		out = append(out, prepared{invoice: inv.ID, body: body, sig: exampleSign(body, r.secret, time.Now())})
	}
	return out
}

// ping is a signed notification the plugin acknowledges without an event:
// the same HTTP round trip to the plugin, with nothing to confirm or
// credit.
func (r *webhookRig) ping() prepared {
	r.seq++
	body := []byte(fmt.Sprintf(`{"id":"evt_ping_%d","type":"ping","created_at":%q}`, r.seq, time.Now().UTC().Format(time.RFC3339)))
	return prepared{body: body, sig: exampleSign(body, r.secret, time.Now())}
}

// send posts a webhook and checks the plugin's answer.
func (r *webhookRig) send(b *testing.B, p prepared) {
	if err := r.post(p); err != nil {
		b.Fatal(err)
	}
}

// checkPaid fails unless the invoices are paid.
func (r *webhookRig) checkPaid(b *testing.B, ps []prepared) {
	b.Helper()
	for _, p := range ps {
		var got struct {
			Invoice struct {
				Status string `json:"status"`
			} `json:"invoice"`
		}
		if code, raw := r.call(b, http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", p.invoice), nil, &got); code != http.StatusOK || got.Invoice.Status != "paid" {
			b.Fatalf("invoice %d after its webhook: %d %s", p.invoice, code, raw)
		}
	}
}

// BenchmarkWebhook measures one paid webhook end to end per op, on each
// store.
func BenchmarkWebhook(b *testing.B) {
	for _, backend := range benchBackends() {
		r := newWebhookRig(b, backend)
		b.Run(backend, func(b *testing.B) {
			b.ReportAllocs()
			for done := 0; done < b.N; {
				b.StopTimer()
				batch := r.prepare(b, min(webhookBatch, b.N-done))
				b.StartTimer()
				for _, p := range batch {
					r.send(b, p)
				}
				b.StopTimer()
				r.checkPaid(b, batch[:1])
				b.StartTimer()
				done += len(batch)
			}
		})
	}
}

// BenchmarkWebhookRatio compares, interleaved in the same run, a paid
// webhook end to end with the baseline of the same HTTP round trip to the
// plugin that confirms and credits nothing (a signed ping), on each store;
// with PostgreSQL configured, also PostgreSQL against SQLite. Per round,
// each side sends a batch; the figures are the medians of the rounds'
// per-op means.
func BenchmarkWebhookRatio(b *testing.B) {
	const rounds = 7
	backends := benchBackends()
	rigs := map[string]*webhookRig{}
	for _, backend := range backends {
		rigs[backend] = newWebhookRig(b, backend)
	}
	for range b.N {
		full, ping := map[string][]time.Duration{}, map[string][]time.Duration{}
		for round := range rounds {
			for _, backend := range backends {
				r := rigs[backend]
				batch := r.prepare(b, webhookBatch/2)
				pings := make([]prepared, len(batch))
				for i := range pings {
					pings[i] = r.ping()
				}
				timeFull := func() {
					begin := time.Now()
					for _, p := range batch {
						r.send(b, p)
					}
					full[backend] = append(full[backend], time.Since(begin)/time.Duration(len(batch)))
				}
				timePing := func() {
					begin := time.Now()
					for _, p := range pings {
						r.send(b, p)
					}
					ping[backend] = append(ping[backend], time.Since(begin)/time.Duration(len(pings)))
				}
				if round%2 == 0 {
					timeFull()
					timePing()
				} else {
					timePing()
					timeFull()
				}
				r.checkPaid(b, batch[:1])
			}
		}
		fmt.Println()
		for _, backend := range backends {
			f, p := medianOf(full[backend]), medianOf(ping[backend])
			fmt.Printf("(f) webhook on %s: paid end to end %s/op; signed ping (same round trip, nothing to confirm or credit) %s/op: %.2fx, median of %d rounds of %d\n",
				backend, f.Round(10*time.Microsecond), p.Round(10*time.Microsecond), float64(f)/float64(p), rounds, webhookBatch/2)
			b.ReportMetric(float64(f)/float64(p), "full/ping-x/"+backend)
		}
		if len(backends) == 2 {
			s, pg := medianOf(full["sqlite"]), medianOf(full["postgres"])
			fmt.Printf("(f) paid end to end, PostgreSQL against SQLite: %.2fx\n", float64(pg)/float64(s))
			b.ReportMetric(float64(pg)/float64(s), "postgres/sqlite-x")
		}
	}
}

// startBenchHost runs `serve` in this process with the given plugin
// directory and environment, until the benchmark ends, and returns its
// address and data directory.
func startBenchHost(b *testing.B, pluginDir string, env []string) (addr, dataDir string) {
	b.Helper()
	addr, dataDir, _ = startBenchHostStoppable(b, pluginDir, env)
	return addr, dataDir
}

// startBenchHostStoppable is startBenchHost that also returns a function
// stopping the host at once (it stops at the benchmark's end otherwise);
// calling it more than once is harmless.
func startBenchHostStoppable(b *testing.B, pluginDir string, env []string) (addr, dataDir string, stop func()) {
	b.Helper()
	logs := &tailBuffer{max: 64 << 10}
	addrc := make(chan string, 1)
	g := &globals{
		stdout: io.Discard, stderr: logs,
		environ: append([]string{"PATH=" + os.Getenv("PATH")}, env...),
		serving: func(a string) { addrc <- a },
	}
	cmd := newRoot(g)
	dataDir = filepath.Join(b.TempDir(), "data")
	cmd.SetArgs([]string{"serve", "--listen", "127.0.0.1:0", "--plugin-dir", pluginDir, "--data-dir", dataDir})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		b.Fatalf("serve ended before serving: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		b.Fatalf("serve did not start within 30s\n%s", logs.String())
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(40 * time.Second):
				b.Errorf("serve did not stop within 40s")
			}
			if b.Failed() {
				b.Logf("host log (tail):\n%s", logs.String())
			}
		})
	}
	b.Cleanup(stop)
	return addr, dataDir, stop
}

// benchToken creates an admin with the CLI and returns an API token.
func benchToken(b *testing.B, env []string) string {
	b.Helper()
	cli := func(stdin string, args ...string) string {
		var out, errb bytes.Buffer
		root := newRoot(&globals{stdout: &out, stderr: &errb, environ: env})
		root.SetArgs(args)
		root.SetIn(strings.NewReader(stdin))
		root.SetOut(&out)
		root.SetErr(&errb)
		if err := root.ExecuteContext(context.Background()); err != nil {
			b.Fatalf("mikrobill %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	cli("correct horse battery\n", "user", "create", "--username", "admin", "--role", "admin", "--password-stdin")
	return strings.TrimSpace(cli("", "user", "token", "--username", "admin"))
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) > t.max {
		return string(t.buf[len(t.buf)-t.max:])
	}
	return string(t.buf)
}
