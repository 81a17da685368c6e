package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
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

// REPLACE: your gateway's API addresses and the currencies it takes. Amounts
// cross the plugin boundary in minor units (payment.Money: {1050, "USD"} is
// $10.50, {150000, "IDR"} is Rp 150.000); Example Pay takes them the same
// way. If your gateway wants decimal strings, convert with payment.Exponent.
var (
	baseURLs = map[string]string{
		"sandbox":    "https://sandbox.examplepay.test",
		"production": "https://api.examplepay.test",
	}
	currencies = []string{"IDR", "SGD", "USD"}
)

// replayTTL is how long a notification's replay record is kept. Example
// Pay resends a notification that did not get a 2xx for up to 3 days, with
// the same id and a fresh signature.
//
// REPLACE: longer than your gateway resends (at most sdk.MaxStoreTTL).
const replayTTL = 4 * 24 * time.Hour

// settings are the plugin's settings; config_schema in plugin.json
// describes the same fields for the host and the admin UI.
//
// REPLACE: your gateway's credentials and options (and the schema with them).
type settings struct {
	// APIKey authenticates calls to the API. Secret.
	APIKey string `json:"api_key"`
	// WebhookSecret signs notifications. Secret.
	WebhookSecret string `json:"webhook_secret"`
	// Environment is "sandbox" (default) or "production".
	Environment string `json:"environment"`
	// BaseURL, when set, replaces the environment's API address.
	BaseURL string `json:"base_url"`
	// ExpiryMinutes: a payment without an expiry of its own expires after
	// this long (default 60).
	ExpiryMinutes int `json:"expiry_minutes"`
	// TimeoutSeconds bounds one API call (default 15).
	TimeoutSeconds int `json:"timeout_seconds"`
}

func defaultSettings() settings {
	return settings{Environment: "sandbox", ExpiryMinutes: 60, TimeoutSeconds: 15}
}

// configured reports whether the credentials are set. The host may start
// the plugin before an operator has entered them (they are not required by
// the schema, so installing comes first and configuring second); until
// then the plugin runs, reports itself degraded, and refuses payments.
func (s settings) configured() bool { return s.APIKey != "" || s.WebhookSecret != "" }

// validate checks what the schema cannot and returns an error wrapping
// sdk.ErrInvalidArgument that names every problem. It never repeats a
// secret's value.
func (s settings) validate() (baseURL string, err error) {
	var problems []string
	if s.configured() {
		if len(s.APIKey) < 8 {
			problems = append(problems, "api_key is required (at least 8 characters)")
		}
		if len(s.WebhookSecret) < 16 {
			problems = append(problems, "webhook_secret is required (at least 16 characters)")
		}
	}
	baseURL, ok := baseURLs[s.Environment]
	if !ok {
		problems = append(problems, fmt.Sprintf("environment must be \"sandbox\" or \"production\", got %q", s.Environment))
	}
	if s.BaseURL != "" {
		if err := checkBaseURL(s.BaseURL); err != nil {
			problems = append(problems, "base_url: "+err.Error())
		}
		baseURL = strings.TrimRight(s.BaseURL, "/")
	}
	if s.ExpiryMinutes < 5 || s.ExpiryMinutes > 10080 {
		problems = append(problems, fmt.Sprintf("expiry_minutes must be 5 to 10080, got %d", s.ExpiryMinutes))
	}
	if s.TimeoutSeconds < 1 || s.TimeoutSeconds > 60 {
		problems = append(problems, fmt.Sprintf("timeout_seconds must be 1 to 60, got %d", s.TimeoutSeconds))
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("%w: settings: %s", sdk.ErrInvalidArgument, strings.Join(problems, "; "))
	}
	return baseURL, nil
}

// checkBaseURL accepts https URLs, and http ones on loopback addresses only
// (a fake gateway in tests), so a typo cannot send the API key in clear text.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err == nil && u.User != nil:
		// Not repeated: it holds a password.
		return fmt.Errorf("must not hold a user name or password; put credentials in api_key")
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q is not an absolute URL such as \"https://api.examplepay.test\"", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("http:// is accepted only for loopback addresses; use https://")
	default:
		return fmt.Errorf("the scheme must be https, got %q", u.Scheme)
	}
}

// Gateway is the plugin. sdk.Base gives it working defaults (CollectMetrics,
// ...), its logger and the host's key-value store.
type Gateway struct {
	sdk.Base

	mu  sync.RWMutex
	cfg settings
	api *apiClient // nil until configured with credentials

	now func() time.Time
}

// Interface guards.
var _ payment.Gateway = (*Gateway)(nil)

// NewGateway returns an unconfigured gateway; the host configures it.
func NewGateway() *Gateway { return &Gateway{cfg: defaultSettings(), now: time.Now} }

// Describe implements sdk.Plugin.
func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: Name, Version: Version, Description: "Example Pay, a fictional gateway: the template for payment plugins"}, nil
}

// Configure implements sdk.Plugin. It is called after every start and again
// whenever an operator saves new settings; a refusal keeps the old ones.
func (g *Gateway) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	cfg := defaultSettings()
	if err := sdk.DecodeConfig(req.Settings, &cfg); err != nil {
		return nil, err
	}
	baseURL, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	resp := &sdk.ConfigureResponse{}
	var api *apiClient
	if cfg.configured() {
		api = &apiClient{
			base:    baseURL,
			apiKey:  cfg.APIKey,
			timeout: time.Duration(cfg.TimeoutSeconds) * time.Second,
			http:    &http.Client{},
			log:     g.Logger().Named("examplepay"),
		}
		if cfg.Environment == "production" && strings.HasPrefix(cfg.APIKey, "ek_test_") {
			resp.Warnings = append(resp.Warnings, "environment is production but api_key is a sandbox key (ek_test_...)")
		}
	} else {
		resp.Warnings = append(resp.Warnings, "api_key and webhook_secret are not set: payments are refused until they are")
	}
	g.mu.Lock()
	g.cfg, g.api = cfg, api
	g.mu.Unlock()
	// Log what changed, never the values of secrets.
	g.Logger().Info("configured", "environment", cfg.Environment, "base_url", baseURL, "credentials", cfg.configured())
	return resp, nil
}

// state returns the settings and the API client, or an error when the
// credentials are not set yet.
func (g *Gateway) state() (settings, *apiClient, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.api == nil {
		return settings{}, nil, fmt.Errorf("%w: %s is not configured: set api_key and webhook_secret in its settings", sdk.ErrFailedPrecondition, Name)
	}
	return g.cfg, g.api, nil
}

// CheckHealth implements sdk.Plugin. The host calls it every few seconds
// with a short timeout: answer from memory, do not call the gateway.
func (g *Gateway) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	cfg, api, err := g.state()
	if err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: err.Error()}, nil
	}
	details := map[string]any{"environment": cfg.Environment, "base_url": api.base}
	if failure := api.lastFailure(); failure != "" {
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "the last call to Example Pay failed: " + failure, Details: details}, nil
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "ready", Details: details}, nil
}

// CreatePayment implements payment.Gateway.
func (g *Gateway) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	cfg, api, err := g.state()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(currencies, req.Amount.Currency) {
		return nil, fmt.Errorf("%w: %s; Example Pay takes %s", payment.ErrUnsupportedCurrency, req.Amount.Currency, strings.Join(currencies, ", "))
	}
	expires := req.ExpiresAt
	if expires.IsZero() {
		expires = g.now().Add(time.Duration(cfg.ExpiryMinutes) * time.Minute)
	}
	// REPLACE: your gateway's create request. The idempotency key goes to
	// the gateway, which answers a repeated key with the first payment: a
	// retry (ours in api.go, or the host's) never creates a second one.
	p, raw, err := api.createPayment(ctx, apiCreatePayment{
		OrderID:     req.OrderID,
		Amount:      req.Amount.Amount,
		Currency:    req.Amount.Currency,
		Description: req.Description,
		ReturnURL:   req.ReturnURL,
		CallbackURL: req.CallbackURL,
		ExpiresAt:   expires.UTC().Truncate(time.Second),
	}, req.IdempotencyKey)
	if err != nil {
		return nil, fmt.Errorf("create payment for order %s: %w", req.OrderID, err)
	}
	// Never trust an answer about something else.
	if p.OrderID != req.OrderID || p.Amount != req.Amount.Amount || p.Currency != req.Amount.Currency {
		return nil, fmt.Errorf("%w: asked Example Pay for %s for order %s, it answered %s for order %s",
			payment.ErrAmountMismatch, req.Amount, req.OrderID, payment.Money{Amount: p.Amount, Currency: p.Currency}, p.OrderID)
	}
	g.Logger().Info("payment created", "order", p.OrderID, "payment", p.ID, "status", p.Status)
	return &payment.CreatePaymentResponse{Payment: toPayment(p, raw)}, nil
}

// GetPayment implements payment.Gateway: the gateway's status query, which
// is the truth the host credits invoices by.
func (g *Gateway) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	_, api, err := g.state()
	if err != nil {
		return nil, err
	}
	var p *apiPayment
	var raw []byte
	switch {
	case req.ID != "":
		p, raw, err = api.getPayment(ctx, req.ID)
		if err == nil && req.OrderID != "" && p.OrderID != req.OrderID {
			err = fmt.Errorf("%w: payment %s belongs to order %s, not %s", payment.ErrUnknownOrder, req.ID, p.OrderID, req.OrderID)
		}
	case req.OrderID != "":
		p, raw, err = api.latestForOrder(ctx, req.OrderID)
	default:
		err = fmt.Errorf("%w: give the payment's id or its order id", sdk.ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("get payment %s: %w", firstNonEmpty(req.ID, req.OrderID), err)
	}
	return &payment.GetPaymentResponse{Payment: toPayment(p, raw)}, nil
}

// notification is the body Example Pay posts to the webhook URL.
//
// REPLACE: your gateway's notification shape.
type notification struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	CreatedAt time.Time  `json:"created_at"`
	Data      apiPayment `json:"data"`
}

// HandleWebhook implements payment.Gateway. The host hands it the raw
// request sent to /webhooks/payment-template. The order of the steps
// matters:
//
//  1. verify the signature over the raw bytes, in constant time, before
//     anything is parsed (ErrInvalidSignature);
//  2. parse (ErrMalformedPayload);
//  3. look up the notification's replay record (its id -> the payment it
//     was about, in the host's durable store): seen for this payment, it is
//     reported again, marked Duplicate, without asking the status API;
//     seen for another payment, it is refused (ErrReplay). Your replay
//     guard saves work; the host decides exactly-once: it answers the
//     gateway 2xx only once the credit is committed, so a repeat may be the
//     only way a payment whose first delivery failed on its side gets
//     credited. Never answer a repeat with an error, and never drop it;
//  4. confirm with the gateway's status API: the notification only says
//     "look now"; what the status API answers is what is reported
//     (ErrUnknownOrder when it does not know the payment; ErrUnconfirmed
//     when it says paid and the status API does not, yet);
//  5. check the amount against the gateway's record (ErrAmountMismatch);
//  6. write the replay record, only once every check passed, so that a
//     notification refused for a passing reason (the status API lagging)
//     is checked afresh when resent.
func (g *Gateway) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	cfg, api, err := g.state()
	if err != nil {
		// Without the secret nothing can be verified: refuse as unsigned.
		return nil, fmt.Errorf("%w: %v", payment.ErrInvalidSignature, err)
	}
	body := req.Request.Body
	if err := verifySignature(req.Request.Header, body, cfg.WebhookSecret, g.now()); err != nil {
		g.Logger().Warn("webhook signature refused", "remote", req.Request.RemoteAddr, "request_id", req.Request.RequestID, "error", err)
		return nil, fmt.Errorf("%w: %v", payment.ErrInvalidSignature, err)
	}

	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: the body is not an Example Pay notification: %v", payment.ErrMalformedPayload, err)
	}
	if n.ID == "" || n.Type == "" {
		return nil, fmt.Errorf("%w: the notification has no id or type", payment.ErrMalformedPayload)
	}
	claimed, isPayment := eventStatuses[n.Type]
	if !isPayment {
		// A ping, or an event type this plugin does not use: acknowledge
		// it, so the gateway does not resend it, and report nothing.
		g.Logger().Debug("webhook ignored", "type", n.Type, "event", n.ID)
		return &payment.WebhookResponse{Response: ok()}, nil
	}
	if n.Data.ID == "" || n.Data.Currency == "" {
		return nil, fmt.Errorf("%w: a %s notification needs data.id, data.amount and data.currency", payment.ErrMalformedPayload, n.Type)
	}

	replays := payment.ReplayRecords{Host: g.Host(), Prefix: "webhook:", TTL: replayTTL}
	if dup, err := replays.Check(ctx, n.ID, n.Data.ID); err != nil {
		return nil, err // ErrReplay: the id was recorded for another payment
	} else if dup {
		return g.repeat(&n, claimed, body)
	}

	got, raw, err := api.getPayment(ctx, n.Data.ID)
	if err != nil {
		return nil, fmt.Errorf("confirm payment %s with Example Pay: %w", n.Data.ID, err)
	}
	if n.Data.Amount != got.Amount || n.Data.Currency != got.Currency {
		return nil, fmt.Errorf("%w: notification %s says %s, Example Pay's record of payment %s says %s", payment.ErrAmountMismatch, n.ID,
			payment.Money{Amount: n.Data.Amount, Currency: n.Data.Currency}, got.ID, payment.Money{Amount: got.Amount, Currency: got.Currency})
	}
	confirmed := toPayment(got, raw)
	if claimed == payment.StatusPaid && confirmed.Status != payment.StatusPaid {
		// Not an event: Example Pay resends until it gets a 2xx, and by
		// then its status API agrees (or the host's reconciliation finds
		// the payment paid).
		return nil, fmt.Errorf("%w: notification %s says payment %s is paid, Example Pay's status API says %s; not reported as paid",
			payment.ErrUnconfirmed, n.ID, got.ID, confirmed.GatewayStatus)
	}

	// duplicate: a concurrent delivery recorded it first.
	duplicate, err := replays.Record(ctx, n.ID, got.ID)
	if err != nil {
		return nil, err
	}
	g.Logger().Info("webhook accepted", "event", n.ID, "type", n.Type, "payment", got.ID, "order", got.OrderID, "status", confirmed.Status, "duplicate", duplicate)
	return &payment.WebhookResponse{
		Response: ok(),
		Event: &payment.Event{
			EventID:       n.ID,
			PaymentID:     got.ID,
			OrderID:       got.OrderID,
			Status:        confirmed.Status, // the status API's word, not the notification's
			Amount:        confirmed.Amount,
			OccurredAt:    n.CreatedAt,
			Confirmed:     true,
			GatewayStatus: confirmed.GatewayStatus,
			Raw:           body,
			Duplicate:     duplicate,
		},
	}, nil
}

// repeat answers a notification recorded before for its payment: the event
// again from the notification, marked Duplicate and not confirmed (the
// host confirms with GetPayment unless its store shows the payment
// applied).
func (g *Gateway) repeat(n *notification, claimed payment.Status, body []byte) (*payment.WebhookResponse, error) {
	g.Logger().Info("webhook repeated", "event", n.ID, "type", n.Type, "payment", n.Data.ID)
	return &payment.WebhookResponse{
		Response: ok(),
		Event: &payment.Event{
			EventID:       n.ID,
			PaymentID:     n.Data.ID,
			OrderID:       n.Data.OrderID,
			Status:        claimed,
			Amount:        payment.Money{Amount: n.Data.Amount, Currency: n.Data.Currency},
			OccurredAt:    n.CreatedAt,
			GatewayStatus: n.Data.Status,
			Raw:           body,
			Duplicate:     true,
		},
	}, nil
}

// eventStatuses maps the notification types about payments to the status
// they claim.
//
// REPLACE: your gateway's event types.
var eventStatuses = map[string]payment.Status{
	"payment.paid":      payment.StatusPaid,
	"payment.failed":    payment.StatusFailed,
	"payment.expired":   payment.StatusExpired,
	"payment.cancelled": payment.StatusCancelled,
	"payment.refunded":  payment.StatusRefunded,
}

// statuses maps Example Pay's status words to the SDK's. A word not listed
// counts as pending: never paid by accident.
//
// REPLACE: your gateway's status words.
var statuses = map[string]payment.Status{
	"pending":   payment.StatusPending,
	"paid":      payment.StatusPaid,
	"failed":    payment.StatusFailed,
	"expired":   payment.StatusExpired,
	"cancelled": payment.StatusCancelled,
	"refunded":  payment.StatusRefunded,
}

// toPayment converts Example Pay's payment object.
func toPayment(p *apiPayment, raw []byte) payment.Payment {
	st, ok := statuses[p.Status]
	if !ok {
		st = payment.StatusPending
	}
	return payment.Payment{
		ID:            p.ID,
		OrderID:       p.OrderID,
		Status:        st,
		Amount:        payment.Money{Amount: p.Amount, Currency: p.Currency},
		Method:        p.Method,
		CheckoutURL:   p.CheckoutURL,
		CreatedAt:     p.CreatedAt,
		ExpiresAt:     p.ExpiresAt,
		PaidAt:        p.PaidAt,
		GatewayStatus: p.Status,
		Raw:           raw,
	}
}

// ok is the answer Example Pay expects to a notification it need not resend.
func ok() sdk.HTTPResponse {
	return sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"received":true}`)}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
