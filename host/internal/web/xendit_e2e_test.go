package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// miniXendit is the part of Xendit's Invoices API the bundled
// payment-xendit plugin uses, on 127.0.0.1: create, get by id, list by
// external_id; Basic auth with the secret key.
type miniXendit struct {
	srv      *httptest.Server
	mu       sync.Mutex
	invoices map[string]map[string]any
}

const (
	xenditKey   = "xnd_development_e2e0123456789abcdef"
	xenditToken = "cbtoken_e2e_0123456789"
)

func newMiniXendit(t *testing.T) *miniXendit {
	x := &miniXendit{invoices: map[string]map[string]any{}}
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /v2/invoices", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		x.mu.Lock()
		defer x.mu.Unlock()
		id := "inv_" + time.Now().Format("150405.000000")
		now := time.Now().UTC().Format(time.RFC3339Nano)
		inv := map[string]any{"id": id, "external_id": in["external_id"], "status": "PENDING", "amount": in["amount"], "currency": in["currency"],
			"invoice_url": "https://checkout-staging.xendit.co/web/" + id, "created": now, "updated": now}
		x.invoices[id] = inv
		answer(w, http.StatusOK, inv)
	})
	mux.HandleFunc("GET /v2/invoices/{id}", func(w http.ResponseWriter, r *http.Request) {
		x.mu.Lock()
		defer x.mu.Unlock()
		if inv, ok := x.invoices[r.PathValue("id")]; ok {
			answer(w, http.StatusOK, inv)
			return
		}
		answer(w, http.StatusNotFound, map[string]string{"error_code": "INVOICE_NOT_FOUND_ERROR", "message": "not found"})
	})
	mux.HandleFunc("GET /v2/invoices", func(w http.ResponseWriter, r *http.Request) {
		x.mu.Lock()
		defer x.mu.Unlock()
		out := []map[string]any{}
		for _, inv := range x.invoices {
			if inv["external_id"] == r.URL.Query().Get("external_id") {
				out = append(out, inv)
			}
		}
		answer(w, http.StatusOK, out)
	})
	x.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, _, ok := r.BasicAuth(); !ok || user != xenditKey {
			answer(w, http.StatusUnauthorized, map[string]string{"error_code": "INVALID_API_KEY", "message": "invalid key"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(x.srv.Close)
	return x
}

// pay marks an invoice paid and returns the callback Xendit sends.
func (x *miniXendit) pay(id string) []byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	inv := x.invoices[id]
	inv["status"], inv["paid_at"], inv["payment_channel"] = "PAID", time.Now().UTC().Format(time.RFC3339Nano), "QRIS"
	body, _ := json.Marshal(inv)
	return body
}

// TestXenditPaysAnInvoiceThroughTheHost pays an invoice through the
// bundled payment-xendit plugin, launched and supervised by the host's
// plugin manager, against a fake Xendit: the host creates the invoice at
// Xendit, routes Xendit's callback to the plugin, which confirms it with
// Xendit's status query, and credits the invoice once however often the
// callback comes; a callback without the token credits nothing.
func TestXenditPaysAnInvoiceThroughTheHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds payment-xendit; skipped with -short")
	}
	x := newMiniXendit(t)
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-xendit")
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		settings, _ := json.Marshal(map[string]any{"secret_key": xenditKey, "callback_token": xenditToken, "base_url": x.srv.URL})
		mgr := startPlugins(t, st, d.Dir, settings, nil)
		bill, inv := newTestBilling(t, st, billing.FromManager(mgr))
		start, err := bill.StartPayment(ctx, inv.ID, "payment-xendit", "", "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if start.Payment.OrderID != inv.Number || start.Payment.CheckoutURL == "" {
			t.Fatalf("payment %+v; want a Xendit invoice for %s with a checkout URL", start.Payment, inv.Number)
		}
		srv := httptest.NewServer(New(Deps{Config: config.DefaultConfig(), Metrics: metrics.New(), DB: st, Billing: bill}).Handler())
		t.Cleanup(srv.Close)

		body := x.pay(start.Payment.ID)
		post := func(token string) int {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/payment-xendit", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("X-Callback-Token", token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.StatusCode
		}
		credits := func() (string, int) { return invoiceCredits(t, st, inv.ID) }
		if code := post(""); code != http.StatusUnauthorized {
			t.Errorf("a callback without the token: %d, want 401", code)
		}
		if code := post("cbtoken_someone-else-000"); code != http.StatusUnauthorized {
			t.Errorf("a callback with another token: %d, want 401", code)
		}
		if status, n := credits(); status != store.InvoiceUnpaid || n != 0 {
			t.Fatalf("after refused callbacks: invoice %s with %d credits, want unpaid", status, n)
		}
		for i := range 3 {
			if code := post(xenditToken); code != http.StatusOK {
				t.Fatalf("callback %d: %d, want 200", i+1, code)
			}
		}
		if status, n := credits(); status != store.InvoicePaid || n != 1 {
			t.Errorf("invoice %s with %d credits, want paid once", status, n)
		}
	})
}

// TestXenditWaitsForItsKeys: like the other gateways, the bundled
// payment-xendit plugin is not started until its secret key and callback
// token are saved (it was started without them, degraded, refusing every
// payment); settings with the key and not the token are refused, naming
// the token.
func TestXenditWaitsForItsKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds payment-xendit; skipped with -short")
	}
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-xendit")
	mgr := startPlugins(t, storetest.SQLite(t), d.Dir, nil, nil)
	p, ok := mgr.Plugin("payment-xendit")
	if !ok {
		t.Fatal("payment-xendit not found")
	}
	st := p.Status()
	if !p.NotConfigured() || st.PID != 0 {
		t.Fatalf("payment-xendit without settings: %s (pid %d), want not configured, with no process", st.State, st.PID)
	}
	for _, key := range []string{"secret_key", "callback_token", "PUT /api/v1/plugin-settings/payment-xendit"} {
		if !strings.Contains(st.Message, key) {
			t.Errorf("payment-xendit's message %q does not name %s", st.Message, key)
		}
	}
	err := p.Manifest().ValidateSettings(json.RawMessage(`{"secret_key": "` + xenditKey + `"}`))
	if err == nil || !strings.Contains(err.Error(), "callback_token") {
		t.Errorf("a key without the token: %v, want refused naming callback_token", err)
	}
	if err := p.Manifest().ValidateSettings(json.RawMessage(`{"secret_key": "` + xenditKey + `", "callback_token": "` + xenditToken + `"}`)); err != nil {
		t.Errorf("the key and the token: %v, want accepted", err)
	}
}
