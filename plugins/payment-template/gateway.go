package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Name and Version must match plugin.json; the host refuses the plugin
// otherwise.
//
// REPLACE: your plugin's name ("payment-<gateway>") and version, here and in
// plugin.json.
const (
	Name    = "payment-template"
	Version = "0.1.0"
)

// settings are the plugin's settings; config_schema in plugin.json
// describes the same fields. gateway.Connection adds environment, base_url
// and timeout_seconds, which the SDK checks.
//
// REPLACE: your gateway's credentials and options.
type settings struct {
	gateway.Connection
	APIKey        string `json:"api_key"`        // secret
	WebhookSecret string `json:"webhook_secret"` // secret
	ExpiryMinutes int    `json:"expiry_minutes"` // for payments without a due date
}

// Validate checks what the schema cannot; never repeat a secret.
func (s settings) Validate() error {
	var p gateway.Problems
	if s.APIKey != "" || s.WebhookSecret != "" {
		p.If(len(s.APIKey) < 8, "api_key is required (at least 8 characters)")
		p.If(len(s.WebhookSecret) < 16, "webhook_secret is required (at least 16 characters)")
	}
	p.If(s.ExpiryMinutes < 5 || s.ExpiryMinutes > 10080, fmt.Sprintf("expiry_minutes must be 5 to 10080, got %d", s.ExpiryMinutes))
	return p.Err()
}

// NewGateway returns the plugin; the host configures it.
//
// REPLACE: your gateway's addresses, currencies, and how long it resends a
// notification (the replay records must outlive that).
func NewGateway() *gateway.Gateway[settings] {
	return gateway.New(gateway.Spec[settings]{
		Name: Name, Version: Version, Description: "Example Pay, a fictional gateway: the template for payment plugins",
		Defaults:     settings{Connection: gateway.Connection{Environment: "sandbox"}, ExpiryMinutes: 60},
		Environments: map[string]string{"sandbox": "https://sandbox.examplepay.test", "production": "https://api.examplepay.test"},
		Currencies:   []string{"IDR", "SGD", "USD"},
		ReplayTTL:    4 * 24 * time.Hour,
		New:          newAPI,
	})
}

// signature is Example Pay's webhook signature (README.md, "Webhooks").
//
// REPLACE: your gateway's scheme (gateway.HMACSHA256, gateway.Verify, ...).
var signature = gateway.TimestampSignature{Header: "Example-Signature"}

// api is Example Pay's API, built from valid settings.
type api struct {
	c   *gateway.Client
	s   settings
	now func() time.Time
}

func newAPI(s settings, env *gateway.Env) (gateway.API, error) {
	if s.APIKey == "" {
		return nil, fmt.Errorf("%w: api_key and webhook_secret are not set: payments are refused until they are", gateway.ErrNotConfigured)
	}
	if env.Environment == "production" && strings.HasPrefix(s.APIKey, "ek_test_") {
		env.Warn("environment is production but api_key is a sandbox key (ek_test_...)")
	}
	// REPLACE: your gateway's authentication and error format.
	return &api{s: s, now: env.Now, c: env.Client(gateway.ClientConfig{
		Name:              "Example Pay",
		Authorize:         func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s.APIKey) },
		IdempotencyHeader: "Idempotency-Key",
		Credentials:       "api_key and environment",
		ErrorBody:         gateway.JSONError("error.code", "error.message"),
		Codes:             map[string]error{"unsupported_currency": payment.ErrUnsupportedCurrency},
	})}, nil
}

func (a *api) Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	expires := req.ExpiresAt
	if expires.IsZero() {
		expires = a.now().Add(time.Duration(a.s.ExpiryMinutes) * time.Minute)
	}
	return fields.Parse(a.c.Do(ctx, gateway.Call{Method: http.MethodPost, Path: "/v1/payments", IdempotencyKey: req.IdempotencyKey, Body: map[string]any{
		"order_id": req.OrderID, "amount": req.Amount.Amount, "currency": req.Amount.Currency, "description": req.Description,
		"return_url": req.ReturnURL, "callback_url": req.CallbackURL, "expires_at": expires.UTC().Truncate(time.Second)}}))
}

func (a *api) Get(ctx context.Context, id string) (*payment.Payment, error) {
	return fields.Parse(a.c.Get(ctx, "/v1/payments/"+url.PathEscape(id), nil))
}

func (a *api) GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error) {
	return fields.Newest(a.c.Get(ctx, "/v1/payments?order_id="+url.QueryEscape(orderID), nil))
}

func (a *api) VerifyNotification(r *sdk.HTTPRequest) error {
	return signature.Verify(r.Header, r.Body, a.s.WebhookSecret, a.now())
}

// ParseNotification reads Example Pay's notification: a "payment.<status>"
// type claims that status; other types (ping) report nothing.
//
// REPLACE: your gateway's notification shape and event types.
func (a *api) ParseNotification(r *sdk.HTTPRequest) (*gateway.Notification, error) {
	var e struct {
		ID, Type  string
		CreatedAt time.Time `json:"created_at"`
		Data      json.RawMessage
	}
	if err := json.Unmarshal(r.Body, &e); err != nil {
		return nil, err
	}
	if e.ID == "" || e.Type == "" {
		return nil, errors.New("the notification has no id or type")
	}
	word, ok := strings.CutPrefix(e.Type, "payment.")
	if !ok {
		return nil, nil // a ping, or an event type about no payment
	}
	n, err := fields.Notification(e.Data) // the payment, as GET returns it
	if err != nil {
		return nil, err
	}
	n.ID, n.Status, n.OccurredAt = e.ID, statuses.Status(word), e.CreatedAt
	return n, nil
}
