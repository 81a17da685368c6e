package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// api sends a JSON request with a bearer token and decodes the answer into
// out (when not nil). It returns the status and the raw body.
func (h *host) api(method, path, token string, body, out any) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+h.addr+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: not JSON (%v): %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, raw
}

// adminToken creates an admin user in the host's database with the CLI and
// returns an API token of it.
func (h *host) adminToken() string {
	h.t.Helper()
	env := append([]string{"MIKROBILL_DATA_DIR=" + h.dataDir}, h.env...)
	if err, _, stderr := runIn(h.t, env, "correct horse battery\n", "user", "create", "--username", "admin", "--role", "admin", "--password-stdin"); err != nil {
		h.t.Fatalf("user create: %v %s", err, stderr)
	}
	err, stdout, stderr := runIn(h.t, env, "", "user", "token", "--username", "admin")
	if err != nil {
		h.t.Fatalf("user token: %v %s", err, stderr)
	}
	return strings.TrimSpace(stdout)
}

// TestWebhookThroughTheHost runs the billing flow over HTTP against the
// real payment-manual plugin: its confirm_secret is saved through the API
// (and reaches the running plugin), an invoice is paid with it, and the
// signed confirmation posted to /webhooks/payment-manual 100 times in a
// row, then 20 times at once, credits the invoice once.
func TestWebhookThroughTheHost(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	h := startHost(t, d.Dir)
	tok := h.adminToken()
	const secret = "confirm-secret-0123456789"

	// Settings the schema refuses are not saved; good ones reach the
	// running plugin at once.
	if code, body := h.api(http.MethodPut, "/api/v1/plugin-settings/payment-manual", tok, map[string]any{"confirm_secret": "short"}, nil); code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "confirm_secret") {
		t.Errorf("short confirm_secret: %d %s", code, body)
	}
	var saved struct {
		Settings map[string]any `json:"settings"`
	}
	if code, body := h.api(http.MethodPut, "/api/v1/plugin-settings/payment-manual", tok, map[string]any{"confirm_secret": secret, "currencies": []string{"IDR"}}, &saved); code != http.StatusOK || saved.Settings["confirm_secret"] != "<redacted>" {
		t.Fatalf("save settings: %d %s", code, body)
	}

	started := h.manualInvoice(tok)
	inv := started.Invoice
	if started.Payment.ID == "" || started.Payment.Amount != 150000 || started.Payment.Status != "pending" || started.Payment.Instructions == "" {
		t.Fatalf("pay answered %+v", started.Payment)
	}

	// The customer's pay link shows the invoice and how to pay it; a link
	// with a wrong digest shows nothing.
	link, err := url.Parse(started.Invoice.PaymentURL)
	if err != nil || link.Query().Get("k") == "" {
		t.Fatalf("payment_url %q: %v; want a pay link with its digest", started.Invoice.PaymentURL, err)
	}
	payPage := func(pathQuery string) (int, string, http.Header) {
		resp, err := http.Get("http://" + h.addr + pathQuery)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), resp.Header
	}
	code, page, hdr := payPage(link.RequestURI())
	if code != http.StatusOK || !strings.Contains(page, started.Invoice.Number) || !strings.Contains(page, "IDR\u00a0150,000") ||
		!strings.Contains(page, ">unpaid<") || !strings.Contains(page, "Home 10M") || !strings.Contains(page, html.EscapeString(started.Payment.Instructions)) {
		t.Errorf("pay page before payment: %d\n%s", code, page)
	}
	if style := between(page, "<style>", "</style>"); style == "" || !strings.Contains(hdr.Get("Content-Security-Policy"), "'sha256-"+sha256B64(style)+"'") {
		t.Errorf("pay page CSP %q does not allow its own style", hdr.Get("Content-Security-Policy"))
	}
	if code, page, _ := payPage(link.Path + "?k=AAAA" + link.Query().Get("k")[4:]); code != http.StatusNotFound || strings.Contains(page, "150,000") {
		t.Errorf("pay page with a wrong digest: %d\n%s", code, page)
	}

	body := []byte(fmt.Sprintf(`{"event_id":"evt-1","payment_id":%q,"amount":150000,"currency":"IDR","confirmed_by":"cashier"}`, started.Payment.ID))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	post := func(signature string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr+"/webhooks/payment-manual", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Mikrobill-Signature", signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}

	// A forged signature is refused and changes nothing.
	if code, raw := post("sha256=" + strings.Repeat("0", 64)); code != http.StatusUnauthorized && code != http.StatusBadRequest {
		t.Errorf("forged signature: %d %s; want 401 or 400", code, raw)
	}
	for i := range 100 {
		if code, raw := post(sig); code != http.StatusOK {
			t.Fatalf("confirmation %d: %d %s", i+1, code, raw)
		}
	}
	var wg sync.WaitGroup
	codes := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			code, raw := post(sig)
			codes <- fmt.Sprintf("%d %s", code, raw)
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if !strings.HasPrefix(c, "200 ") {
			t.Errorf("concurrent confirmation: %s", c)
		}
	}

	var got struct {
		Invoice  store.Invoice   `json:"invoice"`
		Payments []store.Payment `json:"payments"`
	}
	if code, raw := h.api(http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", inv.ID), tok, nil, &got); code != http.StatusOK || got.Invoice.Status != store.InvoicePaid ||
		len(got.Payments) != 1 || got.Payments[0].Status != store.PaymentPaid {
		t.Fatalf("invoice after the confirmations: %d %s", code, raw)
	}
	if code, page, _ := payPage(link.RequestURI()); code != http.StatusOK || !strings.Contains(page, "Paid, thank you") {
		t.Errorf("pay page after payment: %d\n%s", code, page)
	}
	st, err := store.Open(context.Background(), store.Options{DataDir: h.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Q().InvoiceCredits(context.Background(), inv.ID); err != nil || n != 1 {
		t.Errorf("invoice credited %d times (%v), want once", n, err)
	}

	// Issue point 11a: a confirmation that reuses evt-1 for another
	// invoice's payment is refused (never 200 "already handled"), says
	// why, and pays nothing; the first invoice stays paid once.
	var inv2 store.Invoice
	if code, raw := h.api(http.MethodPost, "/api/v1/invoices", tok, map[string]any{"customer_id": inv.CustomerID, "plan_id": inv.PlanID}, &inv2); code != http.StatusCreated {
		t.Fatalf("second invoice: %d %s", code, raw)
	}
	var started2 payStarted
	if code, raw := h.api(http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv2.ID), tok, map[string]any{"gateway": "payment-manual"}, &started2); code != http.StatusOK {
		t.Fatalf("pay the second invoice: %d %s", code, raw)
	}
	body = []byte(fmt.Sprintf(`{"event_id":"evt-1","payment_id":%q,"amount":150000,"currency":"IDR","confirmed_by":"cashier"}`, started2.Payment.ID))
	mac = hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	code, raw := post("sha256=" + hex.EncodeToString(mac.Sum(nil)))
	if code != http.StatusConflict || !strings.Contains(raw, `"replay"`) || !strings.Contains(raw, started.Payment.ID) || !strings.Contains(raw, started2.Payment.ID) {
		t.Errorf("evt-1 reused for another payment: %d %s; want 409 replay naming both payments", code, raw)
	}
	if n, err := st.Q().InvoiceCredits(context.Background(), inv2.ID); err != nil || n != 0 {
		t.Errorf("the second invoice was credited %d times (%v), want never", n, err)
	}
	if got, err := st.Q().GetInvoice(context.Background(), inv2.ID); err != nil || got.Status != store.InvoiceUnpaid {
		t.Errorf("the second invoice is %+v (%v), want unpaid", got, err)
	}
	if n, err := st.Q().InvoiceCredits(context.Background(), inv.ID); err != nil || n != 1 {
		t.Errorf("the first invoice credited %d times (%v), want once", n, err)
	}

	var jobsBody struct {
		Items []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	h.api(http.MethodGet, "/api/v1/jobs?kind=provision&state=all&limit=100", tok, nil, &jobsBody)
	if len(jobsBody.Items) != 1 {
		t.Errorf("provision jobs: %d, want 1", len(jobsBody.Items))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var audit struct {
			Items []struct {
				Action     string `json:"action"`
				ResourceID string `json:"resource_id"`
			} `json:"items"`
		}
		h.api(http.MethodGet, "/api/v1/audit?limit=100", tok, nil, &audit)
		paid := 0
		for _, e := range audit.Items {
			if e.Action == "invoice.paid" && e.ResourceID == inv.Number {
				paid++
			}
		}
		if paid == 1 {
			break
		}
		if paid > 1 || time.Now().After(deadline) {
			t.Fatalf("invoice.paid audit events for %s: %d, want 1", inv.Number, paid)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestManualConfirmThroughPluginRoute: an operator confirms a cash payment
// on payment-manual's own route (/plugins/payment-manual/...); the
// plugin's payment.confirmed event makes the host confirm it with the
// plugin and credit the invoice, once.
func TestManualConfirmThroughPluginRoute(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	h := startHost(t, d.Dir)
	tok := h.adminToken()
	started := h.manualInvoice(tok)
	inv, paymentID := started.Invoice, started.Payment.ID

	var confirmed struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	for range 2 {
		if code, raw := h.api(http.MethodPost, "/plugins/payment-manual/payments/"+paymentID+"/confirm", tok, nil, &confirmed); code != http.StatusOK || confirmed.Status != "paid" {
			t.Fatalf("confirm on the plugin's route: %d %s", code, raw)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got struct {
			Invoice store.Invoice `json:"invoice"`
		}
		h.api(http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", inv.ID), tok, nil, &got)
		if got.Invoice.Status == store.InvoicePaid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("invoice %s is %s 30s after the confirmation, want paid", inv.Number, got.Invoice.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := store.Open(context.Background(), store.Options{DataDir: h.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Q().InvoiceCredits(context.Background(), inv.ID); err != nil || n != 1 {
		t.Errorf("invoice credited %d times (%v), want once", n, err)
	}
}

// payStarted is the answer of POST /api/v1/invoices/{id}/pay.
type payStarted struct {
	Invoice store.Invoice `json:"invoice"`
	Payment struct {
		ID           string `json:"id"`
		Amount       int64  `json:"amount"`
		Currency     string `json:"currency"`
		Status       string `json:"status"`
		Instructions string `json:"instructions"`
	} `json:"payment"`
}

// manualInvoice creates a location, plan, customer and invoice through the
// API and starts paying it with payment-manual.
func (h *host) manualInvoice(tok string) payStarted {
	h.t.Helper()
	return h.payNewInvoice(tok, "payment-manual")
}

// payNewInvoice makes a location, a plan of IDR 150,000, a customer and an
// invoice, and starts paying it through gateway.
func (h *host) payNewInvoice(tok, gateway string) payStarted {
	h.t.Helper()
	var loc, plan, cust struct {
		ID int64 `json:"id"`
	}
	mustCreate := func(path string, body, out any) {
		h.t.Helper()
		if code, raw := h.api(http.MethodPost, path, tok, body, out); code != http.StatusCreated {
			h.t.Fatalf("POST %s: %d %s", path, code, raw)
		}
	}
	mustCreate("/api/v1/locations", map[string]any{"name": "main", "plugin": "mikrotik"}, &loc)
	mustCreate("/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M", "shared_users": 1,
		"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true}, &plan)
	mustCreate("/api/v1/customers", map[string]any{"name": "Budi", "phone": "+6281234567890", "router_username": "budi",
		"router_password": "rahasia-123", "location_id": loc.ID}, &cust)
	var inv store.Invoice
	mustCreate("/api/v1/invoices", map[string]any{"customer_id": cust.ID, "plan_id": plan.ID}, &inv)
	var started payStarted
	if code, raw := h.api(http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv.ID), tok, map[string]any{"gateway": gateway}, &started); code != http.StatusOK || started.Payment.ID == "" {
		h.t.Fatalf("pay: %d %s", code, raw)
	}
	return started
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	in, _, _ := strings.Cut(rest, to)
	return in
}

func sha256B64(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestGatewayStartsOnceItsSettingsAreSaved: a gateway installed without its
// keys does not run and says which settings are missing and how to give
// them; saving them through the API starts it, with no host restart.
func TestGatewayStartsOnceItsSettingsAreSaved(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-tripay")
	h := startHost(t, d.Dir)
	tok := h.adminToken()
	state := func() (string, string) {
		t.Helper()
		var st struct {
			Plugins []struct {
				Name          string `json:"name"`
				State         string `json:"state"`
				Message       string `json:"message"`
				NotConfigured bool   `json:"not_configured"`
				LastError     string `json:"last_error"`
			} `json:"plugins"`
		}
		h.getJSON("/health/detailed", &st)
		for _, p := range st.Plugins {
			if p.Name == "payment-tripay" {
				if p.NotConfigured {
					return "not configured", p.Message
				}
				return p.State, p.LastError
			}
		}
		t.Fatalf("payment-tripay is not listed: %+v", st)
		return "", ""
	}
	st, why := state()
	if st != "not configured" || !strings.Contains(why, "api_key") || !strings.Contains(why, "PUT /api/v1/plugin-settings/payment-tripay") {
		t.Fatalf("unconfigured gateway: state %q, message %q; want not configured, naming the missing keys and how to save them", st, why)
	}
	settings := map[string]any{"api_key": "DEV-key", "private_key": "private-key-123", "merchant_code": "T0001", "base_url": "http://127.0.0.1:9/"}
	if code, body := h.api(http.MethodPut, "/api/v1/plugin-settings/payment-tripay", tok, settings, nil); code != http.StatusOK {
		t.Fatalf("save settings: %d %s", code, body)
	}
	if st, why := state(); st != "running" {
		t.Fatalf("after its settings were saved the gateway is %q (%s); want running", st, why)
	}
}
