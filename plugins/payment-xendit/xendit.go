package main

import (
	"cmp"
	"encoding/json"
	"time"

	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// createInvoice is the body of POST /v2/invoices. Amounts are JSON numbers
// in major units: IDR has no decimals at Xendit (it truncates them), PHP
// two; both as CLDR says (gateway.FormatAmount).
type createInvoice struct {
	ExternalID         string      `json:"external_id"`
	Amount             json.Number `json:"amount"`
	Currency           string      `json:"currency"`
	PayerEmail         string      `json:"payer_email,omitempty"`
	Description        string      `json:"description,omitempty"`
	SuccessRedirectURL string      `json:"success_redirect_url,omitempty"`
	FailureRedirectURL string      `json:"failure_redirect_url,omitempty"`
	InvoiceDuration    int64       `json:"invoice_duration,omitempty"` // seconds
}

// invoice is Xendit's invoice object, and the body of an invoice callback
// (which has the same fields, paid_at and payment_channel once paid).
type invoice struct {
	ID             string      `json:"id"`
	ExternalID     string      `json:"external_id"`
	Status         string      `json:"status"`
	Amount         json.Number `json:"amount"`
	Currency       string      `json:"currency"`
	InvoiceURL     string      `json:"invoice_url,omitempty"`
	PaymentMethod  string      `json:"payment_method,omitempty"`
	PaymentChannel string      `json:"payment_channel,omitempty"`
	Created        time.Time   `json:"created,omitzero"`
	Updated        time.Time   `json:"updated,omitzero"`
	ExpiryDate     time.Time   `json:"expiry_date,omitzero"`
	PaidAt         time.Time   `json:"paid_at,omitzero"`
}

// statuses maps Xendit's invoice statuses: SETTLED is paid and the money
// has reached the merchant's balance. An unknown word is pending.
var statuses = gateway.StatusMap{"PENDING": payment.StatusPending, "PAID": payment.StatusPaid, "SETTLED": payment.StatusPaid, "EXPIRED": payment.StatusExpired}

func (inv *invoice) convert(raw []byte, err error) (*payment.Payment, error) {
	if err != nil {
		return nil, err
	}
	amount, err := gateway.ParseAmount(inv.Amount.String(), inv.Currency)
	if err != nil {
		return nil, err
	}
	return &payment.Payment{ID: inv.ID, OrderID: inv.ExternalID, Status: statuses.Status(inv.Status), Amount: amount,
		Method: cmp.Or(inv.PaymentChannel, inv.PaymentMethod), CheckoutURL: inv.InvoiceURL, CreatedAt: inv.Created,
		ExpiresAt: inv.ExpiryDate, PaidAt: inv.PaidAt, GatewayStatus: inv.Status, Raw: raw}, nil
}
