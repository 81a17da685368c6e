package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Name and Version must match plugin.json.
const (
	Name    = "payment-midtrans"
	Version = "0.1.0"
)

// Gateway takes payments through Midtrans Snap: CreatePayment creates a Snap
// transaction (a token and a redirect URL to Midtrans' payment page, where
// the customer picks QRIS, an e-wallet, a virtual account or a card),
// GetPayment asks Midtrans' status API, and HandleWebhook verifies and
// confirms Midtrans' HTTP notifications.
//
// A payment's ID is its order id: Midtrans keys a transaction by order_id
// (and refuses a second transaction for one), knows the order id from the
// start while its transaction_id only exists once the customer picks a
// payment method, and its status API takes either.
type Gateway struct {
	sdk.Base

	mu    sync.RWMutex
	cfg   *settings
	api   *apiClient
	stats *stats
	now   func() time.Time
}

var _ payment.Gateway = (*Gateway)(nil)

// NewGateway returns an unconfigured gateway.
func NewGateway() *Gateway { return &Gateway{stats: newStats(), now: time.Now} }

// Describe implements sdk.Plugin.
func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{
		Name:        Name,
		Version:     Version,
		Description: "Midtrans Snap: QRIS, e-wallets, virtual accounts and cards, in IDR",
	}, nil
}

// Configure implements sdk.Plugin.
func (g *Gateway) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	var cfg settings
	if err := sdk.DecodeConfig(req.Settings, &cfg); err != nil {
		return nil, err
	}
	warnings, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	api := newAPIClient(&cfg, g.Logger(), g.stats)
	g.mu.Lock()
	g.cfg, g.api = &cfg, api
	g.mu.Unlock()
	g.Logger().Info("configured", "environment", cfg.Environment, "snap_base_url", api.snapBase, "api_base_url", api.coreBase)
	for _, w := range warnings {
		g.Logger().Warn(w)
	}
	return &sdk.ConfigureResponse{Warnings: warnings}, nil
}

// state returns the settings and the API client, or an error before
// Configure.
func (g *Gateway) state() (*settings, *apiClient, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.cfg == nil {
		return nil, nil, fmt.Errorf("%w: the plugin has not been configured yet; set server_key in its settings", sdk.ErrFailedPrecondition)
	}
	return g.cfg, g.api, nil
}

// CheckHealth implements sdk.Plugin. It makes no call to Midtrans (the host
// probes often, and production endpoints should not see probes); it reports
// degraded when the last call to Midtrans failed to get an answer.
func (g *Gateway) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	cfg, api, err := g.state()
	if err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: err.Error()}, nil
	}
	details := map[string]any{
		"environment":    cfg.Environment,
		"snap_base_url":  api.snapBase,
		"api_base_url":   api.coreBase,
		"client_key_set": cfg.ClientKey != "",
	}
	if at, msg, failing := g.stats.failing(); failing {
		details["last_failure_at"] = at.UTC().Format(time.RFC3339)
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "the last call to Midtrans failed: " + msg, Details: details}, nil
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "configured for Midtrans " + cfg.Environment, Details: details}, nil
}

// CollectMetrics implements sdk.Plugin.
func (g *Gateway) CollectMetrics(context.Context, *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	return &sdk.CollectMetricsResponse{Text: g.stats.text()}, nil
}

// awaitKeyTimeout bounds how long a CreatePayment waits for another one
// with the same idempotency key that is still talking to Midtrans.
const awaitKeyTimeout = 10 * time.Second

// CreatePayment implements payment.Gateway: a Snap transaction whose
// order_id is the request's order id.
//
// The same IdempotencyKey returns the first payment: the first call claims
// the key in the host's durable store before it calls Midtrans, later calls
// read the payment it recorded (or wait for it, while it is being created). A
// payment for an order that already has one (under another key) is that
// one, when the amount is the same. When Midtrans refuses the order_id as
// used, the order is looked up with the status API.
func (g *Gateway) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if req.Amount.Currency != currencyIDR {
		return nil, fmt.Errorf("%w: %s; Midtrans Snap takes IDR only", payment.ErrUnsupportedCurrency, req.Amount.Currency)
	}
	if !orderIDPattern.MatchString(req.OrderID) {
		return nil, fmt.Errorf("%w: order_id %q: Midtrans takes 1 to 50 letters, digits, \"-\", \"_\", \"~\" and \".\"", sdk.ErrInvalidArgument, req.OrderID)
	}
	now := g.now()
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return nil, fmt.Errorf("%w: expires_at %s is not in the future", sdk.ErrInvalidArgument, req.ExpiresAt.Format(time.RFC3339))
	}
	cfg, api, err := g.state()
	if err != nil {
		return nil, err
	}
	st := store{kv: g.Host()}
	// The claim outlives the longest a create can take.
	claimTTL := time.Duration(api.retries+1)*(api.timeout+10*time.Second) + time.Minute
	waitUntil := time.Now().Add(awaitKeyTimeout)
	for {
		claimed, err := st.claimKey(ctx, req.IdempotencyKey, req.OrderID, claimTTL)
		if err != nil {
			return nil, err
		}
		if claimed {
			p, err := g.create(ctx, cfg, api, st, req, now)
			if err != nil {
				// Free the key, so that a retry tries again. ctx may be
				// done; the release must still happen.
				cctx, cancel := cleanupContext(ctx)
				if rerr := st.releaseKey(cctx, req.IdempotencyKey); rerr != nil {
					g.Logger().Warn("could not release the idempotency key; a retry with it waits until the claim expires", "order_id", req.OrderID, "expires_in", claimTTL, "error", rerr)
				}
				cancel()
				return nil, err
			}
			return &payment.CreatePaymentResponse{Payment: p}, nil
		}
		// Someone holds the key: a payment made before, or one being made.
		orderID, found, err := st.keyOrder(ctx, req.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		if found && orderID != req.OrderID {
			return nil, fmt.Errorf("%w: idempotency key %q was used for order %s; use a new key for a different payment", sdk.ErrInvalidArgument, req.IdempotencyKey, orderID)
		}
		if found {
			r, ok, err := st.order(ctx, orderID)
			if err != nil {
				return nil, err
			}
			if ok {
				if r.Amount != req.Amount.Amount || r.Currency != req.Amount.Currency {
					return nil, fmt.Errorf("%w: idempotency key %q was used for order %s of %s; use a new key for a different payment",
						sdk.ErrInvalidArgument, req.IdempotencyKey, orderID, payment.Money{Amount: r.Amount, Currency: r.Currency})
				}
				return &payment.CreatePaymentResponse{Payment: r.payment(now)}, nil
			}
		}
		// Being created (or released just now: the next claim takes it).
		if time.Now().After(waitUntil) {
			return nil, fmt.Errorf("%w: another request with idempotency key %q is still creating the payment for order %s; retry in a moment",
				sdk.ErrConflict, req.IdempotencyKey, req.OrderID)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, fmt.Errorf("wait for the payment of order %s being created: %w", req.OrderID, err)
		}
	}
}

// create makes the payment for a claimed idempotency key.
func (g *Gateway) create(ctx context.Context, cfg *settings, api *apiClient, st store, req *payment.CreatePaymentRequest, now time.Time) (payment.Payment, error) {
	// The order may have its payment already, made under another key: the
	// payment's id is the order id, so it is the same payment.
	if r, found, err := st.order(ctx, req.OrderID); err != nil {
		return payment.Payment{}, err
	} else if found {
		if r.Amount != req.Amount.Amount || r.Currency != req.Amount.Currency {
			return payment.Payment{}, fmt.Errorf("%w: order %s already has a Midtrans payment of %s; bill another amount under a new order id",
				sdk.ErrAlreadyExists, req.OrderID, payment.Money{Amount: r.Amount, Currency: r.Currency})
		}
		g.bind(ctx, st, req.IdempotencyKey, r, now)
		return r.payment(now), nil
	}

	expiry, expiresAt := snapExpiry(now, req.ExpiresAt, cfg.ExpiryMinutes)
	resp, raw, err := api.createSnap(ctx, snapRequest(req, expiry), hashKey(req.IdempotencyKey)[:32], req.CallbackURL)
	var dup *duplicateOrderError
	if errors.As(err, &dup) {
		return g.adopt(ctx, api, st, req, now)
	}
	if err != nil {
		return payment.Payment{}, err
	}
	r := &record{
		OrderID:     req.OrderID,
		Amount:      req.Amount.Amount,
		Currency:    req.Amount.Currency,
		Token:       resp.Token,
		RedirectURL: resp.RedirectURL,
		CreatedAt:   now.UTC(),
		ExpiresAt:   expiresAt.UTC(),
	}
	g.save(ctx, st, req.IdempotencyKey, r, now)
	g.Logger().Info("Snap transaction created", "order_id", req.OrderID, "amount", req.Amount.String(), "expires_at", r.ExpiresAt.Format(time.RFC3339))
	p := r.payment(now)
	p.Raw = raw
	return p, nil
}

// adopt handles Snap's refusal of a used order_id when this plugin has no
// record of the order (its record expired, or the host's cache lost it, or
// an earlier create's answer never arrived): the status API says what
// Midtrans has. Snap never hands out a token twice, so an order Midtrans
// has but cannot show yet (the customer has not picked a payment method)
// cannot be recovered.
func (g *Gateway) adopt(ctx context.Context, api *apiClient, st store, req *payment.CreatePaymentRequest, now time.Time) (payment.Payment, error) {
	tx, raw, err := api.status(ctx, req.OrderID)
	if errors.Is(err, payment.ErrUnknownOrder) {
		return payment.Payment{}, fmt.Errorf("%w: Midtrans already has a Snap transaction for order %s, which this plugin has no record of and whose checkout link Midtrans does not hand out again; bill the invoice under a new order id",
			sdk.ErrAlreadyExists, req.OrderID)
	}
	if err != nil {
		return payment.Payment{}, fmt.Errorf("Midtrans already has order %s; look it up: %w", req.OrderID, err)
	}
	p, err := paymentFromStatus(tx, raw)
	if err != nil {
		return payment.Payment{}, fmt.Errorf("%w: Midtrans' status of order %s: %v", sdk.ErrUnavailable, req.OrderID, err)
	}
	if p.ID == "" {
		p.ID, p.OrderID = req.OrderID, req.OrderID
	}
	if p.Amount != req.Amount {
		return payment.Payment{}, fmt.Errorf("%w: Midtrans already has order %s for %s, this request is for %s; bill under a new order id",
			sdk.ErrAlreadyExists, req.OrderID, p.Amount, req.Amount)
	}
	r := &record{OrderID: req.OrderID, Amount: p.Amount.Amount, Currency: p.Amount.Currency, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now.UTC()
	}
	if r.ExpiresAt.IsZero() {
		r.ExpiresAt = r.CreatedAt.Add(snapDefaultExpiry)
	}
	g.save(ctx, st, req.IdempotencyKey, r, now)
	g.Logger().Info("order known to Midtrans adopted", "order_id", req.OrderID, "status", p.Status)
	return p, nil
}

// save records a payment that exists at Midtrans and binds the
// idempotency key to it. It runs even when ctx is done: the payment exists
// whatever the caller does now. A failure is logged, not returned: the
// payment is real and the customer can pay it.
func (g *Gateway) save(ctx context.Context, st store, key string, r *record, now time.Time) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := st.saveOrder(cctx, r, now); err != nil {
		g.Logger().Error("payment created at Midtrans but not recorded; a retry with the same idempotency key may be refused", "order_id", r.OrderID, "error", err)
		return
	}
	g.bind(cctx, st, key, r, now)
}

func (g *Gateway) bind(ctx context.Context, st store, key string, r *record, now time.Time) {
	if err := st.bindKey(ctx, key, r, now); err != nil {
		g.Logger().Warn("could not bind the idempotency key to its payment", "order_id", r.OrderID, "error", err)
	}
}

// GetPayment implements payment.Gateway with Midtrans' status API. ID is an
// order id (what CreatePayment returns) or a Midtrans transaction id.
//
// Midtrans does not know a Snap transaction until the customer picks a
// payment method: for an order this plugin created, that is a pending
// payment (expired past its expiry), with its checkout URL.
func (g *Gateway) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	id := req.ID
	if id == "" {
		id = req.OrderID
	}
	if id == "" {
		return nil, fmt.Errorf("%w: give the payment's id or its order id", sdk.ErrInvalidArgument)
	}
	_, api, err := g.state()
	if err != nil {
		return nil, err
	}
	st := store{kv: g.Host()}
	tx, raw, err := api.status(ctx, id)
	switch {
	case err == nil:
		p, err := paymentFromStatus(tx, raw)
		if err != nil {
			return nil, fmt.Errorf("%w: Midtrans' status of %s: %v", sdk.ErrUnavailable, id, err)
		}
		if p.ID == "" {
			p.ID, p.OrderID = id, id
		}
		if r, found, kerr := st.order(ctx, p.OrderID); kerr != nil {
			g.Logger().Debug("payment record not read", "order_id", p.OrderID, "error", kerr)
		} else if found {
			p.CheckoutURL, p.Token = r.RedirectURL, r.Token
			if p.ExpiresAt.IsZero() {
				p.ExpiresAt = r.ExpiresAt
			}
		}
		return &payment.GetPaymentResponse{Payment: p}, nil
	case errors.Is(err, payment.ErrUnknownOrder):
		for _, orderID := range []string{req.OrderID, req.ID} {
			if orderID == "" {
				continue
			}
			r, found, kerr := st.order(ctx, orderID)
			if kerr != nil {
				return nil, kerr
			}
			if found {
				return &payment.GetPaymentResponse{Payment: r.payment(g.now())}, nil
			}
		}
		return nil, err
	default:
		return nil, err
	}
}

// cleanupContext is for work that must happen even when ctx is done.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
