package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Callback headers Tripay sends to /webhooks/payment-tripay.
const (
	// SignatureHeader is the hex HMAC-SHA256 of the raw body, keyed with the
	// merchant's private key.
	SignatureHeader = "X-Callback-Signature"
	// EventHeader names the callback's kind; only EventPaymentStatus is
	// handled.
	EventHeader        = "X-Callback-Event"
	EventPaymentStatus = "payment_status"
)

// callback is the body of a payment_status callback.
type callback struct {
	Reference         string     `json:"reference"`
	MerchantRef       flexString `json:"merchant_ref"`
	PaymentMethod     flexString `json:"payment_method"`
	PaymentMethodCode flexString `json:"payment_method_code"`
	// TotalAmount is what the customer paid: the invoice amount plus
	// fee_customer when the channel's fee is charged to the customer.
	TotalAmount flexInt `json:"total_amount"`
	FeeMerchant flexInt `json:"fee_merchant"`
	FeeCustomer flexInt `json:"fee_customer"`
	TotalFee    flexInt `json:"total_fee"`
	// AmountReceived is what the merchant gets: the invoice amount less
	// fee_merchant.
	AmountReceived  flexInt    `json:"amount_received"`
	IsClosedPayment flexInt    `json:"is_closed_payment"`
	Status          string     `json:"status"`
	PaidAt          flexInt    `json:"paid_at"`
	Note            flexString `json:"note"`
}

// invoiceAmount is the amount the merchant asked for: what the customer
// paid less the fee charged to the customer.
func (c *callback) invoiceAmount() int64 { return c.TotalAmount.v - c.FeeCustomer.v }

func parseCallback(body []byte) (*callback, error) {
	var cb callback
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&cb); err != nil {
		return nil, fmt.Errorf("%w: the body is not a Tripay callback: %v", payment.ErrMalformedPayload, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: unexpected data after the callback's JSON object", payment.ErrMalformedPayload)
	}
	var missing []string
	if strings.TrimSpace(cb.Reference) == "" {
		missing = append(missing, "reference")
	}
	if strings.TrimSpace(cb.Status) == "" {
		missing = append(missing, "status")
	}
	if !cb.TotalAmount.set {
		missing = append(missing, "total_amount")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: the callback has no %s", payment.ErrMalformedPayload, strings.Join(missing, ", "))
	}
	if _, ok := statusOf(cb.Status); !ok {
		return nil, fmt.Errorf("%w: unknown status %q (Tripay's are PAID, UNPAID, EXPIRED, FAILED, REFUND)", payment.ErrMalformedPayload, cb.Status)
	}
	if cb.TotalAmount.v < 0 || cb.FeeCustomer.v < 0 || cb.FeeCustomer.v > cb.TotalAmount.v {
		return nil, fmt.Errorf("%w: total_amount %d and fee_customer %d do not make an amount", payment.ErrMalformedPayload, cb.TotalAmount.v, cb.FeeCustomer.v)
	}
	return &cb, nil
}

// HandleWebhook implements payment.Gateway for Tripay's callbacks:
//
//  1. X-Callback-Signature must be the HMAC-SHA256 of the raw body with the
//     private key (compared in constant time, before anything is parsed);
//  2. X-Callback-Event must be payment_status;
//  3. the body must parse as a callback;
//  4. transaction/detail must know the reference (else ErrUnknownOrder) and
//     back the callback: same order, same invoice amount (else
//     ErrAmountMismatch), and PAID when the callback says PAID;
//  5. each (reference, status) is recorded once handled, in the host's
//     durable store (with the order and amount), so that a repeat, also
//     after a restart, is reported again from the callback, marked
//     Duplicate, without asking transaction/detail: the host confirms with
//     GetPayment unless its store shows the payment applied. Step 4 comes
//     after the record is looked at, and a repeat is still checked against
//     the recorded amount.
//
// The event id is the reference and the status, so it cannot name another
// payment. A callback that says PAID while transaction/detail does not is
// payment.ErrUnconfirmed, which the host answers 409 so that Tripay sends
// it again. Tripay expects {"success": true}; it retries other answers.
func (g *Gateway) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	resp, result, err := g.handleCallback(ctx, &req.Request)
	g.stats.callback(result)
	if err != nil {
		g.Logger().Warn("callback refused", "result", result, "request_id", req.Request.RequestID, "error", err)
		return nil, err
	}
	return resp, nil
}

func (g *Gateway) handleCallback(ctx context.Context, r *sdk.HTTPRequest) (*payment.WebhookResponse, string, error) {
	cfg, api, err := g.state()
	if err != nil {
		return nil, "not_configured", err
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return nil, "invalid_signature", fmt.Errorf("%w: no %s header; Tripay signs every callback", payment.ErrInvalidSignature, SignatureHeader)
	}
	if !validCallbackSignature(sig, r.Body, cfg.PrivateKey) {
		return nil, "invalid_signature", fmt.Errorf("%w: %s does not match the body; if every callback fails, check private_key and mode", payment.ErrInvalidSignature, SignatureHeader)
	}
	if ev := r.Header.Get(EventHeader); ev != EventPaymentStatus {
		return nil, "wrong_event", fmt.Errorf("%w: %s is %q; this plugin handles only %q callbacks", sdk.ErrInvalidArgument, EventHeader, ev, EventPaymentStatus)
	}
	cb, err := parseCallback(r.Body)
	if err != nil {
		return nil, "malformed", err
	}
	status, _ := statusOf(cb.Status)
	gwStatus := strings.ToUpper(strings.TrimSpace(cb.Status))
	if cb.IsClosedPayment.set && cb.IsClosedPayment.v == 0 {
		return nil, "unknown_order", fmt.Errorf("%w: %s is an open payment; this plugin makes only closed payments", payment.ErrUnknownOrder, cb.Reference)
	}
	host := g.Host()
	var seen callbackRecord
	recorded, err := getJSON(ctx, host, callbackKey(cb.Reference, gwStatus), &seen)
	if err != nil {
		return nil, "error", fmt.Errorf("read the record of callback %s %s: %w", cb.Reference, gwStatus, err)
	}
	if recorded && seen.OrderID != "" { // older records lack the order: checked afresh
		if got := cb.invoiceAmount(); got != seen.Amount {
			return nil, "amount_mismatch", fmt.Errorf("%w: callback for %s says total_amount %d less fee_customer %d = %d IDR, the transaction is %s",
				payment.ErrAmountMismatch, cb.Reference, cb.TotalAmount.v, cb.FeeCustomer.v, got, payment.Money{Amount: seen.Amount, Currency: Currency})
		}
		ev := &payment.Event{
			EventID: cb.Reference + ":" + gwStatus, PaymentID: cb.Reference, OrderID: seen.OrderID, Status: status,
			Amount: payment.Money{Amount: seen.Amount, Currency: Currency}, OccurredAt: callbackTime(cb, r, seen.HandledAt),
			GatewayStatus: gwStatus, Raw: r.Body, Duplicate: true,
		}
		g.Logger().Info("callback repeated", "reference", ev.PaymentID, "order_id", ev.OrderID, "status", gwStatus)
		return callbackResponse(ev), "duplicate", nil
	}

	t, err := api.transactionDetail(ctx, cb.Reference)
	if err != nil {
		if errors.Is(err, payment.ErrUnknownOrder) {
			return nil, "unknown_order", err
		}
		return nil, "error", fmt.Errorf("confirm callback %s: %w", cb.Reference, err)
	}
	if cb.MerchantRef != "" && string(cb.MerchantRef) != t.MerchantRef {
		return nil, "unknown_order", fmt.Errorf("%w: the callback names order %q, Tripay's transaction %s belongs to %q", payment.ErrUnknownOrder, cb.MerchantRef, t.Reference, t.MerchantRef)
	}

	expected := payment.Money{Amount: t.invoiceAmount(), Currency: Currency}
	var asked refRecord
	found, err := getJSON(ctx, host, refKey(t.Reference), &asked)
	if err != nil {
		return nil, "error", fmt.Errorf("read the transaction record: %w", err)
	}
	if found && (asked.Amount != expected.Amount || asked.Currency != Currency) {
		return nil, "amount_mismatch", fmt.Errorf("%w: Tripay's transaction %s is %s, this plugin asked for %d %s", payment.ErrAmountMismatch, t.Reference, expected, asked.Amount, asked.Currency)
	}
	if got := cb.invoiceAmount(); got != expected.Amount {
		return nil, "amount_mismatch", fmt.Errorf("%w: callback for %s says total_amount %d less fee_customer %d = %d IDR, the transaction is %s",
			payment.ErrAmountMismatch, t.Reference, cb.TotalAmount.v, cb.FeeCustomer.v, got, expected)
	}

	confirmed, _ := statusOf(t.Status)
	if status == payment.StatusPaid && confirmed != payment.StatusPaid {
		return nil, "unconfirmed", fmt.Errorf("%w: the callback says %s is PAID, Tripay's transaction detail says %s; refused so that Tripay sends it again",
			payment.ErrUnconfirmed, t.Reference, t.Status)
	}

	now := g.now().UTC()
	stored, err := setJSON(ctx, host, callbackKey(t.Reference, gwStatus), callbackRecord{HandledAt: now, OrderID: t.MerchantRef, Amount: expected.Amount}, true)
	if err != nil {
		return nil, "error", fmt.Errorf("record callback %s %s: %w", t.Reference, gwStatus, err)
	}

	occurred := unixTime(cb.PaidAt)
	if occurred.IsZero() && status == payment.StatusPaid {
		occurred = unixTime(t.PaidAt)
	}
	if occurred.IsZero() {
		occurred = callbackTime(cb, r, now)
	}
	ev := &payment.Event{
		EventID:       t.Reference + ":" + gwStatus,
		PaymentID:     t.Reference,
		OrderID:       t.MerchantRef,
		Status:        status,
		Amount:        expected,
		OccurredAt:    occurred.UTC(),
		Confirmed:     confirmed == status,
		GatewayStatus: gwStatus,
		Raw:           r.Body,
		Duplicate:     recorded || !stored, // seen before, or by a concurrent delivery
	}
	g.Logger().Info("callback handled", "reference", ev.PaymentID, "order_id", ev.OrderID, "status", gwStatus, "confirmed", ev.Confirmed)
	result := "ok"
	if ev.Duplicate {
		result = "duplicate"
	}
	return callbackResponse(ev), result, nil
}

// callbackRecord is a handled callback (its replay record).
type callbackRecord struct {
	HandledAt time.Time `json:"handled_at"`
	// OrderID and Amount (the invoice amount, IDR) let a repeat be reported
	// without asking Tripay.
	OrderID string `json:"order_id,omitempty"`
	Amount  int64  `json:"amount,omitempty"`
}

// callbackTime is when a callback says it happened: paid_at, else when it
// arrived, else fallback.
func callbackTime(cb *callback, r *sdk.HTTPRequest, fallback time.Time) time.Time {
	for _, at := range []time.Time{unixTime(cb.PaidAt), r.ReceivedAt, fallback} {
		if !at.IsZero() {
			return at.UTC()
		}
	}
	return time.Time{}
}

// callbackResponse is the answer Tripay needs to stop resending.
func callbackResponse(ev *payment.Event) *payment.WebhookResponse {
	return &payment.WebhookResponse{
		Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"success":true}`)},
		Event:    ev,
	}
}
