package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Name and Version must match plugin.json.
const (
	Name    = "payment-tripay"
	Version = "0.1.0"
)

const description = "Tripay closed payments: QRIS, virtual accounts, retail outlets and e-wallets (IDR)"

// settings are the plugin's settings (config_schema in plugin.json).
type settings struct {
	// APIKey is the merchant's API key, sent as "Authorization: Bearer";
	// required, secret.
	APIKey string `json:"api_key"`
	// PrivateKey signs transaction requests and Tripay's callbacks;
	// required, secret.
	PrivateKey string `json:"private_key"`
	// MerchantCode is the merchant's code, for example "T0001"; required.
	MerchantCode string `json:"merchant_code"`
	// Mode picks Tripay's API root: "sandbox" (default) or "production".
	Mode string `json:"mode"`
	// BaseURL replaces the mode's API root (a proxy, or a test server):
	// https, or http on a loopback address only. Default: none.
	BaseURL string `json:"base_url"`
	// DefaultMethod is the channel code used when a request names none
	// (default "QRIS").
	DefaultMethod string `json:"default_method"`
	// DefaultCustomerEmail is sent when a request has no customer email;
	// Tripay requires one. Default: none (such requests are refused).
	DefaultCustomerEmail string `json:"default_customer_email"`
	// RequestTimeoutSeconds bounds each call to Tripay, 1 to 120
	// (default 15).
	RequestTimeoutSeconds int `json:"request_timeout_seconds"`
}

// DefaultSettings are the settings an operator leaves out.
func DefaultSettings() settings {
	return settings{Mode: "sandbox", DefaultMethod: "QRIS", RequestTimeoutSeconds: 15}
}

var channelCode = regexp.MustCompile(`^[A-Z0-9_]{2,32}$`)

// Validate checks settings and names every problem; the error wraps
// sdk.ErrInvalidArgument and never repeats a secret.
func (s *settings) Validate() error {
	var problems []string
	if strings.TrimSpace(s.APIKey) == "" {
		problems = append(problems, "api_key is required (Tripay member area: Merchant > API key)")
	}
	if strings.TrimSpace(s.PrivateKey) == "" {
		problems = append(problems, "private_key is required (Tripay member area: Merchant > private key)")
	}
	if strings.TrimSpace(s.MerchantCode) == "" {
		problems = append(problems, "merchant_code is required, for example \"T0001\"")
	}
	if s.Mode != "sandbox" && s.Mode != "production" {
		problems = append(problems, fmt.Sprintf("mode must be \"sandbox\" or \"production\", got %q", s.Mode))
	}
	if s.BaseURL != "" {
		if err := checkBaseURL(s.BaseURL); err != nil {
			problems = append(problems, "base_url "+err.Error())
		}
	}
	if !channelCode.MatchString(s.DefaultMethod) {
		problems = append(problems, fmt.Sprintf("default_method must be a Tripay channel code such as \"QRIS\" or \"BRIVA\", got %q", s.DefaultMethod))
	}
	if s.DefaultCustomerEmail != "" {
		if _, err := mail.ParseAddress(s.DefaultCustomerEmail); err != nil {
			problems = append(problems, "default_customer_email is not an email address")
		}
	}
	if s.RequestTimeoutSeconds < 1 || s.RequestTimeoutSeconds > 120 {
		problems = append(problems, fmt.Sprintf("request_timeout_seconds must be 1 to 120, got %d", s.RequestTimeoutSeconds))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", sdk.ErrInvalidArgument, strings.Join(problems, "; "))
	}
	return nil
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must be an absolute URL such as %q without credentials, query or fragment", SandboxBaseURL)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return errors.New("must use https (plain http only on a loopback address): the API key travels in it")
	default:
		return fmt.Errorf("must be https, got scheme %q", u.Scheme)
	}
}

func (s *settings) baseURL() *url.URL {
	raw := s.BaseURL
	if raw == "" {
		raw = SandboxBaseURL
		if s.Mode == "production" {
			raw = ProductionBaseURL
		}
	}
	u, _ := url.Parse(raw) // checked by Validate
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u
}

// Gateway is mikrobill's Tripay payment plugin: closed payments created with
// transaction/create, statuses from transaction/detail, callbacks verified
// by X-Callback-Signature.
type Gateway struct {
	sdk.Base

	mu  sync.RWMutex
	cfg settings
	api *apiClient // nil until configured

	stats *stats
	http  *http.Client
	now   func() time.Time

	// Test hooks: attemptTimeout replaces request_timeout_seconds when set;
	// backoff is the first pause between retries.
	attemptTimeout time.Duration
	backoff        time.Duration
}

var (
	_ payment.Gateway      = (*Gateway)(nil)
	_ payment.MethodLister = (*Gateway)(nil)
)

// NewGateway returns an unconfigured gateway.
func NewGateway() *Gateway {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	return &Gateway{
		cfg:   DefaultSettings(),
		stats: newStats(),
		http: &http.Client{
			Transport: tr,
			// Tripay does not redirect API calls; following one could send
			// the API key elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:     time.Now,
		backoff: 300 * time.Millisecond,
	}
}

// Describe implements sdk.Plugin.
func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: Name, Version: Version, Description: description}, nil
}

// Configure implements sdk.Plugin.
func (g *Gateway) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	cfg := DefaultSettings()
	if err := sdk.DecodeConfig(req.Settings, &cfg); err != nil {
		return nil, err
	}
	cfg.DefaultMethod = strings.ToUpper(strings.TrimSpace(cfg.DefaultMethod))
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	resp := &sdk.ConfigureResponse{}
	sandboxKey := strings.HasPrefix(cfg.APIKey, "DEV-")
	switch {
	case cfg.Mode == "production" && sandboxKey:
		resp.Warnings = append(resp.Warnings, "api_key looks like a sandbox key (DEV-...) but mode is production; Tripay will refuse it")
	case cfg.Mode == "sandbox" && !sandboxKey && cfg.BaseURL == "":
		resp.Warnings = append(resp.Warnings, "mode is sandbox but api_key does not look like a sandbox key (DEV-...); use the simulator's credentials")
	}
	if cfg.DefaultCustomerEmail == "" {
		resp.Warnings = append(resp.Warnings, "default_customer_email is not set: payments for customers without an email are refused, since Tripay requires one")
	}

	timeout := time.Duration(cfg.RequestTimeoutSeconds) * time.Second
	if g.attemptTimeout > 0 {
		timeout = g.attemptTimeout
	}
	api := &apiClient{
		base: cfg.baseURL(), apiKey: cfg.APIKey, privateKey: cfg.PrivateKey, merchantCode: cfg.MerchantCode,
		http: g.http, timeout: timeout, attempts: 3, backoff: g.backoff,
		log: func() hclog.Logger { return g.Logger().Named("tripay") }, stats: g.stats,
	}
	g.mu.Lock()
	g.cfg, g.api = cfg, api
	g.mu.Unlock()
	g.Logger().Info("configured", "mode", cfg.Mode, "api_host", api.base.Host, "merchant_code", cfg.MerchantCode, "default_method", cfg.DefaultMethod)
	return resp, nil
}

func (g *Gateway) state() (settings, *apiClient, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.api == nil {
		return settings{}, nil, fmt.Errorf("%w: the plugin has not been configured yet", sdk.ErrFailedPrecondition)
	}
	return g.cfg, g.api, nil
}

// CheckHealth implements sdk.Plugin. It makes no call to Tripay (the host
// calls it often); it reports degraded when the last call to Tripay failed.
func (g *Gateway) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	cfg, api, err := g.state()
	if err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: err.Error()}, nil
	}
	details := map[string]any{"mode": cfg.Mode, "api_host": api.base.Host}
	if at, msg, failing := g.stats.failing(); failing {
		details["last_failure"] = at.UTC().Format(time.RFC3339)
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "the last call to Tripay failed: " + msg, Details: details}, nil
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "ready", Details: details}, nil
}

// CollectMetrics implements sdk.Plugin.
func (g *Gateway) CollectMetrics(context.Context, *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	return &sdk.CollectMetricsResponse{Text: g.stats.text()}, nil
}

// CreatePayment implements payment.Gateway. The same idempotency key never
// creates a second Tripay transaction: the key is recorded in the host's
// durable store before the create (with the order and amount) and Tripay's
// reference after it. When the outcome of a create is unknown (the plugin or
// the connection died between Tripay's answer and the record), a retry looks
// the transaction up by merchant_ref (the order id) before it creates
// anything, and creates again only when Tripay has none and the earlier
// attempt is older than its lease.
func (g *Gateway) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if req.Amount.Currency != Currency {
		return nil, fmt.Errorf("%w: %s; Tripay takes only IDR", payment.ErrUnsupportedCurrency, req.Amount.Currency)
	}
	cfg, api, err := g.state()
	if err != nil {
		return nil, err
	}
	body, err := createBody(cfg, req)
	if err != nil {
		return nil, err
	}

	host := g.Host()
	key := idemKey(req.IdempotencyKey)
	for range 3 {
		var rec idemRecord
		found, err := getJSON(ctx, host, key, &rec)
		if err != nil {
			return nil, fmt.Errorf("read the idempotency record: %w", err)
		}
		if !found {
			rec = idemRecord{OrderID: req.OrderID, Amount: req.Amount.Amount, Currency: req.Amount.Currency, Attempt: 1, Started: g.now().UTC()}
			stored, err := setJSON(ctx, host, key, rec, true)
			if err != nil {
				return nil, fmt.Errorf("record the idempotency key: %w", err)
			}
			if !stored {
				continue // a concurrent call with the same key got there first
			}
			return g.create(ctx, api, key, rec, body)
		}
		if rec.OrderID != req.OrderID || rec.Amount != req.Amount.Amount || rec.Currency != req.Amount.Currency {
			return nil, fmt.Errorf("%w: idempotency key %q was used for order %s (%d %s); use a new key for a different payment",
				sdk.ErrInvalidArgument, req.IdempotencyKey, rec.OrderID, rec.Amount, rec.Currency)
		}
		if rec.Reference != "" {
			t, err := api.transactionDetail(ctx, rec.Reference)
			if err != nil {
				return nil, err
			}
			p, err := paymentOf(t)
			if err != nil {
				return nil, err
			}
			return &payment.CreatePaymentResponse{Payment: p}, nil
		}
		return g.resume(ctx, api, key, rec, body)
	}
	return nil, fmt.Errorf("%w: concurrent requests with idempotency key %q; retry", sdk.ErrConflict, req.IdempotencyKey)
}

// resume handles a key whose create attempt has no recorded outcome.
func (g *Gateway) resume(ctx context.Context, api *apiClient, key string, rec idemRecord, body *createRequest) (*payment.CreatePaymentResponse, error) {
	t, err := g.findCreated(ctx, api, key, rec)
	if err != nil {
		return nil, err
	}
	if t != nil {
		g.Logger().Info("found the transaction of an unfinished create", "reference", t.Reference, "order_id", rec.OrderID)
		return g.remember(ctx, key, rec, t)
	}
	if age := g.now().Sub(rec.Started); age < createLease {
		return nil, fmt.Errorf("%w: a payment for order %s with this idempotency key is being created (started %s ago); retry in %s",
			sdk.ErrConflict, rec.OrderID, age.Round(time.Second), (createLease - age).Round(time.Second))
	}
	// The earlier attempt never reached Tripay. Exactly one caller may
	// replace it: the one that takes the lock named after it.
	next := rec
	next.Attempt++
	next.Started = g.now().UTC()
	host := g.Host()
	lock := fmt.Sprintf("%s/takeover/%d", key, rec.Started.UnixNano())
	won, err := host.StoreSet(ctx, lock, []byte(next.Started.Format(time.RFC3339Nano)), sdk.StoreSetOptions{TTL: takeoverTTL, OnlyIfAbsent: true})
	if err != nil {
		return nil, fmt.Errorf("lock the create attempt: %w", err)
	}
	if !won {
		return nil, fmt.Errorf("%w: another request is creating the payment for order %s; retry", sdk.ErrConflict, rec.OrderID)
	}
	if _, err := setJSON(ctx, host, key, next, false); err != nil {
		return nil, fmt.Errorf("record the idempotency key: %w", err)
	}
	return g.create(ctx, api, key, next, body)
}

// findCreated looks for the transaction an unfinished attempt under key may
// have created: same merchant_ref and invoice amount, created since the
// first attempt began, and not recorded for another idempotency key. The
// oldest such transaction wins.
func (g *Gateway) findCreated(ctx context.Context, api *apiClient, key string, rec idemRecord) (*transaction, error) {
	list, err := api.transactionsByMerchantRef(ctx, rec.OrderID)
	if err != nil {
		return nil, fmt.Errorf("look up order %s at Tripay: %w", rec.OrderID, err)
	}
	since := rec.Started.Add(-lookBack).Unix()
	var found *transaction
	for _, t := range list {
		if t.invoiceAmount() != rec.Amount || !t.CreatedAt.set || t.CreatedAt.v < since {
			continue
		}
		var other refRecord
		claimed, err := getJSON(ctx, g.Host(), refKey(t.Reference), &other)
		if err != nil {
			return nil, fmt.Errorf("read the transaction record: %w", err)
		}
		if claimed && other.Key != key {
			continue // another payment attempt of the same order
		}
		if found == nil || t.CreatedAt.v < found.CreatedAt.v {
			found = t
		}
	}
	return found, nil
}

// create calls transaction/create for the attempt rec and records the
// outcome.
func (g *Gateway) create(ctx context.Context, api *apiClient, key string, rec idemRecord, body *createRequest) (*payment.CreatePaymentResponse, error) {
	t, err := api.createTransaction(ctx, body)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.rejected {
			// Tripay refused: nothing exists, so the key is free again.
			dctx, cancel := detached(ctx)
			defer cancel()
			if _, derr := g.Host().StoreDelete(dctx, key); derr != nil {
				g.Logger().Warn("release the idempotency key after a refused create", "order_id", rec.OrderID, "error", derr)
			}
		}
		// Otherwise the outcome is unknown and the record stays: a retry
		// looks the transaction up by merchant_ref before creating one.
		return nil, err
	}
	if got := t.invoiceAmount(); got != rec.Amount {
		g.Logger().Warn("Tripay's transaction amount differs from the request", "reference", t.Reference, "asked", rec.Amount, "got", got)
	}
	return g.remember(ctx, key, rec, t)
}

// remember records Tripay's reference for the key and the reference's order
// and amount, with a context that outlives the caller's: the transaction
// exists now, whatever happens to the request.
func (g *Gateway) remember(ctx context.Context, key string, rec idemRecord, t *transaction) (*payment.CreatePaymentResponse, error) {
	p, err := paymentOf(t)
	if err != nil {
		return nil, err
	}
	dctx, cancel := detached(ctx)
	defer cancel()
	host := g.Host()
	rec.Reference = t.Reference
	if _, err := setJSON(dctx, host, refKey(t.Reference), refRecord{Key: key, OrderID: rec.OrderID, Amount: rec.Amount, Currency: rec.Currency}, false); err != nil {
		g.Logger().Warn("record the transaction", "reference", t.Reference, "error", err)
	}
	if _, err := setJSON(dctx, host, key, rec, false); err != nil {
		// Not fatal: a retry with the key finds the transaction by
		// merchant_ref.
		g.Logger().Warn("record the idempotency key's reference", "reference", t.Reference, "error", err)
	}
	return &payment.CreatePaymentResponse{Payment: p}, nil
}

// createBody builds the transaction/create request (without signature).
func createBody(cfg settings, req *payment.CreatePaymentRequest) (*createRequest, error) {
	method := strings.ToUpper(strings.TrimSpace(req.Method))
	if method == "" {
		method = cfg.DefaultMethod
	}
	if !channelCode.MatchString(method) {
		return nil, fmt.Errorf("%w: method %q is not a Tripay channel code (see ListMethods)", sdk.ErrInvalidArgument, req.Method)
	}
	email := strings.TrimSpace(req.Customer.Email)
	if email == "" {
		email = cfg.DefaultCustomerEmail
	}
	if email == "" {
		return nil, fmt.Errorf("%w: Tripay requires a customer email; give one or set default_customer_email in the plugin's settings", sdk.ErrInvalidArgument)
	}
	name := strings.TrimSpace(req.Customer.Name)
	if name == "" {
		name = "Customer"
	}
	b := &createRequest{
		Method: method, MerchantRef: req.OrderID, Amount: req.Amount.Amount,
		CustomerName: name, CustomerEmail: email, CustomerPhone: phoneForTripay(req.Customer.Phone),
		CallbackURL: req.CallbackURL, ReturnURL: req.ReturnURL,
	}
	if !req.ExpiresAt.IsZero() {
		b.ExpiredTime = req.ExpiresAt.Unix()
	}
	for _, it := range req.Items {
		b.OrderItems = append(b.OrderItems, orderItem{
			SKU: it.SKU, Name: it.Name, Price: flexInt{v: it.UnitPrice.Amount, set: true}, Quantity: flexInt{v: int64(it.Quantity), set: true},
		})
	}
	if len(b.OrderItems) == 0 { // Tripay requires at least one item
		itemName := strings.TrimSpace(req.Description)
		if itemName == "" {
			itemName = "Order " + req.OrderID
		}
		b.OrderItems = []orderItem{{Name: itemName, Price: flexInt{v: req.Amount.Amount, set: true}, Quantity: flexInt{v: 1, set: true}}}
	}
	return b, nil
}

// GetPayment implements payment.Gateway: by Tripay's reference
// (transaction/detail) or by order id (the newest transaction with that
// merchant_ref).
func (g *Gateway) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	_, api, err := g.state()
	if err != nil {
		return nil, err
	}
	reference := strings.TrimSpace(req.ID)
	if reference == "" {
		if req.OrderID == "" {
			return nil, fmt.Errorf("%w: give the payment's id or its order id", sdk.ErrInvalidArgument)
		}
		list, err := api.transactionsByMerchantRef(ctx, req.OrderID)
		if err != nil {
			return nil, err
		}
		var newest *transaction
		for _, t := range list {
			if newest == nil || t.CreatedAt.v > newest.CreatedAt.v {
				newest = t
			}
		}
		if newest == nil {
			return nil, fmt.Errorf("%w: Tripay has no transaction for order %q", payment.ErrUnknownOrder, req.OrderID)
		}
		reference = newest.Reference
	}
	t, err := api.transactionDetail(ctx, reference)
	if err != nil {
		return nil, err
	}
	if req.OrderID != "" && t.MerchantRef != req.OrderID {
		return nil, fmt.Errorf("%w: transaction %s belongs to order %q, not %q", payment.ErrUnknownOrder, reference, t.MerchantRef, req.OrderID)
	}
	p, err := paymentOf(t)
	if err != nil {
		return nil, err
	}
	return &payment.GetPaymentResponse{Payment: p}, nil
}

// ListMethods implements payment.MethodLister with merchant/payment-channel:
// the channels enabled for the merchant, with the fee the customer pays.
func (g *Gateway) ListMethods(ctx context.Context, req *payment.ListMethodsRequest) (*payment.ListMethodsResponse, error) {
	_, api, err := g.state()
	if err != nil {
		return nil, err
	}
	if !req.Amount.IsZero() && req.Amount.Currency != Currency {
		return nil, fmt.Errorf("%w: %s; Tripay takes only IDR", payment.ErrUnsupportedCurrency, req.Amount.Currency)
	}
	chans, err := api.paymentChannels(ctx)
	if err != nil {
		return nil, err
	}
	out := &payment.ListMethodsResponse{}
	for _, c := range chans {
		if a := req.Amount.Amount; a > 0 && ((c.MinAmount.v > 0 && a < c.MinAmount.v) || (c.MaxAmount.v > 0 && a > c.MaxAmount.v)) {
			continue
		}
		m := payment.Method{
			Code: c.Code, Name: c.Name, Group: methodGroup(c), Active: c.Active,
			FeeFlat: payment.Money{Amount: c.FeeCustomer.Flat.v, Currency: Currency}, FeePercent: float64(c.FeeCustomer.Percent),
		}
		if c.MinAmount.v > 0 {
			m.MinAmount = payment.Money{Amount: c.MinAmount.v, Currency: Currency}
		}
		if c.MaxAmount.v > 0 {
			m.MaxAmount = payment.Money{Amount: c.MaxAmount.v, Currency: Currency}
		}
		out.Methods = append(out.Methods, m)
	}
	return out, nil
}
