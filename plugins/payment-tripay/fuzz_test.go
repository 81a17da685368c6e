package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// fuzzPrivateKey is the private key the fuzz configures and signs with.
const fuzzPrivateKey = "fuzz-private-key-0123456789"

// FuzzHandleWebhook sends fuzzed Tripay callbacks to the plugin, through
// NewGateway as the host serves it (paymenttest's webhook fuzzer holds it
// to HandleWebhook's contract). The fuzzer picks the body, the
// X-Callback-Event header and the X-Callback-Signature: the HMAC-SHA256 of
// the body with the private key (Tripay's scheme), with another key, or a
// fuzzed string. Every callback not signed with the private key is refused
// with payment.ErrInvalidSignature, whatever its body and event (the
// signature is checked before anything is parsed), one signed with it
// never is, and none is ever reported paid: the API the plugin confirms
// with knows no transaction.
func FuzzHandleWebhook(f *testing.F) {
	fz := paymenttest.NewWebhookFuzzer(f, NewGateway(), map[string]any{
		"api_key": "DEV-fuzz-api-key", "private_key": fuzzPrivateKey, "merchant_code": "T0001",
		"mode": "sandbox", "base_url": paymenttest.APIServer(f), "default_method": "BRIVA",
		"default_customer_email": "billing@example.net",
	}, paymenttest.Options{})
	fz.SignatureInHeader, fz.NothingPaid = true, true
	paid := []byte(`{"reference":"DEV-T0001000000001","merchant_ref":"INV-2026-000001","payment_method":"BRI Virtual Account",` +
		`"payment_method_code":"BRIVA","total_amount":154250,"fee_merchant":0,"fee_customer":4250,"total_fee":4250,` +
		`"amount_received":150000,"is_closed_payment":1,"status":"PAID","paid_at":1764103503,"note":null}`)
	f.Add(paid, "payment_status", uint8(0), "")
	f.Add(paid, "payment_status", uint8(1), "")
	f.Add(paid, "payment_status", uint8(2), "sha256=00")
	f.Add(paid, "payout_status", uint8(0), "")
	f.Add([]byte(`{"reference":"DEV-T1","merchant_ref":123,"total_amount":"154250","fee_customer":"x","status":"EXPIRED"}`), "payment_status", uint8(0), "")
	f.Add([]byte(`{"reference":"DEV-T1","total_amount":-1,"fee_customer":9223372036854775807,"status":"PAID"}`), "payment_status", uint8(0), "")
	f.Add([]byte(`{"reference":`), "payment_status", uint8(0), "")
	f.Add([]byte(``), "", uint8(2), "")
	f.Fuzz(func(t *testing.T, body []byte, event string, how uint8, sig string) {
		header := http.Header{"Content-Type": {"application/json"}, "X-Callback-Event": {event}}
		signed := false
		switch how % 3 {
		case 0:
			header.Set("X-Callback-Signature", hmacHex(fuzzPrivateKey, body))
			signed = true
		case 1:
			header.Set("X-Callback-Signature", hmacHex("another-private-key", body))
		case 2:
			header.Set("X-Callback-Signature", sig)
		}
		fz.Check(t, sdk.HTTPRequest{Method: http.MethodPost, Path: "/", Header: header, Body: body}, signed)
	})
}

// hmacHex is the hex HMAC-SHA256 of body keyed with key.
func hmacHex(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
