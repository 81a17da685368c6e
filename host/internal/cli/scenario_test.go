package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// The scenarios below are the attack run's crash storm and database restart,
// kept as tests: a gateway keeps resending each signed confirmation until it
// gets a 2xx (as real gateways do), while the payment plugin is SIGKILLed
// tens of times or PostgreSQL restarts under it. Whatever happens, every
// invoice ends paid, credited exactly once, and an invoice is already paid
// when its confirmation is acknowledged: no credit waits for the
// reconciliation job.

const scenarioSecret = "scenario-confirm-secret-0123456789"

// scenarioConfig is the host configuration of the scenarios: a restart
// budget the storm does not exhaust, quick restarts, and rate limits above
// what the senders send.
const scenarioConfig = `
security {
  rate_limit_max = 100000
}
plugins {
  call_wait = "20s"
  restart {
    initial_backoff = "50ms"
    max_backoff     = "300ms"
    budget          = 1000
  }
}
`

// scenarioInvoice is an invoice whose payment with payment-manual has
// started, and the signed confirmation the gateway sends for it.
type scenarioInvoice struct {
	id        int64
	number    string
	body      []byte
	signature string
}

// scenarioHost starts a host with payment-manual, saves its confirm secret,
// and makes n invoices with a payment started for each.
func scenarioHost(t *testing.T, n int, env ...string) (*host, string, []scenarioInvoice) {
	t.Helper()
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	cfg := filepath.Join(t.TempDir(), "mikrobill.hcl")
	if err := os.WriteFile(cfg, []byte(scenarioConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHost(t, d.Dir, append([]string{"MIKROBILL_CONFIG=" + cfg}, env...)...)
	tok := h.adminToken()
	if code, raw := h.api(http.MethodPut, "/api/v1/plugin-settings/payment-manual", tok, map[string]any{"confirm_secret": scenarioSecret, "currencies": []string{"IDR"}}, nil); code != http.StatusOK {
		t.Fatalf("save settings: %d %s", code, raw)
	}
	var loc, plan struct {
		ID int64 `json:"id"`
	}
	mustCreate := func(path string, body, out any) {
		t.Helper()
		if code, raw := h.api(http.MethodPost, path, tok, body, out); code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, code, raw)
		}
	}
	mustCreate("/api/v1/locations", map[string]any{"name": "main", "plugin": "mikrotik"}, &loc)
	mustCreate("/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M", "shared_users": 1,
		"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true}, &plan)
	invs := make([]scenarioInvoice, n)
	for i := range invs {
		var cust struct {
			ID int64 `json:"id"`
		}
		mustCreate("/api/v1/customers", map[string]any{"name": fmt.Sprintf("Customer %d", i), "router_username": fmt.Sprintf("cust%04d", i),
			"router_password": "rahasia-123", "location_id": loc.ID}, &cust)
		var inv store.Invoice
		mustCreate("/api/v1/invoices", map[string]any{"customer_id": cust.ID, "plan_id": plan.ID}, &inv)
		var started payStarted
		if code, raw := h.api(http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv.ID), tok, map[string]any{"gateway": "payment-manual"}, &started); code != http.StatusOK {
			t.Fatalf("pay invoice %d: %d %s", inv.ID, code, raw)
		}
		body := fmt.Appendf(nil, `{"event_id":"evt-%d","payment_id":%q,"amount":150000,"currency":"IDR","confirmed_by":"cashier"}`, i, started.Payment.ID)
		mac := hmac.New(sha256.New, []byte(scenarioSecret))
		mac.Write(body)
		invs[i] = scenarioInvoice{id: inv.ID, number: inv.Number, body: body, signature: "sha256=" + hex.EncodeToString(mac.Sum(nil))}
	}
	return h, tok, invs
}

// scenarioResult counts what the gateway saw.
type scenarioResult struct {
	mu sync.Mutex
	// statuses counts the answers by status code (0: no answer).
	statuses map[int]int
	// unpaidWhenAcked lists invoices that were not paid when their
	// confirmation was acknowledged.
	unpaidWhenAcked []string
	// neverAcked lists invoices whose confirmation never got a 2xx.
	neverAcked []string
	// internal holds the bodies of 500 answers.
	internal []string
}

func (r *scenarioResult) count(code int) {
	r.mu.Lock()
	r.statuses[code]++
	r.mu.Unlock()
}

// sendConfirmations plays the gateway: senders goroutines post each
// invoice's confirmation until it is acknowledged (retrying every 100 ms
// for up to deadline), check the invoice is paid at that moment, and send
// it once more, as gateways repeat notifications. Each sender waits pace
// before its next invoice, so the load lasts as long as the faults.
func sendConfirmations(t *testing.T, h *host, tok string, invs []scenarioInvoice, senders int, pace, deadline time.Duration) *scenarioResult {
	t.Helper()
	res := &scenarioResult{statuses: map[int]int{}}
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(inv scenarioInvoice) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr+"/webhooks/payment-manual", bytes.NewReader(inv.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Mikrobill-Signature", inv.signature)
		resp, err := client.Do(req)
		if err != nil {
			res.count(0)
			return 0
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res.count(resp.StatusCode)
		if resp.StatusCode == http.StatusInternalServerError {
			res.mu.Lock()
			res.internal = append(res.internal, string(raw))
			res.mu.Unlock()
		}
		return resp.StatusCode
	}
	paid := func(inv scenarioInvoice) bool {
		var got struct {
			Invoice store.Invoice `json:"invoice"`
		}
		for range 50 { // the API itself may answer 503 while the database restarts
			if code, _ := h.api(http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", inv.id), tok, nil, &got); code == http.StatusOK {
				return got.Invoice.Status == store.InvoicePaid
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("invoice %s could not be read", inv.number)
		return false
	}
	work := make(chan scenarioInvoice)
	var wg sync.WaitGroup
	end := time.Now().Add(deadline)
	for range senders {
		wg.Go(func() {
			for inv := range work {
				time.Sleep(pace)
				acked := false
				for time.Now().Before(end) {
					if code := post(inv); code >= 200 && code < 300 {
						acked = true
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				res.mu.Lock()
				if !acked {
					res.neverAcked = append(res.neverAcked, inv.number)
				}
				res.mu.Unlock()
				if !acked {
					continue
				}
				if !paid(inv) {
					res.mu.Lock()
					res.unpaidWhenAcked = append(res.unpaidWhenAcked, inv.number)
					res.mu.Unlock()
				}
				post(inv) // the gateway's duplicate: answered, never credited twice
			}
		})
	}
	for _, inv := range invs {
		work <- inv
	}
	close(work)
	wg.Wait()
	return res
}

// checkCreditedOnce reads the store: every invoice paid, credited once, one
// paid payment each.
func checkCreditedOnce(t *testing.T, st *store.Store, invs []scenarioInvoice) {
	t.Helper()
	ctx := context.Background()
	for _, inv := range invs {
		got, err := st.Q().GetInvoice(ctx, inv.id)
		if err != nil {
			t.Fatalf("invoice %s: %v", inv.number, err)
		}
		n, err := st.Q().InvoiceCredits(ctx, inv.id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.InvoicePaid || n != 1 {
			t.Errorf("invoice %s: %s, credited %d times; want paid, once", inv.number, got.Status, n)
		}
	}
}

func (r *scenarioResult) report(t *testing.T) {
	t.Helper()
	t.Logf("answers by status: %v", r.statuses)
	if len(r.neverAcked) > 0 {
		t.Errorf("%d confirmations never acknowledged: %v", len(r.neverAcked), r.neverAcked)
	}
	if len(r.unpaidWhenAcked) > 0 {
		t.Errorf("%d invoices not paid when their confirmation was acknowledged (credit left to reconciliation): %v", len(r.unpaidWhenAcked), r.unpaidWhenAcked)
	}
	if n := r.statuses[http.StatusInternalServerError]; n > 0 {
		t.Errorf("%d answers were 500; a failure must answer 503 (retry) or a clear 4xx: %q", n, r.internal)
	}
}

// pluginPID is payment-manual's pid as /health/plugins shows it, 0 while it
// is not running.
func (h *host) pluginPID(name string) int {
	var body struct {
		Plugins []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			PID   int    `json:"pid"`
		} `json:"plugins"`
	}
	resp, err := http.Get("http://" + h.addr + "/health/plugins")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0
	}
	for _, p := range body.Plugins {
		if p.Name == name && p.State == "running" {
			return p.PID
		}
	}
	return 0
}

// TestCrashStormCreditsEveryPaymentOnce: 200 confirmations from 8 senders
// while payment-manual is SIGKILLed 30 times, at random moments (in the
// webhook call, in the confirm call, between them), on the embedded SQLite
// and on PostgreSQL. Every invoice ends paid and credited once, and was
// paid when its confirmation got a 2xx.
func TestCrashStormCreditsEveryPaymentOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("scenario: tens of plugin kills")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var env []string
			opts := store.Options{}
			if backend == "postgres" {
				pg := testenv.NewPGServer(t)
				opts.URL = pg.CreateDB("storm")
				env = append(env, "DATABASE_URL="+opts.URL)
			}
			h, tok, invs := scenarioHost(t, 200, env...)
			if opts.URL == "" {
				opts.DataDir = h.dataDir
			}
			kills := crashStorm(t, h, "payment-manual", 30, func() *scenarioResult {
				return sendConfirmations(t, h, tok, invs, 8, 0, 90*time.Second)
			})
			t.Logf("payment-manual killed %d times", kills)
			if kills < 10 {
				t.Errorf("only %d kills happened during the run; the storm did not storm", kills)
			}
			st, err := store.Open(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			checkCreditedOnce(t, st, invs)
		})
	}
}

// crashStorm SIGKILLs the plugin up to kills times, each time it is running
// again, at random moments, while load runs; it reports load's result and
// returns how many kills happened.
func crashStorm(t *testing.T, h *host, plugin string, kills int, load func() *scenarioResult) int {
	t.Helper()
	var done atomic.Int32
	stop := make(chan struct{})
	var killer sync.WaitGroup
	killer.Go(func() {
		last := 0
		for int(done.Load()) < kills {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(20+rand.IntN(120)) * time.Millisecond):
			}
			pid := h.pluginPID(plugin)
			if pid == 0 || pid == last {
				continue // restarting: wait for the new process
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				last = pid
				done.Add(1)
			}
		}
	})
	res := load()
	close(stop)
	killer.Wait()
	res.report(t)
	return int(done.Load())
}

// TestPostgresRestartCreditsEveryPaymentOnce: the host on a PostgreSQL of
// the test's own, restarted four times (twice "fast", which closes sessions
// with 57P01, twice "immediate", a crash) while 200 confirmations arrive.
// No answer is a 500; every invoice ends paid, once, and was paid when its
// confirmation got a 2xx.
func TestPostgresRestartCreditsEveryPaymentOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("scenario: database restarts")
	}
	pg := testenv.NewPGServer(t)
	dbURL := pg.CreateDB("scenario")
	h, tok, invs := scenarioHost(t, 200, "DATABASE_URL="+dbURL)
	stop := make(chan struct{})
	var restarter sync.WaitGroup
	var restarts atomic.Int32
	restarter.Go(func() {
		for _, mode := range []string{"fast", "immediate", "fast", "immediate"} {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(200+rand.IntN(300)) * time.Millisecond):
			}
			pg.Restart(mode)
			restarts.Add(1)
		}
	})
	res := sendConfirmations(t, h, tok, invs, 8, 300*time.Millisecond, 90*time.Second)
	close(stop)
	restarter.Wait()
	t.Logf("PostgreSQL restarted %d times", restarts.Load())
	if restarts.Load() < 4 {
		t.Errorf("only %d restarts happened during the run", restarts.Load())
	}
	res.report(t)
	st, err := store.Open(context.Background(), store.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkCreditedOnce(t, st, invs)
}
