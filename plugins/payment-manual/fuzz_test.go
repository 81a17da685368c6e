package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// fuzzConfirmSecret is the confirm_secret the fuzz configures and signs
// with.
const fuzzConfirmSecret = "fuzz-confirm-secret-0123456789"

// FuzzHandleWebhook sends fuzzed confirmations to the plugin, through
// NewGateway as the host serves it (paymenttest's webhook fuzzer holds it
// to HandleWebhook's contract), about two pending payments it made first
// or about a fuzzed payment id. The fuzzer picks the fields, or the whole
// body, and the X-Mikrobill-Signature header: "sha256=" and the HMAC-SHA256
// of the body with confirm_secret (the plugin's scheme, README), with
// another secret, or a fuzzed header. Only a confirmation signed with
// confirm_secret gets past payment.ErrInvalidSignature, whatever the body;
// a confirmation pays only the payment it names, only for its exact amount
// and currency; and an event_id that paid one payment never pays another.
func FuzzHandleWebhook(f *testing.F) {
	fz := paymenttest.NewWebhookFuzzer(f, NewGateway(), map[string]any{
		"currencies": []string{"IDR", "USD"}, "expiry_hours": 48, "confirm_secret": fuzzConfirmSecret,
	}, paymenttest.Options{NotificationIsAuthoritative: true, NoRemoteAPI: true})
	fz.SignatureInHeader = true
	setup, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var payments []payment.Payment
	for i, amount := range []payment.Money{{Amount: 150000, Currency: "IDR"}, {Amount: 2500, Currency: "USD"}} {
		order := []string{"INV-2026-000001", "INV-2026-000002"}[i]
		resp, err := fz.Gateway.CreatePayment(setup, &payment.CreatePaymentRequest{OrderID: order, Amount: amount, IdempotencyKey: "fuzz-" + order})
		if err != nil {
			f.Fatalf("CreatePayment: %v", err)
		}
		payments = append(payments, resp.Payment)
	}
	// paidBy is which payment each event id paid, in this process.
	paidBy := map[string]string{}

	f.Add("evt-1", uint8(0), "", int64(150000), "IDR", uint8(0), "", []byte(nil))
	f.Add("evt-1", uint8(1), "", int64(2500), "USD", uint8(0), "", []byte(nil)) // evt-1 again, for the other payment
	f.Add("evt-2", uint8(1), "", int64(2501), "USD", uint8(0), "", []byte(nil))
	f.Add("evt-3", uint8(0), "", int64(150000), "idr", uint8(0), "", []byte(nil))
	f.Add("evt-4", uint8(2), "pay_unknown", int64(1), "IDR", uint8(0), "", []byte(nil))
	f.Add("evt-5", uint8(0), "", int64(150000), "IDR", uint8(1), "", []byte(nil))
	f.Add("evt-6", uint8(0), "", int64(150000), "IDR", uint8(2), "sha256=", []byte(nil))
	f.Add("", uint8(0), "", int64(0), "", uint8(0), "", []byte(`{"event_id":"e","payment_id":"p","amount":1,"currency":"IDR","extra":1}`))
	f.Add("", uint8(0), "", int64(0), "", uint8(0), "", []byte(`{"event_id":"e","payment_id":"p","amount":1.5}`))
	f.Fuzz(func(t *testing.T, eventID string, which uint8, paymentID string, amount int64, currency string, how uint8, sig string, raw []byte) {
		if int(which) < len(payments) {
			paymentID = payments[which].ID
		}
		body := raw
		if len(raw) == 0 {
			var err error
			body, err = json.Marshal(map[string]any{"event_id": eventID, "payment_id": paymentID, "amount": amount, "currency": currency, "confirmed_by": "fuzz"})
			if err != nil {
				t.Fatal(err)
			}
		}
		signed := false
		switch how % 3 {
		case 0:
			sig, signed = "sha256="+hmacHex(fuzzConfirmSecret, body), true
		case 1:
			sig = "sha256=" + hmacHex("another-confirm-secret-0123", body)
		}
		req := sdk.HTTPRequest{Method: http.MethodPost, Path: "/", Header: http.Header{"Content-Type": {"application/json"}, "X-Mikrobill-Signature": {sig}}, Body: body}
		resp, err := fz.Check(t, req, signed)
		if err != nil || resp.Event == nil || resp.Event.Status != payment.StatusPaid {
			return
		}
		ev := resp.Event
		var c struct {
			EventID   string `json:"event_id"`
			PaymentID string `json:"payment_id"`
			Amount    int64  `json:"amount"`
			Currency  string `json:"currency"`
		}
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatalf("a body that does not parse paid %s: %v", ev.PaymentID, err)
		}
		i := indexOf(payments, ev.PaymentID)
		switch {
		case i < 0 || ev.PaymentID != c.PaymentID || ev.EventID != c.EventID:
			t.Fatalf("confirmation %q for payment %q reported event %q paying %q", c.EventID, c.PaymentID, ev.EventID, ev.PaymentID)
		case c.Amount != payments[i].Amount.Amount || c.Currency != payments[i].Amount.Currency || ev.Amount != payments[i].Amount:
			t.Fatalf("a confirmation of %d %s paid payment %s of %v (event says %v)", c.Amount, c.Currency, ev.PaymentID, payments[i].Amount, ev.Amount)
		}
		if before, ok := paidBy[ev.EventID]; ok && before != ev.PaymentID {
			t.Fatalf("event id %q paid payment %s, then payment %s", ev.EventID, before, ev.PaymentID)
		}
		paidBy[ev.EventID] = ev.PaymentID
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := fz.Gateway.GetPayment(ctx, &payment.GetPaymentRequest{ID: ev.PaymentID})
		if err != nil || got.Payment.Status != payment.StatusPaid {
			t.Fatalf("after the paid event GetPayment says %+v, %v", got, err)
		}
	})
}

func indexOf(payments []payment.Payment, id string) int {
	for i, p := range payments {
		if p.ID == id {
			return i
		}
	}
	return -1
}

// hmacHex is the hex HMAC-SHA256 of body keyed with key.
func hmacHex(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
