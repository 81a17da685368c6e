package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// What the plugin remembers lives in the host's durable store (Host's
// Store* calls: the plugin's own namespace of a table in the host's
// database, never evicted), so it survives plugin and host restarts and is
// shared by every instance of the plugin that one host cluster runs. None
// of it may live in the cache, which may lose it: a lost idempotency record
// would start a second payment. Keys:
//
//	order/<order id>          the payment created for an order (record)
//	idempotency/<sha256 key>  the order id an idempotency key created
//	notification/<txid>/<transaction_status>/<status_code>
//	                          the order a notification was about (replay
//	                          record: a repeat is reported as a duplicate)
const (
	orderPrefix        = "order/"
	idempotencyPrefix  = "idempotency/"
	notificationPrefix = "notification/"
)

// How long records are kept.
const (
	// recordRetention is how long a payment's record outlives its expiry,
	// for GetPayment and late retries with the same idempotency key.
	recordRetention = 30 * 24 * time.Hour
	// notificationRetention is how long a handled notification is
	// remembered; Midtrans retries a notification for far less.
	notificationRetention = 30 * 24 * time.Hour
)

// record is what the plugin keeps about a payment it created: Midtrans'
// status API does not know a Snap transaction until the customer picks a
// payment method, and never returns the Snap token or redirect URL.
type record struct {
	OrderID     string    `json:"order_id"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Token       string    `json:"token,omitempty"`
	RedirectURL string    `json:"redirect_url,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// payment is the record as a pending payment (or expired, past its expiry).
func (r *record) payment(now time.Time) payment.Payment {
	p := payment.Payment{
		ID:          r.OrderID,
		OrderID:     r.OrderID,
		Status:      payment.StatusPending,
		Amount:      payment.Money{Amount: r.Amount, Currency: r.Currency},
		CheckoutURL: r.RedirectURL,
		Token:       r.Token,
		CreatedAt:   r.CreatedAt,
		ExpiresAt:   r.ExpiresAt,
	}
	if !r.ExpiresAt.IsZero() && now.After(r.ExpiresAt) {
		p.Status = payment.StatusExpired
	}
	return p
}

func (r *record) ttl(now time.Time) time.Duration {
	return max(r.ExpiresAt.Sub(now), 0) + recordRetention
}

// store reads and writes the plugin's records in the host's durable store.
type store struct{ kv sdk.Host }

func (s store) order(ctx context.Context, orderID string) (*record, bool, error) {
	raw, found, err := s.kv.StoreGet(ctx, orderPrefix+orderID)
	if err != nil || !found {
		return nil, false, wrapKV("read the record of order "+orderID, err)
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, false, fmt.Errorf("%w: the record of order %s is unreadable: %v", sdk.ErrInternal, orderID, err)
	}
	return &r, true, nil
}

func (s store) saveOrder(ctx context.Context, r *record, now time.Time) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.kv.StoreSet(ctx, orderPrefix+r.OrderID, raw, sdk.StoreSetOptions{TTL: r.ttl(now)})
	return wrapKV("save the record of order "+r.OrderID, err)
}

// claimKey takes an idempotency key for an order, unless it is taken: the
// first CreatePayment with a key holds it while it talks to Midtrans (ttl
// covers that), and the key then points at the order for good.
func (s store) claimKey(ctx context.Context, key, orderID string, ttl time.Duration) (bool, error) {
	stored, err := s.kv.StoreSet(ctx, idempotencyPrefix+hashKey(key), []byte(orderID), sdk.StoreSetOptions{TTL: ttl, OnlyIfAbsent: true})
	return stored, wrapKV("claim the idempotency key", err)
}

// keyOrder returns the order id an idempotency key is held for.
func (s store) keyOrder(ctx context.Context, key string) (string, bool, error) {
	raw, found, err := s.kv.StoreGet(ctx, idempotencyPrefix+hashKey(key))
	return string(raw), found, wrapKV("read the idempotency key", err)
}

// bindKey makes an idempotency key point at its order for as long as the
// order's record lives.
func (s store) bindKey(ctx context.Context, key string, r *record, now time.Time) error {
	_, err := s.kv.StoreSet(ctx, idempotencyPrefix+hashKey(key), []byte(r.OrderID), sdk.StoreSetOptions{TTL: r.ttl(now)})
	return wrapKV("bind the idempotency key", err)
}

// releaseKey frees an idempotency key whose create failed, so that a retry
// can try again.
func (s store) releaseKey(ctx context.Context, key string) error {
	_, err := s.kv.StoreDelete(ctx, idempotencyPrefix+hashKey(key))
	return wrapKV("release the idempotency key", err)
}

// replays are the notifications' replay records: each notification id
// names the order it was about.
func (s store) replays() payment.ReplayRecords {
	return payment.ReplayRecords{Host: s.kv, Prefix: notificationPrefix, TTL: notificationRetention}
}

// hashKey keeps idempotency keys (which the host chooses, of any length)
// out of the store's key space.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// wrapKV names what failed in the host's durable store. Its errors already
// wrap the sdk's sentinels (ErrUnavailable, ErrFailedPrecondition, ...).
func wrapKV(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s in the host's durable store: %w", what, err)
}
