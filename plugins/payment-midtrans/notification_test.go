package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestWebhookPaid(t *testing.T) {
	e := newTestEnv(t)
	orderID := newOrderID()
	created := e.create(orderID)
	e.fake.setStatus(orderID, "settlement", "accept")

	req := e.fake.paidNotification(orderID)
	resp, err := e.webhook(req)
	if err != nil {
		t.Fatalf("HandleWebhook: %v", err)
	}
	if resp.Response.StatusCode != 200 {
		t.Errorf("response %d, want 200 so Midtrans stops resending", resp.Response.StatusCode)
	}
	ev := resp.Event
	if ev == nil {
		t.Fatal("no event")
	}
	if ev.Status != payment.StatusPaid || !ev.Confirmed || ev.PaymentID != created.ID || ev.OrderID != orderID ||
		ev.Amount != created.Amount || ev.GatewayStatus != "settlement" || ev.EventID == "" || ev.OccurredAt.IsZero() ||
		string(ev.Raw) != string(req.Body) {
		t.Errorf("event = %+v", ev)
	}

	// A repeat is the same event, marked Duplicate, without a status query:
	// the host decides whether anything is left to credit (issue point 1).
	wantRepeat := func(t *testing.T, resp *payment.WebhookResponse, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("err = %v, want the event again", err)
		}
		got := resp.Event
		if got == nil || !got.Duplicate || got.EventID != ev.EventID || got.PaymentID != ev.PaymentID || got.OrderID != ev.OrderID ||
			got.Status != ev.Status || got.Amount != ev.Amount || resp.Response.StatusCode != 200 {
			t.Errorf("repeat = %+v (response %d), want %+v marked Duplicate with 200", got, resp.Response.StatusCode, ev)
		}
	}
	t.Run("repeat", func(t *testing.T) {
		calls := e.fake.statusCallCount()
		resp, err := e.webhook(req)
		wantRepeat(t, resp, err)
		if n := e.fake.statusCallCount() - calls; n != 0 {
			t.Errorf("a repeat asked the status API %d times; the replay record saves that", n)
		}
	})
	t.Run("repeat after a restart", func(t *testing.T) {
		restarted := serveAgainst(t, e.fake, e.host)
		resp, err := restarted.webhook(req)
		wantRepeat(t, resp, err)
	})
	t.Run("its transaction id for another order", func(t *testing.T) {
		other := newOrderID()
		e.create(other)
		e.fake.setStatus(other, "settlement", "accept")
		o := e.fake.order(orderID)
		_, err := e.webhook(e.fake.notification(other, o.TxID, "settlement", "accept", "150000.00", e.fake.serverKey))
		if !errors.Is(err, payment.ErrReplay) || !strings.Contains(err.Error(), orderID) || !strings.Contains(err.Error(), other) {
			t.Errorf("err = %v, want ErrReplay naming both orders", err)
		}
	})
	t.Run("GetPayment says paid", func(t *testing.T) {
		got, err := e.pay.GetPayment(ctxT(t), &payment.GetPaymentRequest{ID: ev.PaymentID, OrderID: ev.OrderID})
		if err != nil || got.Payment.Status != payment.StatusPaid || got.Payment.Amount != created.Amount {
			t.Errorf("GetPayment = %+v, %v", got, err)
		}
	})
}

func TestWebhookConcurrentDeliveries(t *testing.T) {
	e := newTestEnv(t)
	orderID := newOrderID()
	e.create(orderID)
	e.fake.setStatus(orderID, "settlement", "accept")
	req := e.fake.paidNotification(orderID)
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		handled    int
		duplicates int
	)
	for range 6 {
		wg.Go(func() {
			resp, err := e.webhook(req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("delivery: %v", err)
			case resp.Event.Duplicate:
				duplicates++
			default:
				handled++
			}
		})
	}
	wg.Wait()
	if handled+duplicates != 6 || handled < 1 {
		t.Errorf("%d handled, %d duplicates; want every delivery reported, at least one first", handled, duplicates)
	}
}

func TestWebhookStatuses(t *testing.T) {
	tests := []struct {
		name          string
		notify, fraud string // what the notification says
		api, apiFraud string // what the status API says
		want          payment.Status
		wantErr       error
	}{
		{name: "settlement", notify: "settlement", fraud: "accept", api: "settlement", apiFraud: "accept", want: payment.StatusPaid},
		{name: "capture accept", notify: "capture", fraud: "accept", api: "capture", apiFraud: "accept", want: payment.StatusPaid},
		{name: "capture challenge is not paid", notify: "capture", fraud: "challenge", api: "capture", apiFraud: "challenge", want: payment.StatusPending},
		{name: "pending", notify: "pending", api: "pending", want: payment.StatusPending},
		{name: "deny", notify: "deny", fraud: "deny", api: "deny", apiFraud: "deny", want: payment.StatusFailed},
		{name: "cancel", notify: "cancel", api: "cancel", want: payment.StatusCancelled},
		{name: "expire", notify: "expire", api: "expire", want: payment.StatusExpired},
		{name: "refund", notify: "refund", fraud: "accept", api: "refund", apiFraud: "accept", want: payment.StatusRefunded},
		{name: "a stale pending notification reports what Midtrans says now", notify: "pending", api: "settlement", apiFraud: "accept", want: payment.StatusPaid},
		{name: "a stale settlement reports the refund Midtrans has now", notify: "settlement", fraud: "accept", api: "refund", apiFraud: "accept", want: payment.StatusRefunded},
		{name: "a stale settlement reports the deny Midtrans has now", notify: "settlement", fraud: "accept", api: "deny", apiFraud: "deny", want: payment.StatusFailed},
		{name: "says settlement, Midtrans says pending: unconfirmed", notify: "settlement", fraud: "accept", api: "pending", wantErr: payment.ErrUnconfirmed},
		{name: "says capture accept, Midtrans says challenge: unconfirmed", notify: "capture", fraud: "accept", api: "capture", apiFraud: "challenge", wantErr: payment.ErrUnconfirmed},
	}
	e := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orderID := newOrderID()
			e.create(orderID)
			e.fake.setStatus(orderID, tt.api, tt.apiFraud)
			o := e.fake.order(orderID)
			resp, err := e.webhook(e.fake.notification(orderID, o.TxID, tt.notify, tt.fraud, "150000.00", e.fake.serverKey))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				// Refused, so not recorded: once Midtrans agrees, the same
				// notification goes through.
				e.fake.setStatus(orderID, tt.notify, tt.fraud)
				if _, err := e.webhook(e.fake.notification(orderID, o.TxID, tt.notify, tt.fraud, "150000.00", e.fake.serverKey)); err != nil {
					t.Errorf("the notification again, now confirmed: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("HandleWebhook: %v", err)
			}
			if ev := resp.Event; ev.Status != tt.want || !ev.Confirmed || ev.GatewayStatus != tt.api {
				t.Errorf("event = %+v, want %s", ev, tt.want)
			}
		})
	}
}

func TestWebhookRefusals(t *testing.T) {
	e := newTestEnv(t)
	orderID := newOrderID()
	e.create(orderID)
	e.fake.setStatus(orderID, "settlement", "accept")
	o := e.fake.order(orderID)
	key := e.fake.serverKey

	tamper := func(req sdk.HTTPRequest, field, value string) sdk.HTTPRequest {
		var m map[string]any
		if err := json.Unmarshal(req.Body, &m); err != nil {
			t.Fatal(err)
		}
		m[field] = value
		req.Body, _ = json.Marshal(m)
		return req
	}
	tests := []struct {
		name string
		req  sdk.HTTPRequest
		want error
	}{
		{"signed with another key", e.fake.notification(orderID, o.TxID, "settlement", "accept", "150000.00", "SB-Mid-server-other"), payment.ErrInvalidSignature},
		{"gross_amount changed after signing", tamper(e.fake.paidNotification(orderID), "gross_amount", "1500.00"), payment.ErrInvalidSignature},
		{"order_id changed after signing", tamper(e.fake.paidNotification(orderID), "order_id", newOrderID()), payment.ErrInvalidSignature},
		{"status_code changed after signing", tamper(e.fake.paidNotification(orderID), "status_code", "201"), payment.ErrInvalidSignature},
		{"gross_amount reformatted after signing", tamper(e.fake.paidNotification(orderID), "gross_amount", "150000"), payment.ErrInvalidSignature},
		{"no signature", tamper(e.fake.paidNotification(orderID), "signature_key", ""), payment.ErrInvalidSignature},
		{"wrong amount, validly signed", e.fake.notification(orderID, o.TxID, "settlement", "accept", "150001.00", key), payment.ErrAmountMismatch},
		{"a fraction of a rupiah", e.fake.notification(orderID, o.TxID, "settlement", "accept", "150000.50", key), payment.ErrAmountMismatch},
		{"another currency", tamper(e.fake.paidNotification(orderID), "currency", "USD"), payment.ErrAmountMismatch},
		{"unknown order", e.fake.notification("INV-never-made", uuid(), "settlement", "accept", "150000.00", key), payment.ErrUnknownOrder},
		{"not JSON", webhookRequest([]byte(`order_id=x&status_code=200`)), payment.ErrMalformedPayload},
		{"cut short", webhookRequest([]byte(`{"order_id":"` + orderID + `","status_code":"200",`)), payment.ErrMalformedPayload},
		{"empty", webhookRequest(nil), payment.ErrMalformedPayload},
		{"signed, but no transaction_status", webhookRequest([]byte(`{"order_id":"` + orderID + `","status_code":"200","gross_amount":"150000.00","signature_key":"` +
			signWith(key, orderID, "200", "150000.00") + `"}`)), payment.ErrMalformedPayload},
		{"signed, but gross_amount is not an amount", webhookRequest([]byte(`{"order_id":"` + orderID + `","status_code":"200","gross_amount":"lots","transaction_status":"settlement","signature_key":"` +
			signWith(key, orderID, "200", "lots") + `"}`)), payment.ErrMalformedPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.webhook(tt.req); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// None of the refusals used up the real notification.
	if _, err := e.webhook(e.fake.paidNotification(orderID)); err != nil {
		t.Errorf("the genuine notification after the refusals: %v", err)
	}
}

func TestWebhookAmountDisagreesWithStatusAPI(t *testing.T) {
	e := newTestEnv(t)
	orderID := newOrderID()
	e.create(orderID)
	e.fake.setStatus(orderID, "settlement", "accept")
	e.fake.mu.Lock()
	e.fake.orders[orderID].Gross = 15000
	e.fake.mu.Unlock()
	o := e.fake.order(orderID)
	_, err := e.webhook(e.fake.notification(orderID, o.TxID, "settlement", "accept", "150000.00", e.fake.serverKey))
	if !errors.Is(err, payment.ErrAmountMismatch) {
		t.Errorf("err = %v, want ErrAmountMismatch", err)
	}
}

func TestWebhookUnconfirmed(t *testing.T) {
	e := newTestEnv(t)
	orderID := newOrderID()
	e.create(orderID)
	// Midtrans' status API does not know the transaction (404).
	o := e.fake.order(orderID)
	req := e.fake.notification(orderID, o.TxID, "settlement", "accept", "150000.00", e.fake.serverKey)
	// payment.ErrUnconfirmed, which the host answers 409 unconfirmed as
	// docs/api.md says (it was sdk.ErrFailedPrecondition: 422).
	if _, err := e.webhook(req); !errors.Is(err, payment.ErrUnconfirmed) {
		t.Fatalf("err = %v, want payment.ErrUnconfirmed (not confirmed)", err)
	}
	e.fake.setStatus(orderID, "settlement", "accept")
	resp, err := e.webhook(req)
	if err != nil || resp.Event.Status != payment.StatusPaid {
		t.Errorf("once Midtrans confirms: %+v, %v", resp, err)
	}
}

func TestWebhookWhenMidtransIsDown(t *testing.T) {
	e := newTestEnv(t, func(s map[string]any) { s["max_retries"] = 0 })
	orderID := newOrderID()
	e.create(orderID)
	e.fake.setStatus(orderID, "settlement", "accept")
	e.fake.failNext("/v2/", 503, 1, false)
	req := e.fake.paidNotification(orderID)
	if _, err := e.webhook(req); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if _, err := e.webhook(req); err != nil {
		t.Errorf("Midtrans' next delivery: %v", err)
	}
}

func TestWebhookForAnOrderThisPluginDidNotRecord(t *testing.T) {
	e := newTestEnv(t)
	orderID := newOrderID()
	other := serveAgainst(t, e.fake, sdktest.NewFakeHost())
	other.create(orderID)
	e.fake.setStatus(orderID, "settlement", "accept")
	resp, err := e.webhook(e.fake.paidNotification(orderID))
	if err != nil || resp.Event.Status != payment.StatusPaid || resp.Event.Amount.Amount != 150000 {
		t.Errorf("HandleWebhook = %+v, %v; want paid as Midtrans' status API has it", resp, err)
	}
}

// TestNoSecretInLogs runs the plugin's paths, good and bad, with its log at
// trace level and checks that neither the server key nor the Authorization
// header value appears in the log or in any error.
func TestNoSecretInLogs(t *testing.T) {
	e := newTestEnv(t, func(s map[string]any) { s["timeout_seconds"] = 1 })
	ctx := ctxT(t)
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	orderID := newOrderID()
	e.create(orderID)
	_, err := e.pay.CreatePayment(ctx, createReq(orderID))
	keep(err)
	e.fake.failNext("/snap/", 503, 1, false)
	_, err = e.pay.CreatePayment(ctx, createReq(newOrderID()))
	keep(err)
	e.fake.setStall(1500 * time.Millisecond)
	_, err = e.pay.CreatePayment(ctx, createReq(newOrderID()))
	keep(err)
	e.fake.setStall(0)
	_, err = e.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: "INV-unknown"})
	keep(err)
	e.fake.setStatus(orderID, "settlement", "accept")
	_, err = e.webhook(e.fake.paidNotification(orderID))
	keep(err)
	other := newOrderID()
	e.create(other)
	_, err = e.webhook(e.fake.notification(other, e.fake.order(orderID).TxID, "settlement", "accept", "150000.00", e.fake.serverKey))
	keep(err) // its transaction id recorded for another order: ErrReplay
	_, err = e.webhook(e.fake.notification(orderID, "x", "settlement", "accept", "150000.00", "wrong"))
	keep(err)
	_, err = e.webhook(webhookRequest([]byte("{")))
	keep(err)

	bad := serveAgainst(t, e.fake, e.host, func(s map[string]any) { s["server_key"] = "SB-Mid-server-wrong-key-123" })
	_, err = bad.pay.CreatePayment(ctx, createReq(newOrderID()))
	keep(err)
	_, err = bad.pay.GetPayment(ctx, &payment.GetPaymentRequest{ID: orderID})
	keep(err)
	_, err = e.h.Configure(ctx, map[string]any{"server_key": e.fake.serverKey, "environment": "nope"})
	keep(err)

	if len(errs) < 8 {
		t.Fatalf("only %d paths failed; the test no longer covers the error paths", len(errs))
	}
	logs := e.logs.String() + bad.logs.String()
	if !strings.Contains(logs, "Snap transaction created") || !strings.Contains(logs, "retrying") {
		t.Fatalf("the captured log lacks the plugin's lines:\n%s", logs)
	}
	for _, key := range []string{e.fake.serverKey, "SB-Mid-server-wrong-key-123"} {
		auth := base64.StdEncoding.EncodeToString([]byte(key + ":"))
		for _, secret := range []string{key, auth} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains a secret (%.12s...)", secret)
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("an error contains a secret: %v", err)
				}
			}
		}
	}
}
