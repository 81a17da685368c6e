package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v85"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Name and Version must match plugin.json.
const (
	Name    = "payment-stripe"
	Version = "0.1.0"
)

const description = "Stripe Checkout: cards, wallets and local payment methods in 135+ currencies"

// Stripe allows a Checkout Session to live 30 minutes to 24 hours.
const (
	minSessionLife = 30 * time.Minute
	maxSessionLife = 24 * time.Hour
	// expiryMargin keeps expires_at inside Stripe's window although the
	// request takes time to arrive and clocks differ a little.
	expiryMargin = 2 * time.Minute
)

// How long the plugin remembers things in the host's durable store (Host's
// Store* calls, never its cache, which may lose them).
const (
	// idempotencyTTL: an idempotency key maps to its session this long
	// (Stripe forgets keys after 24 hours; the mapping outlives that).
	idempotencyTTL = 30 * 24 * time.Hour
	// orderTTL: an order id maps to its latest session this long.
	orderTTL = 30 * 24 * time.Hour
	// replayTTL: a handled event id is remembered this long. Stripe resends
	// an event for up to three days.
	replayTTL = 7 * 24 * time.Hour
)

// Gateway is the Stripe Checkout payment gateway.
type Gateway struct {
	sdk.Base

	mu    sync.RWMutex
	cfg   settings
	api   *stripe.Client
	now   func() time.Time
	stats *stats
}

var (
	_ payment.Gateway  = (*Gateway)(nil)
	_ payment.Refunder = (*Gateway)(nil)
)

// NewGateway returns an unconfigured gateway.
func NewGateway() *Gateway { return &Gateway{now: time.Now, stats: newStats()} }

// state is the configuration one call works with.
type state struct {
	cfg settings
	api *stripe.Client
}

func (g *Gateway) state() (state, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.api == nil {
		return state{}, fmt.Errorf("%w: the plugin has not been configured yet", sdk.ErrFailedPrecondition)
	}
	return state{cfg: g.cfg, api: g.api}, nil
}

// Describe implements sdk.Plugin.
func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: Name, Version: Version, Description: description}, nil
}

// Configure implements sdk.Plugin. It checks the settings' form only; it
// does not call Stripe.
func (g *Gateway) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	cfg := defaultSettings()
	if err := sdk.DecodeConfig(req.Settings, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	resp := &sdk.ConfigureResponse{}
	if cfg.Mode == "test" && req.Environment == "production" {
		resp.Warnings = append(resp.Warnings, "Stripe is in test mode in production: customers cannot really pay; set a live key")
	}
	if len(cfg.WebhookSecrets) > 1 {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("%d webhook secrets are accepted; remove the old one once the rotation is done", len(cfg.WebhookSecrets)))
	}
	api := newStripeClient(cfg, g.Logger)
	g.mu.Lock()
	g.cfg, g.api = cfg, api
	g.mu.Unlock()
	g.stats.forgetLast() // the last call's outcome was with the old settings
	g.Logger().Info("configured", "mode", cfg.Mode, "webhook_secrets", len(cfg.WebhookSecrets), "api_base_url", cfg.APIBaseURL)
	return resp, nil
}

// CheckHealth implements sdk.Plugin. It does not call Stripe; it reports
// how the last call went.
func (g *Gateway) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	st, err := g.state()
	if err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: err.Error()}, nil
	}
	details := map[string]any{"mode": st.cfg.Mode, "webhook_secrets": len(st.cfg.WebhookSecrets)}
	if st.cfg.APIBaseURL != "" {
		details["api_base_url"] = st.cfg.APIBaseURL
	}
	last := g.stats.lastCall()
	if !last.at.IsZero() {
		details["last_call"] = last.at.UTC().Format(time.RFC3339)
		details["last_outcome"] = last.outcome
	}
	switch last.outcome {
	case outcomeAuth:
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: last.message, Details: details}, nil
	case outcomeUnavailable, outcomeRateLimited:
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: last.message, Details: details}, nil
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "ready (" + st.cfg.Mode + " mode)", Details: details}, nil
}

// CollectMetrics implements sdk.Plugin.
func (g *Gateway) CollectMetrics(context.Context, *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	return &sdk.CollectMetricsResponse{Text: g.stats.prometheus()}, nil
}

// CreatePayment implements payment.Gateway: it creates a Checkout Session
// in payment mode. The same IdempotencyKey gives the same session, through
// a record in the host's durable store and Stripe's Idempotency-Key.
func (g *Gateway) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	st, err := g.state()
	if err != nil {
		return nil, err
	}
	if len(st.cfg.Currencies) > 0 && !slices.Contains(st.cfg.Currencies, req.Amount.Currency) {
		return nil, fmt.Errorf("%w: %s; this gateway is set to take %s", payment.ErrUnsupportedCurrency, req.Amount.Currency, strings.Join(st.cfg.Currencies, ", "))
	}
	params, err := sessionParams(req)
	if err != nil {
		return nil, err
	}

	// The record makes a retry send exactly the parameters of the first
	// attempt (expires_at depends on the time of the first), so Stripe's
	// idempotency answers with the same session instead of an error.
	key := idempotencyKVKey(req.IdempotencyKey)
	rec, found := g.loadIdempotency(ctx, key)
	if !found {
		exp, err := sessionExpiry(req.ExpiresAt, g.now())
		if err != nil {
			return nil, err
		}
		rec = g.reserveIdempotency(ctx, key, idempotencyRecord{
			OrderID: req.OrderID, Amount: req.Amount.Amount, Currency: req.Amount.Currency, ExpiresAt: exp,
		})
	}
	if rec.OrderID != req.OrderID || rec.Amount != req.Amount.Amount || rec.Currency != req.Amount.Currency {
		return nil, fmt.Errorf("%w: idempotency key %q was used for order %s (%s); use a new key for a different payment",
			sdk.ErrInvalidArgument, req.IdempotencyKey, rec.OrderID, payment.Money{Amount: rec.Amount, Currency: rec.Currency})
	}
	if rec.SessionID != "" {
		p, err := g.getPayment(ctx, st, rec.SessionID, req.OrderID)
		if err != nil {
			return nil, err
		}
		return &payment.CreatePaymentResponse{Payment: p}, nil
	}
	if rec.ExpiresAt != 0 {
		params.ExpiresAt = stripe.Int64(rec.ExpiresAt)
	}
	params.SetIdempotencyKey(stripeIdempotencyKey(req.IdempotencyKey))

	cctx, cancel := callContext(ctx, st.cfg)
	defer cancel()
	s, err := st.api.V1CheckoutSessions.Create(cctx, params)
	g.stats.call(ctx, "create_checkout_session", err)
	if err != nil {
		return nil, apiError(ctx, "create checkout session", err, st.cfg.secrets())
	}
	p, err := toPayment(s)
	if err != nil {
		return nil, err
	}
	rec.SessionID = s.ID
	g.kvPut(ctx, key, rec, idempotencyTTL)
	g.kvPut(ctx, orderKVKey(req.OrderID), s.ID, orderTTL)
	g.Logger().Info("checkout session created", "order_id", req.OrderID, "session", s.ID, "amount", p.Amount.String())
	return &payment.CreatePaymentResponse{Payment: p}, nil
}

// sessionParams are a Checkout Session's parameters for req, all but
// expires_at and the idempotency key.
func sessionParams(req *payment.CreatePaymentRequest) (*stripe.CheckoutSessionCreateParams, error) {
	total, cur, err := toStripe(req.Amount)
	if err != nil {
		return nil, err
	}
	if err := checkMinimum(req.Amount, total); err != nil {
		return nil, err
	}
	if len(req.OrderID) > 200 {
		return nil, fmt.Errorf("%w: order_id is %d characters; Stripe's client_reference_id takes up to 200", sdk.ErrInvalidArgument, len(req.OrderID))
	}
	if req.ReturnURL == "" {
		return nil, fmt.Errorf("%w: return_url is required: Stripe Checkout sends the customer there after paying", sdk.ErrInvalidArgument)
	}
	items, err := lineItems(req, total, cur)
	if err != nil {
		return nil, err
	}
	meta, err := metadata(req)
	if err != nil {
		return nil, err
	}
	cancelURL := req.CancelURL
	if cancelURL == "" {
		cancelURL = req.ReturnURL
	}
	p := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		LineItems:         items,
		SuccessURL:        stripe.String(req.ReturnURL),
		CancelURL:         stripe.String(cancelURL),
		ClientReferenceID: stripe.String(req.OrderID),
		Metadata:          meta,
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{Metadata: meta},
	}
	if req.Description != "" {
		p.PaymentIntentData.Description = stripe.String(req.Description)
	}
	if plainEmail(req.Customer.Email) {
		// Only a prefill: an address Stripe would refuse is left out
		// rather than making the payment fail.
		p.CustomerEmail = stripe.String(req.Customer.Email)
	}
	if req.Method != "" {
		p.PaymentMethodTypes = []*string{stripe.String(req.Method)}
	}
	return p, nil
}

// plainEmail reports whether s is a bare e-mail address.
func plainEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@'):], ".")
}

// lineItems lists req's items with inline prices, or one line for the whole
// amount when there are none (or when one is a discount, which Checkout's
// inline prices cannot show).
func lineItems(req *payment.CreatePaymentRequest, total int64, cur string) ([]*stripe.CheckoutSessionCreateLineItemParams, error) {
	name := req.Description
	if name == "" {
		name = "Order " + req.OrderID
	}
	single := []*stripe.CheckoutSessionCreateLineItemParams{{
		PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
			Currency:    stripe.String(cur),
			UnitAmount:  stripe.Int64(total),
			ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String(name)},
		},
		Quantity: stripe.Int64(1),
	}}
	if len(req.Items) == 0 || slices.ContainsFunc(req.Items, func(it payment.LineItem) bool { return it.UnitPrice.Amount < 0 }) {
		return single, nil
	}
	out := make([]*stripe.CheckoutSessionCreateLineItemParams, 0, len(req.Items))
	for i, it := range req.Items {
		unit := payment.Money{Amount: it.UnitPrice.Amount, Currency: req.Amount.Currency}
		ua, _, err := toStripe(unit)
		if err != nil {
			return nil, fmt.Errorf("items[%d]: %w", i, err)
		}
		n := it.Name
		if n == "" {
			n = name
		}
		out = append(out, &stripe.CheckoutSessionCreateLineItemParams{
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(cur),
				UnitAmount:  stripe.Int64(ua),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String(n)},
			},
			Quantity: stripe.Int64(int64(it.Quantity)),
		})
	}
	return out, nil
}

// metadata is the session's metadata: req.Metadata and order_id, within
// Stripe's limits (50 keys, keys up to 40 characters without brackets,
// values up to 500 characters).
func metadata(req *payment.CreatePaymentRequest) (map[string]string, error) {
	meta := map[string]string{}
	for k, v := range req.Metadata {
		switch {
		case k == "" || len(k) > 40 || strings.ContainsAny(k, "[]"):
			return nil, fmt.Errorf("%w: metadata key %q: Stripe takes keys of 1 to 40 characters without brackets", sdk.ErrInvalidArgument, k)
		case len(v) > 500:
			return nil, fmt.Errorf("%w: metadata %q: Stripe takes values up to 500 characters", sdk.ErrInvalidArgument, k)
		}
		meta[k] = v
	}
	meta["order_id"] = req.OrderID
	if len(meta) > 50 {
		return nil, fmt.Errorf("%w: metadata: Stripe takes at most 50 keys, order_id included", sdk.ErrInvalidArgument)
	}
	return meta, nil
}

// sessionExpiry is the expires_at to send for a payment that should expire
// at want (Unix seconds; 0: send none, and Stripe expires the session after
// 24 hours). Stripe takes 30 minutes to 24 hours from creation, so:
//
//   - no expiry, or one more than 24 hours away: none is sent, and the
//     session lives the longest Stripe allows; the host still expires the
//     invoice at its own time, and a new attempt makes a new session.
//   - less than 30 minutes away: the session lives 30 minutes (plus a
//     margin); refusing would make such invoices unpayable.
//   - in the past: refused.
//
// The returned Payment's ExpiresAt is always the session's real expiry.
func sessionExpiry(want, now time.Time) (int64, error) {
	switch {
	case want.IsZero():
		return 0, nil
	case !want.After(now):
		return 0, fmt.Errorf("%w: expires_at %s is in the past", sdk.ErrInvalidArgument, want.UTC().Format(time.RFC3339))
	case want.After(now.Add(maxSessionLife - expiryMargin)):
		return 0, nil
	case want.Before(now.Add(minSessionLife + expiryMargin)):
		return now.Add(minSessionLife + expiryMargin).Unix(), nil
	default:
		return want.Unix(), nil
	}
}

// stripeIdempotencyKey is the Idempotency-Key header for the caller's key
// (Stripe takes up to 255 characters).
func stripeIdempotencyKey(key string) string {
	key = strings.TrimSpace(key)
	if len(key) <= 255 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256-" + hex.EncodeToString(sum[:])
}

// GetPayment implements payment.Gateway: it retrieves the Checkout Session
// (by id, or by the order's latest session).
func (g *Gateway) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	st, err := g.state()
	if err != nil {
		return nil, err
	}
	id := req.ID
	if id == "" {
		if req.OrderID == "" {
			return nil, fmt.Errorf("%w: id or order_id is required", sdk.ErrInvalidArgument)
		}
		var found bool
		if found, err = g.kvGet(ctx, orderKVKey(req.OrderID), &id); err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("%w: no checkout session for order %q", payment.ErrUnknownOrder, req.OrderID)
		}
	}
	p, err := g.getPayment(ctx, st, id, req.OrderID)
	if err != nil {
		return nil, err
	}
	return &payment.GetPaymentResponse{Payment: p}, nil
}

// getPayment retrieves session id as a Payment; orderID, when set, must be
// the session's.
func (g *Gateway) getPayment(ctx context.Context, st state, id, orderID string) (payment.Payment, error) {
	s, err := g.retrieveSession(ctx, st, id)
	if err != nil {
		return payment.Payment{}, err
	}
	if orderID != "" && orderOf(s) != orderID {
		return payment.Payment{}, fmt.Errorf("%w: checkout session %s belongs to order %q, not %q", payment.ErrUnknownOrder, id, orderOf(s), orderID)
	}
	return toPayment(s)
}

// retrieveSession gets a Checkout Session with its PaymentIntent and that
// one's latest charge (for failed and refunded payments). An id that is not
// a Checkout Session's, or one Stripe does not know, is
// payment.ErrUnknownOrder.
func (g *Gateway) retrieveSession(ctx context.Context, st state, id string) (*stripe.CheckoutSession, error) {
	if !strings.HasPrefix(id, "cs_") || strings.ContainsAny(id, "/?#% ") {
		return nil, fmt.Errorf("%w: %q is not a Stripe Checkout Session id (cs_...)", payment.ErrUnknownOrder, id)
	}
	params := &stripe.CheckoutSessionRetrieveParams{}
	params.AddExpand("payment_intent.latest_charge")
	cctx, cancel := callContext(ctx, st.cfg)
	defer cancel()
	s, err := st.api.V1CheckoutSessions.Retrieve(cctx, id, params)
	g.stats.call(ctx, "retrieve_checkout_session", err)
	if err != nil {
		return nil, apiError(ctx, "retrieve checkout session "+id, err, st.cfg.secrets())
	}
	return s, nil
}

// orderOf is the order a session is for.
func orderOf(s *stripe.CheckoutSession) string {
	if s.ClientReferenceID != "" {
		return s.ClientReferenceID
	}
	return s.Metadata["order_id"]
}

// statusOf is where a session's payment stands:
//
//	open                                    pending
//	expired                                 expired
//	complete, paid or no_payment_required   paid (refunded once its charge is refunded in full)
//	complete, unpaid                        pending while an async method (bank debit, ...) processes;
//	                                        failed once its PaymentIntent needs a new payment method or is canceled
func statusOf(s *stripe.CheckoutSession) payment.Status {
	switch s.Status {
	case stripe.CheckoutSessionStatusExpired:
		return payment.StatusExpired
	case stripe.CheckoutSessionStatusComplete:
		pi := s.PaymentIntent
		switch s.PaymentStatus {
		case stripe.CheckoutSessionPaymentStatusPaid, stripe.CheckoutSessionPaymentStatusNoPaymentRequired:
			if pi != nil && pi.LatestCharge != nil && pi.LatestCharge.Refunded {
				return payment.StatusRefunded
			}
			return payment.StatusPaid
		default:
			if pi != nil && (pi.Status == stripe.PaymentIntentStatusRequiresPaymentMethod || pi.Status == stripe.PaymentIntentStatusCanceled) {
				return payment.StatusFailed
			}
			return payment.StatusPending
		}
	default:
		return payment.StatusPending
	}
}

// toPayment converts a Checkout Session.
func toPayment(s *stripe.CheckoutSession) (payment.Payment, error) {
	amount, err := fromStripe(s.AmountTotal, string(s.Currency))
	if err != nil {
		return payment.Payment{}, fmt.Errorf("checkout session %s: %w", s.ID, err)
	}
	p := payment.Payment{
		ID:            s.ID,
		OrderID:       orderOf(s),
		Status:        statusOf(s),
		Amount:        amount,
		Method:        strings.Join(s.PaymentMethodTypes, ","),
		CheckoutURL:   s.URL,
		GatewayStatus: string(s.Status) + "/" + string(s.PaymentStatus),
	}
	if s.Created != 0 {
		p.CreatedAt = time.Unix(s.Created, 0).UTC()
	}
	if s.ExpiresAt != 0 {
		p.ExpiresAt = time.Unix(s.ExpiresAt, 0).UTC()
	}
	if pi := s.PaymentIntent; pi != nil && pi.LatestCharge != nil && pi.LatestCharge.Paid && pi.LatestCharge.Created != 0 {
		p.PaidAt = time.Unix(pi.LatestCharge.Created, 0).UTC()
	}
	if s.LastResponse != nil {
		p.Raw = s.LastResponse.RawJSON
	}
	return p, nil
}

// Refund implements payment.Refunder: it refunds the session's
// PaymentIntent, in full when req.Amount is zero.
func (g *Gateway) Refund(ctx context.Context, req *payment.RefundRequest) (*payment.RefundResponse, error) {
	if strings.TrimSpace(req.IdempotencyKey) == "" {
		return nil, fmt.Errorf("%w: idempotency_key is required", sdk.ErrInvalidArgument)
	}
	st, err := g.state()
	if err != nil {
		return nil, err
	}
	s, err := g.retrieveSession(ctx, st, req.PaymentID)
	if err != nil {
		return nil, err
	}
	if status := statusOf(s); status != payment.StatusPaid {
		return nil, fmt.Errorf("%w: payment %s is %s; only paid payments can be refunded", payment.ErrDeclined, s.ID, status)
	}
	if s.PaymentIntent == nil || s.PaymentIntent.ID == "" {
		return nil, fmt.Errorf("%w: payment %s has no PaymentIntent to refund", payment.ErrDeclined, s.ID)
	}
	paid, err := fromStripe(s.AmountTotal, string(s.Currency))
	if err != nil {
		return nil, err
	}
	params := &stripe.RefundCreateParams{
		PaymentIntent: stripe.String(s.PaymentIntent.ID),
		Metadata:      map[string]string{"order_id": orderOf(s), "checkout_session": s.ID},
	}
	if !req.Amount.IsZero() {
		if req.Amount.Currency != paid.Currency || req.Amount.Amount <= 0 || req.Amount.Amount > paid.Amount {
			return nil, fmt.Errorf("%w: refund of %s asked for payment %s of %s", payment.ErrAmountMismatch, req.Amount, s.ID, paid)
		}
		v, _, err := toStripe(req.Amount)
		if err != nil {
			return nil, err
		}
		params.Amount = stripe.Int64(v)
	}
	if req.Reason != "" {
		switch r := stripe.RefundReason(req.Reason); r {
		case stripe.RefundReasonDuplicate, stripe.RefundReasonFraudulent, stripe.RefundReasonRequestedByCustomer:
			params.Reason = stripe.String(string(r))
		}
		params.Metadata["reason"] = truncate(req.Reason, 500)
	}
	params.SetIdempotencyKey(stripeIdempotencyKey(req.IdempotencyKey))
	cctx, cancel := callContext(ctx, st.cfg)
	defer cancel()
	r, err := st.api.V1Refunds.Create(cctx, params)
	g.stats.call(ctx, "create_refund", err)
	if err != nil {
		return nil, apiError(ctx, "refund "+s.ID, err, st.cfg.secrets())
	}
	amount, err := fromStripe(r.Amount, string(r.Currency))
	if err != nil {
		return nil, err
	}
	status := "pending"
	switch r.Status {
	case stripe.RefundStatusSucceeded:
		status = "succeeded"
	case stripe.RefundStatusFailed, stripe.RefundStatusCanceled:
		status = "failed"
	}
	g.Logger().Info("refund created", "session", s.ID, "refund", r.ID, "amount", amount.String(), "status", status)
	return &payment.RefundResponse{RefundID: r.ID, PaymentID: s.ID, Amount: amount, Status: status}, nil
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// idempotencyRecord is what the host's durable store holds for one
// idempotency key.
type idempotencyRecord struct {
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// ExpiresAt is the expires_at sent (Unix seconds), 0 for none.
	ExpiresAt int64 `json:"expires_at,omitempty"`
	// SessionID is set once Stripe has answered.
	SessionID string `json:"session_id,omitempty"`
}

func idempotencyKVKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "idempotency/" + hex.EncodeToString(sum[:])
}

func orderKVKey(orderID string) string { return "order/" + orderID }

func eventKVKey(eventID string) string { return "event/" + eventID }

// loadIdempotency reads the record of key. When the host's store cannot be
// read it carries on without (Stripe's own idempotency still holds for 24
// hours) and logs why.
func (g *Gateway) loadIdempotency(ctx context.Context, key string) (idempotencyRecord, bool) {
	var rec idempotencyRecord
	found, err := g.kvGet(ctx, key, &rec)
	if err != nil {
		g.Logger().Warn("idempotency record unavailable; relying on Stripe's idempotency alone", "error", err)
		return rec, false
	}
	return rec, found
}

// reserveIdempotency stores rec for key unless a record is there already
// (a concurrent first attempt), and returns the record that holds.
func (g *Gateway) reserveIdempotency(ctx context.Context, key string, rec idempotencyRecord) idempotencyRecord {
	raw, _ := json.Marshal(rec)
	stored, err := g.Host().StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: idempotencyTTL, OnlyIfAbsent: true})
	if err != nil {
		g.Logger().Warn("idempotency record not stored; relying on Stripe's idempotency alone", "error", err)
		return rec
	}
	if stored {
		return rec
	}
	if other, found := g.loadIdempotency(ctx, key); found {
		return other
	}
	return rec
}

// kvGet reads a JSON value from the host's durable store.
func (g *Gateway) kvGet(ctx context.Context, key string, v any) (bool, error) {
	raw, found, err := g.Host().StoreGet(ctx, key)
	if err != nil || !found {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%w: stored %s does not decode: %v", sdk.ErrInternal, key, err)
	}
	return true, nil
}

// kvPut writes a JSON value to the host's durable store; a failure is
// logged, not returned (the payment exists at Stripe whatever the store
// says).
func (g *Gateway) kvPut(ctx context.Context, key string, v any, ttl time.Duration) {
	raw, _ := json.Marshal(v)
	if _, err := g.Host().StoreSet(context.WithoutCancel(ctx), key, raw, sdk.StoreSetOptions{TTL: ttl}); err != nil {
		g.Logger().Warn("could not record in the host's store", "key", key, "error", err)
	}
}
