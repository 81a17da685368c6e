package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// testEnv is the plugin served over real gRPC (sdktest) against a fake
// Midtrans, with its log captured.
type testEnv struct {
	t    *testing.T
	fake *fakeMidtrans
	host *sdktest.FakeHost
	h    *sdktest.Harness
	pay  payment.Gateway
	logs *sdktest.Buffer
}

// newTestEnv serves a new gateway configured against a new fake, with
// settings changed by edit (if given).
func newTestEnv(t *testing.T, edit ...func(map[string]any)) *testEnv {
	t.Helper()
	fake := newFakeMidtrans(t)
	host := sdktest.NewFakeHost()
	return serveAgainst(t, fake, host, edit...)
}

// serveAgainst serves a new gateway against an existing fake and host: a
// restarted plugin.
func serveAgainst(t *testing.T, fake *fakeMidtrans, host *sdktest.FakeHost, edit ...func(map[string]any)) *testEnv {
	t.Helper()
	return serveGateway(t, NewGateway(), fake, host, edit...)
}

func serveGateway(t *testing.T, g *gateway.Gateway[settings], fake *fakeMidtrans, host *sdktest.FakeHost, edit ...func(map[string]any)) *testEnv {
	t.Helper()
	logger, logs := sdktest.Logger(t)
	h := sdktest.Serve(t, g, sdktest.WithHost(host), sdktest.WithLogger(logger))
	settings := fake.settings()
	for _, e := range edit {
		e(settings)
	}
	if _, err := h.Configure(context.Background(), settings); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return &testEnv{t: t, fake: fake, host: host, h: h, pay: h.Payment(), logs: logs}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var orderSeq struct {
	mu sync.Mutex
	n  int
}

func newOrderID() string {
	orderSeq.mu.Lock()
	defer orderSeq.mu.Unlock()
	orderSeq.n++
	return "INV-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(orderSeq.n)
}

func createReq(orderID string) *payment.CreatePaymentRequest {
	return &payment.CreatePaymentRequest{
		OrderID:        orderID,
		Amount:         payment.Money{Amount: 150000, Currency: "IDR"},
		Description:    "Hotspot 10 Mbps, 30 days",
		Customer:       payment.Customer{Name: "Budi Susanto", Email: "budi@example.com", Phone: "+6281234567890"},
		ReturnURL:      "https://billing.example.net/invoices/" + orderID,
		CallbackURL:    "https://billing.example.net/webhooks/payment-midtrans",
		IdempotencyKey: "key-" + orderID,
	}
}

func (e *testEnv) create(orderID string) payment.Payment {
	e.t.Helper()
	resp, err := e.pay.CreatePayment(ctxT(e.t), createReq(orderID))
	if err != nil {
		e.t.Fatalf("CreatePayment(%s): %v", orderID, err)
	}
	return resp.Payment
}

func (e *testEnv) webhook(req sdk.HTTPRequest) (*payment.WebhookResponse, error) {
	return e.pay.HandleWebhook(ctxT(e.t), &payment.WebhookRequest{Request: req})
}

func TestConfigure(t *testing.T) {
	fake := newFakeMidtrans(t)
	tests := []struct {
		name     string
		edit     func(map[string]any)
		wantErr  string
		warnings int
	}{
		{name: "valid", edit: func(map[string]any) {}},
		{name: "defaults only need a key", edit: func(s map[string]any) {
			for k := range s {
				delete(s, k)
			}
			s["server_key"] = "SB-Mid-server-abc"
		}},
		{name: "no server key", edit: func(s map[string]any) { delete(s, "server_key") }, wantErr: "server_key is required"},
		{name: "blank server key", edit: func(s map[string]any) { s["server_key"] = "  " }, wantErr: "server_key is required"},
		{name: "server key with a line break", edit: func(s map[string]any) { s["server_key"] = "SB-Mid-server-abc\n" }, wantErr: "white space"},
		{name: "unknown environment", edit: func(s map[string]any) { s["environment"] = "staging" }, wantErr: "environment must be"},
		{name: "base_url not a URL", edit: func(s map[string]any) { s["base_url"] = "app.midtrans.com" }, wantErr: "base_url"},
		{name: "api_base_url ftp", edit: func(s map[string]any) { s["api_base_url"] = "ftp://api.midtrans.com" }, wantErr: "api_base_url"},
		{name: "base_url with credentials", edit: func(s map[string]any) { s["base_url"] = "https://u:p@proxy.example.net" }, wantErr: "credentials"},
		{name: "unknown setting", edit: func(s map[string]any) { s["serverkey"] = "x" }, wantErr: "unknown field"},
		{name: "wrong type", edit: func(s map[string]any) { s["timeout_seconds"] = "10" }, wantErr: "timeout_seconds"},
		{name: "timeout out of range", edit: func(s map[string]any) { s["timeout_seconds"] = 600 }, wantErr: "timeout_seconds"},
		{name: "retries out of range", edit: func(s map[string]any) { s["max_retries"] = 9 }, wantErr: "max_retries"},
		{name: "sandbox key in production", edit: func(s map[string]any) {
			s["environment"] = "production"
		}, warnings: 3}, // the key, and plain http for both base URLs
		{name: "production key in sandbox", edit: func(s map[string]any) { s["server_key"] = "Mid-server-abc" }, warnings: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.Serve(t, NewGateway())
			s := fake.settings()
			tt.edit(s)
			resp, err := h.Configure(ctxT(t), s)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Configure: %v", err)
				}
				if len(resp.Warnings) != tt.warnings {
					t.Errorf("warnings %q, want %d", resp.Warnings, tt.warnings)
				}
				return
			}
			if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Configure error = %v, want sdk.ErrInvalidArgument mentioning %q", err, tt.wantErr)
			}
			if key, _ := s["server_key"].(string); len(strings.TrimSpace(key)) > 3 && strings.Contains(err.Error(), strings.TrimSpace(key)) {
				t.Errorf("the error repeats the server key: %v", err)
			}
		})
	}
}

func TestNotConfigured(t *testing.T) {
	h := sdktest.Serve(t, NewGateway())
	ctx := ctxT(t)
	// Not ok, saying why (the SDK's gateways answer degraded, as while
	// credentials are missing; it was error before the port).
	health, err := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if err != nil || health.Status == sdk.HealthOK || !strings.Contains(health.Message, "not configured") {
		t.Errorf("CheckHealth before Configure = %+v, %v; want not ok, saying it is not configured", health, err)
	}
	if _, err := h.Payment().CreatePayment(ctx, createReq(newOrderID())); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("CreatePayment before Configure: %v, want ErrFailedPrecondition", err)
	}
	desc, err := h.Plugin().Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || desc.Name != Name || desc.Version != Version || desc.Kind != sdk.KindPayment {
		t.Errorf("Describe = %+v, %v", desc, err)
	}
}

func TestCreatePayment(t *testing.T) {
	e := newTestEnv(t)
	orderID := newOrderID()
	req := createReq(orderID)
	req.Items = []payment.LineItem{
		{SKU: "PLAN-10M", Name: "Hotspot 10 Mbps, 30 days", Quantity: 1, UnitPrice: payment.Money{Amount: 140000, Currency: "IDR"}},
		{SKU: "FEE", Name: "Admin fee", Quantity: 2, UnitPrice: payment.Money{Amount: 5000, Currency: "IDR"}},
	}
	start := time.Now()
	req.ExpiresAt = start.Add(2 * time.Hour)
	resp, err := e.pay.CreatePayment(ctxT(t), req)
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	p := resp.Payment
	o := e.fake.order(orderID)
	if o == nil {
		t.Fatal("the fake has no transaction")
	}
	if p.ID != orderID || p.OrderID != orderID || p.Status != payment.StatusPending || p.Amount != req.Amount ||
		p.Token != o.Token || p.CheckoutURL != e.fake.srv.URL+"/snap/v4/redirection/"+o.Token || len(p.Raw) == 0 {
		t.Errorf("payment = %+v; want id and order %s, pending, 150000 IDR, token %s and its redirect_url", p, orderID, o.Token)
	}
	if d := p.ExpiresAt.Sub(req.ExpiresAt); d < 0 || d > time.Minute {
		t.Errorf("expires at %s, asked %s", p.ExpiresAt, req.ExpiresAt)
	}

	got := e.fake.lastSnapRequest()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(e.fake.serverKey+":"))
	if got.Header.Get("Authorization") != wantAuth {
		t.Errorf("Authorization = %q, want Basic base64(server_key + \":\")", got.Header.Get("Authorization"))
	}
	if got.Header.Get("X-Override-Notification") != req.CallbackURL {
		t.Errorf("X-Override-Notification = %q, want the callback URL", got.Header.Get("X-Override-Notification"))
	}
	if k := got.Header.Get("Idempotency-Key"); len(k) == 0 || len(k) > 36 {
		t.Errorf("Idempotency-Key = %q, want 1 to 36 characters", k)
	}
	body := maps.Clone(got.Body)
	expiry, _ := body["expiry"].(map[string]any)
	delete(body, "expiry")
	want := map[string]any{
		"transaction_details": map[string]any{"order_id": orderID, "gross_amount": jsonNumber("150000")},
		"item_details": []any{
			map[string]any{"id": "PLAN-10M", "name": "Hotspot 10 Mbps, 30 days", "price": jsonNumber("140000"), "quantity": jsonNumber("1")},
			map[string]any{"id": "FEE", "name": "Admin fee", "price": jsonNumber("5000"), "quantity": jsonNumber("2")},
		},
		"customer_details": map[string]any{"first_name": "Budi Susanto", "email": "budi@example.com", "phone": "+6281234567890"},
		"callbacks":        map[string]any{"finish": req.ReturnURL},
	}
	if d := cmp.Diff(want, body); d != "" {
		t.Errorf("Snap request body (-want +got):\n%s", d)
	}
	if expiry["unit"] != "minute" || expiry["duration"] != jsonNumber("120") {
		t.Errorf("expiry = %v, want 120 minutes", expiry)
	}
}

func TestCreatePaymentIdempotency(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	orderID := newOrderID()
	first := e.create(orderID)

	t.Run("same key, same payment, one transaction", func(t *testing.T) {
		again, err := e.pay.CreatePayment(ctx, createReq(orderID))
		if err != nil {
			t.Fatal(err)
		}
		if again.Payment.ID != first.ID || again.Payment.Token != first.Token || again.Payment.CheckoutURL != first.CheckoutURL {
			t.Errorf("second create = %+v, want the first %+v", again.Payment, first)
		}
		if n := e.fake.snapRequestCount(); n != 1 {
			t.Errorf("Midtrans got %d Snap requests, want 1", n)
		}
	})
	t.Run("same key, another order", func(t *testing.T) {
		req := createReq(newOrderID())
		req.IdempotencyKey = "key-" + orderID
		if _, err := e.pay.CreatePayment(ctx, req); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("err = %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("same key, another amount", func(t *testing.T) {
		req := createReq(orderID)
		req.Amount.Amount = 99000
		if _, err := e.pay.CreatePayment(ctx, req); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("err = %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("another key, same order and amount: the order's payment", func(t *testing.T) {
		req := createReq(orderID)
		req.IdempotencyKey = "other-" + orderID
		resp, err := e.pay.CreatePayment(ctx, req)
		if err != nil || resp.Payment.Token != first.Token {
			t.Errorf("CreatePayment = %+v, %v; want the order's payment", resp, err)
		}
	})
	t.Run("another key, same order, another amount", func(t *testing.T) {
		req := createReq(orderID)
		req.IdempotencyKey = "third-" + orderID
		req.Amount.Amount = 1000
		if _, err := e.pay.CreatePayment(ctx, req); !errors.Is(err, sdk.ErrAlreadyExists) {
			t.Errorf("err = %v, want ErrAlreadyExists", err)
		}
	})
	t.Run("concurrent creates with one key make one transaction", func(t *testing.T) {
		orderID := newOrderID()
		e.fake.setStall(300 * time.Millisecond)
		defer e.fake.setStall(0)
		var wg sync.WaitGroup
		ids := make([]string, 5)
		errs := make([]error, 5)
		for i := range ids {
			wg.Go(func() {
				resp, err := e.pay.CreatePayment(ctx, createReq(orderID))
				errs[i] = err
				if err == nil {
					ids[i] = resp.Payment.Token
				}
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != e.fake.order(orderID).Token {
				t.Errorf("create %d: token %q, %v; want the one transaction's", i, ids[i], errs[i])
			}
		}
	})
	t.Run("survives a plugin restart", func(t *testing.T) {
		restarted := serveAgainst(t, e.fake, e.host)
		before := e.fake.snapRequestCount()
		resp, err := restarted.pay.CreatePayment(ctx, createReq(orderID))
		if err != nil || resp.Payment.Token != first.Token || e.fake.snapRequestCount() != before {
			t.Errorf("after a restart: %+v, %v; want the first payment and no new Snap request", resp, err)
		}
	})
}

// TestIdempotencySurvivesLosingTheCache: the records that make a retry
// return the first payment are in the host's durable store, so the host's
// cache losing everything (eviction, a Redis restart) between two
// CreatePayment calls with one key makes no second Snap transaction.
func TestIdempotencySurvivesLosingTheCache(t *testing.T) {
	e := newTestEnv(t)
	orderID := newOrderID()
	first := e.create(orderID)
	e.host.DropCache()
	again, err := e.pay.CreatePayment(ctxT(t), createReq(orderID))
	if err != nil {
		t.Fatalf("CreatePayment after the cache was lost: %v", err)
	}
	if again.Payment.ID != first.ID || again.Payment.Token != first.Token {
		t.Errorf("after the cache was lost: %+v; want the first payment %+v", again.Payment, first)
	}
	if n := e.fake.snapRequestCount(); n != 1 {
		t.Errorf("Midtrans got %d Snap requests, want 1", n)
	}
}

func TestCreatePaymentRefusals(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	tests := []struct {
		name string
		edit func(*payment.CreatePaymentRequest)
		want error
	}{
		{"amount 0", func(r *payment.CreatePaymentRequest) { r.Amount.Amount = 0 }, sdk.ErrInvalidArgument},
		{"no idempotency key", func(r *payment.CreatePaymentRequest) { r.IdempotencyKey = "" }, sdk.ErrInvalidArgument},
		{"USD", func(r *payment.CreatePaymentRequest) { r.Amount.Currency = "USD" }, payment.ErrUnsupportedCurrency},
		{"order id Midtrans refuses", func(r *payment.CreatePaymentRequest) { r.OrderID = "INV/2026#1" }, sdk.ErrInvalidArgument},
		{"order id too long", func(r *payment.CreatePaymentRequest) { r.OrderID = strings.Repeat("A", 51) }, sdk.ErrInvalidArgument},
		{"items that do not add up", func(r *payment.CreatePaymentRequest) {
			r.Items = []payment.LineItem{{Name: "x", Quantity: 1, UnitPrice: payment.Money{Amount: 1, Currency: "IDR"}}}
		}, sdk.ErrInvalidArgument},
		{"expiry in the past", func(r *payment.CreatePaymentRequest) { r.ExpiresAt = time.Now().Add(-time.Minute) }, sdk.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := createReq(newOrderID())
			tt.edit(req)
			if _, err := e.pay.CreatePayment(ctx, req); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if n := e.fake.snapRequestCount(); n != 0 {
		t.Errorf("Midtrans got %d Snap requests for refused payments", n)
	}
}

func TestCreatePaymentWhenMidtransHasTheOrder(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)

	t.Run("known to the status API: adopted", func(t *testing.T) {
		orderID := newOrderID()
		// Another system (or a lost record) made the order; the customer
		// picked a virtual account.
		other := serveAgainst(t, e.fake, sdktest.NewFakeHost())
		other.create(orderID)
		e.fake.setStatus(orderID, "pending", "accept")
		resp, err := e.pay.CreatePayment(ctx, createReq(orderID))
		if err != nil {
			t.Fatalf("CreatePayment: %v", err)
		}
		if p := resp.Payment; p.ID != orderID || p.Status != payment.StatusPending || p.Amount.Amount != 150000 || p.PayCode != "12345678901" {
			t.Errorf("payment = %+v", p)
		}
		again, err := e.pay.CreatePayment(ctx, createReq(orderID))
		if err != nil || again.Payment.ID != orderID {
			t.Errorf("the same key again: %+v, %v", again, err)
		}
	})
	t.Run("another amount", func(t *testing.T) {
		orderID := newOrderID()
		other := serveAgainst(t, e.fake, sdktest.NewFakeHost())
		other.create(orderID)
		e.fake.setStatus(orderID, "pending", "")
		req := createReq(orderID)
		req.Amount.Amount = 200000
		if _, err := e.pay.CreatePayment(ctx, req); !errors.Is(err, sdk.ErrAlreadyExists) {
			t.Errorf("err = %v, want ErrAlreadyExists", err)
		}
	})
	t.Run("not known to the status API yet", func(t *testing.T) {
		orderID := newOrderID()
		other := serveAgainst(t, e.fake, sdktest.NewFakeHost())
		other.create(orderID)
		_, err := e.pay.CreatePayment(ctx, createReq(orderID))
		if !errors.Is(err, sdk.ErrAlreadyExists) || !strings.Contains(err.Error(), "new order id") {
			t.Errorf("err = %v, want ErrAlreadyExists that says to bill under a new order id", err)
		}
		// The key was released: nothing is left half-claimed, so a retry
		// with it asks Midtrans again instead of waiting for a claim.
		before := e.fake.snapRequestCount()
		start := time.Now()
		_, err = e.pay.CreatePayment(ctx, createReq(orderID))
		if !errors.Is(err, sdk.ErrAlreadyExists) || e.fake.snapRequestCount() != before+1 || time.Since(start) > 5*time.Second {
			t.Errorf("a retry with the key: %v after %s, %d Snap requests; want ErrAlreadyExists from a new Snap request at once", err, time.Since(start), e.fake.snapRequestCount()-before)
		}
	})
}

func TestRetries(t *testing.T) {
	t.Run("Snap create retried after 503", func(t *testing.T) {
		e := newTestEnv(t)
		e.fake.failNext("/snap/", 503, 2, false)
		p := e.create(newOrderID())
		if p.Token == "" || e.fake.snapRequestCount() != 1 {
			t.Errorf("payment %+v after %d accepted Snap requests", p, e.fake.snapRequestCount())
		}
	})
	t.Run("Snap create not retried after 400", func(t *testing.T) {
		e := newTestEnv(t)
		req := createReq(newOrderID())
		req.Items = []payment.LineItem{{Name: "", SKU: "X", Quantity: 1, UnitPrice: payment.Money{Amount: 150000, Currency: "IDR"}}}
		_, err := e.pay.CreatePayment(ctxT(t), req)
		if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "item_details.name is required") {
			t.Errorf("err = %v, want ErrInvalidArgument with Midtrans' message", err)
		}
		if n := e.fake.snapRequestCount(); n != 1 {
			t.Errorf("%d Snap requests, want 1", n)
		}
	})
	t.Run("retries are bounded", func(t *testing.T) {
		e := newTestEnv(t, func(s map[string]any) { s["max_retries"] = 1 })
		e.fake.failNext("/snap/", 500, 5, false)
		_, err := e.pay.CreatePayment(ctxT(t), createReq(newOrderID()))
		if !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
		e.fake.mu.Lock()
		left := e.fake.fail[0].n
		e.fake.mu.Unlock()
		if left != 3 {
			t.Errorf("%d attempts, want 2 (1 + max_retries 1)", 5-left)
		}
	})
	t.Run("a lost answer: the retry meets the used order id", func(t *testing.T) {
		e := newTestEnv(t)
		orderID := newOrderID()
		e.fake.failNext("/snap/", 502, 1, true)
		_, err := e.pay.CreatePayment(ctxT(t), createReq(orderID))
		// Midtrans made the transaction but its answer was lost; the status
		// API does not show a Snap transaction before the customer picks a
		// method, so the checkout link cannot be recovered.
		if !errors.Is(err, sdk.ErrAlreadyExists) {
			t.Errorf("err = %v, want ErrAlreadyExists", err)
		}
	})
	t.Run("status retried after 503", func(t *testing.T) {
		e := newTestEnv(t)
		orderID := newOrderID()
		e.create(orderID)
		e.fake.setStatus(orderID, "settlement", "accept")
		e.fake.failNext("/v2/", 503, 2, false)
		resp, err := e.pay.GetPayment(ctxT(t), &payment.GetPaymentRequest{ID: orderID})
		if err != nil || resp.Payment.Status != payment.StatusPaid {
			t.Errorf("GetPayment = %+v, %v", resp, err)
		}
	})
}

func TestTimeouts(t *testing.T) {
	t.Run("an attempt that takes too long", func(t *testing.T) {
		e := newTestEnv(t, func(s map[string]any) { s["timeout_seconds"] = 1; s["max_retries"] = 0 })
		e.fake.setStall(3 * time.Second)
		start := time.Now()
		_, err := e.pay.CreatePayment(ctxT(t), createReq(newOrderID()))
		if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within 1s") {
			t.Errorf("err = %v, want ErrUnavailable saying Midtrans did not answer", err)
		}
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("took %s with a 1 s timeout", d)
		}
	})
	t.Run("the caller's deadline", func(t *testing.T) {
		e := newTestEnv(t, func(s map[string]any) { s["timeout_seconds"] = 30 })
		e.fake.setStall(10 * time.Second)
		defer e.fake.setStall(0)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.pay.CreatePayment(ctx, createReq(newOrderID()))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("returned after %s; the deadline was 200 ms", d)
		}
		// The plugin gave up too (not only the gRPC client): its log says
		// nothing more, and a new call works at once.
		e.fake.setStall(0)
		if _, err := e.pay.CreatePayment(ctxT(t), createReq(newOrderID())); err != nil {
			t.Errorf("create after the stall: %v", err)
		}
	})
	t.Run("a canceled webhook confirmation", func(t *testing.T) {
		e := newTestEnv(t)
		orderID := newOrderID()
		e.create(orderID)
		e.fake.setStatus(orderID, "settlement", "accept")
		e.fake.setStall(10 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := e.pay.HandleWebhook(ctx, &payment.WebhookRequest{Request: e.fake.paidNotification(orderID)})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		e.fake.setStall(0)
		// Not recorded as handled: Midtrans' next delivery goes through.
		if _, err := e.webhook(e.fake.paidNotification(orderID)); err != nil {
			t.Errorf("the next delivery: %v", err)
		}
	})
}

func TestGetPayment(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	orderID := newOrderID()
	created := e.create(orderID)

	t.Run("before the customer picks a method", func(t *testing.T) {
		resp, err := e.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: created.ID})
		if err != nil {
			t.Fatal(err)
		}
		if p := resp.Payment; p.Status != payment.StatusPending || p.Amount != created.Amount || p.CheckoutURL != created.CheckoutURL {
			t.Errorf("payment = %+v, want pending with its checkout URL", p)
		}
	})
	t.Run("by order id", func(t *testing.T) {
		if _, err := e.pay.GetPayment(ctx, &payment.GetPaymentRequest{OrderID: orderID}); err != nil {
			t.Error(err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := e.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: "INV-never-made"})
		if !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("err = %v, want ErrUnknownOrder", err)
		}
	})
	t.Run("unknown, status_code 404 in a 200 body", func(t *testing.T) {
		e.fake.mu.Lock()
		e.fake.statusInBody = true
		e.fake.mu.Unlock()
		defer func() { e.fake.mu.Lock(); e.fake.statusInBody = false; e.fake.mu.Unlock() }()
		_, err := e.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: "INV-never-made"})
		if !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("err = %v, want ErrUnknownOrder", err)
		}
	})
	t.Run("an id that is not a path segment", func(t *testing.T) {
		_, err := e.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: "../../snap/v1/transactions?x=1#"})
		if !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("err = %v, want ErrUnknownOrder", err)
		}
	})
	for _, tt := range []struct {
		tx, fraud string
		want      payment.Status
	}{
		{"pending", "", payment.StatusPending},
		{"capture", "challenge", payment.StatusPending},
		{"capture", "accept", payment.StatusPaid},
		{"settlement", "accept", payment.StatusPaid},
		{"deny", "deny", payment.StatusFailed},
		{"cancel", "", payment.StatusCancelled},
		{"expire", "", payment.StatusExpired},
		{"refund", "accept", payment.StatusRefunded},
	} {
		t.Run(tt.tx+"/"+tt.fraud, func(t *testing.T) {
			e.fake.setStatus(orderID, tt.tx, tt.fraud)
			resp, err := e.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: orderID})
			if err != nil {
				t.Fatal(err)
			}
			p := resp.Payment
			if p.Status != tt.want || p.GatewayStatus != tt.tx || p.Amount != created.Amount || p.ID != orderID || p.CheckoutURL != created.CheckoutURL {
				t.Errorf("payment = %+v, want %s", p, tt.want)
			}
			if tt.want == payment.StatusPaid && p.PaidAt.IsZero() && tt.tx == "settlement" {
				t.Error("paid without PaidAt")
			}
		})
	}
	t.Run("by Midtrans' transaction id", func(t *testing.T) {
		resp, err := e.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: e.fake.order(orderID).TxID})
		if err != nil || resp.Payment.ID != orderID {
			t.Errorf("GetPayment = %+v, %v", resp, err)
		}
	})
	t.Run("a refused key", func(t *testing.T) {
		bad := serveAgainst(t, e.fake, e.host, func(s map[string]any) { s["server_key"] = "SB-Mid-server-wrong" })
		_, err := bad.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: orderID})
		if !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), "server_key") {
			t.Errorf("GetPayment err = %v, want ErrFailedPrecondition about server_key", err)
		}
		_, err = bad.pay.CreatePayment(ctx, createReq(newOrderID()))
		if !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), "server_key") {
			t.Errorf("CreatePayment err = %v, want ErrFailedPrecondition about server_key", err)
		}
	})
}

func TestGetPaymentPastExpiry(t *testing.T) {
	var offset atomic.Int64
	g := NewGateway()
	g.SetClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	e := serveGateway(t, g, newFakeMidtrans(t), sdktest.NewFakeHost())
	orderID := newOrderID()
	created := e.create(orderID)
	if d := time.Until(created.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("expires in %s, want Midtrans' default of 24 h", d)
	}
	offset.Store(int64(25 * time.Hour))
	resp, err := e.pay.GetPayment(ctxT(t), &payment.GetPaymentRequest{ID: orderID})
	if err != nil || resp.Payment.Status != payment.StatusExpired {
		t.Errorf("GetPayment a day later, the customer never having picked a method = %+v, %v; want expired", resp, err)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newTestEnv(t, func(s map[string]any) { s["max_retries"] = 0; s["timeout_seconds"] = 1 })
	ctx := ctxT(t)
	health, err := e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if err != nil || health.Status != sdk.HealthOK {
		t.Fatalf("CheckHealth = %+v, %v", health, err)
	}
	e.fake.failNext("/snap/", 503, 1, false)
	if _, err := e.pay.CreatePayment(ctx, createReq(newOrderID())); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	health, _ = e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if health.Status != sdk.HealthDegraded {
		t.Errorf("after a failed call: %+v, want degraded", health)
	}
	e.create(newOrderID())
	health, _ = e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if health.Status != sdk.HealthOK {
		t.Errorf("after a good call: %+v, want ok", health)
	}
	m, err := e.h.Plugin().CollectMetrics(ctx, &sdk.CollectMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`midtrans_api_requests_total{operation="snap_create",outcome="503"} 1`,
		`midtrans_api_requests_total{operation="snap_create",outcome="201"} 1`,
	} {
		if !strings.Contains(string(m.Text), want) {
			t.Errorf("metrics lack %s:\n%s", want, m.Text)
		}
	}
}

func jsonNumber(s string) json.Number { return json.Number(s) }
