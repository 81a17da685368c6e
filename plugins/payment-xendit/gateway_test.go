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
// against the fake Xendit in xendit_fake_test.go.

type served struct {
	gw   payment.Gateway
	h    *sdktest.Harness
	fake *fakeXendit
}

func serve(t *testing.T) *served {
	t.Helper()
	logger, logs := sdktest.Logger(t)
	s := &served{fake: newFakeXendit(t)}
	s.h = sdktest.Serve(t, NewGateway(), sdktest.WithLogger(logger))
	if _, err := s.h.Configure(context.Background(), s.fake.settings()); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	s.gw = s.h.Payment()
	t.Cleanup(func() {
		for _, secret := range []string{fakeSecretKey, fakeCallbackToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret appears in the plugin's log:\n%s", logs.String())
			}
		}
	})
	return s
}

func createRequest(orderID string, amount payment.Money, key string) *payment.CreatePaymentRequest {
	return &payment.CreatePaymentRequest{
		OrderID: orderID, Amount: amount, Description: "Home 10M",
		Customer:  payment.Customer{Name: "Budi", Email: "budi@example.net"},
		ReturnURL: "https://billing.example.net/pay/" + orderID, CallbackURL: "https://billing.example.net/webhooks/payment-xendit",
		IdempotencyKey: key,
	}
}

func (s *served) create(t *testing.T, orderID string, amount payment.Money, key string) payment.Payment {
	t.Helper()
	resp, err := s.gw.CreatePayment(context.Background(), createRequest(orderID, amount, key))
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	return resp.Payment
}

var idr = payment.Money{Amount: 150000, Currency: "IDR"}

func TestConfigure(t *testing.T) {
	ctx := context.Background()
	h := sdktest.Serve(t, NewGateway())
	refused := []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{"not a Xendit key", map[string]any{"secret_key": "sk_test_0123456789abcdef", "callback_token": fakeCallbackToken}, "secret_key is required"},
		{"key without token", map[string]any{"secret_key": fakeSecretKey}, "callback_token is required"},
		{"plain http", map[string]any{"secret_key": fakeSecretKey, "callback_token": fakeCallbackToken, "base_url": "http://api.xendit.co"}, "only for loopback"},
		{"invoice minutes", map[string]any{"invoice_minutes": 1}, "invoice_minutes must be 5 to 43200"},
		{"unknown field", map[string]any{"api_key": fakeSecretKey}, `unknown field "api_key"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Configure(ctx, tt.settings)
			if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Configure: %v; want sdk.ErrInvalidArgument saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), fakeSecretKey) || strings.Contains(err.Error(), fakeCallbackToken) {
				t.Errorf("the refusal repeats a secret: %v", err)
			}
		})
	}
	t.Run("not configured yet", func(t *testing.T) {
		resp, err := h.Configure(ctx, map[string]any{})
		if err != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "secret_key and callback_token are not set") {
			t.Fatalf("Configure({}): %+v, %v; want accepted with a warning", resp, err)
		}
		if health, err := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{}); err != nil || health.Status != sdk.HealthDegraded {
			t.Errorf("CheckHealth: %+v, %v; want degraded", health, err)
		}
		if _, err := h.Payment().CreatePayment(ctx, createRequest("INV-1", idr, "k1")); !errors.Is(err, sdk.ErrFailedPrecondition) {
			t.Errorf("CreatePayment: %v; want sdk.ErrFailedPrecondition", err)
		}
		if _, err := h.Payment().HandleWebhook(ctx, &payment.WebhookRequest{Request: rawCallback([]byte(`{}`), fakeCallbackToken)}); !errors.Is(err, payment.ErrInvalidSignature) {
			t.Errorf("HandleWebhook: %v; want payment.ErrInvalidSignature", err)
		}
	})
}

func TestCreatePayment(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		amount payment.Money
		want   string // the amount as Xendit receives it
	}{
		{"IDR has no decimals at Xendit", idr, "150000"},
		{"PHP has two", payment.Money{Amount: 10050, Currency: "PHP"}, "100.50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serve(t)
			p := s.create(t, "INV-1", tt.amount, "INV-1-payment-xendit-1")
			if p.ID == "" || p.OrderID != "INV-1" || p.Status != payment.StatusPending || p.Amount != tt.amount || p.GatewayStatus != "PENDING" ||
				!strings.HasPrefix(p.CheckoutURL, "https://checkout-staging.xendit.co/web/") || !json.Valid(p.Raw) {
				t.Errorf("payment %+v", p)
			}
			got := s.fake.received()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			if user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth(); r.Method != http.MethodPost || r.Path != "/v2/invoices" || !ok || user != fakeSecretKey || pass != "" {
				t.Errorf("request %s %s, basic auth %v", r.Method, r.Path, ok)
			}
			var body map[string]any
			d := json.NewDecoder(strings.NewReader(string(r.Body)))
			d.UseNumber()
			if err := d.Decode(&body); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"external_id": "INV-1", "amount": json.Number(tt.want), "currency": tt.amount.Currency,
				"payer_email": "budi@example.net", "description": "Home 10M", "success_redirect_url": "https://billing.example.net/pay/INV-1",
				"failure_redirect_url": "https://billing.example.net/pay/INV-1", "invoice_duration": json.Number("86400")}
			if d := cmp.Diff(want, body); d != "" {
				t.Errorf("request body (-want +got):\n%s", d)
			}
		})
	}

	s := serve(t)
	first := s.create(t, "INV-2", idr, "INV-2-payment-xendit-1")
	t.Run("the same key never makes a second invoice", func(t *testing.T) {
		n := len(s.fake.received())
		again := s.create(t, "INV-2", idr, "INV-2-payment-xendit-1")
		if again.ID != first.ID {
			t.Errorf("payment %s, want %s", again.ID, first.ID)
		}
		for _, r := range s.fake.received()[n:] {
			if r.Method == http.MethodPost {
				t.Error("a repeated key made Xendit create another invoice")
			}
		}
	})
	t.Run("a new attempt for the same invoice is a new Xendit invoice", func(t *testing.T) {
		second := s.create(t, "INV-2", idr, "INV-2-payment-xendit-2")
		if second.ID == first.ID {
			t.Fatal("the second attempt got the first invoice")
		}
		got, err := s.gw.GetPayment(ctx, &payment.GetPaymentRequest{OrderID: "INV-2"})
		if err != nil || got.Payment.ID != second.ID {
			t.Errorf("GetPayment by order: %+v, %v; want the newest, %s", got, err, second.ID)
		}
	})
	t.Run("a create is never retried: Xendit takes no idempotency key", func(t *testing.T) {
		n := len(s.fake.received())
		s.fake.failWith(http.StatusServiceUnavailable)
		if _, err := s.gw.CreatePayment(ctx, createRequest("INV-3", idr, "INV-3-payment-xendit-1")); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("CreatePayment: %v; want sdk.ErrUnavailable", err)
		}
		if got := len(s.fake.received()) - n; got != 1 {
			t.Errorf("%d requests, want 1", got)
		}
	})
	t.Run("a read is retried", func(t *testing.T) {
		n := len(s.fake.received())
		s.fake.failWith(http.StatusBadGateway)
		if _, err := s.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: first.ID}); err != nil {
			t.Fatal(err)
		}
		if got := len(s.fake.received()) - n; got != 2 {
			t.Errorf("%d requests, want 2", got)
		}
	})
	t.Run("currencies Xendit Invoices do not take", func(t *testing.T) {
		if _, err := s.gw.CreatePayment(ctx, createRequest("INV-4", payment.Money{Amount: 100, Currency: "USD"}, "k4")); !errors.Is(err, payment.ErrUnsupportedCurrency) {
			t.Fatalf("CreatePayment: %v; want payment.ErrUnsupportedCurrency", err)
		}
	})
	t.Run("a refused key", func(t *testing.T) {
		bad := s.fake.settings()
		bad["secret_key"] = "xnd_development_not-the-key-000000"
		if _, err := s.h.Configure(ctx, bad); err != nil {
			t.Fatal(err)
		}
		_, err := s.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: first.ID})
		if !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), "INVALID_API_KEY") || !strings.Contains(err.Error(), "check secret_key") {
			t.Fatalf("GetPayment: %v; want sdk.ErrFailedPrecondition naming secret_key", err)
		}
		health, _ := s.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
		if health.Status != sdk.HealthDegraded || !strings.Contains(health.Message, "the last call to Xendit failed") {
			t.Errorf("CheckHealth: %+v; want degraded", health)
		}
		// New settings start health afresh.
		if _, err := s.h.Configure(ctx, s.fake.settings()); err != nil {
			t.Fatal(err)
		}
		if health, _ := s.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{}); health.Status != sdk.HealthOK {
			t.Errorf("CheckHealth after new settings: %+v; want ok", health)
		}
	})
}

func TestCallbacks(t *testing.T) {
	ctx := context.Background()
	s := serve(t)
	handle := func(r sdk.HTTPRequest) (*payment.WebhookResponse, error) {
		return s.gw.HandleWebhook(ctx, &payment.WebhookRequest{Request: r})
	}
	p := s.create(t, "INV-1", idr, "INV-1-payment-xendit-1")
	paid := s.fake.record(t, p)
	paid.Status = "PAID"

	refusals := []struct {
		name string
		req  sdk.HTTPRequest
		want error
	}{
		{"no token", callback(paid, ""), payment.ErrInvalidSignature},
		{"wrong token", callback(paid, "cbtoken_not-the-token-0000"), payment.ErrInvalidSignature},
		{"malformed", rawCallback([]byte(`{"id":`), fakeCallbackToken), payment.ErrMalformedPayload},
		{"no currency", rawCallback([]byte(`{"id":"x","status":"PAID","amount":1}`), fakeCallbackToken), payment.ErrMalformedPayload},
		{"PAID, but the status query says PENDING", callback(paid, fakeCallbackToken), payment.ErrUnconfirmed},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if resp, err := handle(tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("HandleWebhook: %+v, %v; want %v", resp, err, tt.want)
			}
		})
	}

	s.fake.setStatus(t, p.ID, "PAID")
	paid = s.fake.record(t, p)
	note := callback(paid, fakeCallbackToken)
	t.Run("paid once confirmed", func(t *testing.T) {
		resp, err := handle(note)
		if err != nil || resp.Event == nil {
			t.Fatalf("HandleWebhook: %+v, %v", resp, err)
		}
		ev := *resp.Event
		if ev.EventID == "" || ev.PaymentID != p.ID || ev.OrderID != "INV-1" || ev.Status != payment.StatusPaid || ev.Amount != idr ||
			!ev.Confirmed || ev.Duplicate || ev.GatewayStatus != "PAID" || !ev.OccurredAt.Equal(paid.PaidAt) || resp.Response.StatusCode != http.StatusOK {
			t.Errorf("event %+v, response %d", ev, resp.Response.StatusCode)
		}
	})
	t.Run("a resent callback is the same event, marked Duplicate", func(t *testing.T) {
		n := len(s.fake.received())
		resp, err := handle(note)
		if err != nil || resp.Event == nil || !resp.Event.Duplicate || resp.Event.PaymentID != p.ID || resp.Event.Status != payment.StatusPaid {
			t.Fatalf("HandleWebhook: %+v, %v; want the event marked Duplicate", resp, err)
		}
		if len(s.fake.received()) != n {
			t.Error("a repeat made the plugin call Xendit")
		}
	})
	t.Run("SETTLED is paid", func(t *testing.T) {
		s.fake.setStatus(t, p.ID, "SETTLED")
		resp, err := handle(callback(s.fake.record(t, p), fakeCallbackToken))
		if err != nil || resp.Event == nil || resp.Event.Duplicate || resp.Event.Status != payment.StatusPaid || resp.Event.GatewayStatus != "SETTLED" {
			t.Fatalf("HandleWebhook: %+v, %v; want a new paid event", resp, err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		q := s.create(t, "INV-2", idr, "INV-2-payment-xendit-1")
		s.fake.setStatus(t, q.ID, "EXPIRED")
		resp, err := handle(callback(s.fake.record(t, q), fakeCallbackToken))
		if err != nil || resp.Event == nil || resp.Event.Status != payment.StatusExpired {
			t.Fatalf("HandleWebhook: %+v, %v; want an expired event", resp, err)
		}
	})
	t.Run("an unknown status word is never paid", func(t *testing.T) {
		q := s.create(t, "INV-3", idr, "INV-3-payment-xendit-1")
		s.fake.setStatus(t, q.ID, "COMPLETING")
		resp, err := handle(callback(s.fake.record(t, q), fakeCallbackToken))
		if err != nil || resp.Event == nil || resp.Event.Status != payment.StatusPending {
			t.Fatalf("HandleWebhook: %+v, %v; want pending", resp, err)
		}
	})
	t.Run("a PHP amount", func(t *testing.T) {
		q := s.create(t, "INV-4", payment.Money{Amount: 10050, Currency: "PHP"}, "INV-4-payment-xendit-1")
		s.fake.setStatus(t, q.ID, "PAID")
		inv := s.fake.record(t, q)
		inv.Amount = "100.5" // as a JSON number may come back
		resp, err := handle(callback(inv, fakeCallbackToken))
		if err != nil || resp.Event == nil || resp.Event.Amount != (payment.Money{Amount: 10050, Currency: "PHP"}) {
			t.Fatalf("HandleWebhook: %+v, %v; want PHP 100.50", resp, err)
		}
	})
	t.Run("concurrent deliveries: one first, the rest duplicates", func(t *testing.T) {
		q := s.create(t, "INV-5", idr, "INV-5-payment-xendit-1")
		s.fake.setStatus(t, q.ID, "PAID")
		note := callback(s.fake.record(t, q), fakeCallbackToken)
		var mu sync.Mutex
		var wg sync.WaitGroup
		first, dups := 0, 0
		for range 6 {
			wg.Go(func() {
				resp, err := handle(note)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil || resp.Event == nil:
					t.Errorf("HandleWebhook: %+v, %v", resp, err)
				case resp.Event.Duplicate:
					dups++
				default:
					first++
				}
			})
		}
		wg.Wait()
		if first != 1 || dups != 5 {
			t.Errorf("%d first and %d duplicates; want 1 and 5", first, dups)
		}
	})
	t.Run("the caller's deadline", func(t *testing.T) {
		s.fake.setStall(10 * time.Second)
		defer s.fake.setStall(0)
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		begin := time.Now()
		_, err := s.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: p.ID})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(begin) > 3*time.Second {
			t.Fatalf("GetPayment: %v after %s; want context.DeadlineExceeded", err, time.Since(begin))
		}
	})
}
