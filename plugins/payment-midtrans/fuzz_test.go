package main

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// fuzzServerKey is the server key the fuzz configures and signs with.
const fuzzServerKey = "SB-Mid-server-fuzz0123456789"

// FuzzHandleWebhook sends fuzzed Midtrans notifications to the plugin,
// through NewGateway as the host serves it (paymenttest's webhook fuzzer
// holds it to HandleWebhook's contract). The fuzzer picks the fields and
// how the notification is signed: signature_key made with the server key
// over the fields as sent (Midtrans' scheme), with another key, or a
// fuzzed string; or it sends its bytes as the whole body. Only a
// notification signed with the server key may get past
// payment.ErrInvalidSignature (one that does not parse may be
// payment.ErrMalformedPayload: the signature is in the body), and none is
// ever reported paid: the status API the plugin confirms with knows no
// order.
func FuzzHandleWebhook(f *testing.F) {
	api := paymenttest.APIServer(f)
	fz := paymenttest.NewWebhookFuzzer(f, NewGateway(), map[string]any{
		"server_key": fuzzServerKey, "environment": "sandbox", "base_url": api, "api_base_url": api,
		"timeout_seconds": 1, "max_retries": 0,
	}, paymenttest.Options{})
	fz.NothingPaid = true
	f.Add("INV-2026-000001", "200", "150000.00", "settlement", uint8(0), "", []byte(nil))
	f.Add("INV-2026-000001", "201", "150000.00", "pending", uint8(0), "", []byte(nil))
	f.Add("INV-2026-000001", "200", "150000.00", "capture", uint8(1), "", []byte(nil))
	f.Add("INV-2026-000001", "200", "150000.00", "settlement", uint8(2), "00ff", []byte(nil))
	f.Add("", "", "", "", uint8(0), "", []byte(nil))
	f.Add("INV-é\u2028", "200", "1e3", "expire", uint8(0), `"gross_amount":150000`, []byte(nil))
	f.Add("", "", "", "", uint8(0), "", []byte(`{"order_id":"INV-1","status_code":"200","gross_amount":`))
	f.Add("", "", "", "", uint8(0), "", []byte(`{"order_id":"INV-1","status_code":200,"gross_amount":150000.00,"signature_key":null}`))
	f.Fuzz(func(t *testing.T, orderID, statusCode, gross, status string, how uint8, extra string, raw []byte) {
		body, signed := raw, false
		if len(raw) == 0 {
			fields := map[string]any{
				"order_id": orderID, "status_code": statusCode, "gross_amount": gross,
				"transaction_status": status, "transaction_id": "tx-" + orderID, "fraud_status": "accept",
				"currency": "IDR", "payment_type": "bank_transfer",
			}
			// Sign what the plugin will read: JSON turns invalid UTF-8
			// into U+FFFD.
			orderID, statusCode, gross = asJSONReads(orderID), asJSONReads(statusCode), asJSONReads(gross)
			switch how % 3 {
			case 0:
				fields["signature_key"], signed = midtransSignature(orderID, statusCode, gross, fuzzServerKey), true
			case 1:
				fields["signature_key"] = midtransSignature(orderID, statusCode, gross, "SB-Mid-server-forged")
			case 2:
				fields["signature_key"] = extra
			}
			var err error
			if body, err = json.Marshal(fields); err != nil {
				t.Fatal(err)
			}
		}
		req := sdk.HTTPRequest{Method: http.MethodPost, Path: "/", Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
		fz.Check(t, req, signed)
	})
}

// midtransSignature is Midtrans' signature_key: hex SHA-512 of order_id,
// status_code, gross_amount and the server key.
func midtransSignature(orderID, statusCode, gross, key string) string {
	sum := sha512.Sum512([]byte(orderID + statusCode + gross + key))
	return hex.EncodeToString(sum[:])
}

// asJSONReads is s as a JSON string of it reads back.
func asJSONReads(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
