package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

func TestCallbackSignature(t *testing.T) {
	// Tripay signs the bytes it sends; any re-serialisation breaks it.
	body := []byte("{\n    \"reference\": \"T0001000023000XXXXX\",\n    \"merchant_ref\": \"INV123456\",\n    \"total_amount\": 200000,\n    \"status\": \"PAID\"\n}")
	sig := CallbackSignature(body, testPrivateKey)
	if sig != fakeSign(body) {
		t.Fatal("CallbackSignature differs from the fake's HMAC")
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	reserialised, _ := json.Marshal(v)
	verifier := &api{s: settings{PrivateKey: testPrivateKey}}
	for _, tc := range []struct {
		name   string
		header string
		body   []byte
		want   bool
	}{
		{"as sent", sig, body, true},
		{"upper-case hex", strings.ToUpper(sig), body, true},
		{"surrounding space", " " + sig + " ", body, true},
		{"re-serialised body", sig, reserialised, false},
		{"one byte more", sig, append(append([]byte(nil), body...), '\n'), false},
		{"other key", CallbackSignature(body, "other"), body, false},
		{"truncated", sig[:32], body, false},
		{"not hex", strings.Repeat("zz", 32), body, false},
		{"empty", "", body, false},
	} {
		req := signedRequest(tc.body)
		req.Header.Set(SignatureHeader, tc.header)
		err := verifier.VerifyNotification(&req)
		if got := err == nil; got != tc.want {
			t.Errorf("%s: valid = %v (%v), want %v", tc.name, got, err, tc.want)
		}
		if err != nil && !errors.Is(err, payment.ErrInvalidSignature) {
			t.Errorf("%s: error %v, want payment.ErrInvalidSignature", tc.name, err)
		}
	}
}

func TestWebhookPaid(t *testing.T) {
	e := newEnv(t)
	for _, method := range []string{"BRIVA", "QRIS"} {
		t.Run(method, func(t *testing.T) {
			p := e.create(t, "INV-P-"+method, "key-p-"+method, 150000, method)
			e.fake.setStatus(t, p.ID, "PAID")
			req := e.callback(t, p.ID, "PAID")
			resp, err := e.webhook(req)
			if err != nil {
				t.Fatal(err)
			}
			tx := e.fake.tx(t, p.ID)
			// Tripay's callbacks carry no event id: the SDK derives it from
			// the transaction, its order, status and invoice amount.
			eventID := gateway.DerivedEventID(&gateway.Notification{PaymentID: p.ID, OrderID: p.OrderID, Status: payment.StatusPaid,
				Amount: payment.Money{Amount: 150000, Currency: "IDR"}, GatewayStatus: "PAID"})
			want := &payment.Event{
				EventID: eventID, PaymentID: p.ID, OrderID: p.OrderID, Status: payment.StatusPaid,
				Amount:     payment.Money{Amount: 150000, Currency: "IDR"},
				OccurredAt: unixTime(flexInt{v: tx.Paid, set: true}), Confirmed: true, GatewayStatus: "PAID", Raw: req.Body,
			}
			if diff := cmp.Diff(want, resp.Event); diff != "" {
				t.Fatalf("event (-want +got):\n%s", diff)
			}
			if resp.Response.StatusCode != http.StatusOK || string(resp.Response.Body) != `{"success":true}` ||
				resp.Response.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("response = %+v (%s)", resp.Response, resp.Response.Body)
			}
			if got := e.get(t, p.ID); got.Status != payment.StatusPaid {
				t.Fatalf("status after = %s", got.Status)
			}
		})
	}
}

func TestWebhookStatuses(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		tripay string
		want   payment.Status
	}{
		{"UNPAID", payment.StatusPending},
		{"EXPIRED", payment.StatusExpired},
		{"FAILED", payment.StatusFailed},
		{"REFUND", payment.StatusRefunded},
	} {
		t.Run(tc.tripay, func(t *testing.T) {
			p := e.create(t, "INV-ST-"+tc.tripay, "key-st-"+tc.tripay, 50000, "BRIVA")
			e.fake.setStatus(t, p.ID, tc.tripay)
			resp, err := e.webhook(e.callback(t, p.ID, tc.tripay))
			if err != nil {
				t.Fatal(err)
			}
			ev := resp.Event
			if ev.Status != tc.want || !ev.Confirmed || ev.GatewayStatus != tc.tripay || ev.Amount.Amount != 50000 {
				t.Fatalf("event = %+v", ev)
			}
		})
	}

	// The event says what transaction/detail says (the SDK's rule: a
	// notification is never trusted alone); the version before the SDK
	// reported the callback's word, marked unconfirmed.
	t.Run("a non-paid status Tripay does not back is reported as Tripay's", func(t *testing.T) {
		p := e.create(t, "INV-ST-X", "key-st-x", 50000, "BRIVA")
		resp, err := e.webhook(e.callback(t, p.ID, "EXPIRED"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Event.Status != payment.StatusPending || resp.Event.GatewayStatus != "UNPAID" || !resp.Event.Confirmed {
			t.Fatalf("event = %+v", resp.Event)
		}
	})

	// A status word Tripay does not document is pending, never paid, in a
	// callback and in transaction/detail (the version before the SDK
	// refused such a callback as malformed and such a transaction as
	// unreadable).
	t.Run("an unknown status word", func(t *testing.T) {
		p := e.create(t, "INV-ST-U", "key-st-u", 50000, "BRIVA")
		e.fake.setStatus(t, p.ID, "CHARGEBACK")
		resp, err := e.webhook(e.callback(t, p.ID, "CHARGEBACK"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Event.Status != payment.StatusPending || resp.Event.GatewayStatus != "CHARGEBACK" {
			t.Fatalf("event = %+v", resp.Event)
		}
		if got := e.get(t, p.ID); got.Status != payment.StatusPending || got.GatewayStatus != "CHARGEBACK" {
			t.Fatalf("GetPayment = %+v", got)
		}
	})
}

func TestWebhookRefusals(t *testing.T) {
	e := newEnv(t)
	p := e.create(t, "INV-W1", "key-w1", 150000, "QRIS")
	e.fake.setStatus(t, p.ID, "PAID")
	valid := e.callback(t, p.ID, "PAID")

	edit := func(f func(*sdk.HTTPRequest)) sdk.HTTPRequest {
		r := valid
		r.Header = valid.Header.Clone()
		r.Body = append([]byte(nil), valid.Body...)
		f(&r)
		return r
	}
	signed := func(body string) sdk.HTTPRequest { return signedRequest([]byte(body)) }
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, valid.Body, "", "    ")

	for _, tc := range []struct {
		name string
		req  sdk.HTTPRequest
		want []error
	}{
		{"no signature", edit(func(r *sdk.HTTPRequest) { r.Header.Del(SignatureHeader) }), []error{payment.ErrInvalidSignature, sdk.ErrUnauthenticated}},
		{"signed with another key", edit(func(r *sdk.HTTPRequest) { r.Header.Set(SignatureHeader, CallbackSignature(r.Body, "guess")) }), []error{payment.ErrInvalidSignature}},
		{"body re-serialised", edit(func(r *sdk.HTTPRequest) { r.Body = pretty.Bytes() }), []error{payment.ErrInvalidSignature}},
		{"amount edited", edit(func(r *sdk.HTTPRequest) {
			r.Body = bytes.Replace(r.Body, []byte(`"total_amount":`), []byte(`"total_amount":1`), 1)
		}), []error{payment.ErrInvalidSignature}},
		{"signature not hex", edit(func(r *sdk.HTTPRequest) { r.Header.Set(SignatureHeader, "sha256=abc") }), []error{payment.ErrInvalidSignature}},
		{"garbage with a bad signature", edit(func(r *sdk.HTTPRequest) { r.Body = []byte("not json") }), []error{payment.ErrInvalidSignature}},
		{"no event header", edit(func(r *sdk.HTTPRequest) { r.Header.Del(EventHeader) }), []error{sdk.ErrInvalidArgument}},
		{"other event", edit(func(r *sdk.HTTPRequest) { r.Header.Set(EventHeader, "payout_status") }), []error{sdk.ErrInvalidArgument}},
		{"not JSON", signed("not json"), []error{payment.ErrMalformedPayload, sdk.ErrInvalidArgument}},
		{"truncated", signed(`{"reference":"` + p.ID + `","status":`), []error{payment.ErrMalformedPayload}},
		{"trailing data", signed(string(valid.Body) + `{}`), []error{payment.ErrMalformedPayload}},
		{"an array", signed(`[1,2]`), []error{payment.ErrMalformedPayload}},
		{"no reference", signed(`{"status":"PAID","total_amount":150000}`), []error{payment.ErrMalformedPayload}},
		{"no amount", signed(`{"reference":"` + p.ID + `","status":"PAID"}`), []error{payment.ErrMalformedPayload}},
		{"amount of the wrong type", signed(`{"reference":"` + p.ID + `","status":"PAID","total_amount":{"v":1}}`), []error{payment.ErrMalformedPayload}},
		{"unknown reference", e.signedEdit(t, p.ID, "PAID", func(c *callbackBody) { c.Reference = "DEV-T000199999ZZZZZ" }), []error{payment.ErrUnknownOrder, sdk.ErrNotFound}},
		{"another order", e.signedEdit(t, p.ID, "PAID", func(c *callbackBody) { c.MerchantRef = "INV-OTHER" }), []error{payment.ErrUnknownOrder}},
		{"open payment", e.signedEdit(t, p.ID, "PAID", func(c *callbackBody) { c.IsClosedPayment = 0 }), []error{payment.ErrUnknownOrder}},
		{"more than the invoice", e.signedEdit(t, p.ID, "PAID", func(c *callbackBody) { c.TotalAmount += 1000; c.AmountReceived += 1000 }), []error{payment.ErrAmountMismatch, sdk.ErrInvalidArgument}},
		{"less than the invoice", e.signedEdit(t, p.ID, "PAID", func(c *callbackBody) { c.TotalAmount -= 50000; c.AmountReceived -= 50000 }), []error{payment.ErrAmountMismatch}},
		// Reading total_amount as the invoice amount would take this for
		// Rp 150.000: the customer paid the invoice but not the fee.
		{"customer fee not paid", e.signedEdit(t, p.ID, "PAID", func(c *callbackBody) { c.TotalAmount = 150000 }), []error{payment.ErrAmountMismatch}},
		{"fee larger than the total", e.signedEdit(t, p.ID, "PAID", func(c *callbackBody) { c.FeeCustomer = c.TotalAmount + 1 }), []error{payment.ErrMalformedPayload}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.webhook(tc.req)
			if resp != nil {
				t.Fatalf("refused callback got a response %+v", resp)
			}
			wantErr(t, err, tc.want...)
		})
	}

	t.Run("nothing is parsed or queried before the signature checks out", func(t *testing.T) {
		before := e.fake.callCount("transaction/detail")
		for _, body := range []string{"not json", `{"reference":"x"}`, string(valid.Body)} {
			req := signedRequest([]byte(body))
			req.Header.Set(SignatureHeader, CallbackSignature([]byte(body), "guess"))
			_, err := e.webhook(req)
			wantErr(t, err, payment.ErrInvalidSignature)
		}
		if e.fake.callCount("transaction/detail") != before {
			t.Fatal("an unsigned callback reached Tripay's API")
		}
	})

	t.Run("the valid callback still works after the refusals", func(t *testing.T) {
		resp, err := e.webhook(valid)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Event.Status != payment.StatusPaid || resp.Event.Amount.Amount != 150000 {
			t.Fatalf("event = %+v", resp.Event)
		}
	})
}

// signedEdit is the callback about reference with status, edited, then
// signed (as Tripay would send a callback with these values).
func (e *env) signedEdit(t *testing.T, reference, status string, f func(*callbackBody)) sdk.HTTPRequest {
	return e.callback(t, reference, status, f)
}

func TestWebhookUnconfirmedPaid(t *testing.T) {
	e := newEnv(t)
	p := e.create(t, "INV-U1", "key-u1", 150000, "BRIVA")
	req := e.callback(t, p.ID, "PAID")
	_, err := e.webhook(req)
	// payment.ErrUnconfirmed: the host answers 409 unconfirmed.
	wantErr(t, err, payment.ErrUnconfirmed, sdk.ErrFailedPrecondition)
	if !strings.Contains(err.Error(), "UNPAID") {
		t.Fatalf("error = %v", err)
	}
	// The refusal is not remembered: Tripay's retry succeeds once the
	// detail says PAID.
	e.fake.setStatus(t, p.ID, "PAID")
	resp, err := e.webhook(req)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Event.Confirmed || resp.Event.Status != payment.StatusPaid {
		t.Fatalf("event = %+v", resp.Event)
	}
}

// TestWebhookRepeat (issue point 1): a callback handled before is reported
// again, marked Duplicate, without asking Tripay (the host decides whether
// anything is left to credit), also after a restart; a repeat whose amount
// differs from the recorded one is still refused.
func TestWebhookRepeat(t *testing.T) {
	e := newEnv(t)
	p := e.create(t, "INV-RP1", "key-rp1", 150000, "BRIVA")
	e.fake.setStatus(t, p.ID, "PAID")
	paid := e.callback(t, p.ID, "PAID")
	first, err := e.webhook(paid)
	if err != nil {
		t.Fatal(err)
	}
	wantRepeat := func(t *testing.T, resp *payment.WebhookResponse, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("repeat: %v", err)
		}
		got, want := resp.Event, first.Event
		if !got.Duplicate || got.EventID != want.EventID || got.PaymentID != want.PaymentID || got.OrderID != want.OrderID ||
			got.Status != want.Status || got.Amount != want.Amount || string(resp.Response.Body) != `{"success":true}` {
			t.Errorf("repeat = %+v %s, want %+v marked Duplicate, answered {\"success\":true}", got, resp.Response.Body, want)
		}
	}
	calls := e.fake.callCount("transaction/detail")
	resp, err := e.webhook(paid)
	wantRepeat(t, resp, err)
	if n := e.fake.callCount("transaction/detail") - calls; n != 0 {
		t.Errorf("a repeat asked transaction/detail %d times; the replay record saves that", n)
	}

	// Across a restart of the plugin: the record is in the host's store.
	e.serve(t)
	if _, err := e.configure(e.fake.settings()); err != nil {
		t.Fatal(err)
	}
	resp, err = e.webhook(paid)
	wantRepeat(t, resp, err)

	cheaper := e.signedEdit(t, p.ID, "PAID", func(b *callbackBody) { b.TotalAmount = 1000 })
	_, err = e.webhook(cheaper)
	wantErr(t, err, payment.ErrAmountMismatch)

	// A new status of the same transaction is news.
	e.fake.setStatus(t, p.ID, "REFUND")
	resp, err = e.webhook(e.callback(t, p.ID, "REFUND"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Event.Status != payment.StatusRefunded {
		t.Fatalf("event = %+v", resp.Event)
	}

	t.Run("concurrent duplicates", func(t *testing.T) {
		q := e.create(t, "INV-RP2", "key-rp2", 150000, "BRIVA")
		e.fake.setStatus(t, q.ID, "PAID")
		req := e.callback(t, q.ID, "PAID")
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first, duplicates int
		for range 8 {
			wg.Go(func() {
				resp, err := e.gw.HandleWebhook(context.Background(), &payment.WebhookRequest{Request: req})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("unexpected error %v", err)
				case resp.Event.Duplicate:
					duplicates++
				default:
					first++
				}
			})
		}
		wg.Wait()
		if first != 1 || duplicates != 7 {
			t.Fatalf("%d first, %d duplicates; want 1 and 7", first, duplicates)
		}
	})
}
