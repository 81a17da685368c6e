package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Spec.CreateLease: stricter handling of a create whose outcome is unknown
// (the connection died, the gateway answered 5xx, the deadline passed), for
// gateways whose creates take no idempotency key.
//
// Without a lease, a retry with the key looks for the order's newest
// payment of the amount made since the attempt began, adopts it if there is
// one and creates a payment at once if not. With a lease:
//   - a retry that finds none answers sdk.ErrConflict, saying when to retry,
//     until CreateLease has passed since the lost attempt began: the lost
//     request may still be on its way to the gateway, and a second create
//     now could make a second payment;
//   - once the lease is over, exactly one retry takes the key over and
//     creates (a takeover record names the lost attempt); a concurrent one
//     answers sdk.ErrConflict;
//   - every payment made under a key is recorded as that key's (an owner
//     record, kept as long as the idempotency record), and a payment
//     recorded for another key is never adopted: two attempts of one order
//     never share a payment.

// ownerPrefix starts the keys of owner records (the idempotency record's
// key a payment was made under), takeoverPrefix those of takeover records
// (a lost attempt replaced).
const (
	ownerPrefix    = "owner:"
	takeoverPrefix = "takeover:"
)

// errOwned: the payment belongs to another idempotency key.
var errOwned = errors.New("the payment was made under another idempotency key")

// recordOwner records that paymentID was made under the idempotency
// record key (with a lease only).
func (g *Gateway[S]) recordOwner(ctx context.Context, paymentID, key string) {
	if g.spec.CreateLease <= 0 || paymentID == "" {
		return
	}
	if _, err := g.Host().StoreSet(ctx, ownerKey(paymentID), []byte(key), sdk.StoreSetOptions{TTL: g.spec.IdempotencyTTL}); err != nil {
		g.Log().Warn("could not record which idempotency key made the payment", "payment", paymentID, "error", err)
	}
}

func ownerKey(paymentID string) string { return storeKey(ownerPrefix, paymentID) }

// ownedElsewhere returns errOwned when paymentID was made under another
// idempotency record than key (with a lease only).
func (g *Gateway[S]) ownedElsewhere(ctx context.Context, paymentID, key string) error {
	if g.spec.CreateLease <= 0 {
		return nil
	}
	owner, found, err := g.Host().StoreGet(ctx, ownerKey(paymentID))
	switch {
	case err != nil:
		return fmt.Errorf("read which idempotency key made payment %s: %w", paymentID, err)
	case found && string(owner) != key:
		return errOwned
	}
	return nil
}

// leaseHeld refuses, with sdk.ErrConflict, to create again for a key whose
// lost attempt began less than Spec.CreateLease ago.
func (g *Gateway[S]) leaseHeld(prev idemRecord, req *payment.CreatePaymentRequest) error {
	if g.spec.CreateLease <= 0 {
		return nil
	}
	age := g.now().Sub(prev.Started)
	if age >= g.spec.CreateLease {
		return nil
	}
	return fmt.Errorf("%w: a payment for order %s with idempotency key %q may still be on its way to the gateway (the attempt began %s ago and its outcome is unknown); retry in %s",
		sdk.ErrConflict, req.OrderID, req.IdempotencyKey, age.Round(time.Second), (g.spec.CreateLease - age).Round(time.Second))
}

// takeOver lets exactly one caller replace the lost attempt prev of the
// idempotency record key (with a lease only); the others get
// sdk.ErrConflict.
func (g *Gateway[S]) takeOver(ctx context.Context, key string, prev idemRecord, req *payment.CreatePaymentRequest) error {
	if g.spec.CreateLease <= 0 {
		return nil
	}
	lock := storeKey(takeoverPrefix, fmt.Sprintf("%d/%s", prev.Started.UnixNano(), key))
	won, err := g.Host().StoreSet(ctx, lock, []byte(g.now().UTC().Format(time.RFC3339Nano)), sdk.StoreSetOptions{TTL: g.spec.IdempotencyTTL, OnlyIfAbsent: true})
	switch {
	case err != nil:
		return fmt.Errorf("take over idempotency key %q in the host's store: %w", req.IdempotencyKey, err)
	case !won:
		return fmt.Errorf("%w: another request with idempotency key %q is creating the payment for order %s; retry in a moment", sdk.ErrConflict, req.IdempotencyKey, req.OrderID)
	}
	return nil
}
