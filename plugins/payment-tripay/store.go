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
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// The plugin's records are the SDK's (package gateway: idempotency and
// replay records in the host's durable store). The version before the SDK
// (0.1.0 as released before the port) kept its own, under these keys, for
// 90 days:
//
//	idem/<sha256 of the idempotency key>   legacyIdem
//	ref/<Tripay reference>                 what was asked for (not read any more)
//	cb/<Tripay reference>/<STATUS>         legacyCallback: a handled callback
//
// An installation upgraded while such records live keeps their promises
// (gateway.Legacy): a repeated idempotency key returns the transaction the
// old version made, and a callback it handled is a duplicate when resent.

// legacyIdem is the old version's record of an idempotency key.
type legacyIdem struct {
	OrderID  string    `json:"order_id"`
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	Started  time.Time `json:"started"`
	// Reference is Tripay's reference once the create had answered; empty:
	// the outcome was not known.
	Reference string `json:"reference,omitempty"`
}

// legacyCallback is the old version's record of a handled callback.
type legacyCallback struct {
	HandledAt time.Time `json:"handled_at"`
	// OrderID and Amount (the invoice amount, IDR) were written by the
	// later old releases; a record without them was checked afresh.
	OrderID string `json:"order_id,omitempty"`
	Amount  int64  `json:"amount,omitempty"`
}

func legacyIdemKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "idem/" + hex.EncodeToString(sum[:])
}

func legacyCallbackKey(reference, status string) string { return "cb/" + reference + "/" + status }

// legacyPayment returns the transaction the old version made for req's
// idempotency key ("" when it recorded none, or the create's outcome was
// unknown).
func legacyPayment(ctx context.Context, store sdk.Host, req *payment.CreatePaymentRequest) (string, error) {
	rec, err := legacyIdemRecord(ctx, store, req)
	if err != nil || rec == nil {
		return "", err
	}
	return rec.Reference, nil
}

// legacyUnfinished returns when the old version began a create for req's
// idempotency key whose outcome it never learnt (zero: none).
func legacyUnfinished(ctx context.Context, store sdk.Host, req *payment.CreatePaymentRequest) (time.Time, error) {
	rec, err := legacyIdemRecord(ctx, store, req)
	if err != nil || rec == nil || rec.Reference != "" {
		return time.Time{}, err
	}
	return rec.Started, nil
}

// legacyIdemRecord reads the old version's record of req's idempotency key;
// one for another order or amount is sdk.ErrInvalidArgument.
func legacyIdemRecord(ctx context.Context, store sdk.Host, req *payment.CreatePaymentRequest) (*legacyIdem, error) {
	var rec legacyIdem
	if found, err := getJSON(ctx, store, legacyIdemKey(req.IdempotencyKey), &rec); err != nil || !found {
		return nil, err
	}
	if rec.OrderID != req.OrderID || rec.Amount != req.Amount.Amount || rec.Currency != req.Amount.Currency {
		return nil, fmt.Errorf("%w: idempotency key %q was used for order %s (%d %s); use a new key for a different payment",
			sdk.ErrInvalidArgument, req.IdempotencyKey, rec.OrderID, rec.Amount, rec.Currency)
	}
	return &rec, nil
}

// legacyHandled reports whether the old version handled this callback: its
// transaction and status, about the same order and invoice amount. A record
// that differs, or lacks them, leaves the callback to be checked afresh, as
// the old version did.
func legacyHandled(ctx context.Context, store sdk.Host, n *gateway.Notification) (bool, error) {
	var rec legacyCallback
	found, err := getJSON(ctx, store, legacyCallbackKey(n.PaymentID, n.GatewayStatus), &rec)
	if err != nil || !found {
		return false, err
	}
	return rec.OrderID != "" && (n.OrderID == "" || n.OrderID == rec.OrderID) && n.Amount.Amount == rec.Amount, nil
}

func getJSON(ctx context.Context, h sdk.Host, key string, v any) (bool, error) {
	raw, found, err := h.StoreGet(ctx, key)
	if err != nil || !found {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%w: stored record %s does not parse: %v", sdk.ErrInternal, key, err)
	}
	return true, nil
}
