package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Midtrans' HTTP notifications (POST, JSON) carry
//
//	signature_key = hex(SHA512(order_id + status_code + gross_amount + server key))
//
// over the three values exactly as Midtrans sent them ("150000.00", not
// 150000). Only those three fields are signed: transaction_status and the
// rest are taken from the status API (the SDK confirms every notification
// with Get), never from the notification, before anything is reported.

// signedFields are the notification fields the signature covers, as sent.
type signedFields struct {
	OrderID, StatusCode, GrossAmount, SignatureKey string
}

// readSignedFields reads just the signed fields and the signature from a
// notification body, as raw values: a JSON string's characters, or a JSON
// number's literal text, so nothing is reformatted before it is verified.
func readSignedFields(body []byte) (signedFields, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return signedFields{}, errors.New("the body is not a JSON object")
	}
	var raw struct {
		OrderID      json.RawMessage `json:"order_id"`
		StatusCode   json.RawMessage `json:"status_code"`
		GrossAmount  json.RawMessage `json:"gross_amount"`
		SignatureKey json.RawMessage `json:"signature_key"`
	}
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return signedFields{}, err
	}
	var f signedFields
	for _, v := range []struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{
		{"order_id", raw.OrderID, &f.OrderID},
		{"status_code", raw.StatusCode, &f.StatusCode},
		{"gross_amount", raw.GrossAmount, &f.GrossAmount},
		{"signature_key", raw.SignatureKey, &f.SignatureKey},
	} {
		s, err := rawScalar(v.raw)
		if err != nil {
			return signedFields{}, fmt.Errorf("%s: %w", v.name, err)
		}
		*v.dst = s
	}
	return f, nil
}

// rawScalar returns a JSON string's value or a JSON number's text as sent;
// absent or null is empty.
func rawScalar(v json.RawMessage) (string, error) {
	if len(v) == 0 || string(v) == "null" {
		return "", nil
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return "", err
		}
		return string(v), nil
	default:
		return "", errors.New("must be a string or a number")
	}
}

// verify checks signature_key in constant time (hex digits of either
// case), with the SDK's signature helpers.
func (f signedFields) verify(serverKey string) bool {
	return gateway.Verify("signature_key", f.SignatureKey, gateway.SHA512(f.OrderID, f.StatusCode, f.GrossAmount, serverKey)) == nil
}

// notification is the rest of a notification, read once it is verified.
type notification struct {
	TransactionID     string `json:"transaction_id"`
	TransactionStatus string `json:"transaction_status"`
	FraudStatus       string `json:"fraud_status"`
	Currency          string `json:"currency"`
	TransactionTime   string `json:"transaction_time"`
	SettlementTime    string `json:"settlement_time"`
}

// VerifyNotification checks what can be checked before the signed fields
// are read: a notification that is a JSON object carries a signature_key.
// The signature covers parsed fields, so ParseNotification verifies it; a
// body that is not a notification at all is refused there as malformed.
func (a *api) VerifyNotification(r *sdk.HTTPRequest) error {
	if f, err := readSignedFields(r.Body); err == nil && f.SignatureKey == "" {
		return fmt.Errorf("%w: the notification has no signature_key", payment.ErrInvalidSignature)
	}
	return nil
}

// ParseNotification verifies signature_key over the raw values, in
// constant time, and reads nothing else of the body before it verifies.
// transaction_status and the rest are what the notification claims: the
// SDK reports what the status API says. A notification carries no event
// id: its replay key is its transaction id (the order id when it has none),
// transaction_status and status_code, as before the port.
func (a *api) ParseNotification(r *sdk.HTTPRequest) (*gateway.Notification, error) {
	signed, err := readSignedFields(r.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: not a Midtrans notification: %v", payment.ErrMalformedPayload, err)
	}
	if !signed.verify(a.s.ServerKey) {
		return nil, fmt.Errorf("%w: signature_key is not SHA512(order_id + status_code + gross_amount + server key); check that server_key is this merchant's key for %s",
			payment.ErrInvalidSignature, a.s.Environment)
	}
	var n notification
	if err := json.Unmarshal(r.Body, &n); err != nil {
		return nil, fmt.Errorf("%w: notification for order %s: %v", payment.ErrMalformedPayload, signed.OrderID, err)
	}
	orderID := signed.OrderID
	if orderID == "" || n.TransactionStatus == "" {
		return nil, fmt.Errorf("%w: the notification has no order_id or transaction_status", payment.ErrMalformedPayload)
	}
	amount, err := parseRupiah(signed.GrossAmount)
	switch {
	case errors.Is(err, errFractionalRupiah):
		return nil, fmt.Errorf("%w: notification for order %s: %v", payment.ErrAmountMismatch, orderID, err)
	case err != nil:
		return nil, fmt.Errorf("%w: notification for order %s: %v", payment.ErrMalformedPayload, orderID, err)
	}
	if n.Currency != "" && n.Currency != currencyIDR {
		return nil, fmt.Errorf("%w: notification for order %s is in %s; this gateway takes IDR", payment.ErrAmountMismatch, orderID, n.Currency)
	}
	return &gateway.Notification{
		ID:            cmp.Or(n.TransactionID, orderID) + "/" + n.TransactionStatus + "/" + signed.StatusCode,
		PaymentID:     orderID,
		OrderID:       orderID,
		Status:        mapStatus(n.TransactionStatus, n.FraudStatus),
		Amount:        payment.Money{Amount: amount, Currency: currencyIDR},
		OccurredAt:    cmp.Or(parseMidtransTime(n.SettlementTime), parseMidtransTime(n.TransactionTime)),
		GatewayStatus: n.TransactionStatus,
	}, nil
}

// CheckNotification refuses, before the SDK looks for a repeat, a
// notification whose amount is not that of the payment this plugin created
// for the order: its replay key (transaction, status, status_code) does not
// cover the amount.
func (a *api) CheckNotification(ctx context.Context, n *gateway.Notification) error {
	r, known, err := a.st.order(ctx, n.OrderID)
	if err != nil || !known {
		return err
	}
	if got := (payment.Money{Amount: r.Amount, Currency: r.Currency}); n.Amount != got {
		return fmt.Errorf("%w: the notification for order %s says %s, the payment is %s", payment.ErrAmountMismatch, n.OrderID, n.Amount, got)
	}
	return nil
}
