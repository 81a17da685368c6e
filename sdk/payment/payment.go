// Package payment is the contract of payment gateway plugins (kind
// "payment").
//
// A gateway implements Gateway: CreatePayment starts a payment for an order
// (an invoice), GetPayment asks the gateway where it stands, and
// HandleWebhook verifies and interprets the gateway's notifications over the
// raw HTTP request. Refunder and MethodLister are optional.
//
// Start with docs/writing-a-payment-plugin.md and the template in
// plugins/payment-template. Package gateway (sdk/payment/gateway)
// implements Gateway for you from a gateway's settings and API alone; this
// interface stays for plugins that implement it by hand.
//
// # Conformance
//
// Package paymenttest (sdk/paymenttest) is the conformance kit: give it a
// fake of your gateway's HTTP API (paymenttest.Fake) and it checks your
// plugin, served in-process (paymenttest.InProcess) and as the built
// executable next to its plugin.json (paymenttest.Executable), the way the
// host uses it: Describe, Configure and CheckHealth; create gives a pending
// payment, once per idempotency key; status; a valid notification is paid
// only once the gateway's status API says so; the same notification again
// comes back as the same event (marked Duplicate); a notification id reused
// for another payment, a bad signature, a wrong amount, an unknown order and
// a malformed body are refused with the sentinels below; a deadline is
// honoured. Call paymenttest.Run from your plugin's conformance_test.go.
//
// # Exactly once
//
// The host decides exactly-once, in its own store: it credits a paid event
// only as the gateway's status API backs it (an event the plugin confirmed,
// Event.Confirmed, as it is; any other with GetPayment first), credits an invoice
// once however often and however concurrently a webhook arrives, and
// answers a webhook 2xx only once the credit is committed. A plugin's
// replay guard saves work; it must never lose a credit. So a plugin keeps a
// replay record per notification id that ties the id to the payment it was
// about, in the host's durable store (ReplayRecords does it), and:
//
//   - a notification it has not seen: verify, confirm, record, report;
//   - the same notification again (same id, same payment): report the event
//     again with Event.Duplicate set. The host may have failed to commit the
//     credit the first time (a database restart, the plugin killed during
//     a confirming GetPayment); it confirms the duplicate with GetPayment
//     and credits now, or answers "already
//     handled" when its store shows the payment applied. The plugin may skip
//     its own status query for a duplicate: that is the work the record
//     saves;
//   - the same id for a different payment: refuse it with ErrReplay, naming
//     both payments. The host answers 409 and credits nothing.
package payment

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// Gateway is what every payment plugin implements.
//
// A gateway may also implement these optional interfaces; the SDK detects
// them and reports their capabilities in Describe:
//   - Refunder ("refund"): give money back for a paid payment.
//   - MethodLister ("list_methods"): list the channels a customer can pay
//     with.
//
// So may any plugin implement sdk.EventHandler, sdk.HTTPHandler and
// sdk.Shutdowner (see sdk.Plugin).
type Gateway interface {
	sdk.Plugin
	// CreatePayment starts a payment. The same IdempotencyKey must never
	// create a second payment: return the first one.
	CreatePayment(ctx context.Context, req *CreatePaymentRequest) (*CreatePaymentResponse, error)
	// GetPayment asks the gateway for the payment's current status, by the
	// gateway's id or by order id. An unknown payment is ErrUnknownOrder.
	GetPayment(ctx context.Context, req *GetPaymentRequest) (*GetPaymentResponse, error)
	// HandleWebhook verifies a notification over the raw request (signature
	// first, in constant time, before parsing), confirms a paid status with
	// the gateway, and returns the response for the gateway plus the event.
	// A notification seen before for the same payment is not an error: it
	// returns the event again with Event.Duplicate set (see "Exactly once"
	// in the package doc). Refuse a bad signature with
	// ErrInvalidSignature, a notification id seen before for another
	// payment with ErrReplay, an amount that differs from the payment with
	// ErrAmountMismatch, an unknown order with ErrUnknownOrder, a paid
	// notification the gateway's status API does not back (yet) with
	// ErrUnconfirmed, and a body that does not parse with
	// ErrMalformedPayload.
	HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResponse, error)
}

// Refunder is an optional capability ("refund") of a gateway.
//
// Refund asks the gateway to give back a paid payment's money, in full
// (a zero Amount) or in part. The same IdempotencyKey must never refund
// twice: return the first refund. Answer a refund the gateway has accepted
// but not finished with Status "pending"; a refund it refused is an error
// (ErrDeclined; ErrUnknownOrder for an unknown payment). The host's client
// (package client) offers it; a gateway without it answers
// sdk.ErrNotSupported there. This version of the host does not refund by
// itself: an operator refunds at the gateway.
type Refunder interface {
	Refund(ctx context.Context, req *RefundRequest) (*RefundResponse, error)
}

// MethodLister is an optional capability ("list_methods") of a gateway.
//
// ListMethods lists the payment channels the gateway offers (for an
// Amount, when given, only those that accept it); a Method's Code is what
// CreatePaymentRequest.Method takes. An error means the list is unknown now, not that there are no
// channels (answer an empty list for that). The host's client (package
// client) offers it; a gateway without it answers sdk.ErrNotSupported
// there. This version of the host does not call it yet.
type MethodLister interface {
	ListMethods(ctx context.Context, req *ListMethodsRequest) (*ListMethodsResponse, error)
}

// Capability names reported by Describe.
const (
	CapabilityRefund      = "refund"
	CapabilityListMethods = "list_methods"
)

// Sentinel errors of payment plugins. Each also matches a general sdk
// sentinel (shown in brackets), so the host can treat them by category.
var (
	// ErrInvalidSignature: the webhook's signature is missing or wrong
	// [sdk.ErrUnauthenticated].
	ErrInvalidSignature = rpcerr.New(codes.Unauthenticated, "PAYMENT_INVALID_SIGNATURE", "invalid webhook signature", sdk.ErrUnauthenticated)
	// ErrReplay: the notification's id was used before for a different
	// payment (the replay record of that id names another payment); name
	// both in the message [sdk.ErrAlreadyExists]. The host answers the
	// webhook 409 and credits nothing. A repeat about the same payment is
	// not ErrReplay: return the event with Event.Duplicate set.
	//
	// Plugins built before Event.Duplicate existed return ErrReplay for
	// every repeat. The host cannot tell the two apart, so it never
	// acknowledges ErrReplay: it answers 409 (the gateway resends) and
	// queues a check of the gateway's pending payments with GetPayment,
	// which credits a payment whose first delivery failed on the host's
	// side. Rebuild such plugins against this SDK.
	ErrReplay = rpcerr.New(codes.AlreadyExists, "PAYMENT_REPLAY", "notification id already used for another payment", sdk.ErrAlreadyExists)
	// ErrAmountMismatch: the amount or currency differs from the payment's
	// [sdk.ErrInvalidArgument].
	ErrAmountMismatch = rpcerr.New(codes.InvalidArgument, "PAYMENT_AMOUNT_MISMATCH", "amount does not match the payment", sdk.ErrInvalidArgument)
	// ErrUnknownOrder: no payment for this order or id [sdk.ErrNotFound].
	ErrUnknownOrder = rpcerr.New(codes.NotFound, "PAYMENT_UNKNOWN_ORDER", "unknown order", sdk.ErrNotFound)
	// ErrUnconfirmed: the notification says paid, the gateway's status API
	// does not (yet) [sdk.ErrFailedPrecondition]. The host answers the
	// webhook 409 "unconfirmed", so the gateway sends it again later.
	ErrUnconfirmed = rpcerr.New(codes.FailedPrecondition, "PAYMENT_UNCONFIRMED", "the gateway's status API does not confirm the notification", sdk.ErrFailedPrecondition)
	// ErrMalformedPayload: the body does not parse as the gateway's
	// notification [sdk.ErrInvalidArgument].
	ErrMalformedPayload = rpcerr.New(codes.InvalidArgument, "PAYMENT_MALFORMED_PAYLOAD", "malformed webhook payload", sdk.ErrInvalidArgument)
	// ErrUnsupportedCurrency: the gateway does not take this currency
	// [sdk.ErrInvalidArgument].
	ErrUnsupportedCurrency = rpcerr.New(codes.InvalidArgument, "PAYMENT_UNSUPPORTED_CURRENCY", "currency not supported by this gateway", sdk.ErrInvalidArgument)
	// ErrDeclined: the gateway refused the payment or refund
	// [sdk.ErrFailedPrecondition].
	ErrDeclined = rpcerr.New(codes.FailedPrecondition, "PAYMENT_DECLINED", "declined by the gateway", sdk.ErrFailedPrecondition)
)

// Status is where a payment stands.
type Status string

// Payment statuses.
const (
	StatusPending   Status = "pending"
	StatusPaid      Status = "paid"
	StatusFailed    Status = "failed"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
	StatusRefunded  Status = "refunded"
)

// Final reports whether the status can no longer change to paid.
func (s Status) Final() bool {
	return s == StatusPaid || s == StatusFailed || s == StatusExpired || s == StatusCancelled || s == StatusRefunded
}

// Money is an amount in the currency's minor units: {1050, "USD"} is $10.50.
// IDR has no minor unit at the gateways: {10000, "IDR"} is Rp 10.000.
type Money struct {
	Amount   int64
	Currency string
}

// String formats the amount with its currency's decimals, for example
// "10.50 USD" or "10000 IDR".
func (m Money) String() string {
	exp := Exponent(m.Currency)
	if exp == 0 {
		return fmt.Sprintf("%d %s", m.Amount, m.Currency)
	}
	sign, a := "", uint64(m.Amount)
	if m.Amount < 0 {
		sign, a = "-", uint64(-(m.Amount+1))+1 // no overflow at math.MinInt64
	}
	div := uint64(1)
	for range exp {
		div *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, a/div, exp, a%div, m.Currency)
}

// IsZero reports whether m is the zero value.
func (m Money) IsZero() bool { return m.Amount == 0 && m.Currency == "" }

// Exponent returns the number of minor-unit digits of an ISO 4217 currency
// as payment gateways use it (IDR: 0, USD: 2, KWD: 3).
func Exponent(currency string) int {
	switch strings.ToUpper(currency) {
	case "IDR", "JPY", "KRW", "VND", "CLP", "ISK", "PYG", "UGX", "XAF", "XOF", "BIF", "DJF", "GNF", "KMF", "MGA", "RWF", "VUV", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	default:
		return 2
	}
}

// Customer is who pays.
type Customer struct {
	Name  string
	Email string
	// Phone in E.164, for example "+6281234567890".
	Phone string
}

// LineItem is one line of an order.
type LineItem struct {
	SKU       string
	Name      string
	Quantity  int
	UnitPrice Money
}

// Payment is a payment as the gateway knows it.
type Payment struct {
	// ID is the gateway's id; unique per gateway.
	ID string
	// OrderID is the host's order id (the invoice number).
	OrderID string
	Status  Status
	Amount  Money
	// Method is the payment channel, for example "QRIS" or "card".
	Method string
	// CheckoutURL is where to send the customer to pay.
	CheckoutURL string
	// Token is a gateway token (Midtrans Snap), when there is one.
	Token string
	// PayCode is a code to pay to (virtual account number), when there is one.
	PayCode string
	// QRString is a QRIS payload, when there is one.
	QRString string
	// Instructions for the customer, readable text.
	Instructions string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	PaidAt       time.Time
	// GatewayStatus is the gateway's own status word ("settlement", "UNPAID").
	GatewayStatus string
	// Raw is the gateway's response as received (JSON).
	Raw []byte
}

// CreatePaymentRequest starts a payment.
type CreatePaymentRequest struct {
	// OrderID is the host's order id (invoice number); required.
	OrderID string
	// Amount is required and positive.
	Amount      Money
	Description string
	Customer    Customer
	// Items, when given, must add up to Amount.
	Items []LineItem
	// Method is a channel code from ListMethods, or empty.
	Method      string
	ReturnURL   string
	CancelURL   string
	CallbackURL string
	// ExpiresAt, when set, asks the gateway to expire the payment then.
	ExpiresAt time.Time
	// IdempotencyKey is required; the same key never creates two payments.
	IdempotencyKey string
	Metadata       map[string]string
}

// Validate checks the request as every gateway needs it. Gateways call it
// first; it returns an error wrapping sdk.ErrInvalidArgument that names every
// problem.
func (r *CreatePaymentRequest) Validate() error {
	var problems []string
	if strings.TrimSpace(r.OrderID) == "" {
		problems = append(problems, "order_id is required")
	}
	if r.Amount.Amount <= 0 {
		problems = append(problems, fmt.Sprintf("amount must be positive, got %d", r.Amount.Amount))
	}
	if !validCurrency(r.Amount.Currency) {
		problems = append(problems, fmt.Sprintf("currency must be a 3-letter ISO 4217 code in upper case, got %q", r.Amount.Currency))
	}
	if strings.TrimSpace(r.IdempotencyKey) == "" {
		problems = append(problems, "idempotency_key is required")
	}
	if len(r.Items) > 0 {
		var sum int64
		for i, it := range r.Items {
			if it.Quantity <= 0 {
				problems = append(problems, fmt.Sprintf("items[%d].quantity must be positive", i))
			}
			if it.UnitPrice.Currency != "" && it.UnitPrice.Currency != r.Amount.Currency {
				problems = append(problems, fmt.Sprintf("items[%d] is in %s, the payment in %s", i, it.UnitPrice.Currency, r.Amount.Currency))
			}
			sum += int64(it.Quantity) * it.UnitPrice.Amount
		}
		if sum != r.Amount.Amount {
			problems = append(problems, fmt.Sprintf("items add up to %d, amount is %d", sum, r.Amount.Amount))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", sdk.ErrInvalidArgument, strings.Join(problems, "; "))
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// CreatePaymentResponse is the new payment, normally pending.
type CreatePaymentResponse struct {
	Payment Payment
}

// GetPaymentRequest names a payment by the gateway's id or the order id.
type GetPaymentRequest struct {
	ID      string
	OrderID string
}

// GetPaymentResponse is the payment as the gateway reports it now.
type GetPaymentResponse struct {
	Payment Payment
}

// WebhookRequest is the raw request the gateway sent to /webhooks/{plugin}.
type WebhookRequest struct {
	Request sdk.HTTPRequest
}

// WebhookResponse is the answer for the gateway and the event, if any.
type WebhookResponse struct {
	// Response is written back to the gateway as is (a zero StatusCode
	// means 200).
	Response sdk.HTTPResponse
	// Event is nil for notifications that are not about a payment.
	Event *Event
}

// Event is what a verified notification says happened.
type Event struct {
	// EventID identifies the notification; the plugin's replay record
	// ties it to PaymentID.
	EventID   string
	PaymentID string
	OrderID   string
	Status    Status
	Amount    Money
	// OccurredAt is when the gateway says it happened.
	OccurredAt time.Time
	// Confirmed is true when the plugin checked the status with the
	// gateway's status API while it handled the notification, and Status,
	// Amount and GatewayStatus are what that API said. The host credits a
	// confirmed paid event without asking GetPayment again; any other paid
	// event (Confirmed false, or Duplicate) it confirms with GetPayment
	// first.
	Confirmed     bool
	GatewayStatus string
	// Raw is the notification body as received.
	Raw []byte
	// Duplicate is true when the plugin's replay record shows that it
	// reported this notification, about this payment, before. It is not an
	// error: the host answers it as handled when its own store shows the
	// payment applied, and otherwise confirms it with GetPayment and
	// credits it as a first delivery (its first delivery may have failed on
	// the host's side). A plugin may skip its own status query for a
	// duplicate; then Status is what the notification says and Confirmed is
	// false.
	Duplicate bool
}

// RefundRequest refunds a paid payment.
type RefundRequest struct {
	PaymentID string
	// Amount to refund; the zero value refunds in full.
	Amount Money
	Reason string
	// IdempotencyKey is required; the same key never refunds twice.
	IdempotencyKey string
}

// RefundResponse is the refund as the gateway reports it.
type RefundResponse struct {
	RefundID  string
	PaymentID string
	Amount    Money
	// Status is "pending", "succeeded" or "failed".
	Status string
}

// ListMethodsRequest asks which channels can pay an amount.
type ListMethodsRequest struct {
	// Amount, optional: only channels that accept it.
	Amount Money
}

// ListMethodsResponse lists payment channels.
type ListMethodsResponse struct {
	Methods []Method
}

// Method is one payment channel.
type Method struct {
	// Code to pass as CreatePaymentRequest.Method.
	Code string
	Name string
	// Group for a UI: "virtual_account", "ewallet", "qris", "card", ...
	Group  string
	Active bool
	// FeeFlat and FeePercent (0.7 means 0.7%) are the customer's fee.
	FeeFlat    Money
	FeePercent float64
	MinAmount  Money
	MaxAmount  Money
}
