package main

import (
	"net/http"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// fuzzCallbackToken is the callback verification token the fuzz
// configures and sends.
const fuzzCallbackToken = "fuzz-callback-token-0123456789"

// FuzzHandleWebhook sends fuzzed Xendit invoice callbacks to the plugin,
// through NewGateway as the host serves it (paymenttest's webhook fuzzer
// holds it to HandleWebhook's contract). Xendit signs nothing: the
// X-Callback-Token header is the whole proof. The fuzzer picks the body and
// the token: the configured one, or a fuzzed string (a prefix of the
// token, or the token with more after it, among them). Every callback
// without the exact token is refused with payment.ErrInvalidSignature,
// whatever its body; one with it never is; and none is ever reported paid:
// the API the plugin confirms with knows no invoice.
func FuzzHandleWebhook(f *testing.F) {
	fz := paymenttest.NewWebhookFuzzer(f, NewGateway(), map[string]any{
		"secret_key": "xnd_development_fuzz0123456789", "callback_token": fuzzCallbackToken,
		"base_url": paymenttest.APIServer(f), "timeout_seconds": 1,
	}, paymenttest.Options{})
	fz.SignatureInHeader, fz.NothingPaid = true, true
	paid := []byte(`{"id":"579c8d61f23fa4ca35e52da4","external_id":"INV-2026-000001","user_id":"5781d19b2e2385880609791c",` +
		`"is_high":true,"payment_method":"BANK_TRANSFER","status":"PAID","merchant_name":"ISP","amount":150000,"paid_amount":150000,` +
		`"bank_code":"BCA","paid_at":"2026-11-25T13:45:03.000Z","payer_email":"a@example.net","description":"Internet",` +
		`"created":"2026-11-25T13:00:00.000Z","updated":"2026-11-25T13:45:03.000Z","currency":"IDR","payment_channel":"BCA"}`)
	f.Add(paid, true, "")
	f.Add(paid, false, fuzzCallbackToken[:len(fuzzCallbackToken)-1])
	f.Add(paid, false, fuzzCallbackToken+"0")
	f.Add(paid, false, "")
	f.Add([]byte(`{"id":"x","status":"EXPIRED","amount":"1e309","currency":"IDR"}`), true, "")
	f.Add([]byte(`{"id":"x","status":"PAID","amount":-150000,"currency":"IDR","paid_at":"not a time"}`), true, "")
	f.Add([]byte(`{"id":`), true, "")
	f.Fuzz(func(t *testing.T, body []byte, withToken bool, token string) {
		if withToken {
			token = fuzzCallbackToken
		}
		signed := token == fuzzCallbackToken
		req := sdk.HTTPRequest{Method: http.MethodPost, Path: "/", Header: http.Header{"Content-Type": {"application/json"}, "X-Callback-Token": {token}}, Body: body}
		fz.Check(t, req, signed)
	})
}
