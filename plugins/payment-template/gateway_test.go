package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// These tests drive the plugin over real gRPC (sdktest), as the host does,
// against the fake Example Pay in examplepay_fake_test.go.

// served is the plugin under test and what it talks to.
type served struct {
	gw   payment.Gateway
	h    *sdktest.Harness
	fake *fakeExamplePay
	logs *sdktest.Buffer
}

// serve serves a new Gateway configured against a new fake.
func serve(t *testing.T, mod func(map[string]any)) *served {
	t.Helper()
	logger, logs := sdktest.Logger(t)
	s := &served{fake: newFakeExamplePay(t), logs: logs}
	s.h = sdktest.Serve(t, NewGateway(), sdktest.WithLogger(logger))
	settings := s.fake.settings()
	if mod != nil {
		mod(settings)
	}
	if _, err := s.h.Configure(context.Background(), settings); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	s.gw = s.h.Payment()
	t.Cleanup(func() {
		// No secret may appear in any log line, whatever the test did.
		for _, secret := range []string{fakeAPIKey, fakeWebhookSecret} {
			if strings.Contains(s.logs.String(), secret) {
				t.Errorf("a secret appears in the plugin's log:\n%s", s.logs.String())
			}
		}
	})
	return s
}

func (s *served) create(t *testing.T, orderID string, amount payment.Money) payment.Payment {
	t.Helper()
	resp, err := s.gw.CreatePayment(context.Background(), createRequest(orderID, amount))
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	return resp.Payment
}

func createRequest(orderID string, amount payment.Money) *payment.CreatePaymentRequest {
	return &payment.CreatePaymentRequest{
		OrderID: orderID, Amount: amount, Description: "Home 10M",
		ReturnURL:      "https://billing.example.net/pay/" + orderID,
		CallbackURL:    "https://billing.example.net/webhooks/payment-template",
		ExpiresAt:      time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		IdempotencyKey: orderID + "-payment-template-1",
	}
}

var idr = payment.Money{Amount: 150000, Currency: "IDR"}

func TestConfigure(t *testing.T) {
	ctx := context.Background()
	h := sdktest.Serve(t, NewGateway())
	base := func(mod func(map[string]any)) map[string]any {
		s := map[string]any{"api_key": fakeAPIKey, "webhook_secret": fakeWebhookSecret, "base_url": "http://127.0.0.1:9"}
		if mod != nil {
			mod(s)
		}
		return s
	}
	refused := []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{"unknown field", base(func(s map[string]any) { s["apikey"] = "x" }), `unknown field "apikey"`},
		{"key without secret", map[string]any{"api_key": fakeAPIKey}, "webhook_secret is required"},
		{"short secret", base(func(s map[string]any) { s["webhook_secret"] = "short" }), "webhook_secret is required"},
		{"environment", base(func(s map[string]any) { s["environment"] = "staging" }), `environment must be "production" or "sandbox", got "staging"`},
		{"not a URL", base(func(s map[string]any) { s["base_url"] = "api.examplepay.test" }), "not an absolute URL"},
		{"ftp", base(func(s map[string]any) { s["base_url"] = "ftp://api.examplepay.test" }), "scheme must be https"},
		{"credentials in the URL", base(func(s map[string]any) { s["base_url"] = "https://u:" + fakeAPIKey + "@api.examplepay.test" }), "must not hold a user name or password"},
		{"plain http outside loopback", base(func(s map[string]any) { s["base_url"] = "http://api.examplepay.test" }), "only for loopback"},
		{"expiry", base(func(s map[string]any) { s["expiry_minutes"] = 1 }), "expiry_minutes must be 5 to 10080"},
		{"timeout", base(func(s map[string]any) { s["timeout_seconds"] = 0 }), "timeout_seconds must be 1 to 60"},
		{"wrong type", base(func(s map[string]any) { s["timeout_seconds"] = "15" }), `field "timeout_seconds"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Configure(ctx, tt.settings)
			if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Configure: %v; want sdk.ErrInvalidArgument saying %q", err, tt.want)
			}
			for _, secret := range []string{fakeAPIKey, fakeWebhookSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the refusal repeats a secret: %v", err)
				}
			}
		})
	}

	t.Run("not configured yet", func(t *testing.T) {
		resp, err := h.Configure(ctx, map[string]any{})
		if err != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "api_key and webhook_secret are not set") {
			t.Fatalf("Configure({}): %+v, %v; want accepted with a warning", resp, err)
		}
		health, err := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
		if err != nil || health.Status != sdk.HealthDegraded || !strings.Contains(health.Message, "not configured") {
			t.Errorf("CheckHealth: %+v, %v; want degraded, not configured", health, err)
		}
		if _, err := h.Payment().CreatePayment(ctx, createRequest("INV-1", idr)); !errors.Is(err, sdk.ErrFailedPrecondition) {
			t.Errorf("CreatePayment: %v; want sdk.ErrFailedPrecondition", err)
		}
		if _, err := h.Payment().HandleWebhook(ctx, &payment.WebhookRequest{Request: sdk.HTTPRequest{Method: http.MethodPost, Body: []byte(`{}`)}}); !errors.Is(err, payment.ErrInvalidSignature) {
			t.Errorf("HandleWebhook: %v; want payment.ErrInvalidSignature", err)
		}
	})

	t.Run("valid", func(t *testing.T) {
		resp, err := h.Configure(ctx, base(nil))
		if err != nil || len(resp.Warnings) != 0 {
			t.Fatalf("Configure: %+v, %v", resp, err)
		}
		health, err := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
		if err != nil || health.Status != sdk.HealthOK {
			t.Errorf("CheckHealth: %+v, %v; want ok", health, err)
		}
	})

	t.Run("a sandbox key in production is a warning", func(t *testing.T) {
		resp, err := h.Configure(ctx, base(func(s map[string]any) { s["environment"] = "production" }))
		if err != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "sandbox key") {
			t.Fatalf("Configure: %+v, %v; want a warning about the sandbox key", resp, err)
		}
	})
}

func TestCreatePayment(t *testing.T) {
	s := serve(t, nil)
	ctx := context.Background()
	req := createRequest("INV-2026-000001", idr)
	resp, err := s.gw.CreatePayment(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Payment
	if p.ID == "" || p.OrderID != req.OrderID || p.Status != payment.StatusPending || p.Amount != idr ||
		p.CheckoutURL != s.fake.URL()+"/checkout/"+p.ID || p.GatewayStatus != "pending" || !json.Valid(p.Raw) {
		t.Errorf("payment %+v", p)
	}

	// What Example Pay received: the documented request, authenticated,
	// with the host's idempotency key.
	got := s.fake.received()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if r.Method != http.MethodPost || r.Path != "/v1/payments" || r.Header.Get("Authorization") != "Bearer "+fakeAPIKey ||
		r.Header.Get("Idempotency-Key") != req.IdempotencyKey || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %v", r.Method, r.Path, r.Header)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"order_id": "INV-2026-000001", "amount": 150000.0, "currency": "IDR", "description": "Home 10M",
		"return_url": req.ReturnURL, "callback_url": req.CallbackURL, "expires_at": "2030-01-02T03:04:05Z"}
	if d := cmp.Diff(want, body); d != "" {
		t.Errorf("request body (-want +got):\n%s", d)
	}

	t.Run("the same idempotency key gives the same payment", func(t *testing.T) {
		again, err := s.gw.CreatePayment(ctx, req)
		if err != nil || again.Payment.ID != p.ID {
			t.Fatalf("again: %+v, %v; want payment %s", again, err, p.ID)
		}
	})
	t.Run("the same key for another amount is refused", func(t *testing.T) {
		other := createRequest("INV-2026-000001", payment.Money{Amount: 99000, Currency: "IDR"})
		if _, err := s.gw.CreatePayment(ctx, other); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "was used for order INV-2026-000001 of 150000 IDR") {
			t.Fatalf("CreatePayment: %v; want sdk.ErrInvalidArgument naming the key's first payment", err)
		}
	})
	t.Run("an expiry is always sent", func(t *testing.T) {
		r := createRequest("INV-2026-000002", idr)
		r.ExpiresAt = time.Time{}
		begin := time.Now()
		if _, err := s.gw.CreatePayment(ctx, r); err != nil {
			t.Fatal(err)
		}
		got := s.fake.received()
		var body apiCreatePayment
		_ = json.Unmarshal(got[len(got)-1].Body, &body)
		if d := body.ExpiresAt.Sub(begin); d < 59*time.Minute || d > 61*time.Minute {
			t.Errorf("expires_at %s is %s from now; want the default 60 minutes", body.ExpiresAt, d)
		}
	})

	refused := []struct {
		name string
		req  *payment.CreatePaymentRequest
		want error
	}{
		{"zero amount", createRequest("INV-3", payment.Money{Currency: "IDR"}), sdk.ErrInvalidArgument},
		{"no idempotency key", func() *payment.CreatePaymentRequest {
			r := createRequest("INV-3", idr)
			r.IdempotencyKey = ""
			return r
		}(), sdk.ErrInvalidArgument},
		{"currency Example Pay does not take", createRequest("INV-3", payment.Money{Amount: 1000, Currency: "EUR"}), payment.ErrUnsupportedCurrency},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			n := len(s.fake.received())
			if _, err := s.gw.CreatePayment(ctx, tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("CreatePayment: %v; want %v", err, tt.want)
			}
			if len(s.fake.received()) != n {
				t.Error("a request the plugin can refuse itself reached Example Pay")
			}
		})
	}
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	t.Run("5xx is retried with the same idempotency key", func(t *testing.T) {
		s := serve(t, nil)
		s.fake.failWith(http.StatusServiceUnavailable, http.StatusBadGateway)
		p := s.create(t, "INV-1", idr)
		got := s.fake.received()
		if len(got) != 3 {
			t.Fatalf("%d requests, want 3 (two failures, one success)", len(got))
		}
		for _, r := range got {
			if r.Header.Get("Idempotency-Key") != "INV-1-payment-template-1" {
				t.Errorf("attempt with Idempotency-Key %q", r.Header.Get("Idempotency-Key"))
			}
		}
		if p.ID == "" {
			t.Error("no payment")
		}
	})
	t.Run("retries are bounded", func(t *testing.T) {
		s := serve(t, nil)
		s.fake.failWith(500, 500, 500, 500)
		_, err := s.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: "pay_x"})
		if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Fatalf("GetPayment: %v; want sdk.ErrUnavailable after 3 attempts", err)
		}
		if n := len(s.fake.received()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
		// Health reports it, from memory, until a call works again.
		health, err := s.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
		if err != nil || health.Status != sdk.HealthDegraded || !strings.Contains(health.Message, "the last call to Example Pay failed") {
			t.Errorf("CheckHealth after the failures: %+v, %v; want degraded", health, err)
		}
		s.create(t, "INV-1", idr)
		if health, err := s.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{}); err != nil || health.Status != sdk.HealthOK {
			t.Errorf("CheckHealth after a call worked: %+v, %v; want ok", health, err)
		}
	})
	t.Run("429 waits for Retry-After", func(t *testing.T) {
		s := serve(t, nil)
		s.fake.failWith(http.StatusTooManyRequests)
		begin := time.Now()
		s.create(t, "INV-1", idr)
		if d := time.Since(begin); d < time.Second {
			t.Errorf("retried after %s; Retry-After said 1s", d)
		}
	})
	t.Run("a refused API key is not retried", func(t *testing.T) {
		s := serve(t, nil)
		if _, err := s.h.Configure(ctx, map[string]any{"api_key": "ek_test_wrong-key", "webhook_secret": fakeWebhookSecret, "base_url": s.fake.URL()}); err != nil {
			t.Fatal(err)
		}
		_, err := s.gw.CreatePayment(ctx, createRequest("INV-1", idr))
		if !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), "check api_key") {
			t.Fatalf("CreatePayment: %v; want sdk.ErrFailedPrecondition telling to check api_key", err)
		}
		if n := len(s.fake.received()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
		if strings.Contains(err.Error(), "ek_test_wrong-key") {
			t.Errorf("the error repeats the API key: %v", err)
		}
	})
	t.Run("an attempt that times out is retried", func(t *testing.T) {
		s := serve(t, func(m map[string]any) { m["timeout_seconds"] = 1 })
		s.fake.setStall(3 * time.Second)
		go func() {
			for len(s.fake.received()) == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			s.fake.setStall(0)
		}()
		s.create(t, "INV-1", idr)
		if n := len(s.fake.received()); n != 2 {
			t.Errorf("%d requests, want 2 (one timed out)", n)
		}
	})
	t.Run("the caller's deadline stops everything", func(t *testing.T) {
		s := serve(t, nil)
		s.fake.setStall(10 * time.Second)
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		begin := time.Now()
		_, err := s.gw.CreatePayment(ctx, createRequest("INV-1", idr))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(begin) > 2*time.Second {
			t.Fatalf("CreatePayment: %v after %s; want context.DeadlineExceeded at once", err, time.Since(begin))
		}
		s.fake.setStall(0)
	})
}

func TestGetPayment(t *testing.T) {
	s := serve(t, nil)
	ctx := context.Background()
	first := s.create(t, "INV-1", idr)
	r := createRequest("INV-1", idr)
	r.IdempotencyKey = "INV-1-payment-template-2"
	second, err := s.gw.CreatePayment(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	s.fake.setStatus(t, first.ID, "expired")
	s.fake.setStatus(t, second.Payment.ID, "paid")

	tests := []struct {
		name       string
		req        payment.GetPaymentRequest
		wantID     string
		wantStatus payment.Status
		wantErr    error
	}{
		{"by id", payment.GetPaymentRequest{ID: first.ID}, first.ID, payment.StatusExpired, nil},
		{"by id and order", payment.GetPaymentRequest{ID: second.Payment.ID, OrderID: "INV-1"}, second.Payment.ID, payment.StatusPaid, nil},
		{"by order: the newest", payment.GetPaymentRequest{OrderID: "INV-1"}, second.Payment.ID, payment.StatusPaid, nil},
		{"unknown id", payment.GetPaymentRequest{ID: "pay_nothing"}, "", "", payment.ErrUnknownOrder},
		{"unknown order", payment.GetPaymentRequest{OrderID: "INV-404"}, "", "", payment.ErrUnknownOrder},
		{"id of another order", payment.GetPaymentRequest{ID: first.ID, OrderID: "INV-2"}, "", "", payment.ErrUnknownOrder},
		{"neither", payment.GetPaymentRequest{}, "", "", sdk.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.gw.GetPayment(ctx, &tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("GetPayment: %v; want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p := resp.Payment; p.ID != tt.wantID || p.Status != tt.wantStatus || p.Amount != idr || p.OrderID != "INV-1" {
				t.Errorf("payment %+v; want %s %s", p, tt.wantID, tt.wantStatus)
			}
		})
	}
	paid, err := s.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: second.Payment.ID})
	if err != nil || paid.Payment.PaidAt.IsZero() || paid.Payment.Method != "qris" {
		t.Errorf("paid payment %+v, %v; want paid_at and method", paid, err)
	}
}

func TestHandleWebhook(t *testing.T) {
	ctx := context.Background()
	s := serve(t, nil)
	p := s.create(t, "INV-1", idr)
	rec := s.fake.record(t, p)
	paidData := rec
	paidData.Status = "paid"
	paidNote := s.fake.notification("evt_paid_1", "payment.paid", paidData, fakeWebhookSecret)
	handle := func(r sdk.HTTPRequest) (*payment.WebhookResponse, error) {
		return s.gw.HandleWebhook(ctx, &payment.WebhookRequest{Request: r})
	}

	// Refusals first, while the payment is pending.
	unknown := paidData
	unknown.ID, unknown.OrderID = "pay_never_made", "INV-404"
	wrongAmount := paidData
	wrongAmount.Amount++
	wrongCurrency := paidData
	wrongCurrency.Currency = "USD"
	malformed := []byte(`{"id":"evt_x","type":"payment.paid","data":`)
	refusals := []struct {
		name string
		req  sdk.HTTPRequest
		want error
	}{
		{"wrong secret", s.fake.notification("evt_paid_1", "payment.paid", paidData, "whsec_not-the-secret-0000"), payment.ErrInvalidSignature},
		{"no signature", func() sdk.HTTPRequest { r := paidNote; r.Header = http.Header{}; return r }(), payment.ErrInvalidSignature},
		{"signed ten minutes ago", s.fake.notificationAt(time.Now().Add(-10*time.Minute), "evt_paid_1", "payment.paid", paidData, fakeWebhookSecret), payment.ErrInvalidSignature},
		{"malformed", s.fake.signed(malformed, fakeWebhookSecret), payment.ErrMalformedPayload},
		{"no data", s.fake.signed([]byte(`{"id":"evt_x","type":"payment.paid"}`), fakeWebhookSecret), payment.ErrMalformedPayload},
		{"unknown payment", s.fake.notification("evt_unknown", "payment.paid", unknown, fakeWebhookSecret), payment.ErrUnknownOrder},
		{"wrong amount", s.fake.notification("evt_amount", "payment.paid", wrongAmount, fakeWebhookSecret), payment.ErrAmountMismatch},
		{"wrong currency", s.fake.notification("evt_currency", "payment.paid", wrongCurrency, fakeWebhookSecret), payment.ErrAmountMismatch},
		{"paid, but the status API says pending", paidNote, payment.ErrUnconfirmed},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := handle(tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("HandleWebhook: %+v, %v; want %v", resp, err, tt.want)
			}
		})
	}
	t.Run("a signature refusal calls no API", func(t *testing.T) {
		n := len(s.fake.received())
		if _, err := handle(s.fake.notification("evt_paid_1", "payment.paid", paidData, "whsec_not-the-secret-0000")); err == nil {
			t.Fatal("accepted")
		}
		if len(s.fake.received()) != n {
			t.Error("a notification with a bad signature made the plugin call Example Pay")
		}
	})

	t.Run("paid once confirmed", func(t *testing.T) {
		// The same notification, resent by Example Pay after the status
		// API caught up, is taken: the refusal above did not use it up.
		s.fake.setStatus(t, p.ID, "paid")
		resp, err := handle(paidNote)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Response.StatusCode != http.StatusOK || string(resp.Response.Body) != `{"received":true}` {
			t.Errorf("response %d %s", resp.Response.StatusCode, resp.Response.Body)
		}
		ev := resp.Event
		if ev == nil {
			t.Fatal("no event")
		}
		want := payment.Event{EventID: "evt_paid_1", PaymentID: p.ID, OrderID: "INV-1", Status: payment.StatusPaid, Amount: idr,
			Confirmed: true, GatewayStatus: "paid", Raw: paidNote.Body}
		ev.OccurredAt = time.Time{}
		if d := cmp.Diff(want, *ev); d != "" {
			t.Errorf("event (-want +got):\n%s", d)
		}
	})
	// A repeat is the same event, marked Duplicate, without asking Example
	// Pay: the host decides whether anything is left to credit.
	t.Run("a repeat is reported again, marked Duplicate", func(t *testing.T) {
		calls := len(s.fake.received())
		for _, note := range []sdk.HTTPRequest{
			paidNote,
			// Re-signed later with the same id, as Example Pay resends.
			s.fake.notification("evt_paid_1", "payment.paid", paidData, fakeWebhookSecret),
		} {
			resp, err := handle(note)
			if err != nil {
				t.Fatalf("HandleWebhook: %v; want the event again", err)
			}
			ev := resp.Event
			if ev == nil || !ev.Duplicate || ev.EventID != "evt_paid_1" || ev.PaymentID != p.ID || ev.OrderID != "INV-1" ||
				ev.Status != payment.StatusPaid || ev.Amount != idr || resp.Response.StatusCode != http.StatusOK {
				t.Errorf("HandleWebhook: %+v; want the paid event marked Duplicate", ev)
			}
		}
		if len(s.fake.received()) != calls {
			t.Error("a repeat made the plugin call Example Pay")
		}
	})
	t.Run("its id for another payment is refused", func(t *testing.T) {
		q := s.create(t, "INV-9", idr)
		s.fake.setStatus(t, q.ID, "paid")
		_, err := handle(s.fake.notification("evt_paid_1", "payment.paid", s.fake.record(t, q), fakeWebhookSecret))
		if !errors.Is(err, payment.ErrReplay) || !strings.Contains(err.Error(), p.ID) || !strings.Contains(err.Error(), q.ID) {
			t.Fatalf("HandleWebhook: %v; want payment.ErrReplay naming both payments", err)
		}
	})
	t.Run("the status API's word is reported, not the notification's", func(t *testing.T) {
		failed := paidData
		failed.Status = "failed"
		resp, err := handle(s.fake.notification("evt_failed_late", "payment.failed", failed, fakeWebhookSecret))
		if err != nil || resp.Event == nil || resp.Event.Status != payment.StatusPaid {
			t.Fatalf("HandleWebhook: %+v, %v; want an event saying paid", resp, err)
		}
	})
	t.Run("a failed payment", func(t *testing.T) {
		q := s.create(t, "INV-2", idr)
		s.fake.setStatus(t, q.ID, "failed")
		data := s.fake.record(t, q)
		resp, err := handle(s.fake.notification("evt_failed_2", "payment.failed", data, fakeWebhookSecret))
		if err != nil || resp.Event == nil || resp.Event.Status != payment.StatusFailed || resp.Event.OrderID != "INV-2" {
			t.Fatalf("HandleWebhook: %+v, %v; want a failed event for INV-2", resp, err)
		}
	})
	t.Run("a ping is acknowledged without an event", func(t *testing.T) {
		resp, err := handle(s.fake.signed([]byte(`{"id":"evt_ping","type":"ping","created_at":"2026-11-25T20:00:00Z"}`), fakeWebhookSecret))
		if err != nil || resp.Event != nil || resp.Response.StatusCode != http.StatusOK {
			t.Fatalf("HandleWebhook: %+v, %v; want 200 and no event", resp, err)
		}
	})
	t.Run("concurrent deliveries: one first, the rest duplicates", func(t *testing.T) {
		q := s.create(t, "INV-3", idr)
		s.fake.setStatus(t, q.ID, "paid")
		note := s.fake.notification("evt_paid_3", "payment.paid", s.fake.record(t, q), fakeWebhookSecret)
		var wg sync.WaitGroup
		var mu sync.Mutex
		first, duplicates := 0, 0
		for range 8 {
			wg.Go(func() {
				resp, err := handle(note)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil || resp.Event == nil:
					t.Errorf("HandleWebhook: %+v, %v", resp, err)
				case resp.Event.Duplicate:
					duplicates++
				default:
					first++
				}
			})
		}
		wg.Wait()
		if first != 1 || duplicates != 7 {
			t.Errorf("%d first events and %d duplicates; want 1 and 7", first, duplicates)
		}
	})
}
