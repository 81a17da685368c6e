package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Name and Version match plugin.json.
const (
	Name    = "payment-xendit"
	Version = "0.1.0"
)

// CallbackTokenHeader carries the verification token on Xendit's callbacks.
const CallbackTokenHeader = "X-Callback-Token"

// settings are the plugin's settings (plugin.json's config_schema).
type settings struct {
	gateway.Connection
	SecretKey      string `json:"secret_key"`      // secret
	CallbackToken  string `json:"callback_token"`  // secret
	InvoiceMinutes int    `json:"invoice_minutes"` // for invoices without a due date
}

func (s settings) Validate() error {
	var p gateway.Problems
	if s.SecretKey != "" || s.CallbackToken != "" {
		p.If(!strings.HasPrefix(s.SecretKey, "xnd_"), "secret_key is required: Xendit's secret API key (xnd_development_... or xnd_production_...)")
		p.If(len(s.CallbackToken) < 16, "callback_token is required (at least 16 characters): the verification token of Xendit's webhook settings")
	}
	p.If(s.InvoiceMinutes < 5 || s.InvoiceMinutes > 43200, fmt.Sprintf("invoice_minutes must be 5 to 43200, got %d", s.InvoiceMinutes))
	return p.Err()
}

// NewGateway returns the plugin; the host configures it. Xendit keeps
// retrying a callback that did not get a 2xx for days; the replay records
// outlive that.
func NewGateway() *gateway.Gateway[settings] {
	return gateway.New(gateway.Spec[settings]{
		Name: Name, Version: Version, Description: "Xendit Invoices, in IDR and PHP",
		Defaults:     settings{InvoiceMinutes: 1440},
		Environments: map[string]string{"": "https://api.xendit.co"}, // test or live by the key
		Currencies:   []string{"IDR", "PHP"},
		ReplayTTL:    30 * 24 * time.Hour,
		New:          newAPI,
	})
}

type api struct {
	c *gateway.Client
	s settings
}

func newAPI(s settings, env *gateway.Env) (gateway.API, error) {
	if s.SecretKey == "" {
		return nil, fmt.Errorf("%w: secret_key and callback_token are not set: payments are refused until they are", gateway.ErrNotConfigured)
	}
	// Xendit's Invoices API takes no idempotency key: a create is never
	// retried, and the SDK's idempotency record keeps a repeat from making
	// a second invoice.
	return &api{s: s, c: env.Client(gateway.ClientConfig{
		Name:        "Xendit",
		Authorize:   func(r *http.Request) { r.SetBasicAuth(s.SecretKey, "") },
		Credentials: "secret_key",
		ErrorBody:   gateway.JSONError("error_code", "message"),
		Codes:       map[string]error{"UNSUPPORTED_CURRENCY": payment.ErrUnsupportedCurrency, "INVOICE_NOT_FOUND_ERROR": payment.ErrUnknownOrder},
	})}, nil
}

func (a *api) Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	amount, err := gateway.FormatAmount(req.Amount)
	if err != nil {
		return nil, err
	}
	duration := time.Duration(a.s.InvoiceMinutes) * time.Minute
	if !req.ExpiresAt.IsZero() {
		duration = max(time.Until(req.ExpiresAt), time.Minute)
	}
	// Amounts are JSON numbers in major units: IDR has no decimals at
	// Xendit (it truncates them), PHP two; both as CLDR says.
	return fields.Parse(a.c.Do(ctx, gateway.Call{Method: http.MethodPost, Path: "/v2/invoices", Body: map[string]any{
		"external_id": req.OrderID, "amount": json.Number(amount), "currency": req.Amount.Currency, "payer_email": req.Customer.Email,
		"description": req.Description, "success_redirect_url": req.ReturnURL, "failure_redirect_url": cmp.Or(req.CancelURL, req.ReturnURL),
		"invoice_duration": int64(duration.Seconds())}}))
}

func (a *api) Get(ctx context.Context, id string) (*payment.Payment, error) {
	return fields.Parse(a.c.Get(ctx, "/v2/invoices/"+url.PathEscape(id), nil))
}

func (a *api) GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error) {
	return fields.Newest(a.c.Get(ctx, "/v2/invoices?external_id="+url.QueryEscape(orderID), nil))
}

// VerifyNotification compares the callback's token with the configured one,
// in constant time. Xendit signs nothing: the token is the whole proof, and
// the SDK confirms every callback with GET /v2/invoices/{id}.
func (a *api) VerifyNotification(r *sdk.HTTPRequest) error {
	return gateway.Verify("the "+CallbackTokenHeader+" header", r.Header.Get(CallbackTokenHeader), a.s.CallbackToken)
}

// ParseNotification reads an invoice callback: the invoice as GET returns
// it, paid_at and payment_channel once paid. It carries no event id: the
// SDK derives the replay key from the invoice and its status.
func (a *api) ParseNotification(r *sdk.HTTPRequest) (*gateway.Notification, error) {
	return fields.Notification(r.Body)
}

// fields are where Xendit's invoice object keeps what a payment is.
var fields = gateway.Fields{ID: "id", OrderID: "external_id", Status: "status", Statuses: statuses, Amount: "amount", Currency: "currency",
	Method: "payment_channel|payment_method", CheckoutURL: "invoice_url", CreatedAt: "created", ExpiresAt: "expiry_date", PaidAt: "paid_at",
	OccurredAt: "paid_at|updated"}

// statuses maps Xendit's invoice statuses: SETTLED is paid and the money
// has reached the merchant's balance. An unknown word is pending.
var statuses = gateway.StatusMap{"PENDING": payment.StatusPending, "PAID": payment.StatusPaid, "SETTLED": payment.StatusPaid, "EXPIRED": payment.StatusExpired}
