package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Legacy lets a gateway ported onto this package honour the records its
// earlier version wrote in the host's durable store, under its own key
// layout, so that an operator's upgrade of a running installation keeps
// both promises:
//   - a repeated idempotency key from before the upgrade returns the same
//     payment, never a second one at the gateway;
//   - a notification handled before the upgrade is reported as a duplicate
//     when the gateway resends it after.
//
// Each function reads the earlier version's record (store is the plugin's
// host services: StoreGet) and returns what it says; the SDK does the rest.
// Either may be nil.
type Legacy struct {
	// Create returns what the earlier version recorded for an idempotency
	// key, or nil when it recorded nothing. It is asked only for a key the
	// SDK has no record of; what it returns becomes the SDK's record (a
	// payment made, or an outcome unknown when PaymentID is empty).
	Create func(ctx context.Context, store sdk.Host, idempotencyKey string) (*LegacyCreate, error)
	// Handled reports whether the earlier version handled the notification
	// n (already verified and parsed); it is asked only about one the SDK
	// has no replay record of. True: n is reported again marked Duplicate,
	// as a repeat of one the SDK handled would be.
	Handled func(ctx context.Context, store sdk.Host, n *Notification) (bool, error)
}

// LegacyCreate is an earlier version's record of a create.
type LegacyCreate struct {
	OrderID string
	Amount  payment.Money
	// PaymentID is the gateway's id of the payment made; empty when the
	// create's outcome was not known.
	PaymentID string
	// Started is when the create began.
	Started time.Time
}

// adoptLegacy turns the earlier version's record of the idempotency key
// into the SDK's, when the SDK has none.
func (g *Gateway[S]) adoptLegacy(ctx context.Context, key string, req *payment.CreatePaymentRequest) error {
	if g.spec.Legacy == nil || g.spec.Legacy.Create == nil {
		return nil
	}
	host := g.Host()
	if _, found, err := host.StoreGet(ctx, key); err != nil {
		return fmt.Errorf("read the record of idempotency key %q: %w", req.IdempotencyKey, err)
	} else if found {
		return nil
	}
	old, err := g.spec.Legacy.Create(ctx, host, req.IdempotencyKey)
	if err != nil {
		return fmt.Errorf("read the earlier version's record of idempotency key %q: %w", req.IdempotencyKey, err)
	}
	if old == nil {
		return nil
	}
	rec := idemRecord{State: idemDone, OrderID: old.OrderID, Amount: old.Amount, PaymentID: old.PaymentID, Started: old.Started}
	if old.PaymentID == "" {
		rec.State = idemUnknown
	}
	raw, _ := json.Marshal(rec)
	if _, err := host.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: g.spec.IdempotencyTTL, OnlyIfAbsent: true}); err != nil {
		return fmt.Errorf("record idempotency key %q from the earlier version's record: %w", req.IdempotencyKey, err)
	}
	if rec.State == idemDone {
		g.recordOwner(ctx, rec.PaymentID, key)
	}
	g.Log().Info("idempotency key taken over from the earlier version's record", "order", old.OrderID, "payment", old.PaymentID)
	return nil
}

// legacyHandled asks Legacy.Handled about n.
func (g *Gateway[S]) legacyHandled(ctx context.Context, n *Notification) (bool, error) {
	if g.spec.Legacy == nil || g.spec.Legacy.Handled == nil {
		return false, nil
	}
	seen, err := g.spec.Legacy.Handled(ctx, g.Host(), n)
	if err != nil {
		return false, fmt.Errorf("read the earlier version's record of the notification about %s: %w", cmpOr(n.PaymentID, n.OrderID), err)
	}
	return seen, nil
}
