package main

import (
	"time"

	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// REPLACE: this file is Example Pay's JSON shapes and words (README.md);
// put your gateway's here.

// apiPayment is Example Pay's payment object, and the body of POST
// /v1/payments (the fields the API sets are left out there).
type apiPayment struct {
	ID          string    `json:"id,omitempty"`
	OrderID     string    `json:"order_id"`
	Amount      int64     `json:"amount"` // minor units, as payment.Money
	Currency    string    `json:"currency"`
	Status      string    `json:"status,omitempty"`
	Description string    `json:"description,omitempty"`
	CheckoutURL string    `json:"checkout_url,omitempty"`
	Method      string    `json:"method,omitempty"`
	ReturnURL   string    `json:"return_url,omitempty"`
	CallbackURL string    `json:"callback_url,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	PaidAt      time.Time `json:"paid_at,omitzero"`
}

// apiList is the answer of GET /v1/payments?order_id=...
type apiList struct {
	Data []apiPayment `json:"data"`
}

// notification is the body Example Pay posts to the webhook URL.
type notification struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	CreatedAt time.Time  `json:"created_at"`
	Data      apiPayment `json:"data"`
}

// statuses maps Example Pay's status words; an unknown word is pending.
var statuses = gateway.StatusMap{
	"pending": payment.StatusPending, "paid": payment.StatusPaid, "failed": payment.StatusFailed,
	"expired": payment.StatusExpired, "cancelled": payment.StatusCancelled, "refunded": payment.StatusRefunded,
}

// convert is the payment for the SDK, or err.
func (p *apiPayment) convert(raw []byte, err error) (*payment.Payment, error) {
	if err != nil {
		return nil, err
	}
	return &payment.Payment{ID: p.ID, OrderID: p.OrderID, Status: statuses.Status(p.Status), Amount: payment.Money{Amount: p.Amount, Currency: p.Currency},
		Method: p.Method, CheckoutURL: p.CheckoutURL, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt, PaidAt: p.PaidAt, GatewayStatus: p.Status, Raw: raw}, nil
}
