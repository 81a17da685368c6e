package main

import (
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// REPLACE: this file is where Example Pay keeps things in its JSON, and its
// status words (README.md); put your gateway's here.

// fields are where Example Pay's payment object (the answer of GET
// /v1/payments/{id}, an item of GET /v1/payments?order_id=..., the data of
// a notification) keeps what a payment is. Amounts are in minor units, as
// payment.Money's.
var fields = gateway.Fields{ID: "id", OrderID: "order_id", Status: "status", Statuses: statuses, Amount: "amount", AmountMinor: true,
	Currency: "currency", Method: "method", CheckoutURL: "checkout_url", CreatedAt: "created_at", ExpiresAt: "expires_at", PaidAt: "paid_at",
	List: "data"}

// statuses maps Example Pay's status words; an unknown word is pending.
var statuses = gateway.StatusMap{
	"pending": payment.StatusPending, "paid": payment.StatusPaid, "failed": payment.StatusFailed,
	"expired": payment.StatusExpired, "cancelled": payment.StatusCancelled, "refunded": payment.StatusRefunded,
}
