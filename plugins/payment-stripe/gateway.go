package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v85"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Name and Version must match plugin.json.
const (
	Name    = "payment-stripe"
	Version = "0.2.0"
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

// How long the plugin remembers things in the host's durable store (the
// SDK keeps its own idempotency and replay records beside them).
const (
	// paramsTTL: the parameters first sent with an idempotency key are
	// kept this long (Stripe forgets keys after 24 hours).
	paramsTTL = 30 * 24 * time.Hour
	// orderTTL: an order id maps to its latest session this long.
	orderTTL = 30 * 24 * time.Hour
	// replayTTL: a handled event id is remembered this long. Stripe resends
	// an event for up to three days.
	replayTTL = 7 * 24 * time.Hour
)

// NewGateway returns the plugin, unconfigured; serve its Plugin(), which
// also refunds.
func NewGateway() *gateway.Gateway[settings] {
	return gateway.New(gateway.Spec[settings]{
		Name: Name, Version: Version, Description: description,
		Defaults:  defaultSettings(),
		ReplayTTL: replayTTL,
		// The longest a call can take with the settings' most patient
		// timeout and retries; callContext bounds each call by the
		// settings in force.
		CallTimeout:  maxTimeoutSeconds*time.Second*(maxRetries+1) + maxRetrySleep*maxRetries,
		MetricPrefix: "stripe",
		New:          newAPI,
		APIType:      (*api)(nil),
		// amount.go converts to Stripe's units: it takes currencies whose
		// CLDR digits differ from payment.Exponent's (COP, PKR, ...).
		CheckCurrency: func(code string) error {
			_, err := stripeCurrencyOf(code)
			return err
		},
		// The records the plugin wrote before it was built on the SDK
		// (0.1.0): see legacyPayment.
		Legacy: gateway.Legacy{Payment: legacyPayment, ReplayPrefix: legacyEventPrefix},
		// A paid event about a session refunded since is reported refunded,
		// as the API has it, not refused (Stripe would resend it for days).
		ReportFinalStatus: true,
	})
}

// api is Stripe's API with one set of settings.
type api struct {
	cfg    settings
	stripe *stripe.Client
	host   sdk.Host
	log    *slog.Logger
	now    func() time.Time
}

var (
	_ gateway.API      = (*api)(nil)
	_ payment.Refunder = (*api)(nil)
)

// newAPI builds the API from valid settings. It does not call Stripe.
func newAPI(cfg settings, env *gateway.Env) (gateway.API, error) {
	if cfg.Mode == "test" && env.HostEnvironment == "production" {
		env.Warn("Stripe is in test mode in production: customers cannot really pay; set a live key")
	}
	if len(cfg.WebhookSecrets) > 1 {
		env.Warn("%d webhook secrets are accepted; remove the old one once the rotation is done", len(cfg.WebhookSecrets))
	}
	env.Detail("mode", cfg.Mode)
	env.Detail("webhook_secrets", len(cfg.WebhookSecrets))
	if cfg.APIBaseURL != "" {
		env.Detail("api_base_url", cfg.APIBaseURL)
	}
	tr := env.Transport(gateway.ClientConfig{Name: "Stripe", Credentials: "secret_key"}, nil, cfg.timeout())
	env.Log.Info("Stripe settings", "mode", cfg.Mode, "webhook_secrets", len(cfg.WebhookSecrets), "api_base_url", cfg.APIBaseURL)
	return &api{cfg: cfg, stripe: newStripeClient(cfg, tr, env.Log), host: env.Host, log: env.Log, now: env.Now}, nil
}

// Create creates a Checkout Session in payment mode. The SDK has checked
// the request and holds its idempotency record; Stripe's Idempotency-Key
// makes a retry after a lost answer give the same session.
func (a *api) Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	if len(a.cfg.Currencies) > 0 && !slices.Contains(a.cfg.Currencies, req.Amount.Currency) {
		return nil, fmt.Errorf("%w: %s; this gateway is set to take %s", payment.ErrUnsupportedCurrency, req.Amount.Currency, strings.Join(a.cfg.Currencies, ", "))
	}
	params, err := sessionParams(req)
	if err != nil {
		return nil, err
	}
	exp, err := a.expiry(ctx, req)
	if err != nil {
		return nil, err
	}
	if exp != 0 {
		params.ExpiresAt = stripe.Int64(exp)
	}
	params.SetIdempotencyKey(stripeIdempotencyKey(req.IdempotencyKey))
	cctx, cancel := callContext(ctx, a.cfg)
	defer cancel()
	s, err := a.stripe.V1CheckoutSessions.Create(cctx, params)
	if err != nil {
		return nil, apiError(ctx, "create checkout session", err, a.cfg.secrets())
	}
	p, err := toPayment(s)
	if err != nil {
		return nil, err
	}
	a.put(ctx, orderKVKey(req.OrderID), s.ID, orderTTL)
	a.log.Info("checkout session created", "order_id", req.OrderID, "session", s.ID, "amount", p.Amount.String())
	return &p, nil
}

// expiry is the expires_at to send for req (sessionExpiry), the same on
// every attempt with one idempotency key: Stripe refuses a key repeated
// with other parameters, and expires_at depends on the first attempt's
// time. The first attempt's is kept in the host's durable store, in the
// record layout of the plugin's earlier version (which legacyPayment
// reads). When the store cannot be used it carries on without, and logs
// why.
func (a *api) expiry(ctx context.Context, req *payment.CreatePaymentRequest) (int64, error) {
	key := idempotencyKVKey(req.IdempotencyKey)
	if rec, found, err := a.params(ctx, key); found {
		return rec.ExpiresAt, nil
	} else if err != nil {
		a.log.Warn("idempotency parameters unavailable; a retry after the clock moved may be refused by Stripe", "error", err)
	}
	exp, err := sessionExpiry(req.ExpiresAt, a.now())
	if err != nil {
		return 0, err
	}
	raw, _ := json.Marshal(idempotencyRecord{OrderID: req.OrderID, Amount: req.Amount.Amount, Currency: req.Amount.Currency, ExpiresAt: exp})
	stored, err := a.host.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: paramsTTL, OnlyIfAbsent: true})
	if err != nil {
		a.log.Warn("idempotency parameters not stored; a retry after the clock moved may be refused by Stripe", "error", err)
	}
	if err == nil && !stored { // a concurrent first attempt
		if rec, found, _ := a.params(ctx, key); found {
			return rec.ExpiresAt, nil
		}
	}
	return exp, nil
}

// params reads the record of an idempotency key.
func (a *api) params(ctx context.Context, key string) (idempotencyRecord, bool, error) {
	var rec idempotencyRecord
	raw, found, err := a.host.StoreGet(ctx, key)
	if err != nil || !found {
		return rec, false, err
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return rec, false, fmt.Errorf("%w: stored %s does not decode: %v", sdk.ErrInternal, key, err)
	}
	return rec, true, nil
}

// put writes a JSON value to the host's durable store; a failure is
// logged, not returned (the payment exists at Stripe whatever the store
// says).
func (a *api) put(ctx context.Context, key string, v any, ttl time.Duration) {
	raw, _ := json.Marshal(v)
	if _, err := a.host.StoreSet(context.WithoutCancel(ctx), key, raw, sdk.StoreSetOptions{TTL: ttl}); err != nil {
		a.log.Warn("could not record in the host's store", "key", key, "error", err)
	}
}

// legacyPayment is the session the plugin's earlier version recorded for
// req's idempotency key ("idempotency/<sha256 of the key>", JSON of
// idempotencyRecord), "" when none; a key recorded for another order or
// amount is refused. Records this version writes there hold no session.
func legacyPayment(ctx context.Context, store sdk.Host, req *payment.CreatePaymentRequest) (string, error) {
	a := &api{host: store}
	rec, found, err := a.params(ctx, idempotencyKVKey(req.IdempotencyKey))
	if err != nil || !found {
		return "", err
	}
	if rec.OrderID != req.OrderID || rec.Amount != req.Amount.Amount || rec.Currency != req.Amount.Currency {
		return "", fmt.Errorf("%w: idempotency key %q was used for order %s (%s); use a new key for a different payment",
			sdk.ErrInvalidArgument, req.IdempotencyKey, rec.OrderID, payment.Money{Amount: rec.Amount, Currency: rec.Currency})
	}
	return rec.SessionID, nil
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

// Get retrieves a Checkout Session as a Payment.
func (a *api) Get(ctx context.Context, id string) (*payment.Payment, error) {
	s, err := a.retrieveSession(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := toPayment(s)
	return &p, err
}

// GetByOrder retrieves the order's latest session. Stripe lists no
// sessions by client_reference_id, so Create records it in the host's
// durable store ("order/<order id>").
func (a *api) GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error) {
	raw, found, err := a.host.StoreGet(ctx, orderKVKey(orderID))
	if err != nil {
		return nil, err
	}
	var id string
	if !found || json.Unmarshal(raw, &id) != nil || id == "" {
		return nil, fmt.Errorf("%w: no checkout session for order %q", payment.ErrUnknownOrder, orderID)
	}
	p, err := a.Get(ctx, id)
	if err == nil && p.OrderID != orderID {
		err = fmt.Errorf("%w: checkout session %s belongs to order %q, not %q", payment.ErrUnknownOrder, id, p.OrderID, orderID)
	}
	return p, err
}

// retrieveSession gets a Checkout Session with its PaymentIntent and that
// one's latest charge (for failed and refunded payments). An id that is not
// a Checkout Session's, or one Stripe does not know, is
// payment.ErrUnknownOrder.
func (a *api) retrieveSession(ctx context.Context, id string) (*stripe.CheckoutSession, error) {
	if !strings.HasPrefix(id, "cs_") || strings.ContainsAny(id, "/?#% ") {
		return nil, fmt.Errorf("%w: %q is not a Stripe Checkout Session id (cs_...)", payment.ErrUnknownOrder, id)
	}
	params := &stripe.CheckoutSessionRetrieveParams{}
	params.AddExpand("payment_intent.latest_charge")
	cctx, cancel := callContext(ctx, a.cfg)
	defer cancel()
	s, err := a.stripe.V1CheckoutSessions.Retrieve(cctx, id, params)
	if err != nil {
		return nil, apiError(ctx, "retrieve checkout session "+id, err, a.cfg.secrets())
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
func (a *api) Refund(ctx context.Context, req *payment.RefundRequest) (*payment.RefundResponse, error) {
	if strings.TrimSpace(req.IdempotencyKey) == "" {
		return nil, fmt.Errorf("%w: idempotency_key is required", sdk.ErrInvalidArgument)
	}
	s, err := a.retrieveSession(ctx, req.PaymentID)
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
	cctx, cancel := callContext(ctx, a.cfg)
	defer cancel()
	r, err := a.stripe.V1Refunds.Create(cctx, params)
	if err != nil {
		return nil, apiError(ctx, "refund "+s.ID, err, a.cfg.secrets())
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
	a.log.Info("refund created", "session", s.ID, "refund", r.ID, "amount", amount.String(), "status", status)
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
// idempotency key: the parameters first sent with it. The plugin's earlier
// version also wrote SessionID there once Stripe answered; this one leaves
// the outcome to the SDK's record.
type idempotencyRecord struct {
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// ExpiresAt is the expires_at sent (Unix seconds), 0 for none.
	ExpiresAt int64 `json:"expires_at,omitempty"`
	// SessionID: in records of the earlier version, once Stripe answered.
	SessionID string `json:"session_id,omitempty"`
}

func idempotencyKVKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "idempotency/" + hex.EncodeToString(sum[:])
}

func orderKVKey(orderID string) string { return "order/" + orderID }

// legacyEventPrefix started the replay records (payment.ReplayRecords) of
// the plugin's earlier version: "event/<event id>" = the session.
const legacyEventPrefix = "event/"
