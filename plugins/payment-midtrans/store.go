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

// What the plugin remembers lives in the host's durable store (the
// plugin's own namespace of a table in the host's database, never
// evicted), so it survives plugin and host restarts. The SDK keeps the
// idempotency records ("idem:<key>") and the replay records; the plugin
// keeps what Midtrans never tells again. Keys:
//
//	order/<order id>          the payment created for an order (record)
//	notification/<txid>/<transaction_status>/<status_code>
//	                          the order a notification was about (the SDK's
//	                          replay records, under Spec.ReplayPrefix: a
//	                          repeat is reported as a duplicate)
//	idempotency/<sha256 key>  the order id an idempotency key created,
//	                          written by versions before the port; read,
//	                          never written, so that a key used before an
//	                          upgrade is still honoured after it
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

// save records a payment that exists at Midtrans, even when ctx is done:
// the payment exists whatever the caller does now.
func (s store) save(ctx context.Context, r *record, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.kv.StoreSet(ctx, orderPrefix+r.OrderID, raw, sdk.StoreSetOptions{TTL: max(r.ExpiresAt.Sub(now), 0) + recordRetention})
	return wrapKV("save the record of order "+r.OrderID, err)
}

// legacyPayment is Spec.Legacy.Payment: the payment a version before the
// port made for req's idempotency key (its id is the order id), or "" when
// that version recorded none, or only a claim whose payment it never
// recorded (Create then finds out from Midtrans). A key recorded for
// another order or amount is refused, as that version refused it.
func legacyPayment(ctx context.Context, kv sdk.Host, req *payment.CreatePaymentRequest) (string, error) {
	raw, found, err := kv.StoreGet(ctx, idempotencyPrefix+hashKey(req.IdempotencyKey))
	if err != nil || !found {
		return "", wrapKV("read the idempotency key", err)
	}
	orderID := string(raw)
	if orderID != req.OrderID {
		return "", fmt.Errorf("%w: idempotency key %q was used for order %s; use a new key for a different payment", sdk.ErrInvalidArgument, req.IdempotencyKey, orderID)
	}
	r, found, err := store{kv}.order(ctx, orderID)
	if err != nil || !found {
		return "", err
	}
	if got := (payment.Money{Amount: r.Amount, Currency: r.Currency}); got != req.Amount {
		return "", fmt.Errorf("%w: idempotency key %q was used for order %s of %s; use a new key for a different payment", sdk.ErrInvalidArgument, req.IdempotencyKey, orderID, got)
	}
	return orderID, nil
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
