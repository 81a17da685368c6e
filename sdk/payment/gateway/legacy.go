package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Legacy is how a gateway ported onto this package honours the records its
// earlier, hand-written version left in the host's durable store. An
// operator upgrades a running installation: a CreatePayment retried with an
// idempotency key the earlier version recorded must return that payment,
// never make a second one, and a notification the earlier version handled
// must still be a repeat when the gateway resends it.
type Legacy struct {
	// Payment returns the id of the payment the earlier version recorded
	// for req.IdempotencyKey, or "" when it recorded none (the SDK's own
	// records then decide). It is asked before the SDK's record; the
	// payment is then read with API.Get and must be req's order and
	// amount. Return an error wrapping sdk.ErrInvalidArgument for a key
	// recorded for another order or amount. Nil: nothing is consulted.
	Payment func(ctx context.Context, store sdk.Host, req *payment.CreatePaymentRequest) (paymentID string, err error)
	// ReplayPrefix starts the keys of the replay records the earlier
	// version wrote with payment.ReplayRecords ("event/"): a notification
	// whose id is recorded there for the same payment is a repeat, for
	// another payment payment.ErrReplay. Empty: none.
	ReplayPrefix string
	// Unfinished, asked when Payment found no payment and the SDK has no
	// record of req's key, returns when the earlier version began a create
	// for the key whose outcome it never learnt (the zero time: none). The
	// key then becomes the SDK's record of an unknown outcome: the order's
	// payment is looked for before one is created (and Spec.CreateLease
	// holds). Return an error wrapping sdk.ErrInvalidArgument for a key
	// recorded for another order or amount. Nil: nothing is consulted.
	Unfinished func(ctx context.Context, store sdk.Host, req *payment.CreatePaymentRequest) (started time.Time, err error)
	// Handled reports whether the earlier version handled the notification
	// n (verified and parsed), for records that are not ReplayRecords by
	// event id (a gateway whose notifications carry none, recorded by
	// payment and status). True: n is reported again marked Duplicate. It
	// is asked only about a notification the SDK has no record of. Nil:
	// nothing is consulted.
	Handled func(ctx context.Context, store sdk.Host, n *Notification) (bool, error)
}

// legacyPayment returns the payment the earlier version made for req's
// key, or nil when it recorded none.
func (g *Gateway[S]) legacyPayment(ctx context.Context, inst *instance, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	if g.spec.Legacy.Payment == nil {
		return nil, nil
	}
	id, err := g.spec.Legacy.Payment(ctx, g.Host(), req)
	if err != nil || id == "" {
		return nil, err
	}
	p, err := inst.api.Get(operation(ctx, "get"), id)
	if err != nil {
		return nil, fmt.Errorf("the payment made before the upgrade with idempotency key %q: %w", req.IdempotencyKey, err)
	}
	if p.OrderID == "" {
		p.OrderID = req.OrderID
	}
	return p, checkAnswer(p, req.OrderID, req.Amount)
}

// legacyReplay looks eventID up among the earlier version's replay records.
func (g *Gateway[S]) legacyReplay(ctx context.Context, eventID, subject string) (bool, error) {
	if g.spec.Legacy.ReplayPrefix == "" {
		return false, nil
	}
	return payment.ReplayRecords{Host: g.Host(), Prefix: g.spec.Legacy.ReplayPrefix}.Check(ctx, eventID, subject)
}

// legacyUnfinished turns the earlier version's record of a create with an
// unknown outcome into the SDK's, when the SDK has no record of the key.
func (g *Gateway[S]) legacyUnfinished(ctx context.Context, key string, req *payment.CreatePaymentRequest) error {
	if g.spec.Legacy.Unfinished == nil {
		return nil
	}
	host := g.Host()
	if _, found, err := host.StoreGet(ctx, key); err != nil || found {
		return err
	}
	started, err := g.spec.Legacy.Unfinished(ctx, host, req)
	if err != nil || started.IsZero() {
		return err
	}
	raw, _ := json.Marshal(idemRecord{State: idemUnknown, OrderID: req.OrderID, Amount: req.Amount, Started: started.UTC()})
	if _, err := host.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: g.spec.IdempotencyTTL, OnlyIfAbsent: true}); err != nil {
		return fmt.Errorf("record idempotency key %q from the earlier version's record: %w", req.IdempotencyKey, err)
	}
	g.Log().Info("a create the earlier version left unfinished is looked for at the gateway", "order", req.OrderID)
	return nil
}

// legacyHandled asks Legacy.Handled about n.
func (g *Gateway[S]) legacyHandled(ctx context.Context, n *Notification) (bool, error) {
	if g.spec.Legacy.Handled == nil {
		return false, nil
	}
	seen, err := g.spec.Legacy.Handled(ctx, g.Host(), n)
	if err != nil {
		return false, fmt.Errorf("read the earlier version's record of the notification about %s: %w", cmpOr(n.PaymentID, n.OrderID), err)
	}
	return seen, nil
}
