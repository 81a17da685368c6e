package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// The plugin keeps its state in the host's durable store (sdk.Host's Store*
// calls: a table in the host's database, never evicted), so it survives
// plugin and host restarts and is shared by every plugin process of a
// scaled-out host. None of it may live in the cache, which may lose it: a
// lost idempotency record would create a second Tripay transaction. Keys:
//
//	idem/<sha256 of the idempotency key>          idemRecord
//	idem/<sha256 of the idempotency key>/takeover/<start of the stale attempt>
//	                                              lock: who replaces a stale attempt
//	ref/<Tripay reference>                        refRecord
//	cb/<Tripay reference>/<STATUS>                callbackRecord: a handled callback
//	                                              (replay record: a repeat is a duplicate)
const (
	// recordTTL is how long records are kept; Tripay's longest expiry is 30
	// days, and callbacks follow within minutes.
	recordTTL = 90 * 24 * time.Hour
	// createLease is how long an unfinished create attempt blocks another
	// with the same idempotency key. It is longer than the longest create
	// call can take (request_timeout_seconds is at most 120).
	createLease = 3 * time.Minute
	// lookBack is the clock skew allowed between this host and Tripay when
	// matching a lost create to a transaction by its creation time.
	lookBack = 5 * time.Minute
	// kvTimeout bounds bookkeeping that must outlive the caller's context.
	kvTimeout = 5 * time.Second
	// takeoverTTL keeps a takeover lock until the stale attempt it
	// replaces is long overwritten.
	takeoverTTL = 24 * time.Hour
)

// idemRecord is what an idempotency key stands for.
type idemRecord struct {
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// Attempt counts create attempts under this key; Started is when the
	// current one began.
	Attempt int       `json:"attempt"`
	Started time.Time `json:"started"`
	// Reference is Tripay's reference once the create has answered. Empty
	// means a create was started and its outcome is not known.
	Reference string `json:"reference,omitempty"`
}

// refRecord is what this plugin asked Tripay for, by Tripay's reference.
type refRecord struct {
	// Key is the idemKey the transaction was created under.
	Key      string `json:"key"`
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

func idemKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "idem/" + hex.EncodeToString(sum[:])
}

func refKey(reference string) string { return "ref/" + reference }

func callbackKey(reference, status string) string { return "cb/" + reference + "/" + status }

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

func setJSON(ctx context.Context, h sdk.Host, key string, v any, onlyIfAbsent bool) (bool, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	return h.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: recordTTL, OnlyIfAbsent: onlyIfAbsent})
}

// detached returns a context for bookkeeping that must finish even when the
// caller has gone (the transaction exists at Tripay by then).
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), kvTimeout)
}
