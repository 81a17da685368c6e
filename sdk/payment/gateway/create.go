package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Idempotency records, one per CreatePaymentRequest.IdempotencyKey, in the
// host's durable store. A record is claimed before the gateway is called,
// so two creates with one key never both reach the gateway, and holds the
// payment once made, so a repeat of the key returns it instead of making a
// second one, also at gateways that take no idempotency key.
const (
	idemPrefix = "idem:"
	// idemTTL is how long a key's payment is remembered unless
	// Spec.IdempotencyTTL says otherwise: the host repeats a key only to
	// retry one attempt.
	idemTTL = 30 * 24 * time.Hour
	// bookkeeping bounds writing a record after the call's own deadline.
	bookkeeping = 5 * time.Second
)

// States of an idempotency record.
const (
	idemCreating = "creating" // a create is under way
	idemUnknown  = "unknown"  // a create ended without telling whether the gateway made the payment
	idemDone     = "done"     // PaymentID is the payment
)

type idemRecord struct {
	State     string        `json:"state"`
	OrderID   string        `json:"order_id"`
	Amount    payment.Money `json:"amount"`
	PaymentID string        `json:"payment_id,omitempty"`
	Started   time.Time     `json:"started"`
}

func idemKey(key string) string { return storeKey(idemPrefix, key) }

// storeKey is prefix+key, or prefix and key's SHA-256 when that is longer
// than the host takes.
func storeKey(prefix, key string) string {
	if len(prefix)+len(key) <= sdk.MaxKeyBytes {
		return prefix + key
	}
	sum := sha256.Sum256([]byte(key))
	return prefix + "sha256:" + hex.EncodeToString(sum[:])
}

// create makes the payment once per idempotency key.
func (g *Gateway[S]) create(ctx context.Context, inst *instance, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	if p, err := g.legacyPayment(ctx, inst, req); p != nil || err != nil {
		return p, err
	}
	host, key := g.Host(), idemKey(req.IdempotencyKey)
	claim := idemRecord{State: idemCreating, OrderID: req.OrderID, Amount: req.Amount, Started: g.now().UTC()}
	claimTTL := 2 * g.spec.CallTimeout
	waitUntil := time.Now().Add(g.spec.AwaitCreate)
	if err := g.legacyUnfinished(ctx, key, req); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		raw, _ := json.Marshal(claim)
		stored, err := host.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: claimTTL, OnlyIfAbsent: true})
		if err != nil {
			return nil, fmt.Errorf("claim idempotency key %q in the host's store: %w", req.IdempotencyKey, err)
		}
		if stored {
			break
		}
		prevRaw, found, err := host.StoreGet(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read the record of idempotency key %q: %w", req.IdempotencyKey, err)
		}
		if !found {
			if attempt > 0 {
				return nil, fmt.Errorf("%w: the record of idempotency key %q keeps changing in the host's store; retry", sdk.ErrUnavailable, req.IdempotencyKey)
			}
			continue // expired in between
		}
		var prev idemRecord
		if err := json.Unmarshal(prevRaw, &prev); err != nil {
			return nil, fmt.Errorf("%w: the record of idempotency key %q is unreadable: %v", sdk.ErrInternal, req.IdempotencyKey, err)
		}
		if prev.OrderID != req.OrderID || prev.Amount != req.Amount {
			return nil, fmt.Errorf("%w: idempotency key %q was used for order %s of %s; a different payment needs a new key",
				sdk.ErrInvalidArgument, req.IdempotencyKey, prev.OrderID, prev.Amount)
		}
		switch prev.State {
		case idemDone:
			p, err := inst.api.Get(operation(ctx, "get"), prev.PaymentID)
			if err != nil {
				return nil, fmt.Errorf("the payment made before with idempotency key %q: %w", req.IdempotencyKey, err)
			}
			return p, checkAnswer(p, req.OrderID, req.Amount)
		case idemCreating:
			if time.Now().Before(waitUntil) {
				if err := await(ctx); err != nil {
					return nil, fmt.Errorf("wait for the payment of order %s being created with idempotency key %q: %w", req.OrderID, req.IdempotencyKey, err)
				}
				attempt = -1 // the record is there, not changing
				continue
			}
			return nil, fmt.Errorf("%w: another request with idempotency key %q is still creating the payment for order %s; retry in a moment",
				sdk.ErrConflict, req.IdempotencyKey, req.OrderID)
		}
		// idemUnknown: the gateway may have made the payment. Adopt the
		// order's newest payment of this amount made since, if any.
		p, err := inst.api.GetByOrder(operation(ctx, "get_by_order"), req.OrderID)
		if err == nil && p != nil && p.Amount == req.Amount && p.Status == payment.StatusPending &&
			(p.CreatedAt.IsZero() || !p.CreatedAt.Before(prev.Started.Add(-time.Minute))) {
			err = g.ownedElsewhere(ctx, p.ID, key)
			if errors.Is(err, errOwned) {
				p, err = nil, nil
			}
		} else {
			p = nil
		}
		if err == nil && p != nil {
			g.finish(ctx, key, idemRecord{State: idemDone, OrderID: req.OrderID, Amount: req.Amount, PaymentID: p.ID, Started: prev.Started})
			g.Log().Info("payment adopted after an unknown outcome", "order", req.OrderID, "payment", p.ID)
			return p, nil
		} else if err != nil && !errors.Is(err, payment.ErrUnknownOrder) {
			return nil, fmt.Errorf("look for the payment an earlier attempt may have made: %w", err)
		}
		if err := g.leaseHeld(prev, req); err != nil {
			return nil, err
		}
		if err := g.takeOver(ctx, key, prev, req); err != nil {
			return nil, err
		}
		if _, err := host.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: claimTTL}); err != nil {
			return nil, fmt.Errorf("claim idempotency key %q in the host's store: %w", req.IdempotencyKey, err)
		}
		break
	}

	p, err := inst.api.Create(operation(ctx, "create"), req)
	if err == nil {
		if p != nil && p.OrderID == "" {
			p.OrderID = req.OrderID
		}
		err = checkAnswer(p, req.OrderID, req.Amount)
	}
	if err != nil {
		if outcomeUnknown(ctx, err) {
			claim.State = idemUnknown
			g.finish(ctx, key, claim)
		} else if _, derr := host.StoreDelete(context.WithoutCancel(ctx), key); derr != nil {
			g.Log().Warn("could not release the idempotency key; a retry with it waits until the claim expires", "order", req.OrderID, "error", derr)
		}
		return nil, err
	}
	g.finish(ctx, key, idemRecord{State: idemDone, OrderID: req.OrderID, Amount: req.Amount, PaymentID: p.ID, Started: claim.Started})
	g.Log().Info("payment created", "order", p.OrderID, "payment", p.ID, "status", p.Status)
	return p, nil
}

// outcomeUnknown: the create may have happened at the gateway.
func outcomeUnknown(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, payment.ErrAmountMismatch)
}

// finish writes a record, even when the call's deadline has passed.
func (g *Gateway[S]) finish(ctx context.Context, key string, rec idemRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	raw, _ := json.Marshal(rec)
	if _, err := g.Host().StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: g.spec.IdempotencyTTL}); err != nil {
		g.Log().Warn("could not record the idempotency key's outcome", "order", rec.OrderID, "state", rec.State, "error", err)
	}
	if rec.State == idemDone {
		g.recordOwner(ctx, rec.PaymentID, key)
	}
}
