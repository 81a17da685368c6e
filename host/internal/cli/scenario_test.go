package cli

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// scenarioHost starts a host with payment-manual, saves its confirm secret,
// and makes n invoices with a payment started for each.
func scenarioHost(t *testing.T, n int, env ...string) (*host, string, []paidInvoice) {
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
	invs := make([]paidInvoice, n)
	for i := range invs {
		var cust struct {
			ID int64 `json:"id"`
		}
		login := fmt.Sprintf("cust%04d", i)
		mustCreate("/api/v1/customers", map[string]any{"name": fmt.Sprintf("Customer %d", i), "router_username": login,
			"router_password": "rahasia-123", "location_id": loc.ID}, &cust)
		var inv store.Invoice
		mustCreate("/api/v1/invoices", map[string]any{"customer_id": cust.ID, "plan_id": plan.ID}, &inv)
		var started payStarted
		if code, raw := h.api(http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv.ID), tok, map[string]any{"gateway": "payment-manual"}, &started); code != http.StatusOK {
			t.Fatalf("pay invoice %d: %d %s", inv.ID, code, raw)
		}
		body := fmt.Appendf(nil, `{"event_id":"evt-%d","payment_id":%q,"amount":150000,"currency":"IDR","confirmed_by":"cashier"}`, i, started.Payment.ID)
		invs[i] = paidInvoice{id: inv.ID, number: inv.Number, customer: login, body: body}
	}
	return h, tok, invs
}

// sendConfirmations plays the gateway (gatewayLoad) against the host:
// payment-manual's signed confirmations, the invoice read through the API
// (which may answer 503 while the database restarts).
func sendConfirmations(t *testing.T, h *host, tok string, invs []paidInvoice, senders int, pace, deadline time.Duration) *gatewayResult {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	load := gatewayLoad{senders: senders, pace: pace, deadline: time.Now().Add(deadline)}
	load.post = func(inv paidInvoice) (int, []byte, error) {
		mac := hmac.New(sha256.New, []byte(scenarioSecret))
		mac.Write(inv.body)
		return sendWebhook(client, "http://"+h.addr+"/webhooks/payment-manual", inv.body, "X-Mikrobill-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	load.paid = func(inv paidInvoice) (bool, bool) {
		var got struct {
			Invoice store.Invoice `json:"invoice"`
		}
		for range 50 {
			if code, _ := h.api(http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", inv.id), tok, nil, &got); code == http.StatusOK {
				return got.Invoice.Status == store.InvoicePaid, true
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("invoice %s could not be read", inv.number)
		return false, false
	}
	return load.run(invs)
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
			kills := crashStorm(t, h, "payment-manual", 30, func() *gatewayResult {
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
func crashStorm(t *testing.T, h *host, plugin string, kills int, load func() *gatewayResult) int {
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
	res.check(t)
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
	res.check(t)
	st, err := store.Open(context.Background(), store.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkCreditedOnce(t, st, invs)
}
