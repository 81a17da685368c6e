package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// fuzzWebhookSecret is the webhook signing secret the fuzz configures and
// signs with.
const fuzzWebhookSecret = "whsec_fuzz0123456789abcdef"

// fuzzSignature is Example Pay's webhook signature (README.md, "Webhooks"):
// Example-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">.
var fuzzSignature = gateway.TimestampSignature{Header: "Example-Signature"}

// FuzzHandleWebhook sends fuzzed Example Pay notifications to the plugin,
// through NewGateway as the host serves it (paymenttest's webhook fuzzer
// holds it to HandleWebhook's contract). The fuzzer picks the body and the
// Example-Signature header: signed with the secret now, with another
// secret, at a fuzzed distance from now, or a fuzzed header. Only a valid
// signature within five minutes gets past payment.ErrInvalidSignature,
// whatever the body, and no event is ever reported paid: the API the
// plugin confirms with knows no payment.
func FuzzHandleWebhook(f *testing.F) {
	fz := paymenttest.NewWebhookFuzzer(f, NewGateway(), map[string]any{
		"api_key": "ek_test_fuzz0123456789", "webhook_secret": fuzzWebhookSecret, "environment": "sandbox",
		"base_url": paymenttest.APIServer(f), "timeout_seconds": 1,
	}, paymenttest.Options{})
	fz.SignatureInHeader, fz.NothingPaid = true, true
	paid := []byte(`{"id":"evt_1c0b5e0c7a","type":"payment.paid","created_at":"2026-11-25T20:45:03Z",` +
		`"data":{"id":"pay_9f2c61d0a4b7e813","order_id":"INV-2026-000001","amount":150000,"currency":"IDR","status":"paid"}}`)
	f.Add(paid, uint8(0), int64(0), "")
	f.Add(paid, uint8(1), int64(0), "")
	f.Add(paid, uint8(2), int64(-601), "")
	f.Add(paid, uint8(2), int64(200), "")
	f.Add(paid, uint8(3), int64(0), "t=1764103503,v1=00,v1=")
	f.Add([]byte(`{"id":"evt_2","type":"payment.expired","data":{"id":"pay_1","amount":"x"}}`), uint8(0), int64(0), "")
	f.Add([]byte(`{"id":"evt_3","type":"refund.created","data":{}}`), uint8(0), int64(0), "")
	f.Add([]byte(`{"id":`), uint8(0), int64(0), "")
	f.Fuzz(func(t *testing.T, body []byte, how uint8, skew int64, header string) {
		now := time.Now()
		signed := false
		switch how % 4 {
		case 0:
			header, signed = fuzzSignature.Sign(body, fuzzWebhookSecret, now), true
		case 1:
			header = fuzzSignature.Sign(body, "whsec_another0123456789", now)
		case 2:
			var at time.Time
			at, signed = paymenttest.SignedAt(now, skew, 5*time.Minute)
			header = fuzzSignature.Sign(body, fuzzWebhookSecret, at)
		}
		req := sdk.HTTPRequest{Method: http.MethodPost, Path: "/", Header: http.Header{"Content-Type": {"application/json"}, "Example-Signature": {header}}, Body: body}
		fz.Check(t, req, signed)
	})
}
