package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// API is what you write for one gateway: the calls that differ from one
// gateway to the next. Spec.New builds it from valid settings. The SDK
// calls it only with requests it has checked, under a deadline, and checks
// what it answers (see the package doc).
type API interface {
	// Create creates a payment at the gateway for req (already validated,
	// its currency one of Spec.Currencies) and returns it. Send
	// req.IdempotencyKey when the gateway takes one (Call.IdempotencyKey).
	Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error)
	// Get is the gateway's status query for its payment id: the truth the
	// host credits by. An unknown id is payment.ErrUnknownOrder (the
	// Client maps a 404 so).
	Get(ctx context.Context, id string) (*payment.Payment, error)
	// GetByOrder returns the newest payment of an order: the host makes a
	// new payment for an invoice whose earlier one failed or expired, with
	// the same order id. None is payment.ErrUnknownOrder.
	GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error)
	// VerifyNotification checks a notification's signature (or token) over
	// the raw request, before anything is parsed; any error refuses it as
	// payment.ErrInvalidSignature. A gateway whose signature covers parsed
	// fields checks here what it can (the signature is present) and
	// verifies the signature in ParseNotification.
	VerifyNotification(req *sdk.HTTPRequest) error
	// ParseNotification reads a verified notification. Return nil, nil for
	// one that is not about a payment (a test ping): it is acknowledged
	// and reports nothing. An error that wraps no payment sentinel is
	// payment.ErrMalformedPayload.
	ParseNotification(req *sdk.HTTPRequest) (*Notification, error)
}

// Notification is what a notification claims. The SDK trusts none of it
// until the gateway's status query agrees.
type Notification struct {
	// ID is the gateway's event id. Leave it empty when the gateway's
	// notifications have none: the replay key is then derived from
	// PaymentID and GatewayStatus (a resend is the same event; the next
	// status of the payment is a new one).
	ID string
	// PaymentID is the gateway's payment id, or empty when only OrderID is
	// known (the newest payment of the order is then confirmed).
	PaymentID string
	OrderID   string
	// Status is what the notification claims (StatusMap.Status maps a
	// gateway's words; an unknown word is pending, never paid).
	Status payment.Status
	// Amount the notification claims; zero when it carries none. When set
	// it must equal the status query's, or the notification is refused.
	Amount payment.Money
	// OccurredAt is when the gateway says it happened; zero: when the host
	// received it.
	OccurredAt time.Time
	// GatewayStatus is the gateway's own word ("PAID", "settlement").
	GatewayStatus string
}

// StatusMap maps a gateway's status words to the SDK's.
type StatusMap map[string]payment.Status

// Status maps word; a word not in the map is pending, so that no new or
// misspelt word is ever taken for paid.
func (m StatusMap) Status(word string) payment.Status {
	if s, ok := m[word]; ok {
		return s
	}
	return payment.StatusPending
}

// Spec describes a gateway plugin; New serves it.
type Spec[S any] struct {
	// Name and Version must match plugin.json ("payment-xendit", "0.1.0").
	Name, Version string
	// Description is one line for operators.
	Description string
	// Defaults are the settings before the operator's are decoded over
	// them (sdk.DecodeConfig: unknown fields are errors). S is a struct
	// with json tags; embed Connection when the gateway has an HTTP API. A
	// Validate() error method on *S or S is called after decoding; return
	// Problems.Err().
	Defaults S
	// Environments maps Connection.Environment's values to API addresses
	// ({"sandbox": "https://...", "production": "https://..."}). Empty:
	// base_url is required, or the gateway has one address and New
	// passes it (Env.Client's ClientConfig cannot, so set one entry).
	Environments map[string]string
	// Currencies the gateway takes (ISO 4217); any other is refused with
	// payment.ErrUnsupportedCurrency before a call. Empty: any.
	Currencies []string
	// ReplayTTL is how long a notification's replay record is kept: longer
	// than the gateway resends (0: 7 days; at most sdk.MaxStoreTTL).
	ReplayTTL time.Duration
	// CallTimeout bounds every call the host makes, whatever deadline it
	// gave (0: 60 seconds).
	CallTimeout time.Duration
	// Ack is the answer to a notification the gateway need not resend
	// (zero: 200 with {"received":true}).
	Ack sdk.HTTPResponse
	// New builds the API from valid settings. Return an error wrapping
	// ErrNotConfigured while the credentials are not set; any other error
	// refuses the settings. Env gives the HTTP client, the logger, the
	// clock and warnings for the operator.
	New func(s S, env *Env) (API, error)
	// MetricPrefix names the gateway's metrics (see CollectMetrics):
	// "<prefix>_api_requests_total" and "<prefix>_notifications_total".
	// Empty: Name without "payment-" ("xendit").
	MetricPrefix string
	// APIType is a nil pointer of the API's type ((*myAPI)(nil)) for an
	// API that also implements payment.Refunder or payment.MethodLister:
	// the plugin that Gateway.Plugin returns then offers them (Describe
	// reports "refund", "list_methods") and calls the configured API's
	// method under the call deadline. Nil: neither is offered.
	APIType API
	// CheckCurrency, for an API that converts amounts itself (never with
	// FormatAmount or ParseAmount), replaces the check CreatePayment makes
	// of the request's currency: Decimals, which refuses codes whose CLDR
	// digits differ from payment.Exponent's (COP, PKR, ...) although such a
	// gateway takes them. Return an error wrapping
	// payment.ErrUnsupportedCurrency. Codes that name no money (CheckMoney)
	// are refused either way. Nil: Decimals.
	CheckCurrency func(code string) error
	// IdempotencyTTL is how long an idempotency key's payment is
	// remembered (0: 30 days; at most sdk.MaxStoreTTL). Longer than the
	// host may repeat a key: a payment's longest expiry at the gateway.
	IdempotencyTTL time.Duration
	// CreateLease, when set, is how long a create whose outcome is unknown
	// keeps its key: a retry that finds no payment at the gateway answers
	// sdk.ErrConflict, saying when to retry, until the lease since the
	// attempt began is over (the request may still reach the gateway),
	// then exactly one retry creates, and a payment recorded for another
	// idempotency key is never adopted (see lease.go). Zero: such a retry
	// creates at once.
	CreateLease time.Duration
	// Legacy reads the records an earlier version of the plugin, written
	// without this package, left in the host's durable store, so that an
	// upgrade keeps its idempotency keys and replay records (see Legacy).
	// Zero: none.
	Legacy Legacy
	// AwaitCreate is how long a CreatePayment waits for another one with
	// the same idempotency key that is still creating the payment, and
	// then answers with that payment (0: it answers sdk.ErrConflict at
	// once, and the host retries).
	AwaitCreate time.Duration
	// ReportFinalStatus: a paid notification about a payment the status
	// query gives another final status (refunded, failed, cancelled,
	// expired) is reported with that status, confirmed, as the status
	// query has it; only one the status query still gives pending is
	// payment.ErrUnconfirmed. False: any paid notification the status
	// query does not give paid is payment.ErrUnconfirmed.
	ReportFinalStatus bool
}

// Env is what Spec.New gets besides the settings.
type Env struct {
	// Log is the plugin's logger (never log a secret).
	Log *slog.Logger
	// Now is the clock (tests may replace it with Gateway.SetClock).
	Now func() time.Time
	// BaseURL is the API's address from Connection (environment or
	// base_url), without a trailing slash; empty without a Connection:
	// then Spec.New may set it, and Environment, before it calls Client
	// (health reports both).
	BaseURL string
	// Environment is Connection.Environment.
	Environment string
	// HostEnvironment is the environment the host runs in
	// (sdk.ConfigureRequest.Environment: "production", "staging", ...),
	// to warn of test credentials in production.
	HostEnvironment string
	// Host is the host's services: the durable store, for what an API
	// must remember that the gateway cannot be asked (Stripe lists no
	// payments by order). Keep its keys apart from the SDK's ("idem:",
	// "replay:").
	Host sdk.Host

	timeout  time.Duration
	warnings []string
	details  map[string]any
	client   *Client
	clients  []*Client // every Client, for a gateway with several API hosts
	metrics  *metrics
}

// Warn adds a warning for the operator to Configure's answer ("a sandbox
// key in production").
func (e *Env) Warn(format string, args ...any) {
	e.warnings = append(e.warnings, fmt.Sprintf(format, args...))
}

// Client returns the HTTP client of the gateway's API at BaseURL (or
// cfg.BaseURL), with the connection's timeout per attempt (or
// cfg.Timeout). Its failures are what CheckHealth reports; call it once
// per New and API host (a gateway with two hosts calls it twice).
func (e *Env) Client(cfg ClientConfig) *Client {
	timeout := e.timeout
	if cfg.Timeout > 0 {
		timeout = cfg.Timeout
	} else if timeout == 0 {
		timeout = 15 * time.Second
	}
	e.client = newClient(cfg, strings.TrimRight(cmpOr(cfg.BaseURL, e.BaseURL), "/"), timeout, e.Log, e.metrics)
	e.clients = append(e.clients, e.client)
	return e.client
}

// instance is what one Configure built.
type instance struct {
	api           API
	client        *Client
	clients       []*Client // every Env.Client, the last one also client
	notConfigured error     // set while the credentials are missing
	details       map[string]any
}

// Gateway is the payment.Gateway that New returns; the host talks to it.
type Gateway[S any] struct {
	sdk.Base
	spec Spec[S]

	mu      sync.RWMutex
	inst    *instance
	now     func() time.Time
	metrics *metrics
}

var _ payment.Gateway = (*Gateway[struct{}])(nil)

// New returns the plugin for spec; serve it with sdk.Serve. It panics when
// spec lacks Name, Version or New: a bug, found at the first start.
func New[S any](spec Spec[S]) *Gateway[S] {
	if spec.Name == "" || spec.Version == "" || spec.New == nil {
		panic("gateway.New: Spec needs Name, Version and New")
	}
	if spec.ReplayTTL == 0 {
		spec.ReplayTTL = 7 * 24 * time.Hour
	}
	if spec.CallTimeout == 0 {
		spec.CallTimeout = 60 * time.Second
	}
	if spec.IdempotencyTTL == 0 {
		spec.IdempotencyTTL = idemTTL
	}
	if spec.Ack.StatusCode == 0 {
		spec.Ack = sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"received":true}`)}
	}
	return &Gateway[S]{spec: spec, inst: &instance{notConfigured: fmt.Errorf("%w: the host has not configured it yet", ErrNotConfigured)}, now: time.Now,
		metrics: newMetrics(metricPrefix(spec.MetricPrefix, spec.Name))}
}

// SetClock replaces the clock (tests); call it before Configure.
func (g *Gateway[S]) SetClock(now func() time.Time) { g.now = now }

// Describe implements sdk.Plugin.
func (g *Gateway[S]) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: g.spec.Name, Version: g.spec.Version, Description: g.spec.Description}, nil
}

// Configure implements sdk.Plugin: decode, check, build, swap. A refusal
// keeps the settings before.
func (g *Gateway[S]) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	s := g.spec.Defaults
	if c, ok := any(&s).(hasConnection); ok && c.connection().TimeoutSeconds == 0 {
		c.connection().TimeoutSeconds = 15
	}
	if err := sdk.DecodeConfig(req.Settings, &s); err != nil {
		return nil, err
	}
	var p Problems
	env := &Env{Log: g.Log(), Now: g.now, Host: g.Host(), HostEnvironment: req.Environment, metrics: g.metrics}
	if c, ok := any(&s).(hasConnection); ok {
		conn := c.connection()
		env.BaseURL, env.Environment, env.timeout = conn.resolve(&p, g.spec.Environments), conn.Environment, conn.Timeout()
	}
	if v, ok := any(&s).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				err = fmt.Errorf("%w: settings: %v", sdk.ErrInvalidArgument, err)
			}
			if perr := p.Err(); perr != nil {
				err = fmt.Errorf("%w; %s", err, strings.TrimPrefix(perr.Error(), sdk.ErrInvalidArgument.Error()+": settings: "))
			}
			return nil, err
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	api, err := g.spec.New(s, env)
	inst := &instance{api: api, client: env.client, details: map[string]any{}}
	inst.clients = env.clients
	maps.Copy(inst.details, env.details)
	if env.BaseURL != "" {
		inst.details["base_url"] = strings.TrimRight(env.BaseURL, "/")
	}
	if env.Environment != "" {
		inst.details["environment"] = env.Environment
	}
	switch {
	case errors.Is(err, ErrNotConfigured):
		inst.api, inst.notConfigured = nil, err
		env.warnings = append(env.warnings, err.Error())
	case err != nil:
		if !errors.Is(err, sdk.ErrInvalidArgument) {
			err = fmt.Errorf("%w: settings: %v", sdk.ErrInvalidArgument, err)
		}
		return nil, err
	case api == nil:
		return nil, fmt.Errorf("%w: %s: Spec.New returned no API and no error", sdk.ErrInternal, g.spec.Name)
	}
	g.mu.Lock()
	g.inst = inst
	g.mu.Unlock()
	g.Log().Info("configured", "environment", env.Environment, "base_url", env.BaseURL, "credentials", inst.api != nil)
	return &sdk.ConfigureResponse{Warnings: env.warnings}, nil
}

// api returns the configured API, or an error wrapping
// sdk.ErrFailedPrecondition that says what to set.
func (g *Gateway[S]) api() (*instance, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.inst.api == nil {
		why := strings.TrimPrefix(g.inst.notConfigured.Error(), ErrNotConfigured.Error()+": ")
		return nil, fmt.Errorf("%w: %s is not configured: %s", sdk.ErrFailedPrecondition, g.spec.Name, why)
	}
	return g.inst, nil
}

// CheckHealth implements sdk.Plugin, from memory: degraded while not
// configured or while the last call to the gateway failed on its side.
// New settings start afresh: health is ok from the Configure that accepts
// them until a call fails.
func (g *Gateway[S]) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	inst, err := g.api()
	if err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: err.Error()}, nil
	}
	if inst.client != nil {
		if f := inst.client.LastFailure(); f != "" {
			return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "the last call to " + inst.client.cfg.Name + " failed: " + f, Details: inst.details}, nil
		}
	}
	for _, c := range inst.clients {
		if f := c.LastFailure(); f != "" {
			return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "the last call to " + c.cfg.Name + " failed: " + f, Details: inst.details}, nil
		}
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "ready", Details: inst.details}, nil
}

// deadline bounds a call by Spec.CallTimeout.
func (g *Gateway[S]) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.spec.CallTimeout)
}

// CreatePayment implements payment.Gateway.
func (g *Gateway[S]) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	ctx, cancel := g.deadline(ctx)
	defer cancel()
	if err := req.Validate(); err != nil {
		return nil, err
	}
	inst, err := g.api()
	if err != nil {
		return nil, err
	}
	if len(g.spec.Currencies) > 0 && !slices.Contains(g.spec.Currencies, req.Amount.Currency) {
		return nil, fmt.Errorf("%w: %s; %s takes %s", payment.ErrUnsupportedCurrency, req.Amount.Currency, g.spec.Name, strings.Join(g.spec.Currencies, ", "))
	}
	if err := g.checkCurrency(req.Amount.Currency); err != nil {
		return nil, err
	}
	p, err := g.create(ctx, inst, req)
	if err != nil {
		return nil, fmt.Errorf("create payment for order %s: %w", req.OrderID, err)
	}
	return &payment.CreatePaymentResponse{Payment: *p}, nil
}

// checkAnswer refuses an answer about another order or amount.
func checkAnswer(p *payment.Payment, orderID string, amount payment.Money) error {
	if p == nil || p.ID == "" {
		return fmt.Errorf("%w: the gateway's answer names no payment", sdk.ErrUnavailable)
	}
	if p.OrderID != orderID || p.Amount != amount {
		return fmt.Errorf("%w: asked for %s for order %s, the gateway answered %s for order %s", payment.ErrAmountMismatch, amount, orderID, p.Amount, p.OrderID)
	}
	return nil
}

// GetPayment implements payment.Gateway: by id, by order id (the newest
// payment of the order), or both (the id must belong to the order).
func (g *Gateway[S]) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	ctx, cancel := g.deadline(ctx)
	defer cancel()
	inst, err := g.api()
	if err != nil {
		return nil, err
	}
	p, err := g.lookup(ctx, inst.api, req.ID, req.OrderID)
	if err != nil {
		return nil, fmt.Errorf("get payment %s: %w", cmpOr(req.ID, req.OrderID), err)
	}
	return &payment.GetPaymentResponse{Payment: *p}, nil
}

func (g *Gateway[S]) lookup(ctx context.Context, api API, id, orderID string) (*payment.Payment, error) {
	var p *payment.Payment
	var err error
	switch {
	case id != "":
		p, err = api.Get(operation(ctx, "get"), id)
		if err == nil && orderID != "" && p.OrderID != orderID {
			err = fmt.Errorf("%w: payment %s belongs to order %s, not %s", payment.ErrUnknownOrder, id, p.OrderID, orderID)
		}
	case orderID != "":
		p, err = api.GetByOrder(operation(ctx, "get_by_order"), orderID)
	default:
		err = fmt.Errorf("%w: give the payment's id or its order id", sdk.ErrInvalidArgument)
	}
	if err == nil && p == nil {
		err = fmt.Errorf("%w: %s", payment.ErrUnknownOrder, cmpOr(id, orderID))
	}
	return p, err
}

func cmpOr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
