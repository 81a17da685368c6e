package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

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
// rest are taken from the status API, never from the notification, before
// anything is reported.

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
}

// okResponse is the answer Midtrans needs (any 2xx) to stop resending.
func okResponse() sdk.HTTPResponse {
	return sdk.HTTPResponse{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       []byte(`{"status":"ok"}`),
	}
}

// HandleWebhook implements payment.Gateway for Midtrans' HTTP
// notifications, in this order:
//
//  1. signature_key, over the raw values, in constant time; nothing else in
//     the body is read before it verifies (ErrInvalidSignature; a body that
//     is not a notification: ErrMalformedPayload);
//  2. the amount against the payment this plugin created for the order
//     (ErrAmountMismatch);
//  3. repeats: a notification (transaction_id, transaction_status,
//     status_code) reported before for this order is reported again,
//     marked Duplicate, without asking the status API (the host confirms
//     with GetPayment unless its store shows the payment applied); one
//     recorded for another order is ErrReplay. The record lives in the
//     host's durable store, so this holds across restarts;
//  4. the status API: the event's status and amount are what Midtrans says
//     now (Confirmed), which must agree with the notification's amount; an
//     order Midtrans does not know is ErrUnknownOrder; a notification that
//     says paid while Midtrans still says pending (or does not know the
//     transaction yet) is ErrUnconfirmed, which the host answers 409, so
//     that Midtrans sends it again later;
//  5. the notification is recorded, only now: one that failed a check is
//     checked afresh when Midtrans sends it again.
func (g *Gateway) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	cfg, api, err := g.state()
	if err != nil {
		return nil, err
	}
	ev, err := g.handleNotification(ctx, cfg, api, req.Request.Body)
	result := notificationResult(err)
	if err == nil && ev.Duplicate {
		result = "duplicate"
	}
	g.stats.notification(result)
	switch {
	case err != nil:
		g.Logger().Warn("notification refused", "result", result, "request_id", req.Request.RequestID, "error", err)
		return nil, err
	case ev.Duplicate:
		g.Logger().Info("notification repeated", "order_id", ev.OrderID, "status", ev.Status, "event_id", ev.EventID)
	default:
		g.Logger().Info("notification handled", "order_id", ev.OrderID, "status", ev.Status, "gateway_status", ev.GatewayStatus, "event_id", ev.EventID)
	}
	return &payment.WebhookResponse{Response: okResponse(), Event: ev}, nil
}

func (g *Gateway) handleNotification(ctx context.Context, cfg *settings, api *apiClient, body []byte) (*payment.Event, error) {
	signed, err := readSignedFields(body)
	if err != nil {
		return nil, fmt.Errorf("%w: not a Midtrans notification: %v", payment.ErrMalformedPayload, err)
	}
	if signed.SignatureKey == "" {
		return nil, fmt.Errorf("%w: the notification has no signature_key", payment.ErrInvalidSignature)
	}
	if !signed.verify(cfg.ServerKey) {
		return nil, fmt.Errorf("%w: signature_key is not SHA512(order_id + status_code + gross_amount + server key); check that server_key is this merchant's key for %s",
			payment.ErrInvalidSignature, cfg.Environment)
	}

	// Verified: the rest of the body may be read.
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
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

	st := store{kv: g.Host()}
	rec, known, err := st.order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if known && (amount != rec.Amount || rec.Currency != currencyIDR) {
		return nil, fmt.Errorf("%w: the notification for order %s says %s, the payment is %s", payment.ErrAmountMismatch,
			orderID, payment.Money{Amount: amount, Currency: currencyIDR}, payment.Money{Amount: rec.Amount, Currency: rec.Currency})
	}

	txID := n.TransactionID
	if txID == "" {
		txID = orderID
	}
	eventID := txID + "/" + n.TransactionStatus + "/" + signed.StatusCode
	// A repeat is reported again from the notification, marked Duplicate,
	// not confirmed (the host confirms); an id recorded for another order
	// (the payment id is the order id) is ErrReplay.
	replays := st.replays()
	if dup, err := replays.Check(ctx, eventID, orderID); err != nil {
		return nil, err
	} else if dup {
		return &payment.Event{
			EventID: eventID, PaymentID: orderID, OrderID: orderID, Status: mapStatus(n.TransactionStatus, n.FraudStatus),
			Amount: payment.Money{Amount: amount, Currency: currencyIDR}, OccurredAt: g.now().UTC(),
			GatewayStatus: n.TransactionStatus, Raw: body, Duplicate: true,
		}, nil
	}

	// Confirm with Midtrans.
	tx, raw, err := api.status(ctx, orderID)
	switch {
	case errors.Is(err, payment.ErrUnknownOrder) && known:
		return nil, fmt.Errorf("%w: the notification for order %s says %s, but Midtrans' status API does not know the transaction yet; not confirmed (Midtrans sends the notification again)",
			payment.ErrUnconfirmed, orderID, n.TransactionStatus)
	case errors.Is(err, payment.ErrUnknownOrder):
		return nil, fmt.Errorf("%w: notification for order %s, which neither this plugin nor Midtrans' status API knows", payment.ErrUnknownOrder, orderID)
	case err != nil:
		return nil, fmt.Errorf("confirm the notification for order %s: %w", orderID, err)
	}
	current, err := paymentFromStatus(tx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: Midtrans' status of order %s: %v", sdk.ErrUnavailable, orderID, err)
	}
	if current.OrderID != "" && current.OrderID != orderID {
		return nil, fmt.Errorf("%w: Midtrans' status API answered for order %s when asked about %s", sdk.ErrUnavailable, current.OrderID, orderID)
	}
	if current.Amount.Amount != amount || current.Amount.Currency != currencyIDR {
		return nil, fmt.Errorf("%w: the notification for order %s says %s, Midtrans' status API says %s",
			payment.ErrAmountMismatch, orderID, payment.Money{Amount: amount, Currency: currencyIDR}, current.Amount)
	}
	if mapStatus(n.TransactionStatus, n.FraudStatus) == payment.StatusPaid && current.Status == payment.StatusPending {
		return nil, fmt.Errorf("%w: the notification for order %s says %s, Midtrans' status API says %s; not confirmed (Midtrans sends the notification again)",
			payment.ErrUnconfirmed, orderID, n.TransactionStatus, tx.TransactionStatus)
	}

	duplicate, err := replays.Record(ctx, eventID, orderID) // duplicate: a concurrent delivery recorded it first
	if err != nil {
		return nil, err
	}
	if !known {
		g.Logger().Info("notification for an order this plugin has no record of; reported as Midtrans' status API has it", "order_id", orderID)
	}
	occurred := current.PaidAt
	if occurred.IsZero() {
		occurred = current.CreatedAt
	}
	if occurred.IsZero() {
		occurred = g.now().UTC()
	}
	return &payment.Event{
		EventID:       eventID,
		PaymentID:     orderID,
		OrderID:       orderID,
		Status:        current.Status,
		Amount:        current.Amount,
		OccurredAt:    occurred,
		Confirmed:     true,
		GatewayStatus: tx.TransactionStatus,
		Raw:           body,
		Duplicate:     duplicate,
	}, nil
}

// notificationResult names a webhook's outcome for the metrics.
func notificationResult(err error) string {
	switch {
	case err == nil:
		return "handled"
	case errors.Is(err, payment.ErrInvalidSignature):
		return "invalid_signature"
	case errors.Is(err, payment.ErrMalformedPayload):
		return "malformed"
	case errors.Is(err, payment.ErrReplay):
		return "replay"
	case errors.Is(err, payment.ErrAmountMismatch):
		return "amount_mismatch"
	case errors.Is(err, payment.ErrUnknownOrder):
		return "unknown_order"
	case errors.Is(err, payment.ErrUnconfirmed):
		return "unconfirmed"
	default:
		return "error"
	}
}
