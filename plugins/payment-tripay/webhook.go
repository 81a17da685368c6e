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
//  5. each (reference, status) is handled once (else ErrReplay), recorded in
//     the host's durable store so replays are caught across restarts.
//
// Tripay expects {"success": true}; it retries other answers.
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

	host := g.Host()
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
			sdk.ErrFailedPrecondition, t.Reference, t.Status)
	}

	now := g.now().UTC()
	stored, err := setJSON(ctx, host, callbackKey(t.Reference, gwStatus), map[string]any{"handled_at": now}, true)
	if err != nil {
		return nil, "error", fmt.Errorf("record callback %s %s: %w", t.Reference, gwStatus, err)
	}
	if !stored {
		return nil, "replay", fmt.Errorf("%w: callback %s %s was handled before", payment.ErrReplay, t.Reference, gwStatus)
	}

	occurred := unixTime(cb.PaidAt)
	if occurred.IsZero() && status == payment.StatusPaid {
		occurred = unixTime(t.PaidAt)
	}
	if occurred.IsZero() {
		occurred = r.ReceivedAt
	}
	if occurred.IsZero() {
		occurred = now
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
	}
	g.Logger().Info("callback handled", "reference", ev.PaymentID, "order_id", ev.OrderID, "status", gwStatus, "confirmed", ev.Confirmed)
	return &payment.WebhookResponse{
		Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"success":true}`)},
		Event:    ev,
	}, "ok", nil
}
