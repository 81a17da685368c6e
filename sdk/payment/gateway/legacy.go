package gateway

import (
	"context"
	"fmt"

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
