package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Name and Version must match plugin.json.
const (
	Name    = "payment-tripay"
	Version = "0.2.0"
)

const description = "Tripay closed payments: QRIS, virtual accounts, retail outlets and e-wallets (IDR)"

// Durations of the plugin's records in the host's durable store (the
// SDK's, and those of the version before the SDK, store.go).
const (
	// recordTTL is how long idempotency and callback records are kept;
	// Tripay's longest expiry is 30 days, and callbacks follow within
	// minutes.
	recordTTL = 90 * 24 * time.Hour
	// createLease is how long a create whose outcome is unknown keeps its
	// idempotency key (gateway.Spec.CreateLease): Tripay's create takes no
	// idempotency key, and the lost request may still reach it. It is
	// longer than the longest create can take (request_timeout_seconds is
	// at most 120).
	createLease = 3 * time.Minute
)

// settings are the plugin's settings (config_schema in plugin.json). They
// keep the names of the version before the SDK (mode, base_url,
// request_timeout_seconds rather than gateway.Connection's), so that an
// installation's settings stay valid across the upgrade.
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
	// RequestTimeoutSeconds bounds each attempt of a call to Tripay, 1 to
	// 120 (default 15).
	RequestTimeoutSeconds int `json:"request_timeout_seconds"`
}

// DefaultSettings are the settings an operator leaves out.
func DefaultSettings() settings {
	return settings{Mode: "sandbox", DefaultMethod: "QRIS", RequestTimeoutSeconds: 15}
}

var channelCode = regexp.MustCompile(`^[A-Z0-9_]{2,32}$`)

// Validate checks settings and names every problem; the error wraps
// sdk.ErrInvalidArgument and never repeats a secret. It normalises
// default_method to upper case.
func (s *settings) Validate() error {
	s.DefaultMethod = strings.ToUpper(strings.TrimSpace(s.DefaultMethod))
	var p gateway.Problems
	p.If(strings.TrimSpace(s.APIKey) == "", "api_key is required (Tripay member area: Merchant > API key)")
	p.If(strings.TrimSpace(s.PrivateKey) == "", "private_key is required (Tripay member area: Merchant > private key)")
	p.If(strings.TrimSpace(s.MerchantCode) == "", "merchant_code is required, for example \"T0001\"")
	p.If(s.Mode != "sandbox" && s.Mode != "production", fmt.Sprintf("mode must be \"sandbox\" or \"production\", got %q", s.Mode))
	if s.BaseURL != "" {
		if err := gateway.CheckBaseURL(s.BaseURL); err != nil {
			p.Add("base_url " + err.Error())
		}
	}
	p.If(!channelCode.MatchString(s.DefaultMethod), fmt.Sprintf("default_method must be a Tripay channel code such as \"QRIS\" or \"BRIVA\", got %q", s.DefaultMethod))
	if s.DefaultCustomerEmail != "" {
		_, err := mail.ParseAddress(s.DefaultCustomerEmail)
		p.If(err != nil, "default_customer_email is not an email address")
	}
	p.If(s.RequestTimeoutSeconds < 1 || s.RequestTimeoutSeconds > 120, fmt.Sprintf("request_timeout_seconds must be 1 to 120, got %d", s.RequestTimeoutSeconds))
	return p.Err()
}

// baseURL is the API root, ending with "/".
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

// attemptTimeout, when set (tests), replaces request_timeout_seconds.
var attemptTimeout time.Duration

// NewGateway returns the plugin on the SDK's package gateway; the host
// configures it. Serve its Plugin(): it lists payment methods.
func NewGateway() *gateway.Gateway[settings] {
	return gateway.New(gateway.Spec[settings]{
		Name: Name, Version: Version, Description: description,
		Defaults:       DefaultSettings(),
		Currencies:     []string{Currency},
		ReplayTTL:      recordTTL,
		IdempotencyTTL: recordTTL,
		CreateLease:    createLease,
		Ack:            sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"success":true}`)},
		New:            newAPI,
		APIType:        (*api)(nil),
		Legacy:         gateway.Legacy{Payment: legacyPayment, Unfinished: legacyUnfinished, Handled: legacyHandled},
	})
}

// api is Tripay's closed-payment API for one set of settings.
type api struct {
	c *gateway.Client
	s settings
}

var _ payment.MethodLister = (*api)(nil)

func newAPI(s settings, env *gateway.Env) (gateway.API, error) {
	sandboxKey := strings.HasPrefix(s.APIKey, "DEV-")
	switch {
	case s.Mode == "production" && sandboxKey:
		env.Warn("api_key looks like a sandbox key (DEV-...) but mode is production; Tripay will refuse it")
	case s.Mode == "sandbox" && !sandboxKey && s.BaseURL == "":
		env.Warn("mode is sandbox but api_key does not look like a sandbox key (DEV-...); use the simulator's credentials")
	}
	if s.DefaultCustomerEmail == "" {
		env.Warn("default_customer_email is not set: payments for customers without an email are refused, since Tripay requires one")
	}
	env.BaseURL, env.Environment = s.baseURL().String(), s.Mode
	timeout := time.Duration(s.RequestTimeoutSeconds) * time.Second
	if attemptTimeout > 0 {
		timeout = attemptTimeout
	}
	// Tripay's transaction/create takes no idempotency key: it is never
	// retried, and the SDK's idempotency record (with createLease) keeps a
	// repeat from making a second transaction.
	return &api{s: s, c: env.Client(gateway.ClientConfig{
		Name: "Tripay",
		Authorize: func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+s.APIKey)
			r.Header.Set("User-Agent", "mikrobill-plugin-"+Name+"/"+Version)
		},
		Credentials: "api_key and mode (sandbox keys belong to api-sandbox, production keys to api)",
		ErrorBody:   gateway.JSONError("", "message"),
		Timeout:     timeout,
	})}, nil
}

// Create calls transaction/create. Tripay's refusal of the signature is a
// settings problem (sdk.ErrFailedPrecondition); any other refusal of the
// request is payment.ErrDeclined (channel not enabled, amount out of the
// channel's range).
func (a *api) Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	body, err := a.createBody(req)
	if err != nil {
		return nil, err
	}
	body.Signature = RequestSignature(a.s.MerchantCode, body.MerchantRef, body.Amount, a.s.PrivateKey)
	var t transaction
	err = a.call(ctx, gateway.Call{Method: http.MethodPost, Path: "/transaction/create", Body: body}, &t)
	if errors.Is(err, sdk.ErrInvalidArgument) {
		if strings.Contains(strings.ToLower(err.Error()), "signature") {
			return nil, fmt.Errorf("%w: %v; check private_key and merchant_code", sdk.ErrFailedPrecondition, err)
		}
		return nil, fmt.Errorf("%w: %v", payment.ErrDeclined, err)
	}
	if err != nil {
		return nil, err
	}
	return paymentOf(&t), nil
}

// createBody builds the transaction/create request (without signature).
func (a *api) createBody(req *payment.CreatePaymentRequest) (*createRequest, error) {
	method := cmp.Or(strings.ToUpper(strings.TrimSpace(req.Method)), a.s.DefaultMethod)
	if !channelCode.MatchString(method) {
		return nil, fmt.Errorf("%w: method %q is not a Tripay channel code (see ListMethods)", sdk.ErrInvalidArgument, req.Method)
	}
	email := cmp.Or(strings.TrimSpace(req.Customer.Email), a.s.DefaultCustomerEmail)
	if email == "" {
		return nil, fmt.Errorf("%w: Tripay requires a customer email; give one or set default_customer_email in the plugin's settings", sdk.ErrInvalidArgument)
	}
	b := &createRequest{
		Method: method, MerchantRef: req.OrderID, Amount: req.Amount.Amount,
		CustomerName: cmp.Or(strings.TrimSpace(req.Customer.Name), "Customer"), CustomerEmail: email, CustomerPhone: phoneForTripay(req.Customer.Phone),
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
		name := cmp.Or(strings.TrimSpace(req.Description), "Order "+req.OrderID)
		b.OrderItems = []orderItem{{Name: name, Price: flexInt{v: req.Amount.Amount, set: true}, Quantity: flexInt{v: 1, set: true}}}
	}
	return b, nil
}

// Get is transaction/detail; Tripay refuses an unknown reference.
func (a *api) Get(ctx context.Context, reference string) (*payment.Payment, error) {
	var t transaction
	err := a.call(ctx, gateway.Call{Method: http.MethodGet, Path: "/transaction/detail?" + url.Values{"reference": {reference}}.Encode()}, &t)
	if errors.Is(err, sdk.ErrInvalidArgument) {
		// The reference is the only parameter: a refusal means Tripay has
		// no such transaction for this merchant.
		return nil, fmt.Errorf("%w: Tripay has no transaction %q (%v)", payment.ErrUnknownOrder, reference, err)
	}
	if err != nil {
		return nil, err
	}
	if t.Reference != reference {
		return nil, fmt.Errorf("%w: Tripay's transaction/detail was asked for %q and answered %q", sdk.ErrUnavailable, reference, t.Reference)
	}
	return paymentOf(&t), nil
}

// GetByOrder finds the newest transaction with the order's merchant_ref in
// merchant/transactions, then asks transaction/detail for all of it.
func (a *api) GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error) {
	q := url.Values{"merchant_ref": {orderID}, "sort": {"desc"}, "per_page": {"50"}, "page": {"1"}}
	var list []transaction
	if err := a.call(ctx, gateway.Call{Method: http.MethodGet, Path: "/merchant/transactions?" + q.Encode()}, &list); err != nil {
		return nil, err
	}
	list = slices.DeleteFunc(list, func(t transaction) bool { return t.MerchantRef != orderID }) // the filter is Tripay's; check it
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: Tripay has no transaction for order %q", payment.ErrUnknownOrder, orderID)
	}
	newest := slices.MaxFunc(list, func(x, y transaction) int { return int(x.CreatedAt.v - y.CreatedAt.v) })
	return a.Get(ctx, newest.Reference)
}

// ListMethods implements payment.MethodLister with merchant/payment-channel:
// the channels enabled for the merchant, with the fee the customer pays.
func (a *api) ListMethods(ctx context.Context, req *payment.ListMethodsRequest) (*payment.ListMethodsResponse, error) {
	if !req.Amount.IsZero() && req.Amount.Currency != Currency {
		return nil, fmt.Errorf("%w: %s; Tripay takes only IDR", payment.ErrUnsupportedCurrency, req.Amount.Currency)
	}
	var chans []channel
	if err := a.call(ctx, gateway.Call{Method: http.MethodGet, Path: "/merchant/payment-channel"}, &chans); err != nil {
		return nil, err
	}
	idr := func(v int64) payment.Money { return payment.Money{Amount: v, Currency: Currency} }
	out := &payment.ListMethodsResponse{}
	for _, c := range chans {
		if v := req.Amount.Amount; v > 0 && ((c.MinAmount.v > 0 && v < c.MinAmount.v) || (c.MaxAmount.v > 0 && v > c.MaxAmount.v)) {
			continue
		}
		m := payment.Method{Code: c.Code, Name: c.Name, Group: methodGroup(c), Active: c.Active, FeeFlat: idr(c.FeeCustomer.Flat.v), FeePercent: float64(c.FeeCustomer.Percent)}
		if c.MinAmount.v > 0 {
			m.MinAmount = idr(c.MinAmount.v)
		}
		if c.MaxAmount.v > 0 {
			m.MaxAmount = idr(c.MaxAmount.v)
		}
		out.Methods = append(out.Methods, m)
	}
	return out, nil
}
