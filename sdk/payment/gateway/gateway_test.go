package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// memAPI is a gateway held in memory, behind gateway.API: these tests are
// about what the SDK does around it.
type memAPI struct {
	mu       sync.Mutex
	payments map[string]*payment.Payment
	creates  int
	// lose: the next Create makes the payment and then fails as if the
	// answer was lost on the way.
	lose bool
	// answer, when set, replaces Create's answer.
	answer *payment.Payment
	// block: Get waits for the caller's context.
	block bool
}

func (m *memAPI) Create(_ context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creates++
	p := &payment.Payment{ID: fmt.Sprintf("pay_%d", m.creates), OrderID: req.OrderID, Amount: req.Amount, Status: payment.StatusPending, CreatedAt: time.Now()}
	m.payments[p.ID] = p
	if m.answer != nil {
		return m.answer, nil
	}
	if m.lose {
		m.lose = false
		return nil, fmt.Errorf("%w: the gateway did not answer", sdk.ErrUnavailable)
	}
	q := *p
	return &q, nil
}

func (m *memAPI) Get(ctx context.Context, id string) (*payment.Payment, error) {
	if m.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.payments[id]
	if !ok {
		return nil, fmt.Errorf("%w: no payment %s", payment.ErrUnknownOrder, id)
	}
	q := *p
	return &q, nil
}

func (m *memAPI) GetByOrder(_ context.Context, orderID string) (*payment.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var newest *payment.Payment
	for _, p := range m.payments {
		if p.OrderID == orderID && (newest == nil || p.ID > newest.ID) {
			newest = p
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("%w: no payment for order %s", payment.ErrUnknownOrder, orderID)
	}
	q := *newest
	return &q, nil
}

func (m *memAPI) setStatus(id string, s payment.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.payments[id].Status = s
}

// A notification is JSON of gateway.Notification, the token in a header.
func (m *memAPI) VerifyNotification(r *sdk.HTTPRequest) error {
	return gateway.Verify("the X-Token header", r.Header.Get("X-Token"), "token-0123456789")
}

func (m *memAPI) ParseNotification(r *sdk.HTTPRequest) (*gateway.Notification, error) {
	if string(r.Body) == "ping" {
		return nil, nil
	}
	var n gateway.Notification
	return &n, json.Unmarshal(r.Body, &n)
}

func note(n gateway.Notification, token string) *payment.WebhookRequest {
	body, _ := json.Marshal(n)
	return &payment.WebhookRequest{Request: sdk.HTTPRequest{Method: http.MethodPost, Header: http.Header{"X-Token": {token}}, Body: body, ReceivedAt: time.Now()}}
}

type settings struct {
	gateway.Connection
	Token string `json:"token"`
}

func (s settings) Validate() error {
	var p gateway.Problems
	p.If(s.Token == "bad", "token must not be bad")
	return p.Err()
}

// serve serves a Gateway over m, with host as the host's services.
func serve(t *testing.T, m *memAPI, host *sdktest.FakeHost, callTimeout time.Duration) (*sdktest.Harness, payment.Gateway) {
	t.Helper()
	g := gateway.New(gateway.Spec[settings]{
		Name: "payment-mem", Version: "0.1.0", Currencies: []string{"IDR", "PHP"}, CallTimeout: callTimeout,
		Environments: map[string]string{"sandbox": "https://sandbox.mem.example"},
		Defaults:     settings{Connection: gateway.Connection{Environment: "sandbox"}},
		New: func(s settings, env *gateway.Env) (gateway.API, error) {
			if s.Token == "" {
				return nil, fmt.Errorf("%w: set token", gateway.ErrNotConfigured)
			}
			return m, nil
		},
	})
	h := sdktest.Serve(t, g, sdktest.WithHost(host))
	return h, h.Payment()
}

// configured serves a Gateway over m configured with a token, and makes a
// first payment with key k1.
func configured(t *testing.T, m *memAPI, host *sdktest.FakeHost) (payment.Gateway, payment.Payment) {
	t.Helper()
	h, gw := serve(t, m, host, 0)
	if _, err := h.Configure(context.Background(), map[string]any{"token": "t"}); err != nil {
		t.Fatal(err)
	}
	p, err := gw.CreatePayment(context.Background(), create("k1", idr))
	if err != nil {
		t.Fatal(err)
	}
	return gw, p.Payment
}

var idr = payment.Money{Amount: 150000, Currency: "IDR"}

func create(key string, amount payment.Money) *payment.CreatePaymentRequest {
	return &payment.CreatePaymentRequest{OrderID: "INV-1", Amount: amount, IdempotencyKey: key}
}

func TestConfigure(t *testing.T) {
	ctx := context.Background()
	h, gw := serve(t, &memAPI{payments: map[string]*payment.Payment{}}, sdktest.NewFakeHost(), 0)
	refused := []struct {
		settings map[string]any
		want     string
	}{
		{map[string]any{"tokn": "x"}, `unknown field "tokn"`},
		{map[string]any{"timeout_seconds": "1"}, `field "timeout_seconds": expected int`},
		{map[string]any{"token": "bad", "environment": "live", "timeout_seconds": 0}, `token must not be bad; environment must be "sandbox", got "live"; timeout_seconds must be 1 to 60, got 0`},
		{map[string]any{"token": "t", "base_url": "http://mem.example"}, "only for loopback"},
	}
	for _, tt := range refused {
		if _, err := h.Configure(ctx, tt.settings); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Configure(%v): %v; want sdk.ErrInvalidArgument saying %q", tt.settings, err, tt.want)
		}
	}
	resp, err := h.Configure(ctx, map[string]any{})
	if err != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "set token") {
		t.Fatalf("Configure({}): %+v, %v; want accepted with a warning", resp, err)
	}
	health, _ := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if health.Status != sdk.HealthDegraded || health.Message != "failed precondition: payment-mem is not configured: set token" {
		t.Errorf("CheckHealth: %+v", health)
	}
	if _, err := gw.CreatePayment(ctx, create("k", idr)); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("CreatePayment: %v; want sdk.ErrFailedPrecondition", err)
	}
	if _, err := gw.HandleWebhook(ctx, note(gateway.Notification{PaymentID: "p"}, "token-0123456789")); !errors.Is(err, payment.ErrInvalidSignature) {
		t.Errorf("HandleWebhook: %v; want payment.ErrInvalidSignature", err)
	}
	if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
		t.Fatal(err)
	}
	health, _ = h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if health.Status != sdk.HealthOK || health.Details["base_url"] != "https://sandbox.mem.example" {
		t.Errorf("CheckHealth: %+v; want ok", health)
	}
}

func TestCreatePayment(t *testing.T) {
	ctx := context.Background()
	m := &memAPI{payments: map[string]*payment.Payment{}}
	host := sdktest.NewFakeHost()
	gw, first := configured(t, m, host)
	t.Run("a key seen before returns its payment", func(t *testing.T) {
		again, err := gw.CreatePayment(ctx, create("k1", idr))
		if err != nil || again.Payment.ID != first.ID || m.creates != 1 {
			t.Fatalf("CreatePayment: %+v, %v, %d creates; want %s from one create", again, err, m.creates, first.ID)
		}
	})
	t.Run("and survives a restart", func(t *testing.T) {
		_, again := configured(t, m, host)
		if again.ID != first.ID || m.creates != 1 {
			t.Fatalf("CreatePayment after a restart: %+v, %d creates", again, m.creates)
		}
	})
	t.Run("the same key for another amount", func(t *testing.T) {
		_, err := gw.CreatePayment(ctx, create("k1", payment.Money{Amount: 1, Currency: "IDR"}))
		if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "was used for order INV-1 of 150000 IDR") {
			t.Fatalf("CreatePayment: %v", err)
		}
	})
	t.Run("a currency the gateway does not take", func(t *testing.T) {
		if _, err := gw.CreatePayment(ctx, create("k2", payment.Money{Amount: 1, Currency: "USD"})); !errors.Is(err, payment.ErrUnsupportedCurrency) {
			t.Fatalf("CreatePayment: %v", err)
		}
	})
	t.Run("a lost answer: the retry adopts the payment made", func(t *testing.T) {
		m.lose = true
		before := m.creates
		if _, err := gw.CreatePayment(ctx, create("k3", idr)); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("CreatePayment: %v; want sdk.ErrUnavailable", err)
		}
		again, err := gw.CreatePayment(ctx, create("k3", idr))
		if err != nil || m.creates != before+1 || again.Payment.ID != fmt.Sprintf("pay_%d", m.creates) {
			t.Fatalf("CreatePayment: %+v, %v, %d creates; want the payment made before adopted", again, err, m.creates-before)
		}
	})
	t.Run("an answer about another amount", func(t *testing.T) {
		m.answer = &payment.Payment{ID: "pay_x", OrderID: "INV-1", Amount: payment.Money{Amount: 1, Currency: "IDR"}}
		defer func() { m.answer = nil }()
		if _, err := gw.CreatePayment(ctx, create("k4", idr)); !errors.Is(err, payment.ErrAmountMismatch) {
			t.Fatalf("CreatePayment: %v; want payment.ErrAmountMismatch", err)
		}
	})
	t.Run("concurrent creates with one key make one payment", func(t *testing.T) {
		before := m.creates
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				_, err := gw.CreatePayment(ctx, create("k5", idr))
				if err != nil && !errors.Is(err, sdk.ErrConflict) {
					t.Errorf("CreatePayment: %v; want a payment or sdk.ErrConflict", err)
				}
			})
		}
		wg.Wait()
		if m.creates != before+1 {
			t.Errorf("%d creates, want 1", m.creates-before)
		}
	})
	t.Run("GetPayment", func(t *testing.T) {
		for _, tt := range []struct {
			req  payment.GetPaymentRequest
			want error
		}{
			{payment.GetPaymentRequest{ID: first.ID}, nil},
			{payment.GetPaymentRequest{ID: first.ID, OrderID: "INV-1"}, nil},
			{payment.GetPaymentRequest{OrderID: "INV-1"}, nil},
			{payment.GetPaymentRequest{ID: first.ID, OrderID: "INV-2"}, payment.ErrUnknownOrder},
			{payment.GetPaymentRequest{OrderID: "INV-404"}, payment.ErrUnknownOrder},
			{payment.GetPaymentRequest{}, sdk.ErrInvalidArgument},
		} {
			if _, err := gw.GetPayment(ctx, &tt.req); !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Errorf("GetPayment(%+v): %v; want %v", tt.req, err, tt.want)
			}
		}
	})
}

func TestHandleWebhook(t *testing.T) {
	ctx := context.Background()
	m := &memAPI{payments: map[string]*payment.Payment{}}
	host := sdktest.NewFakeHost()
	gw, p := configured(t, m, host)
	id := p.ID
	paid := gateway.Notification{PaymentID: id, OrderID: "INV-1", Status: payment.StatusPaid, Amount: idr, GatewayStatus: "PAID"}
	refusals := []struct {
		name string
		req  *payment.WebhookRequest
		want error
	}{
		{"no token", note(paid, ""), payment.ErrInvalidSignature},
		{"wrong token", note(paid, "token-0000000000"), payment.ErrInvalidSignature},
		{"not JSON", &payment.WebhookRequest{Request: sdk.HTTPRequest{Header: http.Header{"X-Token": {"token-0123456789"}}, Body: []byte(`{`)}}, payment.ErrMalformedPayload},
		{"no payment", note(gateway.Notification{Status: payment.StatusPaid}, "token-0123456789"), payment.ErrMalformedPayload},
		{"another order", note(gateway.Notification{PaymentID: id, OrderID: "INV-2", Status: payment.StatusPaid, Amount: idr}, "token-0123456789"), payment.ErrUnknownOrder},
		{"another amount", note(gateway.Notification{PaymentID: id, Status: payment.StatusPaid, Amount: payment.Money{Amount: 1, Currency: "IDR"}}, "token-0123456789"), payment.ErrAmountMismatch},
		{"paid before the status query says so", note(paid, "token-0123456789"), payment.ErrUnconfirmed},
		{"an unknown payment", note(gateway.Notification{PaymentID: "pay_404", Status: payment.StatusPaid}, "token-0123456789"), payment.ErrUnknownOrder},
	}
	for _, tt := range refusals {
		if _, err := gw.HandleWebhook(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: HandleWebhook: %v; want %v", tt.name, err, tt.want)
		}
	}
	m.setStatus(id, payment.StatusPaid)
	resp, err := gw.HandleWebhook(ctx, note(paid, "token-0123456789"))
	if err != nil || resp.Event == nil || !resp.Event.Confirmed || resp.Event.Duplicate || resp.Event.Status != payment.StatusPaid ||
		!strings.HasPrefix(resp.Event.EventID, "derived-") || string(resp.Response.Body) != `{"received":true}` {
		t.Fatalf("HandleWebhook: %+v, %v; want a confirmed paid event with a derived id", resp, err)
	}
	t.Run("a repeat after a restart is a duplicate", func(t *testing.T) {
		gw2, _ := configured(t, m, host)
		again, err := gw2.HandleWebhook(ctx, note(paid, "token-0123456789"))
		if err != nil || again.Event == nil || !again.Event.Duplicate || again.Event.EventID != resp.Event.EventID {
			t.Fatalf("HandleWebhook: %+v, %v; want the same event marked Duplicate", again, err)
		}
	})
	t.Run("an event id reused for another payment", func(t *testing.T) {
		q, _ := gw.CreatePayment(ctx, create("k2", idr))
		m.setStatus(q.Payment.ID, payment.StatusPaid)
		first := paid
		first.ID = "evt_1"
		if _, err := gw.HandleWebhook(ctx, note(first, "token-0123456789")); err != nil {
			t.Fatal(err)
		}
		reused := first
		reused.PaymentID = q.Payment.ID
		if _, err := gw.HandleWebhook(ctx, note(reused, "token-0123456789")); !errors.Is(err, payment.ErrReplay) {
			t.Fatalf("HandleWebhook: %v; want payment.ErrReplay", err)
		}
	})
	t.Run("a ping", func(t *testing.T) {
		resp, err := gw.HandleWebhook(ctx, &payment.WebhookRequest{Request: sdk.HTTPRequest{Header: http.Header{"X-Token": {"token-0123456789"}}, Body: []byte("ping")}})
		if err != nil || resp.Event != nil || resp.Response.StatusCode != http.StatusOK {
			t.Fatalf("HandleWebhook: %+v, %v; want 200 and no event", resp, err)
		}
	})
}

func TestCallTimeout(t *testing.T) {
	ctx := context.Background()
	m := &memAPI{payments: map[string]*payment.Payment{}, block: true}
	h, gw := serve(t, m, sdktest.NewFakeHost(), 300*time.Millisecond)
	if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	// The host gave no deadline; Spec.CallTimeout is one.
	if _, err := gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: "p"}); !errors.Is(err, context.DeadlineExceeded) || time.Since(begin) > 3*time.Second {
		t.Fatalf("GetPayment: %v after %s; want context.DeadlineExceeded", err, time.Since(begin))
	}
	if _, err := gw.HandleWebhook(ctx, note(gateway.Notification{PaymentID: "p", Status: payment.StatusPaid}, "token-0123456789")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("HandleWebhook: %v; want context.DeadlineExceeded", err)
	}
}

// TestNotificationsCounted: CollectMetrics counts each handled notification
// by its outcome, across new settings.
func TestNotificationsCounted(t *testing.T) {
	ctx := context.Background()
	m := &memAPI{payments: map[string]*payment.Payment{}}
	h, gw := serve(t, m, sdktest.NewFakeHost(), 0)
	if _, err := gw.HandleWebhook(ctx, note(gateway.Notification{PaymentID: "x"}, "token-0123456789")); err == nil {
		t.Fatal("HandleWebhook before Configure: no error")
	}
	if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
		t.Fatal(err)
	}
	p, err := gw.CreatePayment(ctx, create("k1", idr))
	if err != nil {
		t.Fatal(err)
	}
	m.setStatus(p.Payment.ID, payment.StatusPaid)
	paid := gateway.Notification{PaymentID: p.Payment.ID, OrderID: "INV-1", Status: payment.StatusPaid, Amount: idr, GatewayStatus: "PAID"}
	_, _ = gw.HandleWebhook(ctx, note(paid, "wrong-token-000000"))
	_, _ = gw.HandleWebhook(ctx, note(paid, "token-0123456789"))
	if _, err := h.Configure(ctx, map[string]any{"token": "t2"}); err != nil {
		t.Fatal(err)
	}
	_, _ = gw.HandleWebhook(ctx, note(paid, "token-0123456789"))
	text := metricsText(t, h)
	for _, want := range []string{
		`mem_notifications_total{outcome="not_configured"} 1`,
		`mem_notifications_total{outcome="bad_signature"} 1`,
		`mem_notifications_total{outcome="accepted"} 1`,
		`mem_notifications_total{outcome="duplicate"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
}

func metricsText(t *testing.T, h *sdktest.Harness) string {
	t.Helper()
	resp, err := h.Plugin().CollectMetrics(context.Background(), &sdk.CollectMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return string(resp.Text)
}
