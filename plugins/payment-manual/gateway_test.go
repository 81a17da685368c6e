package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

const secret = "s3cret-s3cret-s3cret"

// t0 is when every test starts.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// env is a gateway served over the SDK's harness.
type env struct {
	h   *sdktest.Harness
	gw  payment.Gateway
	clk *sdktest.Clock
	// host is the host's side: the durable store the plugin keeps its
	// payments in, and the events it publishes.
	host *sdktest.FakeHost
}

// defaultSettingsJSON are the settings most tests run with.
var defaultSettingsJSON = map[string]any{
	"bank_accounts":  []map[string]string{{"bank": "BCA", "account_number": "1234567890", "account_name": "PT Mikrobill"}},
	"confirm_secret": secret,
}

// serveUnconfigured serves a new gateway whose clock starts at t0, on a
// host of its own.
func serveUnconfigured(t *testing.T) *env {
	t.Helper()
	return serveOn(t, nil, nil, sdktest.NewClock(t0))
}

// serveOn serves a new gateway on host (a new FakeHost when nil), offered
// to the plugin through offer when not nil, with the clock clk.
func serveOn(t *testing.T, host *sdktest.FakeHost, offer sdk.Host, clk *sdktest.Clock) *env {
	t.Helper()
	if host == nil {
		host = sdktest.NewFakeHost()
		host.Now = clk.Now
	}
	if offer == nil {
		offer = host
	}
	g := NewGateway()
	g.now = clk.Now
	h := sdktest.Serve(t, g, sdktest.WithHost(offer))
	return &env{h: h, gw: h.Payment(), clk: clk, host: host}
}

// serve serves a new gateway configured with settings on the data
// directory dir.
func serve(t *testing.T, dir string, settings map[string]any) *env {
	t.Helper()
	e := serveUnconfigured(t)
	if _, err := e.configure(dir, settings); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return e
}

func (e *env) configure(dir string, settings map[string]any) (*sdk.ConfigureResponse, error) {
	raw, err := json.Marshal(settings)
	if err != nil {
		return nil, err
	}
	// The harness's Configure sets no data directory; the host's does.
	return e.h.Plugin().Configure(context.Background(), &sdk.ConfigureRequest{
		Settings: raw, Environment: "test", HostVersion: "0.0.0-test", DataDir: dir,
	})
}

func (e *env) create(t *testing.T, orderID, key string, amount int64) payment.Payment {
	t.Helper()
	resp, err := e.gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
		OrderID: orderID, Amount: payment.Money{Amount: amount, Currency: "IDR"}, IdempotencyKey: key,
	})
	if err != nil {
		t.Fatalf("CreatePayment(%s, %s): %v", orderID, key, err)
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
	header := http.Header{"Content-Type": {"application/json"}}
	if signature != "" {
		header.Set(SignatureHeader, signature)
	}
	return e.gw.HandleWebhook(context.Background(), &payment.WebhookRequest{Request: sdk.HTTPRequest{
		Method: http.MethodPost, Path: "/webhooks/payment-manual", Header: header, Body: body,
	}})
}

func confirmationBody(eventID, paymentID string, amount int64, currency string) []byte {
	b, _ := json.Marshal(confirmation{EventID: eventID, PaymentID: paymentID, Amount: amount, Currency: currency, ConfirmedBy: "teller-2"})
	return b
}

// wantPending is the payment CreatePayment makes for INV-42 at t0.
func wantPending(id, orderID string) payment.Payment {
	return payment.Payment{
		ID:      id,
		OrderID: orderID,
		Status:  payment.StatusPending,
		Amount:  payment.Money{Amount: 150000, Currency: "IDR"},
		Method:  "cash",
		Instructions: "Pay in cash at the counter or by bank transfer, then show the receipt to the operator.\n" +
			"Amount: 150000 IDR\nReference: " + orderID + "\nBCA 1234567890 (PT Mikrobill)",
		CreatedAt:     t0,
		ExpiresAt:     t0.Add(48 * time.Hour),
		GatewayStatus: "awaiting_confirmation",
	}
}

var idPattern = regexp.MustCompile(`^MAN-[0-9A-F]{12}$`)

func TestConfigure(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]any
		want     *sdk.ConfigureResponse
		wantErr  string
	}{
		{name: "with secret", settings: defaultSettingsJSON, want: &sdk.ConfigureResponse{}},
		{name: "without secret", settings: map[string]any{}, want: &sdk.ConfigureResponse{Warnings: []string{
			"confirm_secret is not set: confirmations by webhook are refused; operators confirm on the plugin's route",
		}}},
		{name: "short secret", settings: map[string]any{"confirm_secret": "short"},
			wantErr: "invalid argument: confirm_secret must be at least 16 characters"},
		{name: "lower-case currency", settings: map[string]any{"currencies": []string{"idr"}},
			wantErr: `invalid argument: currencies: "idr" is not an ISO 4217 code such as "IDR"`},
		{name: "no expiry", settings: map[string]any{"expiry_hours": 0},
			wantErr: "invalid argument: expiry_hours must be at least 1"},
		{name: "unknown field", settings: map[string]any{"confirm_secrets": secret},
			wantErr: `invalid argument: settings: unknown field "confirm_secrets"; check the plugin's config_schema for the fields it takes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := serveUnconfigured(t)
			got, err := e.configure(t.TempDir(), tt.settings)
			if tt.wantErr != "" {
				if !errors.Is(err, sdk.ErrInvalidArgument) || err.Error() != tt.wantErr {
					t.Errorf("Configure = %v, want %q (sdk.ErrInvalidArgument)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Configure (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreatePayment(t *testing.T) {
	ctx := context.Background()
	e := serve(t, t.TempDir(), defaultSettingsJSON)

	p := e.create(t, "INV-42", "invoice-42-1", 150000)
	if !idPattern.MatchString(p.ID) {
		t.Errorf("ID = %q, want MAN- and 12 hex digits", p.ID)
	}
	if diff := cmp.Diff(wantPending(p.ID, "INV-42"), p); diff != "" {
		t.Errorf("CreatePayment (-want +got):\n%s", diff)
	}

	t.Run("expiry from the request", func(t *testing.T) {
		at := t0.Add(2 * time.Hour).In(time.FixedZone("WIB", 7*3600))
		resp, err := e.gw.CreatePayment(ctx, &payment.CreatePaymentRequest{
			OrderID: "INV-43", Amount: payment.Money{Amount: 1000, Currency: "IDR"}, IdempotencyKey: "k-43",
			Method: "bank_transfer", ExpiresAt: at,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Payment.ExpiresAt.Equal(at) || resp.Payment.Method != "bank_transfer" {
			t.Errorf("ExpiresAt, Method = %v, %q; want %v, bank_transfer", resp.Payment.ExpiresAt, resp.Payment.Method, at)
		}
	})

	t.Run("same idempotency key returns the same payment", func(t *testing.T) {
		e.clk.Advance(time.Minute)
		again := e.create(t, "INV-42", "invoice-42-1", 150000)
		if diff := cmp.Diff(p, again); diff != "" {
			t.Errorf("second CreatePayment (-first +second):\n%s", diff)
		}
	})

	refusals := []struct {
		name    string
		req     *payment.CreatePaymentRequest
		wantIs  []error
		wantMsg string
	}{
		{
			name:    "reused key, other amount",
			req:     &payment.CreatePaymentRequest{OrderID: "INV-42", Amount: payment.Money{Amount: 140000, Currency: "IDR"}, IdempotencyKey: "invoice-42-1"},
			wantIs:  []error{sdk.ErrInvalidArgument},
			wantMsg: `invalid argument: idempotency key "invoice-42-1" was used for order INV-42 (150000 IDR); use a new key for a different payment`,
		},
		{
			name:    "reused key, other order",
			req:     &payment.CreatePaymentRequest{OrderID: "INV-44", Amount: payment.Money{Amount: 150000, Currency: "IDR"}, IdempotencyKey: "invoice-42-1"},
			wantIs:  []error{sdk.ErrInvalidArgument},
			wantMsg: `invalid argument: idempotency key "invoice-42-1" was used for order INV-42 (150000 IDR); use a new key for a different payment`,
		},
		{
			name:    "second pending payment for the order",
			req:     &payment.CreatePaymentRequest{OrderID: "INV-42", Amount: payment.Money{Amount: 150000, Currency: "IDR"}, IdempotencyKey: "invoice-42-2"},
			wantIs:  []error{sdk.ErrAlreadyExists},
			wantMsg: "already exists: order INV-42 already has the pending payment " + p.ID,
		},
		{
			name:    "unsupported currency",
			req:     &payment.CreatePaymentRequest{OrderID: "INV-45", Amount: payment.Money{Amount: 1000, Currency: "USD"}, IdempotencyKey: "k-45"},
			wantIs:  []error{payment.ErrUnsupportedCurrency, sdk.ErrInvalidArgument},
			wantMsg: "currency not supported by this gateway: USD; this gateway takes IDR",
		},
		{
			name:    "invalid request",
			req:     &payment.CreatePaymentRequest{OrderID: "INV-46", Amount: payment.Money{Amount: 1000, Currency: "IDR"}},
			wantIs:  []error{sdk.ErrInvalidArgument},
			wantMsg: "invalid argument: idempotency_key is required",
		},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.gw.CreatePayment(ctx, tt.req)
			if err == nil {
				t.Fatalf("CreatePayment = %+v, want an error", resp.Payment)
			}
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("CreatePayment = %v, want it to match %v", err, want)
				}
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("CreatePayment =\n  %q\nwant\n  %q", err, tt.wantMsg)
			}
		})
	}

	t.Run("other currencies when configured", func(t *testing.T) {
		e := serve(t, t.TempDir(), map[string]any{"currencies": []string{"IDR", "USD"}})
		resp, err := e.gw.CreatePayment(ctx, &payment.CreatePaymentRequest{
			OrderID: "INV-9", Amount: payment.Money{Amount: 1050, Currency: "USD"}, IdempotencyKey: "k",
		})
		if err != nil {
			t.Fatal(err)
		}
		want := "Pay in cash at the counter or by bank transfer, then show the receipt to the operator.\nAmount: 10.50 USD\nReference: INV-9"
		if resp.Payment.Instructions != want {
			t.Errorf("Instructions = %q, want %q", resp.Payment.Instructions, want)
		}
	})
}

func TestNotConfigured(t *testing.T) {
	ctx := context.Background()
	e := serveUnconfigured(t)
	const want = "failed precondition: the plugin has not been configured yet"
	calls := map[string]func() error{
		"CreatePayment": func() error {
			_, err := e.gw.CreatePayment(ctx, &payment.CreatePaymentRequest{OrderID: "INV-1", Amount: payment.Money{Amount: 1, Currency: "IDR"}, IdempotencyKey: "k"})
			return err
		},
		"GetPayment": func() error {
			_, err := e.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: "MAN-1"})
			return err
		},
		"HandleWebhook": func() error { _, err := e.webhook([]byte("{}"), Sign([]byte("{}"), secret)); return err },
		"Refund": func() error {
			_, err := e.gw.(payment.Refunder).Refund(ctx, &payment.RefundRequest{PaymentID: "MAN-1", IdempotencyKey: "k"})
			return err
		},
		"HandleHTTP": func() error {
			_, err := e.h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/payments", Request: sdk.HTTPRequest{Method: http.MethodGet}})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, sdk.ErrFailedPrecondition) || err.Error() != want {
				t.Errorf("%s = %v, want %q", name, err, want)
			}
		})
	}
}

func TestGetPayment(t *testing.T) {
	ctx := context.Background()
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	p1 := e.create(t, "INV-42", "k1", 150000)
	e.clk.Advance(time.Minute)
	other := e.create(t, "INV-99", "k99", 150000)

	tests := []struct {
		name    string
		req     *payment.GetPaymentRequest
		want    payment.Payment
		wantErr string
	}{
		{name: "by id", req: &payment.GetPaymentRequest{ID: p1.ID}, want: p1},
		{name: "by order id", req: &payment.GetPaymentRequest{OrderID: "INV-99"}, want: other},
		{name: "id wins over order id", req: &payment.GetPaymentRequest{ID: p1.ID, OrderID: "INV-99"}, want: p1},
		{name: "unknown id", req: &payment.GetPaymentRequest{ID: "MAN-000000000000"},
			wantErr: `unknown order: no payment with id "MAN-000000000000" or order ""`},
		{name: "unknown order", req: &payment.GetPaymentRequest{OrderID: "INV-1"},
			wantErr: `unknown order: no payment with id "" or order "INV-1"`},
		{name: "neither", req: &payment.GetPaymentRequest{},
			wantErr: `unknown order: no payment with id "" or order ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.gw.GetPayment(ctx, tt.req)
			if tt.wantErr != "" {
				if !errors.Is(err, payment.ErrUnknownOrder) || !errors.Is(err, sdk.ErrNotFound) || err.Error() != tt.wantErr {
					t.Errorf("GetPayment = %v, want %q (payment.ErrUnknownOrder)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetPayment: %v", err)
			}
			if diff := cmp.Diff(tt.want, resp.Payment); diff != "" {
				t.Errorf("GetPayment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	p := e.create(t, "INV-42", "k1", 150000)

	e.clk.Advance(48 * time.Hour) // exactly at ExpiresAt: still pending
	if got := e.get(t, p.ID); got.Status != payment.StatusPending {
		t.Fatalf("status at the expiry instant = %s, want pending", got.Status)
	}
	e.clk.Advance(time.Second)
	want := p
	want.Status, want.GatewayStatus = payment.StatusExpired, "expired"
	if diff := cmp.Diff(want, e.get(t, p.ID)); diff != "" {
		t.Errorf("GetPayment after expiry (-want +got):\n%s", diff)
	}

	// An expired payment can no longer be paid, either way.
	body := confirmationBody("evt-late", p.ID, 150000, "IDR")
	_, err := e.webhook(body, Sign(body, secret))
	if wantMsg := "failed precondition: payment " + p.ID + " is expired and can no longer be paid"; !errors.Is(err, sdk.ErrFailedPrecondition) || err.Error() != wantMsg {
		t.Errorf("confirmation of an expired payment = %v, want %q", err, wantMsg)
	}
	_, err = e.h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{
		Route: "/payments/{id}/confirm", PathParams: map[string]string{"id": p.ID},
		Request: sdk.HTTPRequest{Method: http.MethodPost, Path: "/payments/" + p.ID + "/confirm"},
	})
	if !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("operator confirmation of an expired payment = %v, want sdk.ErrFailedPrecondition", err)
	}

	// The order may get a new payment now.
	p2 := e.create(t, "INV-42", "k2", 150000)
	if p2.ID == p.ID || p2.Status != payment.StatusPending {
		t.Errorf("new payment = %s %s, want a new pending payment", p2.ID, p2.Status)
	}
	resp, err := e.gw.GetPayment(ctx, &payment.GetPaymentRequest{OrderID: "INV-42"})
	if err != nil || resp.Payment.ID != p2.ID {
		t.Errorf("GetPayment by order = %v, %v; want the newest payment %s", resp, err, p2.ID)
	}
}

func TestExpiredPaymentDoesNotBlockTheOrder(t *testing.T) {
	// The host retries an order whose payment expired without asking for
	// it first: the expired payment must not count as pending.
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	p1 := e.create(t, "INV-42", "k1", 150000)
	e.clk.Advance(49 * time.Hour)

	resp, err := e.gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
		OrderID: "INV-42", Amount: payment.Money{Amount: 150000, Currency: "IDR"}, IdempotencyKey: "k2",
	})
	if err != nil {
		t.Fatalf("CreatePayment after the first payment expired: %v", err)
	}
	if resp.Payment.ID == p1.ID || resp.Payment.Status != payment.StatusPending {
		t.Errorf("CreatePayment = %s %s, want a new pending payment", resp.Payment.ID, resp.Payment.Status)
	}
	if got := e.get(t, p1.ID).Status; got != payment.StatusExpired {
		t.Errorf("first payment is %s, want expired", got)
	}
}

func TestWebhookConfirms(t *testing.T) {
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	p := e.create(t, "INV-42", "k1", 150000)
	e.clk.Advance(10 * time.Minute)
	paidAt := e.clk.Now()

	body := confirmationBody("evt-1", p.ID, 150000, "IDR")
	resp, err := e.webhook(body, Sign(body, secret))
	if err != nil {
		t.Fatalf("HandleWebhook: %v", err)
	}
	want := &payment.WebhookResponse{
		Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"status":"ok"}`)},
		Event: &payment.Event{
			EventID: "evt-1", PaymentID: p.ID, OrderID: "INV-42", Status: payment.StatusPaid,
			Amount: payment.Money{Amount: 150000, Currency: "IDR"}, OccurredAt: paidAt,
			Confirmed: true, GatewayStatus: "confirmed", Raw: body,
		},
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("HandleWebhook (-want +got):\n%s", diff)
	}
	wantPaid := p
	wantPaid.Status, wantPaid.GatewayStatus, wantPaid.PaidAt = payment.StatusPaid, "confirmed", paidAt
	wantPaid.Raw = []byte(`{"confirmed_by":"teller-2"}`)
	if diff := cmp.Diff(wantPaid, e.get(t, p.ID)); diff != "" {
		t.Errorf("GetPayment after the confirmation (-want +got):\n%s", diff)
	}

	// The same confirmation again is the same event, marked Duplicate: the
	// host decides whether anything is left to credit.
	e.clk.Advance(time.Minute)
	resp, err = e.webhook(body, Sign(body, secret))
	if err != nil {
		t.Fatalf("repeated confirmation: %v", err)
	}
	want.Event.Duplicate = true
	want.Response.Body = []byte(`{"status":"already handled"}`)
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("repeated confirmation (-want +got):\n%s", diff)
	}

	// A second, different confirmation of a paid payment does not pay it
	// again: it reports the first payment time.
	body2 := confirmationBody("evt-2", p.ID, 150000, "IDR")
	resp, err = e.webhook(body2, Sign(body2, secret))
	if err != nil {
		t.Fatalf("second confirmation: %v", err)
	}
	if !resp.Event.OccurredAt.Equal(paidAt) || resp.Event.Status != payment.StatusPaid {
		t.Errorf("second confirmation reports %s at %v, want paid at %v", resp.Event.Status, resp.Event.OccurredAt, paidAt)
	}
	if diff := cmp.Diff(wantPaid, e.get(t, p.ID)); diff != "" {
		t.Errorf("GetPayment after the second confirmation (-want +got):\n%s", diff)
	}
}

func TestWebhookRefuses(t *testing.T) {
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	p := e.create(t, "INV-42", "k1", 150000)
	good := confirmationBody("evt-1", p.ID, 150000, "IDR")
	const badSignature = `invalid webhook signature: header X-Mikrobill-Signature must be "sha256=" and the hex HMAC-SHA256 of the body`

	tests := []struct {
		name      string
		body      []byte
		signature string
		wantIs    []error
		wantMsg   string
	}{
		{name: "wrong secret", body: good, signature: Sign(good, "another-secret-0123"),
			wantIs: []error{payment.ErrInvalidSignature, sdk.ErrUnauthenticated}, wantMsg: badSignature},
		{name: "missing signature", body: good, signature: "",
			wantIs: []error{payment.ErrInvalidSignature}, wantMsg: badSignature},
		{name: "signature without prefix", body: good, signature: Sign(good, secret)[len("sha256="):],
			wantIs: []error{payment.ErrInvalidSignature}, wantMsg: badSignature},
		{name: "signature not hex", body: good, signature: "sha256=zz",
			wantIs: []error{payment.ErrInvalidSignature}, wantMsg: badSignature},
		{name: "signature of another body", body: good, signature: Sign(confirmationBody("evt-1", p.ID, 1, "IDR"), secret),
			wantIs: []error{payment.ErrInvalidSignature}, wantMsg: badSignature},
		{name: "wrong amount", body: confirmationBody("evt-1", p.ID, 15000, "IDR"),
			wantIs:  []error{payment.ErrAmountMismatch, sdk.ErrInvalidArgument},
			wantMsg: "amount does not match the payment: confirmation says 15000 IDR, payment " + p.ID + " is 150000 IDR"},
		{name: "wrong currency", body: confirmationBody("evt-1", p.ID, 150000, "USD"),
			wantIs:  []error{payment.ErrAmountMismatch},
			wantMsg: "amount does not match the payment: confirmation says 1500.00 USD, payment " + p.ID + " is 150000 IDR"},
		{name: "unknown payment", body: confirmationBody("evt-1", "MAN-000000000000", 150000, "IDR"),
			wantIs:  []error{payment.ErrUnknownOrder, sdk.ErrNotFound},
			wantMsg: `unknown order: no payment "MAN-000000000000"`},
		{name: "not JSON", body: []byte("event_id=evt-1"),
			wantIs:  []error{payment.ErrMalformedPayload, sdk.ErrInvalidArgument},
			wantMsg: "malformed webhook payload: invalid character 'e' looking for beginning of value"},
		{name: "unknown field", body: []byte(`{"event_id":"evt-1","payment_id":"` + p.ID + `","amount":150000,"currency":"IDR","paid":true}`),
			wantIs:  []error{payment.ErrMalformedPayload},
			wantMsg: `malformed webhook payload: json: unknown field "paid"`},
		{name: "missing event id", body: confirmationBody("", p.ID, 150000, "IDR"),
			wantIs:  []error{payment.ErrMalformedPayload},
			wantMsg: "malformed webhook payload: event_id, payment_id, amount and currency are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := tt.signature
			if sig == "" && tt.name != "missing signature" {
				sig = Sign(tt.body, secret)
			}
			resp, err := e.webhook(tt.body, sig)
			if err == nil {
				t.Fatalf("HandleWebhook = %+v, want an error", resp)
			}
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("HandleWebhook = %v, want it to match %v", err, want)
				}
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("HandleWebhook =\n  %q\nwant\n  %q", err, tt.wantMsg)
			}
		})
	}
	if diff := cmp.Diff(wantPending(p.ID, "INV-42"), e.get(t, p.ID)); diff != "" {
		t.Errorf("the refused confirmations changed the payment (-want +got):\n%s", diff)
	}

	// The refused confirmations did not use up the event id.
	if _, err := e.webhook(good, Sign(good, secret)); err != nil {
		t.Errorf("valid confirmation after the refused ones: %v", err)
	}
}

func TestWebhookWithoutSecret(t *testing.T) {
	e := serve(t, t.TempDir(), map[string]any{})
	p := e.create(t, "INV-42", "k1", 150000)
	body := confirmationBody("evt-1", p.ID, 150000, "IDR")
	for _, sig := range []string{Sign(body, ""), Sign(body, secret), ""} {
		_, err := e.webhook(body, sig)
		const want = "invalid webhook signature: confirmations by webhook are off; set confirm_secret in the plugin's settings"
		if !errors.Is(err, payment.ErrInvalidSignature) || err.Error() != want {
			t.Errorf("HandleWebhook with signature %q = %v, want %q", sig, err, want)
		}
	}
	if got := e.get(t, p.ID).Status; got != payment.StatusPending {
		t.Errorf("status = %s, want pending", got)
	}
}

func TestRefund(t *testing.T) {
	ctx := context.Background()
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	refunder := e.gw.(payment.Refunder)
	paid := e.create(t, "INV-42", "k1", 150000)
	body := confirmationBody("evt-1", paid.ID, 150000, "IDR")
	if _, err := e.webhook(body, Sign(body, secret)); err != nil {
		t.Fatal(err)
	}
	pending := e.create(t, "INV-43", "k2", 150000)
	money := payment.Money{Amount: 150000, Currency: "IDR"}

	refusals := []struct {
		name    string
		req     *payment.RefundRequest
		wantIs  []error
		wantMsg string
	}{
		{name: "pending payment", req: &payment.RefundRequest{PaymentID: pending.ID, IdempotencyKey: "r"},
			wantIs:  []error{payment.ErrDeclined, sdk.ErrFailedPrecondition},
			wantMsg: "declined by the gateway: payment " + pending.ID + " is pending, only paid payments can be refunded"},
		{name: "partial", req: &payment.RefundRequest{PaymentID: paid.ID, Amount: payment.Money{Amount: 50000, Currency: "IDR"}, IdempotencyKey: "r"},
			wantIs:  []error{payment.ErrAmountMismatch},
			wantMsg: "amount does not match the payment: manual refunds are whole: 150000 IDR"},
		{name: "unknown payment", req: &payment.RefundRequest{PaymentID: "MAN-000000000000", IdempotencyKey: "r"},
			wantIs:  []error{payment.ErrUnknownOrder},
			wantMsg: `unknown order: no payment "MAN-000000000000"`},
		{name: "no idempotency key", req: &payment.RefundRequest{PaymentID: paid.ID},
			wantIs:  []error{sdk.ErrInvalidArgument},
			wantMsg: "invalid argument: idempotency_key is required"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := refunder.Refund(ctx, tt.req)
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("Refund = %v, want it to match %v", err, want)
				}
			}
			if err == nil || err.Error() != tt.wantMsg {
				t.Errorf("Refund = %v, want %q", err, tt.wantMsg)
			}
		})
	}

	want := &payment.RefundResponse{RefundID: "REF-" + paid.ID, PaymentID: paid.ID, Amount: money, Status: "succeeded"}
	for i, req := range []*payment.RefundRequest{
		{PaymentID: paid.ID, Reason: "duplicate", IdempotencyKey: "refund-1"},
		{PaymentID: paid.ID, Reason: "duplicate", IdempotencyKey: "refund-1"}, // retried
		{PaymentID: paid.ID, Amount: money, IdempotencyKey: "refund-2"},       // in full, explicitly
	} {
		got, err := refunder.Refund(ctx, req)
		if err != nil {
			t.Fatalf("Refund %d: %v", i, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Refund %d (-want +got):\n%s", i, diff)
		}
	}
	got := e.get(t, paid.ID)
	if got.Status != payment.StatusRefunded || got.GatewayStatus != "refunded" {
		t.Errorf("payment after refund is %s (%s), want refunded", got.Status, got.GatewayStatus)
	}
}

func TestListMethods(t *testing.T) {
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	got, err := e.gw.(payment.MethodLister).ListMethods(context.Background(), &payment.ListMethodsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &payment.ListMethodsResponse{Methods: []payment.Method{
		{Code: "cash", Name: "Cash", Group: "cash", Active: true},
		{Code: "bank_transfer", Name: "Bank transfer to BCA", Group: "bank_transfer", Active: true},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListMethods (-want +got):\n%s", diff)
	}
}

func TestHTTPRoutes(t *testing.T) {
	ctx := context.Background()
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	p1 := e.create(t, "INV-42", "k1", 150000)
	e.clk.Advance(time.Minute)
	p2 := e.create(t, "INV-43", "k2", 150000)
	jsonHeader := http.Header{"Content-Type": {"application/json"}}

	t.Run("list", func(t *testing.T) {
		resp, err := e.h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{
			Route:   "/payments",
			Request: sdk.HTTPRequest{Method: http.MethodGet, Path: "/payments", Principal: &sdk.Principal{Subject: "user-9", Role: "viewer"}},
		})
		if err != nil {
			t.Fatalf("GET /payments: %v", err)
		}
		if resp.Response.StatusCode != http.StatusOK || !cmp.Equal(resp.Response.Header, jsonHeader) {
			t.Errorf("GET /payments = %d %v, want 200 with JSON", resp.Response.StatusCode, resp.Response.Header)
		}
		var body struct {
			Payments []paymentView `json:"payments"`
		}
		if err := json.Unmarshal(resp.Response.Body, &body); err != nil {
			t.Fatalf("decode %s: %v", resp.Response.Body, err)
		}
		// Newest first.
		if diff := cmp.Diff([]paymentView{viewOf(p2), viewOf(p1)}, body.Payments); diff != "" {
			t.Errorf("GET /payments (-want +got):\n%s", diff)
		}
	})

	confirm := func(id string, who *sdk.Principal) (*sdk.HandleHTTPResponse, error) {
		return e.h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{
			Route:      "/payments/{id}/confirm",
			PathParams: map[string]string{"id": id},
			Request:    sdk.HTTPRequest{Method: http.MethodPost, Path: "/payments/" + id + "/confirm", Principal: who},
		})
	}

	t.Run("confirm", func(t *testing.T) {
		e.clk.Advance(time.Minute)
		paidAt := e.clk.Now()
		resp, err := confirm(p1.ID, &sdk.Principal{Subject: "user-7", Role: "operator"})
		if err != nil {
			t.Fatalf("POST confirm: %v", err)
		}
		want := p1
		want.Status, want.GatewayStatus, want.PaidAt = payment.StatusPaid, "confirmed", paidAt
		want.Raw = []byte(`{"confirmed_by":"user-7"}`)
		var got paymentView
		if err := json.Unmarshal(resp.Response.Body, &got); err != nil {
			t.Fatalf("decode %s: %v", resp.Response.Body, err)
		}
		if resp.Response.StatusCode != http.StatusOK {
			t.Errorf("status code = %d, want 200", resp.Response.StatusCode)
		}
		if diff := cmp.Diff(viewOf(want), got); diff != "" {
			t.Errorf("POST confirm (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, e.get(t, p1.ID)); diff != "" {
			t.Errorf("GetPayment after confirm (-want +got):\n%s", diff)
		}

		events := e.host.Events()
		if len(events) != 1 || events[0].ID == "" {
			t.Fatalf("events = %+v, want one payment.confirmed with an id", events)
		}
		wantEvent := sdk.Event{
			ID:      events[0].ID,
			Type:    "payment.confirmed",
			Source:  "plugin",
			Subject: "payment/" + p1.ID,
			Time:    paidAt,
			Data:    json.RawMessage(`{"amount":150000,"confirmed_by":"user-7","currency":"IDR","order_id":"INV-42","payment_id":"` + p1.ID + `"}`),
		}
		if diff := cmp.Diff(wantEvent, events[0]); diff != "" {
			t.Errorf("event (-want +got):\n%s", diff)
		}

		// Confirming again keeps the first confirmation.
		e.clk.Advance(time.Minute)
		if _, err := confirm(p1.ID, &sdk.Principal{Subject: "user-8", Role: "operator"}); err != nil {
			t.Fatalf("second POST confirm: %v", err)
		}
		if diff := cmp.Diff(want, e.get(t, p1.ID)); diff != "" {
			t.Errorf("GetPayment after a second confirm (-want +got):\n%s", diff)
		}
	})

	t.Run("confirm without principal", func(t *testing.T) {
		if _, err := confirm(p2.ID, nil); err != nil {
			t.Fatalf("POST confirm: %v", err)
		}
		if got := string(e.get(t, p2.ID).Raw); got != `{"confirmed_by":"operator"}` {
			t.Errorf("Raw = %s, want the default confirmer", got)
		}
	})

	t.Run("confirm unknown", func(t *testing.T) {
		_, err := confirm("MAN-000000000000", &sdk.Principal{Subject: "user-7", Role: "operator"})
		if want := `unknown order: no payment "MAN-000000000000"`; !errors.Is(err, payment.ErrUnknownOrder) || err.Error() != want {
			t.Errorf("POST confirm = %v, want %q", err, want)
		}
	})

	t.Run("unknown route", func(t *testing.T) {
		_, err := e.h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/refunds", Request: sdk.HTTPRequest{Method: http.MethodGet}})
		if want := "not found: no route GET /refunds"; !errors.Is(err, sdk.ErrNotFound) || err.Error() != want {
			t.Errorf("GET /refunds = %v, want %q", err, want)
		}
	})
}

// TestRestart (issue point 11b): payments, idempotency keys and replay
// records live in the host's store, not in the plugin's process or data
// directory: a new process on the same host store (another data directory)
// has them all.
func TestRestart(t *testing.T) {
	clk := sdktest.NewClock(t0)
	first := serveOn(t, nil, nil, clk)
	if _, err := first.configure(t.TempDir(), defaultSettingsJSON); err != nil {
		t.Fatal(err)
	}
	paid := first.create(t, "INV-42", "k1", 150000)
	body := confirmationBody("evt-1", paid.ID, 150000, "IDR")
	if _, err := first.webhook(body, Sign(body, secret)); err != nil {
		t.Fatal(err)
	}
	pending := first.create(t, "INV-43", "k2", 150000)
	wantPaid, wantPendingPayment := first.get(t, paid.ID), first.get(t, pending.ID)

	// A new process with another data directory, on the same host store.
	second := serveOn(t, first.host, nil, clk)
	if _, err := second.configure(t.TempDir(), defaultSettingsJSON); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantPaid, second.get(t, paid.ID)); diff != "" {
		t.Errorf("paid payment after restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantPendingPayment, second.get(t, pending.ID)); diff != "" {
		t.Errorf("pending payment after restart (-want +got):\n%s", diff)
	}
	// The idempotency keys and the replay records survive too.
	if again := second.create(t, "INV-43", "k2", 150000); again.ID != pending.ID {
		t.Errorf("same idempotency key after restart created %s, want %s", again.ID, pending.ID)
	}
	if resp, err := second.webhook(body, Sign(body, secret)); err != nil || !resp.Event.Duplicate {
		t.Errorf("repeated confirmation after restart = %+v, %v; want a duplicate event", resp, err)
	}
	reused := confirmationBody("evt-1", pending.ID, 150000, "IDR")
	if _, err := second.webhook(reused, Sign(reused, secret)); !errors.Is(err, payment.ErrReplay) {
		t.Errorf("evt-1 for another payment after restart = %v, want payment.ErrReplay", err)
	}

	// Another host store knows nothing of them.
	third := serve(t, "", defaultSettingsJSON)
	if _, err := third.gw.GetPayment(context.Background(), &payment.GetPaymentRequest{ID: paid.ID}); !errors.Is(err, payment.ErrUnknownOrder) {
		t.Errorf("GetPayment on another host store = %v, want payment.ErrUnknownOrder", err)
	}
}

func TestCheckHealth(t *testing.T) {
	ctx := context.Background()
	clk := sdktest.NewClock(t0)
	down := &faultyHost{FakeHost: sdktest.NewFakeHost()}
	e := serveOn(t, down.FakeHost, down, clk)
	got, err := e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	want := &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: "failed precondition: the plugin has not been configured yet"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckHealth before Configure (-want +got):\n%s", diff)
	}

	if _, err := e.configure(t.TempDir(), defaultSettingsJSON); err != nil {
		t.Fatal(err)
	}
	got, err = e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if diff := cmp.Diff(&sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "ready"}, got); err != nil || diff != "" {
		t.Errorf("CheckHealth after Configure (-want +got):\n%s %v", diff, err)
	}

	// The plugin keeps everything in the host's store: without it, it is
	// unhealthy.
	down.failGet(func(string) error { return fmt.Errorf("%w: the database is restarting", sdk.ErrUnavailable) })
	got, err = e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if err != nil || got.Status != sdk.HealthError || !strings.Contains(got.Message, "the host's plugin store does not answer") {
		t.Errorf("CheckHealth without the store = %+v, %v; want error naming the store", got, err)
	}
}

func TestDescribe(t *testing.T) {
	e := serveUnconfigured(t)
	got, err := e.h.Plugin().Describe(context.Background(), &sdk.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &sdk.DescribeResponse{
		Name: "payment-manual", Version: "0.1.0", Kind: sdk.KindPayment,
		Capabilities: []string{"http", "list_methods", "refund"},
		SDKVersion:   sdk.Version, Description: "Cash or bank transfer that an operator confirms",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
}
