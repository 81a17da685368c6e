package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/midtrans/midtrans-go/coreapi"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Name and Version must match plugin.json.
const (
	Name    = "payment-midtrans"
	Version = "0.2.0"
)

// NewGateway returns the plugin, built on the SDK's package gateway, which
// keeps the idempotency and replay records, confirms every notification
// with the status API, checks amounts, bounds calls and retries them.
//
// CreatePayment creates a Snap transaction (a token and a redirect URL to
// Midtrans' payment page, where the customer picks QRIS, an e-wallet, a
// virtual account or a card), GetPayment asks Midtrans' status API, and
// HandleWebhook verifies and confirms Midtrans' HTTP notifications.
//
// A payment's ID is its order id: Midtrans keys a transaction by order_id
// (and refuses a second transaction for one), knows the order id from the
// start while its transaction_id only exists once the customer picks a
// payment method, and its status API takes either.
func NewGateway() *gateway.Gateway[settings] {
	return gateway.New(gateway.Spec[settings]{
		Name: Name, Version: Version, Description: "Midtrans Snap: QRIS, e-wallets, virtual accounts and cards, in IDR",
		Defaults:   settings{Environment: envSandbox},
		Currencies: []string{currencyIDR},
		// Midtrans resends a notification for far less; the records
		// outlive that.
		ReplayTTL: notificationRetention,
		// The records of the version before the port: its idempotency keys
		// and its replay records (store.go).
		Legacy: gateway.Legacy{Payment: legacyPayment, ReplayPrefix: notificationPrefix},
		// Longer than a Snap create takes; the host's retry would wait as
		// long.
		AwaitCreate: 10 * time.Second,
		// A settlement notification that arrives after a refund or a deny
		// reports what Midtrans has now; only a payment Midtrans still
		// gives pending is unconfirmed (Midtrans sends it again later).
		ReportFinalStatus: true,
		Ack:               sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"status":"ok"}`)},
		New:               newAPI,
	})
}

// api is Midtrans behind gateway.API: the Snap API creates, the status API
// (Core API) answers, and the durable store keeps what neither tells again.
type api struct {
	s            settings
	snap, status *gateway.Client
	st           store
	now          func() time.Time
	log          *slog.Logger
}

func newAPI(s settings, env *gateway.Env) (gateway.API, error) {
	for _, w := range s.warnings() {
		env.Warn("%s", w)
	}
	cfg := func(base string) gateway.ClientConfig {
		return gateway.ClientConfig{
			Name: "Midtrans", BaseURL: base, Timeout: s.timeout(), Attempts: s.maxRetries() + 1,
			Authorize: func(r *http.Request) {
				r.SetBasicAuth(s.ServerKey, "")
				r.Header.Set("User-Agent", "mikrobill-plugin-"+Name+"/"+Version)
			},
			Credentials: "server_key, and that environment matches it (sandbox keys start with SB-Mid-server-)",
			ErrorBody:   errorBody,
		}
	}
	snapCfg := cfg(s.snapBaseURL())
	// Midtrans honours the Idempotency-Key header, and never makes two
	// transactions for one order_id: a retried create gets the same token
	// or the "order_id already used" refusal, which Create resolves with
	// the status API. No retry can charge a customer twice.
	snapCfg.IdempotencyHeader = "Idempotency-Key"
	snapCfg.Codes = map[string]error{codeOrderUsed: errOrderUsed}
	for k, v := range map[string]any{"environment": s.Environment, "snap_base_url": s.snapBaseURL(), "api_base_url": s.coreBaseURL(), "client_key_set": s.ClientKey != ""} {
		env.Detail(k, v)
	}
	return &api{s: s, snap: env.Client(snapCfg), status: env.Client(cfg(s.coreBaseURL())), st: store{kv: env.Host}, now: env.Now, log: env.Log}, nil
}

// Create creates a Snap transaction whose order_id is the request's order
// id, unless the order has its payment already (made under another
// idempotency key, or before the plugin was upgraded): the payment's id is
// the order id, so it is the same payment. When Snap refuses the order_id
// as used, the order is looked up with the status API.
func (a *api) Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	now := a.now()
	if !orderIDPattern.MatchString(req.OrderID) {
		return nil, fmt.Errorf("%w: order_id %q: Midtrans takes 1 to 50 letters, digits, \"-\", \"_\", \"~\" and \".\"", sdk.ErrInvalidArgument, req.OrderID)
	}
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return nil, fmt.Errorf("%w: expires_at %s is not in the future", sdk.ErrInvalidArgument, req.ExpiresAt.Format(time.RFC3339))
	}
	if r, found, err := a.st.order(ctx, req.OrderID); err != nil {
		return nil, err
	} else if found {
		if r.Amount != req.Amount.Amount || r.Currency != req.Amount.Currency {
			return nil, fmt.Errorf("%w: order %s already has a Midtrans payment of %s; bill another amount under a new order id",
				sdk.ErrAlreadyExists, req.OrderID, payment.Money{Amount: r.Amount, Currency: r.Currency})
		}
		p := r.payment(now)
		return &p, nil
	}

	expiry, expiresAt := snapExpiry(now, req.ExpiresAt, a.s.ExpiryMinutes)
	call := gateway.Call{Method: http.MethodPost, Path: "/snap/v1/transactions", Body: snapRequest(req, expiry),
		IdempotencyKey: hashKey(req.IdempotencyKey)[:32], Operation: "snap_create"}
	if req.CallbackURL != "" {
		call.Header = http.Header{"X-Override-Notification": {req.CallbackURL}}
	}
	var resp struct {
		Token       string `json:"token"`
		RedirectURL string `json:"redirect_url"`
	}
	call.Out = &resp
	raw, err := a.snap.Do(ctx, call)
	if errors.Is(err, errOrderUsed) {
		return a.adopt(ctx, req, now)
	}
	if err != nil {
		return nil, err
	}
	if resp.Token == "" || resp.RedirectURL == "" {
		return nil, fmt.Errorf("%w: Midtrans answered the Snap request for order %s without a token or redirect_url", sdk.ErrUnavailable, req.OrderID)
	}
	r := &record{OrderID: req.OrderID, Amount: req.Amount.Amount, Currency: req.Amount.Currency, Token: resp.Token, RedirectURL: resp.RedirectURL,
		CreatedAt: now.UTC(), ExpiresAt: expiresAt.UTC()}
	a.save(ctx, r, now)
	a.log.Info("Snap transaction created", "order_id", req.OrderID, "amount", req.Amount.String(), "expires_at", r.ExpiresAt.Format(time.RFC3339))
	p := r.payment(now)
	p.Raw = raw
	return &p, nil
}

// adopt handles Snap's refusal of a used order_id when this plugin has no
// record of the order (its record expired, or an earlier create's answer
// never arrived): the status API says what Midtrans has. Snap never hands
// out a token twice, so an order Midtrans has but cannot show yet (the
// customer has not picked a payment method) cannot be recovered.
func (a *api) adopt(ctx context.Context, req *payment.CreatePaymentRequest, now time.Time) (*payment.Payment, error) {
	p, err := a.query(ctx, req.OrderID)
	if errors.Is(err, payment.ErrUnknownOrder) {
		return nil, fmt.Errorf("%w: Midtrans already has a Snap transaction for order %s, which this plugin has no record of and whose checkout link Midtrans does not hand out again; bill the invoice under a new order id",
			sdk.ErrAlreadyExists, req.OrderID)
	}
	if err != nil {
		return nil, fmt.Errorf("Midtrans already has order %s; look it up: %w", req.OrderID, err)
	}
	if p.Amount != req.Amount {
		return nil, fmt.Errorf("%w: Midtrans already has order %s for %s, this request is for %s; bill under a new order id",
			sdk.ErrAlreadyExists, req.OrderID, p.Amount, req.Amount)
	}
	r := &record{OrderID: req.OrderID, Amount: p.Amount.Amount, Currency: p.Amount.Currency, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now.UTC()
	}
	if r.ExpiresAt.IsZero() {
		r.ExpiresAt = r.CreatedAt.Add(snapDefaultExpiry)
	}
	a.save(ctx, r, now)
	a.log.Info("order known to Midtrans adopted", "order_id", req.OrderID, "status", p.Status)
	return p, nil
}

// save records a payment that exists at Midtrans. A failure is logged, not
// returned: the payment is real and the customer can pay it.
func (a *api) save(ctx context.Context, r *record, now time.Time) {
	if err := a.st.save(ctx, r, now); err != nil {
		a.log.Error("payment created at Midtrans but not recorded; GetPayment lacks its checkout link until the customer picks a method", "order_id", r.OrderID, "error", err)
	}
}

// Get asks the status API about an order id (a payment's id) or a Midtrans
// transaction id, and adds the Snap token and checkout URL from the
// plugin's record. Midtrans does not know a Snap transaction until the
// customer picks a payment method: for an order this plugin created, that
// is a pending payment (expired past its expiry), with its checkout URL.
func (a *api) Get(ctx context.Context, id string) (*payment.Payment, error) {
	p, err := a.query(ctx, id)
	if errors.Is(err, payment.ErrUnknownOrder) {
		if r, found, kerr := a.st.order(ctx, id); kerr != nil {
			return nil, kerr
		} else if found {
			q := r.payment(a.now())
			return &q, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if r, found, _ := a.st.order(ctx, p.OrderID); found {
		p.CheckoutURL, p.Token = r.RedirectURL, r.Token
		if p.ExpiresAt.IsZero() {
			p.ExpiresAt = r.ExpiresAt
		}
	}
	return p, nil
}

// GetByOrder is Get: an order has one Midtrans transaction, keyed by the
// order id.
func (a *api) GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error) {
	return a.Get(ctx, orderID)
}

// query is the status API: GET /v2/{id}/status. An id Midtrans does not
// know is payment.ErrUnknownOrder, whether it answers 404 or 200 with
// status_code "404" in the body (as its Core API has done).
func (a *api) query(ctx context.Context, id string) (*payment.Payment, error) {
	var tx coreapi.TransactionStatusResponse
	raw, err := a.status.Do(ctx, gateway.Call{Method: http.MethodGet, Path: "/v2/" + url.PathEscape(id) + "/status", Out: &tx, Operation: "status"})
	if err != nil {
		return nil, err
	}
	// 407 is an expired transaction, not an error.
	if code, msg := errorBody(raw); code == "404" {
		return nil, fmt.Errorf("%w: Midtrans has no transaction %s (%s)", payment.ErrUnknownOrder, id, msg)
	} else if n, _ := strconv.Atoi(code); n >= 400 && n != 407 {
		return nil, fmt.Errorf("%w: Midtrans answered the status of %s with status_code %s: %s", sdk.ErrUnavailable, id, code, msg)
	}
	p, err := paymentFromStatus(&tx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: Midtrans' status of %s: %v", sdk.ErrUnavailable, id, err)
	}
	if p.ID == "" {
		p.ID, p.OrderID = id, id
	}
	return &p, nil
}

// errOrderUsed is Snap's refusal of an order_id it has seen before; errorBody
// names it codeOrderUsed.
var errOrderUsed = fmt.Errorf("%w: Midtrans already has this order_id", sdk.ErrAlreadyExists)

const codeOrderUsed = "order_id_used"

// errorBody reads Midtrans' error answers: {"error_messages": [...]} from
// Snap, {"status_code": "401", "status_message": ...} from the Core API.
// Snap's "order_id already used" answer (400 "transaction_details.order_id
// sudah digunakan", in Indonesian or in English, or the Core API's 406
// "order_id has been paid and utilized") is codeOrderUsed.
func errorBody(body []byte) (code, message string) {
	var b struct {
		StatusCode    any      `json:"status_code"`
		StatusMessage string   `json:"status_message"`
		ErrorMessages []string `json:"error_messages"`
	}
	_ = json.Unmarshal(body, &b)
	message = strings.Join(b.ErrorMessages, "; ")
	if message == "" {
		message = b.StatusMessage
	}
	if len(message) > 300 {
		message = message[:300] + "..."
	}
	switch v := b.StatusCode.(type) {
	case string:
		code = v
	case float64:
		code = strconv.FormatFloat(v, 'f', -1, 64)
	}
	m := strings.ToLower(message)
	if code == "406" || strings.Contains(m, "order_id") && (strings.Contains(m, "sudah digunakan") || strings.Contains(m, "already been taken") ||
		strings.Contains(m, "already used") || strings.Contains(m, "utilized")) {
		code = codeOrderUsed
	}
	return code, message
}
