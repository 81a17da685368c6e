package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// fuzzWebhookSecret is the webhook signing secret the fuzz configures and
// signs with.
const fuzzWebhookSecret = "whsec_fuzz0123456789abcdef"

// FuzzHandleWebhook sends fuzzed Stripe webhooks to the plugin, through
// NewGateway as the host serves it (paymenttest's webhook fuzzer holds it
// to HandleWebhook's contract). The fuzzer picks the body and the
// Stripe-Signature header: t=<now>,v1=<HMAC-SHA256 of "t.body" with the
// secret> (Stripe's scheme), signed with another secret, a fuzzed header,
// the valid signature at a fuzzed distance from now, or the valid one
// after a signature that does not match (a secret being rolled). Only a
// valid signature within Stripe's five minutes gets past
// payment.ErrInvalidSignature, whatever the body, and no event is ever
// reported paid: the API the plugin confirms with knows no session.
func FuzzHandleWebhook(f *testing.F) {
	fz := paymenttest.NewWebhookFuzzer(f, NewGateway(), map[string]any{
		"secret_key": "sk_test_fuzz0123456789", "webhook_secrets": []string{fuzzWebhookSecret},
		"api_base_url": paymenttest.APIServer(f), "timeout_seconds": 1, "max_network_retries": 0,
	}, paymenttest.Options{})
	fz.SignatureInHeader, fz.NothingPaid = true, true
	completed := []byte(`{"id":"evt_1","object":"event","api_version":"2025-09-30.clover","created":1764103503,"type":"checkout.session.completed",` +
		`"data":{"object":{"id":"cs_test_1","object":"checkout.session","client_reference_id":"INV-2026-000001","amount_total":15000,` +
		`"currency":"usd","payment_status":"paid","status":"complete","metadata":{"order_id":"INV-2026-000001"}}}}`)
	f.Add(completed, uint8(0), int64(0), "")
	f.Add(completed, uint8(1), int64(0), "")
	f.Add(completed, uint8(2), int64(0), "t=1,v1=00")
	f.Add(completed, uint8(3), int64(-600), "")
	f.Add(completed, uint8(3), int64(120), "")
	f.Add(completed, uint8(4), int64(0), "")
	f.Add([]byte(`{"id":"evt_2","type":"customer.created","data":{"object":{}}}`), uint8(0), int64(0), "")
	f.Add([]byte(`{"id":"evt_3","type":"checkout.session.expired","data":{"object":{"amount_total":"x"}}}`), uint8(0), int64(0), "")
	f.Add([]byte(`{"id":`), uint8(0), int64(0), "")
	f.Fuzz(func(t *testing.T, body []byte, how uint8, skew int64, header string) {
		now := time.Now()
		signed := false
		switch how % 5 {
		case 0:
			header, signed = stripeSignature(fuzzWebhookSecret, body, now), true
		case 1:
			header = stripeSignature("whsec_another0123456789", body, now)
		case 3:
			var at time.Time
			at, signed = paymenttest.SignedAt(now, skew, 5*time.Minute)
			header = stripeSignature(fuzzWebhookSecret, body, at)
		case 4:
			header = fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(), stripeHMAC("whsec_old0123456789", now.Unix(), body),
				stripeHMAC(fuzzWebhookSecret, now.Unix(), body))
			signed = true
		}
		req := sdk.HTTPRequest{Method: http.MethodPost, Path: "/", Header: http.Header{"Content-Type": {"application/json"}, "Stripe-Signature": {header}}, Body: body}
		fz.Check(t, req, signed)
	})
}

// stripeSignature is the Stripe-Signature header for body signed with
// secret at t.
func stripeSignature(secret string, body []byte, t time.Time) string {
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), stripeHMAC(secret, t.Unix(), body))
}

func stripeHMAC(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", ts)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
