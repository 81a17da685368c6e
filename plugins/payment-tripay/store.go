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

// legacyCreate reads the old version's record of an idempotency key.
func legacyCreate(ctx context.Context, store sdk.Host, key string) (*gateway.LegacyCreate, error) {
	var rec legacyIdem
	if found, err := getJSON(ctx, store, legacyIdemKey(key), &rec); err != nil || !found {
		return nil, err
	}
	return &gateway.LegacyCreate{OrderID: rec.OrderID, Amount: payment.Money{Amount: rec.Amount, Currency: rec.Currency}, PaymentID: rec.Reference, Started: rec.Started}, nil
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
