package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// TestUpgradeHonoursOldRecords: an installation upgraded from the version
// before the SDK port keeps what that version wrote in the host's durable
// store, in its layout: "idempotency/<sha256 of the key>" (JSON with the
// session), "order/<order id>" (the session) and "event/<event id>" (the
// session a handled event was about).
func TestUpgradeHonoursOldRecords(t *testing.T) {
	e := serve(t, nil)
	ctx := context.Background()
	store := e.h.Host
	put := func(key string, v any) {
		t.Helper()
		raw, ok := v.([]byte)
		if !ok {
			raw, _ = json.Marshal(v)
		}
		if _, err := store.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	// The session the old version made: made here through the fake's API,
	// then every record of the new version removed and the old one written.
	req := createRequest(newOrder(), rp150k)
	p := e.create(t, req)
	for _, key := range []string{"idem:" + req.IdempotencyKey, idempotencyKVKey(req.IdempotencyKey), orderKVKey(req.OrderID)} {
		if found, err := store.StoreDelete(ctx, key); err != nil || !found {
			t.Fatalf("StoreDelete(%s) = %v, %v", key, found, err)
		}
	}
	put(idempotencyKVKey(req.IdempotencyKey), map[string]any{"order_id": req.OrderID, "amount": rp150k.Amount, "currency": "IDR", "session_id": p.ID})
	put(orderKVKey(req.OrderID), p.ID)
	// Stripe forgot the Idempotency-Key (after 24 hours): only the old
	// record can stop a second session.
	e.fake.mu.Lock()
	clear(e.fake.idem)
	e.fake.mu.Unlock()

	before := len(e.fake.received())
	again, err := e.gw.CreatePayment(ctx, req)
	if err != nil || again.Payment.ID != p.ID {
		t.Fatalf("CreatePayment with a key the old version recorded = %+v, %v; want session %s", again, err, p.ID)
	}
	for _, r := range e.fake.received()[before:] {
		if r.Method != http.MethodGet {
			t.Errorf("the repeat sent %s %s to Stripe; want only a retrieve", r.Method, r.Path)
		}
	}
	if n := e.fake.sessionCount(); n != 1 {
		t.Errorf("Stripe holds %d sessions; want 1", n)
	}
	other := createRequest(newOrder(), rp150k)
	other.IdempotencyKey = req.IdempotencyKey
	if _, err := e.gw.CreatePayment(ctx, other); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), req.OrderID) {
		t.Errorf("the old key for another order = %v; want sdk.ErrInvalidArgument naming %s", err, req.OrderID)
	}
	if got, err := e.gw.GetPayment(ctx, &payment.GetPaymentRequest{OrderID: req.OrderID}); err != nil || got.Payment.ID != p.ID {
		t.Errorf("GetPayment by the order the old version recorded = %+v, %v; want %s", got, err, p.ID)
	}

	// An event the old version handled, resent after the upgrade.
	e.fake.setPaid(p.ID)
	body := e.fake.paidEvent(p.ID)
	var ev struct{ ID string }
	_ = json.Unmarshal(body, &ev)
	put(legacyEventPrefix+ev.ID, []byte(p.ID))
	before = len(e.fake.received())
	resp, err := e.signed(body)
	if err != nil || resp.Event == nil || !resp.Event.Duplicate || resp.Event.PaymentID != p.ID || resp.Event.Status != payment.StatusPaid {
		t.Fatalf("an event handled before the upgrade = %+v, %v; want it reported again as a paid duplicate", resp, err)
	}
	if len(e.fake.received()) != before {
		t.Errorf("a repeat called Stripe")
	}
	q := e.create(t, createRequest(newOrder(), rp150k))
	e.fake.setPaid(q.ID)
	if _, err := e.signed(withEventID(t, e.fake.paidEvent(q.ID), ev.ID)); !errors.Is(err, payment.ErrReplay) {
		t.Errorf("its id reused for another session = %v; want payment.ErrReplay", err)
	}
}
