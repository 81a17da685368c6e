package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// env is the gateway served over the SDK's harness, pointed at a fake
// Stripe, with its log captured at every level.
type env struct {
	fake *fakeStripe
	g    *gateway.Gateway[settings]
	h    *sdktest.Harness
	gw   payment.Gateway
	log  *sdktest.Buffer
	// now is the gateway's clock: the real time, because the fake's
	// sessions and the stripe-go client use it, moved by Advance.
	now *sdktest.Clock
}

func serveUnconfigured(t *testing.T) *env {
	t.Helper()
	logger, logs := sdktest.Logger(t)
	e := &env{fake: newFakeStripe(t), g: NewGateway(), log: logs, now: &sdktest.Clock{}}
	e.g.SetClock(e.now.Now)
	e.h = sdktest.Serve(t, e.g.Plugin(), sdktest.WithLogger(logger))
	e.gw = e.h.Payment()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("plugin log:\n%s", e.log.String())
		}
	})
	return e
}

// serve serves a gateway configured with the fake's settings changed by
// edit (nil: as they are).
func serve(t *testing.T, edit func(map[string]any)) *env {
	t.Helper()
	e := serveUnconfigured(t)
	s := e.fake.settings()
	if edit != nil {
		edit(s)
	}
	if _, err := e.h.Configure(context.Background(), s); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return e
}

var orderSeq struct {
	sync.Mutex
	n int
}

func newOrder() string {
	orderSeq.Lock()
	defer orderSeq.Unlock()
	orderSeq.n++
	return "INV-2026-" + strconv.Itoa(1000+orderSeq.n)
}

func createRequest(orderID string, amount payment.Money) *payment.CreatePaymentRequest {
	return &payment.CreatePaymentRequest{
		OrderID:        orderID,
		Amount:         amount,
		Description:    "Hotspot 30 days",
		Customer:       payment.Customer{Name: "Budi", Email: "budi@example.net"},
		ReturnURL:      "https://billing.example.net/pay/" + orderID,
		IdempotencyKey: orderID + "-payment-stripe-1",
		Metadata:       map[string]string{"invoice_id": "42"},
	}
}

var rp150k = payment.Money{Amount: 150000, Currency: "IDR"}

func (e *env) create(t *testing.T, req *payment.CreatePaymentRequest) payment.Payment {
	t.Helper()
	resp, err := e.gw.CreatePayment(context.Background(), req)
	if err != nil {
		t.Fatalf("CreatePayment(%s): %v", req.OrderID, err)
	}
	return resp.Payment
}

func (e *env) get(t *testing.T, id string) payment.Payment {
	t.Helper()
	resp, err := e.gw.GetPayment(context.Background(), &payment.GetPaymentRequest{ID: id})
	if err != nil {
		t.Fatalf("GetPayment(%s): %v", id, err)
	}
	return resp.Payment
}

func (e *env) webhook(body []byte, signature string) (*payment.WebhookResponse, error) {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "User-Agent": {"Stripe/1.0 (+https://stripe.com/docs/webhooks)"}}
	if signature != "" {
		h.Set(SignatureHeader, signature)
	}
	return e.gw.HandleWebhook(context.Background(), &payment.WebhookRequest{Request: sdk.HTTPRequest{
		Method: http.MethodPost, Path: "/webhooks/payment-stripe", Header: h, Body: body, ReceivedAt: time.Now(),
	}})
}

// signed sends body signed now with the test secret.
func (e *env) signed(body []byte) (*payment.WebhookResponse, error) {
	return e.webhook(body, sign(body, time.Now(), testSecret))
}

func TestManifestMatchesConstants(t *testing.T) {
	raw, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name, Version, Kind, Executable string
		Required                        bool
		ConfigSchema                    struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		} `json:"config_schema"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != Name || m.Version != Version || m.Kind != sdk.KindPayment || m.Executable != "mikrobill-plugin-"+Name || m.Required {
		t.Errorf("plugin.json says %s %s %s %s required=%v; the code says %s %s", m.Name, m.Version, m.Kind, m.Executable, m.Required, Name, Version)
	}
	// Every setting the code takes is in the schema, and the other way round.
	var fields map[string]any
	b, _ := json.Marshal(settings{MaxNetworkRetries: new(int)})
	_ = json.Unmarshal(b, &fields)
	for f := range fields {
		if _, ok := m.ConfigSchema.Properties[f]; !ok {
			t.Errorf("setting %q is not in config_schema", f)
		}
	}
	for f := range m.ConfigSchema.Properties {
		if _, ok := fields[f]; !ok {
			t.Errorf("config_schema has %q, which the plugin does not take", f)
		}
	}
}

func TestDescribe(t *testing.T) {
	e := serveUnconfigured(t)
	d, err := e.h.Plugin().Describe(context.Background(), &sdk.DescribeRequest{HostVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || d.Version != Version || d.Kind != sdk.KindPayment {
		t.Errorf("Describe = %+v", d)
	}
	if !strings.Contains(strings.Join(d.Capabilities, ","), payment.CapabilityRefund) {
		t.Errorf("capabilities %v lack %q", d.Capabilities, payment.CapabilityRefund)
	}
}

func TestConfigure(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"secret_key": testKey, "webhook_secrets": []string{testSecret}}
	}
	with := func(k string, v any) map[string]any {
		s := base()
		if v == nil {
			delete(s, k)
		} else {
			s[k] = v
		}
		return s
	}
	valid := []struct {
		name     string
		settings map[string]any
	}{
		{"minimal", base()},
		{"explicit test mode", with("mode", "test")},
		{"restricted key", with("secret_key", "rk_test_51FakeRestricted0123456789")},
		{"two secrets while rotating", with("webhook_secrets", []string{testSecret, testSecret2})},
		{"https proxy", with("api_base_url", "https://stripe-proxy.example.net/")},
		{"base URL with stripe-go's own /v1", with("api_base_url", "https://stripe-proxy.example.net/v1")},
		{"loopback http", with("api_base_url", "http://127.0.0.1:12111")},
		{"currencies", with("currencies", []string{"IDR", "USD"})},
		{"no retries", with("max_network_retries", 0)},
	}
	for _, tc := range valid {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			e := serveUnconfigured(t)
			if _, err := e.h.Configure(context.Background(), tc.settings); err != nil {
				t.Fatalf("Configure: %v", err)
			}
		})
	}
	invalid := []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{"empty", map[string]any{}, "secret_key is required"},
		{"no key", with("secret_key", nil), "secret_key is required"},
		{"publishable key", with("secret_key", "pk_test_51FakePublishable0123456789"), "publishable key"},
		{"not a key", with("secret_key", "hunter2-hunter2-hunter2"), "not a Stripe secret key"},
		{"live key in test mode", map[string]any{"secret_key": "sk_live_51FakeLiveKey0123456789", "webhook_secrets": []string{testSecret}, "mode": "test"}, "live key"},
		{"unknown mode", with("mode", "sandbox"), "mode must be"},
		{"no webhook secrets", with("webhook_secrets", nil), "webhook_secrets needs at least one"},
		{"empty webhook secrets", with("webhook_secrets", []string{}), "webhook_secrets needs at least one"},
		{"bad webhook secret", with("webhook_secrets", []string{"not-a-secret-at-all-0123"}), "webhook_secrets[0]"},
		{"repeated webhook secret", with("webhook_secrets", []string{testSecret, testSecret}), "repeats"},
		{"http on the internet", with("api_base_url", "http://api.stripe.com"), "must use https"},
		{"relative base URL", with("api_base_url", "/v1"), "absolute URL"},
		{"base URL with credentials", with("api_base_url", "https://user:pw@proxy.example.net"), "credentials"},
		{"base URL with a path prefix", with("api_base_url", "https://proxy.example.net/stripe"), `api_base_url must not have a path (it has "/stripe")`},
		{"base URL with a path prefix before /v1", with("api_base_url", "http://127.0.0.1:12111/stripe/v1/"), "api_base_url must not have a path"},
		{"lower-case currency", with("currencies", []string{"idr"}), "currencies[0]"},
		{"currency Stripe does not take", with("currencies", []string{"IQD"}), "Stripe does not take IQD"},
		{"a code that names no money", with("currencies", []string{"USD", "XTS"}), "currencies[1]: currency not supported by this gateway: XTS is not money"},
		{"timeout", with("timeout_seconds", 0), "timeout_seconds"},
		{"retries", with("max_network_retries", 9), "max_network_retries"},
		{"unknown field", with("server_key", "x"), "unknown field"},
		{"wrong type", with("webhook_secrets", testSecret), "webhook_secrets"},
	}
	for _, tc := range invalid {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			e := serveUnconfigured(t)
			_, err := e.h.Configure(context.Background(), tc.settings)
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Fatalf("Configure = %v, want sdk.ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			for _, secret := range []string{testKey, testSecret, "sk_live_51FakeLiveKey0123456789", "pk_test_51FakePublishable0123456789", "hunter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats a secret: %q", err)
				}
			}
		})
	}
	t.Run("mode follows the key", func(t *testing.T) {
		e := serveUnconfigured(t)
		if _, err := e.h.Configure(context.Background(), map[string]any{"secret_key": "sk_live_51FakeLiveKey0123456789", "webhook_secrets": []string{testSecret}}); err != nil {
			t.Fatal(err)
		}
		h, err := e.h.Plugin().CheckHealth(context.Background(), &sdk.CheckHealthRequest{})
		if err != nil || h.Details["mode"] != "live" {
			t.Errorf("CheckHealth = %+v, %v; want mode live", h, err)
		}
	})
	t.Run("test mode in production warns", func(t *testing.T) {
		e := serveUnconfigured(t)
		raw, _ := json.Marshal(base())
		resp, err := e.h.Plugin().Configure(context.Background(), &sdk.ConfigureRequest{Settings: raw, Environment: "production"})
		if err != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "test mode in production") {
			t.Errorf("Configure = %+v, %v", resp, err)
		}
	})
}

func TestUnconfigured(t *testing.T) {
	e := serveUnconfigured(t)
	ctx := context.Background()
	if _, err := e.gw.CreatePayment(ctx, createRequest(newOrder(), rp150k)); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("CreatePayment = %v, want sdk.ErrFailedPrecondition", err)
	}
	// Without the webhook secrets nothing can be verified (the SDK's rule
	// for every gateway).
	if _, err := e.webhook([]byte(`{}`), "t=1,v1=00"); !errors.Is(err, payment.ErrInvalidSignature) || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("HandleWebhook = %v, want payment.ErrInvalidSignature saying the plugin is not configured", err)
	}
	h, err := e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if err != nil || h.Status != sdk.HealthDegraded || !strings.Contains(h.Message, "not configured") {
		t.Errorf("CheckHealth = %+v, %v; want degraded, saying the plugin is not configured", h, err)
	}
}

func TestCreatePayment(t *testing.T) {
	e := serve(t, nil)
	order := newOrder()
	req := createRequest(order, rp150k)
	req.ExpiresAt = time.Now().Add(2 * time.Hour).Truncate(time.Second)
	req.Items = []payment.LineItem{{SKU: "plan-3", Name: "Hotspot 30 days", Quantity: 1, UnitPrice: rp150k}}
	p := e.create(t, req)

	if p.ID == "" || !strings.HasPrefix(p.ID, "cs_test_") {
		t.Fatalf("payment id %q is not a Checkout Session id", p.ID)
	}
	want := payment.Payment{
		ID: p.ID, OrderID: order, Status: payment.StatusPending, Amount: rp150k, Method: "card",
		CheckoutURL: "https://checkout.stripe.com/c/pay/" + p.ID, CreatedAt: p.CreatedAt, ExpiresAt: req.ExpiresAt.UTC(),
		GatewayStatus: "open/unpaid", Raw: p.Raw,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("payment (-want +got):\n%s", diff)
	}
	if !json.Valid(p.Raw) || !bytes.Contains(p.Raw, []byte(`"object":"checkout.session"`)) {
		t.Errorf("Raw is not the session: %s", p.Raw)
	}

	reqs := e.fake.received()
	if len(reqs) != 1 {
		t.Fatalf("the fake got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/v1/checkout/sessions" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
	if r.IdempotencyKey != req.IdempotencyKey {
		t.Errorf("Idempotency-Key = %q, want %q", r.IdempotencyKey, req.IdempotencyKey)
	}
	wantForm := map[string]string{
		"mode":                                          "payment",
		"line_items[0][price_data][currency]":           "idr",
		"line_items[0][price_data][unit_amount]":        "15000000", // Rp 150.000: IDR is two-decimal at Stripe
		"line_items[0][price_data][product_data][name]": "Hotspot 30 days",
		"line_items[0][quantity]":                       "1",
		"success_url":                                   req.ReturnURL,
		"cancel_url":                                    req.ReturnURL,
		"client_reference_id":                           order,
		"customer_email":                                "budi@example.net",
		"metadata[order_id]":                            order,
		"metadata[invoice_id]":                          "42",
		"payment_intent_data[metadata][order_id]":       order,
		"payment_intent_data[description]":              "Hotspot 30 days",
		"expires_at":                                    strconv.FormatInt(req.ExpiresAt.Unix(), 10),
	}
	for k, v := range wantForm {
		if got := r.Form.Get(k); got != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}

	t.Run("same key gives the same session", func(t *testing.T) {
		again := e.create(t, req)
		if again.ID != p.ID {
			t.Errorf("second CreatePayment gave %s, first %s", again.ID, p.ID)
		}
		if n := e.fake.sessionCount(); n != 1 {
			t.Errorf("the fake holds %d sessions, want 1", n)
		}
	})
	t.Run("same key for another order is refused", func(t *testing.T) {
		other := createRequest(newOrder(), rp150k)
		other.IdempotencyKey = req.IdempotencyKey
		_, err := e.gw.CreatePayment(context.Background(), other)
		if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), order) {
			t.Errorf("CreatePayment = %v, want sdk.ErrInvalidArgument naming %s", err, order)
		}
	})
	t.Run("an e-mail address Stripe would refuse is left out", func(t *testing.T) {
		r := createRequest(newOrder(), rp150k)
		r.Customer.Email = "budi at home"
		e.create(t, r)
		reqs := e.fake.received()
		if last := reqs[len(reqs)-1]; last.Form.Has("customer_email") {
			t.Errorf("customer_email %q sent", last.Form.Get("customer_email"))
		}
	})
	t.Run("status", func(t *testing.T) {
		got := e.get(t, p.ID)
		if got.Status != payment.StatusPending || got.Amount != rp150k || got.OrderID != order {
			t.Errorf("GetPayment = %+v", got)
		}
	})
}

// The record may be missing (the host's database did not answer when it
// was written); Stripe's Idempotency-Key still gives the first session
// back.
func TestCreatePaymentIdempotentWithoutTheStore(t *testing.T) {
	e := serve(t, nil)
	req := createRequest(newOrder(), payment.Money{Amount: 2500, Currency: "USD"})
	req.ExpiresAt = time.Now().Add(72 * time.Hour) // beyond Stripe's 24 h: not sent
	first := e.create(t, req)
	// Both records: the SDK's of the outcome, the plugin's of the
	// parameters.
	for _, key := range []string{"idem:" + req.IdempotencyKey, idempotencyKVKey(req.IdempotencyKey)} {
		if found, err := e.h.Host.StoreDelete(context.Background(), key); err != nil || !found {
			t.Fatalf("StoreDelete(%s) = %v, %v; want the record deleted", key, found, err)
		}
	}
	second := e.create(t, req)
	if second.ID != first.ID || e.fake.sessionCount() != 1 {
		t.Errorf("got sessions %s and %s (%d at Stripe), want one", first.ID, second.ID, e.fake.sessionCount())
	}
	reqs := e.fake.received()
	if len(reqs) != 2 || reqs[1].IdempotencyKey != req.IdempotencyKey || reqs[0].Form.Encode() != reqs[1].Form.Encode() {
		t.Errorf("the retry did not repeat the first request with its key: %+v", reqs)
	}
}

// A retry after the clamped expiry moved still sends the first attempt's
// parameters, so Stripe's idempotency does not refuse it.
func TestCreatePaymentRetryKeepsParameters(t *testing.T) {
	e := serve(t, nil)
	req := createRequest(newOrder(), rp150k)
	req.ExpiresAt = time.Now().Add(10 * time.Minute) // clamped to 32 minutes from now
	e.fake.failNext(http.StatusBadGateway)
	if _, err := e.gw.CreatePayment(context.Background(), req); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("CreatePayment = %v, want sdk.ErrUnavailable", err)
	}
	e.now.Advance(3 * time.Minute)
	p := e.create(t, req)
	reqs := e.fake.received()
	if len(reqs) != 2 {
		t.Fatalf("the fake got %d requests, want 2 (a failed attempt, the retry)", len(reqs))
	}
	for _, r := range reqs {
		if r.IdempotencyKey != req.IdempotencyKey || r.Form.Get("expires_at") != reqs[0].Form.Get("expires_at") {
			t.Errorf("attempt sent key %q expires_at %q; the first sent %q %q", r.IdempotencyKey, r.Form.Get("expires_at"), req.IdempotencyKey, reqs[0].Form.Get("expires_at"))
		}
	}
	if p.Status != payment.StatusPending {
		t.Errorf("status %s", p.Status)
	}
}

// TestIdempotencySurvivesLosingTheCache: the idempotency record is in the
// host's durable store, so the host's cache losing everything (eviction, a
// Redis restart) between two CreatePayment calls with one key gives the
// first session back. Without the record the retry would send another
// expires_at (the clock has moved), which Stripe refuses under the same
// Idempotency-Key.
func TestIdempotencySurvivesLosingTheCache(t *testing.T) {
	e := serve(t, nil)
	req := createRequest(newOrder(), rp150k)
	req.ExpiresAt = time.Now().Add(10 * time.Minute) // clamped to 32 minutes from now: sent
	first := e.create(t, req)
	e.now.Advance(3 * time.Minute)
	e.h.Host.DropCache()
	resp, err := e.gw.CreatePayment(context.Background(), req)
	if err != nil {
		t.Fatalf("CreatePayment after the cache was lost: %v", err)
	}
	if resp.Payment.ID != first.ID || e.fake.sessionCount() != 1 {
		t.Errorf("got sessions %s and %s (%d at Stripe), want one", first.ID, resp.Payment.ID, e.fake.sessionCount())
	}
}

func TestCreatePaymentExpiry(t *testing.T) {
	e := serve(t, nil)
	now := time.Now()
	tests := []struct {
		name    string
		expires time.Time
		// want is the expires_at sent, relative to now; 0: none sent.
		want time.Duration
	}{
		{"none", time.Time{}, 0},
		{"in range", now.Add(3 * time.Hour), 3 * time.Hour},
		{"too soon: 30 minutes and a margin", now.Add(5 * time.Minute), minSessionLife + expiryMargin},
		{"beyond 24 hours: Stripe's default", now.Add(7 * 24 * time.Hour), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := createRequest(newOrder(), rp150k)
			req.ExpiresAt = tc.expires
			p := e.create(t, req)
			reqs := e.fake.received()
			sent := reqs[len(reqs)-1].Form.Get("expires_at")
			if tc.want == 0 {
				if sent != "" {
					t.Errorf("expires_at %s sent, want none", sent)
				}
				if d := time.Until(p.ExpiresAt); d < 23*time.Hour || d > 24*time.Hour {
					t.Errorf("session expires in %s, want Stripe's 24 h", d)
				}
				return
			}
			got, _ := strconv.ParseInt(sent, 10, 64)
			if d := time.Unix(got, 0).Sub(now.Add(tc.want)); d < -5*time.Second || d > 5*time.Second {
				t.Errorf("expires_at %s, want about now+%s", time.Unix(got, 0), tc.want)
			}
			if !p.ExpiresAt.Equal(time.Unix(got, 0)) {
				t.Errorf("payment ExpiresAt %s, session's %s", p.ExpiresAt, time.Unix(got, 0))
			}
		})
	}
	t.Run("past", func(t *testing.T) {
		req := createRequest(newOrder(), rp150k)
		req.ExpiresAt = now.Add(-time.Minute)
		if _, err := e.gw.CreatePayment(context.Background(), req); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("CreatePayment = %v, want sdk.ErrInvalidArgument", err)
		}
	})
}

func TestCreatePaymentRefusals(t *testing.T) {
	e := serve(t, func(s map[string]any) { s["currencies"] = []string{"IDR", "USD", "JPY", "KWD", "EUR"} })
	tests := []struct {
		name  string
		edit  func(*payment.CreatePaymentRequest)
		want  error
		words string
	}{
		{"zero amount", func(r *payment.CreatePaymentRequest) { r.Amount.Amount = 0 }, sdk.ErrInvalidArgument, "amount must be positive"},
		{"no idempotency key", func(r *payment.CreatePaymentRequest) { r.IdempotencyKey = "" }, sdk.ErrInvalidArgument, "idempotency_key"},
		{"currency not in the settings", func(r *payment.CreatePaymentRequest) { r.Amount = payment.Money{Amount: 5000, Currency: "GBP"} }, payment.ErrUnsupportedCurrency, "GBP"},
		{"below Stripe's minimum", func(r *payment.CreatePaymentRequest) { r.Amount = payment.Money{Amount: 49, Currency: "USD"} }, sdk.ErrInvalidArgument, "at least 0.50 USD"},
		{"below the yen minimum", func(r *payment.CreatePaymentRequest) { r.Amount = payment.Money{Amount: 49, Currency: "JPY"} }, sdk.ErrInvalidArgument, "at least 50 JPY"},
		{"fils Stripe cannot charge", func(r *payment.CreatePaymentRequest) { r.Amount = payment.Money{Amount: 5124, Currency: "KWD"} }, sdk.ErrInvalidArgument, "steps of 0.010 KWD"},
		{"no return URL", func(r *payment.CreatePaymentRequest) { r.ReturnURL = "" }, sdk.ErrInvalidArgument, "return_url"},
		{"order id longer than Stripe takes", func(r *payment.CreatePaymentRequest) { r.OrderID = strings.Repeat("x", 201) }, sdk.ErrInvalidArgument, "200"},
		{"metadata key with brackets", func(r *payment.CreatePaymentRequest) { r.Metadata = map[string]string{"a[b]": "c"} }, sdk.ErrInvalidArgument, "metadata key"},
		{"items that do not add up", func(r *payment.CreatePaymentRequest) {
			r.Items = []payment.LineItem{{Name: "x", Quantity: 2, UnitPrice: rp150k}}
		}, sdk.ErrInvalidArgument, "add up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.fake.received())
			req := createRequest(newOrder(), rp150k)
			tc.edit(req)
			_, err := e.gw.CreatePayment(context.Background(), req)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("CreatePayment = %v, want %v saying %q", err, tc.want, tc.words)
			}
			if n := len(e.fake.received()); n != before {
				t.Errorf("Stripe was called for a request refused before")
			}
		})
	}
	t.Run("currency Stripe refuses", func(t *testing.T) {
		e := serve(t, nil)
		_, err := e.gw.CreatePayment(context.Background(), createRequest(newOrder(), payment.Money{Amount: 1000, Currency: "XXX"}))
		if !errors.Is(err, payment.ErrUnsupportedCurrency) {
			t.Errorf("CreatePayment = %v, want payment.ErrUnsupportedCurrency", err)
		}
	})
	t.Run("codes that name no money", func(t *testing.T) {
		e := serve(t, nil)
		for _, code := range []string{"XTS", "XAU", "XDR"} {
			_, err := e.gw.CreatePayment(context.Background(), createRequest(newOrder(), payment.Money{Amount: 1000, Currency: code}))
			if !errors.Is(err, payment.ErrUnsupportedCurrency) || !strings.Contains(err.Error(), code+" is not money") {
				t.Errorf("CreatePayment in %s = %v, want payment.ErrUnsupportedCurrency saying it is not money", code, err)
			}
		}
		if len(e.fake.received()) != 0 {
			t.Errorf("Stripe was called")
		}
	})
	// CLDR counts these in other digits than payment.Money; Stripe takes
	// them two-decimal, as payment.Money does.
	t.Run("currencies CLDR counts otherwise", func(t *testing.T) {
		e := serve(t, nil)
		for _, m := range []payment.Money{{Amount: 500000, Currency: "COP"}, {Amount: 50000, Currency: "PKR"}} {
			p := e.create(t, createRequest(newOrder(), m))
			if p.Amount != m {
				t.Errorf("CreatePayment(%s) = %s", m, p.Amount)
			}
		}
	})
	t.Run("currency without a known Stripe exponent", func(t *testing.T) {
		e := serve(t, nil)
		_, err := e.gw.CreatePayment(context.Background(), createRequest(newOrder(), payment.Money{Amount: 100000, Currency: "IQD"}))
		if !errors.Is(err, payment.ErrUnsupportedCurrency) {
			t.Errorf("CreatePayment = %v, want payment.ErrUnsupportedCurrency", err)
		}
	})
}

func TestStripeErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   error
	}{
		{"server error", http.StatusInternalServerError, sdk.ErrUnavailable},
		{"rate limited", http.StatusTooManyRequests, sdk.ErrRateLimited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := serve(t, func(s map[string]any) { s["max_network_retries"] = 0 })
			e.fake.failNext(tc.status)
			_, err := e.gw.CreatePayment(context.Background(), createRequest(newOrder(), rp150k))
			if !errors.Is(err, tc.want) {
				t.Errorf("CreatePayment = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("a Stripe error is not retried", func(t *testing.T) {
		e := serve(t, nil)
		e.fake.failNext(http.StatusInternalServerError)
		if _, err := e.gw.CreatePayment(context.Background(), createRequest(newOrder(), rp150k)); !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("CreatePayment = %v", err)
		}
		if n := len(e.fake.received()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("no answer: retried once with the same key", func(t *testing.T) {
		e := serve(t, nil)
		e.fake.failNext(dropConnection)
		req := createRequest(newOrder(), rp150k)
		p := e.create(t, req)
		reqs := e.fake.received()
		if len(reqs) != 2 || reqs[0].IdempotencyKey != req.IdempotencyKey || reqs[1].IdempotencyKey != req.IdempotencyKey {
			t.Fatalf("requests %+v, want two with key %s", reqs, req.IdempotencyKey)
		}
		if e.fake.sessionCount() != 1 || p.ID == "" {
			t.Errorf("%d sessions", e.fake.sessionCount())
		}
	})
	t.Run("retries are bounded", func(t *testing.T) {
		e := serve(t, func(s map[string]any) { s["max_network_retries"] = 1 })
		e.fake.failNext(dropConnection, dropConnection, dropConnection, dropConnection)
		if _, err := e.gw.CreatePayment(context.Background(), createRequest(newOrder(), rp150k)); !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("CreatePayment = %v", err)
		}
		if n := len(e.fake.received()); n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		e := serve(t, nil)
		e.fake.setKey("sk_test_51SomeOtherAccountKey0000000000")
		_, err := e.gw.CreatePayment(context.Background(), createRequest(newOrder(), rp150k))
		if !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), "check secret_key") {
			t.Errorf("CreatePayment = %v, want sdk.ErrFailedPrecondition saying to check secret_key", err)
		}
		h, err := e.h.Plugin().CheckHealth(context.Background(), &sdk.CheckHealthRequest{})
		if err != nil || h.Status != sdk.HealthDegraded || !strings.Contains(h.Message, "check secret_key") {
			t.Errorf("CheckHealth = %+v, %v; want degraded, saying to check secret_key", h, err)
		}
		if strings.Contains(e.log.String(), testKey) {
			t.Errorf("the log holds the secret key")
		}
		// New settings: the old key's failure no longer counts.
		e.fake.setKey(testKey)
		if _, err := e.h.Configure(context.Background(), e.fake.settings()); err != nil {
			t.Fatal(err)
		}
		if h, _ := e.h.Plugin().CheckHealth(context.Background(), &sdk.CheckHealthRequest{}); h.Status != sdk.HealthOK {
			t.Errorf("CheckHealth after Configure = %+v, want ok", h)
		}
	})
	t.Run("Stripe unreachable", func(t *testing.T) {
		e := serve(t, func(s map[string]any) { s["api_base_url"] = "http://127.0.0.1:1"; s["max_network_retries"] = 0 })
		_, err := e.gw.CreatePayment(context.Background(), createRequest(newOrder(), rp150k))
		if !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("CreatePayment = %v, want sdk.ErrUnavailable", err)
		}
		h, _ := e.h.Plugin().CheckHealth(context.Background(), &sdk.CheckHealthRequest{})
		if h.Status != sdk.HealthDegraded || !strings.Contains(h.Message, "Stripe did not answer") {
			t.Errorf("CheckHealth = %+v, want degraded, saying Stripe did not answer", h)
		}
	})
}

func TestTimeouts(t *testing.T) {
	t.Run("the caller's deadline", func(t *testing.T) {
		e := serve(t, nil)
		e.fake.setStall(10 * time.Second)
		defer e.fake.setStall(0)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.gw.CreatePayment(ctx, createRequest(newOrder(), rp150k))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("CreatePayment = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("CreatePayment took %s after a 200 ms deadline", d)
		}
		// The caller gave up; that says nothing about Stripe's health.
		if h, _ := e.h.Plugin().CheckHealth(context.Background(), &sdk.CheckHealthRequest{}); h.Status != sdk.HealthOK {
			t.Errorf("CheckHealth after the caller's deadline = %+v, want ok", h)
		}
	})
	t.Run("the caller cancels", func(t *testing.T) {
		e := serve(t, nil)
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setStall(10 * time.Second)
		defer e.fake.setStall(0)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(150*time.Millisecond, cancel)
		_, err := e.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: p.ID})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("GetPayment = %v, want context.Canceled", err)
		}
	})
	t.Run("the configured timeout", func(t *testing.T) {
		e := serve(t, func(s map[string]any) { s["timeout_seconds"] = 1; s["max_network_retries"] = 0 })
		e.fake.setStall(5 * time.Second)
		defer e.fake.setStall(0)
		start := time.Now()
		_, err := e.gw.CreatePayment(stallContext(t, 30*time.Second), createRequest(newOrder(), rp150k))
		if !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("CreatePayment = %v, want sdk.ErrUnavailable (Stripe slow), not the caller's deadline", err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("CreatePayment took %s with a 1 s timeout", d)
		}
	})
}

func TestGetPayment(t *testing.T) {
	e := serve(t, nil)
	mk := func() payment.Payment { return e.create(t, createRequest(newOrder(), rp150k)) }
	tests := []struct {
		name  string
		setup func(id string)
		want  payment.Status
		gw    string
	}{
		{"open", func(string) {}, payment.StatusPending, "open/unpaid"},
		{"paid", e.fake.setPaid, payment.StatusPaid, "complete/paid"},
		{"async processing", e.fake.setProcessing, payment.StatusPending, "complete/unpaid"},
		{"async failed", e.fake.setAsyncFailed, payment.StatusFailed, "complete/unpaid"},
		{"expired", e.fake.setExpired, payment.StatusExpired, "expired/unpaid"},
		{"refunded", func(id string) {
			e.fake.setPaid(id)
			e.fake.update(id, func(s *fakeSession) { s.AmountRefunded = s.Amount })
		}, payment.StatusRefunded, "complete/paid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mk()
			tc.setup(p.ID)
			got := e.get(t, p.ID)
			if got.Status != tc.want || got.GatewayStatus != tc.gw || got.Amount != rp150k || got.OrderID != p.OrderID {
				t.Errorf("GetPayment = %s %s %s %s, want %s %s %s %s", got.Status, got.GatewayStatus, got.Amount, got.OrderID, tc.want, tc.gw, rp150k, p.OrderID)
			}
			if tc.want == payment.StatusPaid && got.PaidAt.IsZero() {
				t.Errorf("a paid payment without PaidAt")
			}
			reqs := e.fake.received()
			if last := reqs[len(reqs)-1]; last.Method != http.MethodGet || !slices.Equal(listParam(last.Form, "expand"), []string{"payment_intent.latest_charge"}) {
				t.Errorf("GetPayment sent %s %s?%s", last.Method, last.Path, last.Form.Encode())
			}
		})
	}
	t.Run("by order id", func(t *testing.T) {
		p := mk()
		resp, err := e.gw.GetPayment(context.Background(), &payment.GetPaymentRequest{OrderID: p.OrderID})
		if err != nil || resp.Payment.ID != p.ID {
			t.Errorf("GetPayment(order %s) = %+v, %v; want %s", p.OrderID, resp, err, p.ID)
		}
	})
	t.Run("id of another order", func(t *testing.T) {
		p := mk()
		_, err := e.gw.GetPayment(context.Background(), &payment.GetPaymentRequest{ID: p.ID, OrderID: "INV-OTHER"})
		if !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("GetPayment = %v, want payment.ErrUnknownOrder", err)
		}
	})
	for _, id := range []string{"cs_test_doesnotexist", "pi_123", "../v1/balance", "cs_test_a/../../v1/balance"} {
		t.Run("unknown "+id, func(t *testing.T) {
			_, err := e.gw.GetPayment(context.Background(), &payment.GetPaymentRequest{ID: id})
			if !errors.Is(err, payment.ErrUnknownOrder) {
				t.Errorf("GetPayment(%q) = %v, want payment.ErrUnknownOrder", id, err)
			}
		})
	}
	t.Run("unknown order", func(t *testing.T) {
		_, err := e.gw.GetPayment(context.Background(), &payment.GetPaymentRequest{OrderID: "INV-NOPE"})
		if !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("GetPayment = %v, want payment.ErrUnknownOrder", err)
		}
	})
}

func TestRefund(t *testing.T) {
	e := serve(t, nil)
	usd := payment.Money{Amount: 2500, Currency: "USD"}
	paid := func() payment.Payment {
		p := e.create(t, createRequest(newOrder(), usd))
		e.fake.setPaid(p.ID)
		return p
	}
	ctx := context.Background()
	t.Run("in full", func(t *testing.T) {
		p := paid()
		resp, err := e.h.Payment().(payment.Refunder).Refund(ctx, &payment.RefundRequest{PaymentID: p.ID, Reason: "requested_by_customer", IdempotencyKey: "refund-" + p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Amount != usd || resp.Status != "succeeded" || resp.PaymentID != p.ID || !strings.HasPrefix(resp.RefundID, "re_") {
			t.Errorf("Refund = %+v", resp)
		}
		reqs := e.fake.received()
		r := reqs[len(reqs)-1]
		if r.Path != "/v1/refunds" || r.IdempotencyKey != "refund-"+p.ID || r.Form.Get("payment_intent") == "" || r.Form.Get("amount") != "" || r.Form.Get("reason") != "requested_by_customer" {
			t.Errorf("refund request %s %v key %q", r.Path, r.Form, r.IdempotencyKey)
		}
		if got := e.get(t, p.ID); got.Status != payment.StatusRefunded {
			t.Errorf("after the refund the payment is %s", got.Status)
		}
		// The same key again is the same refund (Stripe replays it).
		again, err := e.h.Payment().(payment.Refunder).Refund(ctx, &payment.RefundRequest{PaymentID: p.ID, Reason: "requested_by_customer", IdempotencyKey: "refund-" + p.ID})
		if err == nil && again.RefundID != resp.RefundID {
			t.Errorf("the same key refunded twice: %s and %s", resp.RefundID, again.RefundID)
		}
	})
	t.Run("in part", func(t *testing.T) {
		p := paid()
		resp, err := e.h.Payment().(payment.Refunder).Refund(ctx, &payment.RefundRequest{PaymentID: p.ID, Amount: payment.Money{Amount: 1000, Currency: "USD"}, Reason: "voucher unused", IdempotencyKey: "r2-" + p.ID})
		if err != nil || resp.Amount.Amount != 1000 {
			t.Fatalf("Refund = %+v, %v", resp, err)
		}
		reqs := e.fake.received()
		if r := reqs[len(reqs)-1]; r.Form.Get("amount") != "1000" || r.Form.Get("metadata[reason]") != "voucher unused" || r.Form.Get("reason") != "" {
			t.Errorf("refund form %v", r.Form)
		}
	})
	t.Run("more than paid", func(t *testing.T) {
		p := paid()
		_, err := e.h.Payment().(payment.Refunder).Refund(ctx, &payment.RefundRequest{PaymentID: p.ID, Amount: payment.Money{Amount: 2501, Currency: "USD"}, IdempotencyKey: "r3-" + p.ID})
		if !errors.Is(err, payment.ErrAmountMismatch) {
			t.Errorf("Refund = %v, want payment.ErrAmountMismatch", err)
		}
	})
	t.Run("not paid", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), usd))
		_, err := e.h.Payment().(payment.Refunder).Refund(ctx, &payment.RefundRequest{PaymentID: p.ID, IdempotencyKey: "r4-" + p.ID})
		if !errors.Is(err, payment.ErrDeclined) {
			t.Errorf("Refund = %v, want payment.ErrDeclined", err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := e.h.Payment().(payment.Refunder).Refund(ctx, &payment.RefundRequest{PaymentID: "cs_test_nope", IdempotencyKey: "r5"})
		if !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("Refund = %v, want payment.ErrUnknownOrder", err)
		}
	})
}

func TestMetrics(t *testing.T) {
	e := serve(t, nil)
	e.fake.failNext(dropConnection) // stripe-go retries with the same key: both attempts count
	p := e.create(t, createRequest(newOrder(), rp150k))
	e.get(t, p.ID)
	e.fake.setPaid(p.ID)
	if _, err := e.signed(e.fake.paidEvent(p.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.webhook(e.fake.paidEvent(p.ID), sign([]byte("other"), time.Now(), testSecret)); err == nil {
		t.Fatal("a bad signature was accepted")
	}
	m, err := e.h.Plugin().CollectMetrics(context.Background(), &sdk.CollectMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`stripe_api_requests_total{operation="create",outcome="unreachable"} 1`,
		`stripe_api_requests_total{operation="create",outcome="200"} 1`,
		`stripe_api_requests_total{operation="get",outcome="200"} 2`, // GetPayment, the webhook's confirmation
		`stripe_notifications_total{outcome="accepted"} 1`,
		`stripe_notifications_total{outcome="bad_signature"} 1`,
	} {
		if !strings.Contains(string(m.Text), want) {
			t.Errorf("metrics lack %q:\n%s", want, m.Text)
		}
	}
}
