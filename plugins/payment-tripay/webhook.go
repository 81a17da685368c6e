package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Callback headers Tripay sends to /webhooks/payment-tripay.
const (
	// SignatureHeader is the hex HMAC-SHA256 of the raw body, keyed with the
	// merchant's private key.
	SignatureHeader = "X-Callback-Signature"
	// EventHeader names the callback's kind; only EventPaymentStatus is
	// handled (another is refused with sdk.ErrInvalidArgument).
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
	if cb.TotalAmount.v < 0 || cb.FeeCustomer.v < 0 || cb.FeeCustomer.v > cb.TotalAmount.v {
		return nil, fmt.Errorf("%w: total_amount %d and fee_customer %d do not make an amount", payment.ErrMalformedPayload, cb.TotalAmount.v, cb.FeeCustomer.v)
	}
	return &cb, nil
}

// VerifyNotification checks X-Callback-Signature, the HMAC-SHA256 of the raw
// body keyed with the private key, in constant time, before anything is
// parsed: a re-serialised body does not verify.
func (a *api) VerifyNotification(r *sdk.HTTPRequest) error {
	return gateway.Verify("the "+SignatureHeader+" header", strings.TrimSpace(r.Header.Get(SignatureHeader)), CallbackSignature(r.Body, a.s.PrivateKey))
}

// ParseNotification reads a verified payment_status callback. Tripay's
// callbacks carry no event id: the SDK derives the replay key from the
// transaction, its status and amount, and confirms the callback with
// transaction/detail (order, invoice amount, and PAID only when the detail
// says PAID).
func (a *api) ParseNotification(r *sdk.HTTPRequest) (*gateway.Notification, error) {
	if ev := r.Header.Get(EventHeader); ev != EventPaymentStatus {
		return nil, fmt.Errorf("%w: %s is %q; this plugin handles only %q callbacks", sdk.ErrInvalidArgument, EventHeader, ev, EventPaymentStatus)
	}
	cb, err := parseCallback(r.Body)
	if err != nil {
		return nil, err
	}
	if cb.IsClosedPayment.set && cb.IsClosedPayment.v == 0 {
		return nil, fmt.Errorf("%w: %s is an open payment; this plugin makes only closed payments", payment.ErrUnknownOrder, cb.Reference)
	}
	status, _ := statusOf(cb.Status)
	return &gateway.Notification{
		PaymentID: cb.Reference, OrderID: string(cb.MerchantRef), Status: status,
		Amount: payment.Money{Amount: cb.invoiceAmount(), Currency: Currency}, OccurredAt: unixTime(cb.PaidAt),
		GatewayStatus: gatewayStatus(cb.Status),
	}, nil
}
