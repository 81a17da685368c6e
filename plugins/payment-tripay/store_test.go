package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// sdkIdemKey and sdkReplayKey are the keys of the SDK's records (package
// gateway) in the host's durable store.
func sdkIdemKey(key string) string       { return "idem:" + key }
func sdkReplayKey(eventID string) string { return "replay:" + eventID }

// TestRecordsWithinTheHostLimits: pay and callback work on a host that
// enforces the host's limits (sdktest.FakeHost applies sdk.ValidateKV, as
// the host does). The plugin keeps its records for 90 days: the host's
// cache refuses a TTL over 30 days, so with the records there every pay and
// every callback failed on a real host; the durable store takes them, and
// they last the 90 days, cache or no cache.
func TestRecordsWithinTheHostLimits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	p := e.create(t, "INV-90D", "key-90d", 150000, "BRIVA")
	e.fake.setStatus(t, p.ID, "PAID")
	resp, err := e.webhook(e.callback(t, p.ID, "PAID"))
	if err != nil {
		t.Fatalf("the paid callback: %v", err)
	}
	if resp.Event == nil || resp.Event.Status != payment.StatusPaid || !resp.Event.Confirmed {
		t.Fatalf("the paid callback answered %+v; want a confirmed paid event", resp.Event)
	}

	records := []string{sdkIdemKey("key-90d"), sdkReplayKey(resp.Event.EventID)}
	e.host.DropCache()
	e.clk.Advance(recordTTL - time.Hour)
	for _, k := range records {
		if _, found, err := e.host.StoreGet(ctx, k); err != nil || !found {
			t.Errorf("record %s an hour before its 90 days are up: found %t, %v; want it in the durable store", k, found, err)
		}
	}
	if again := e.create(t, "INV-90D", "key-90d", 150000, "BRIVA"); again.ID != p.ID {
		t.Errorf("the same idempotency key after 89 days made payment %s; want the first, %s", again.ID, p.ID)
	}
	if n := e.fake.callCount("transaction/create"); n != 1 {
		t.Errorf("Tripay got %d creates; want 1", n)
	}

	e.clk.Advance(2 * time.Hour)
	for _, k := range records {
		if _, found, err := e.host.StoreGet(ctx, k); err != nil || found {
			t.Errorf("record %s after its 90 days: found %t, %v; want it expired", k, found, err)
		}
	}
}

// TestIdempotencySurvivesLosingTheCache: the host's cache losing everything
// (eviction, a Redis restart) between two CreatePayment calls with one key
// makes no second Tripay transaction: the idempotency record is in the
// durable store.
func TestIdempotencySurvivesLosingTheCache(t *testing.T) {
	e := newEnv(t)
	p1 := e.create(t, "INV-DC", "key-dc", 150000, "BRIVA")
	e.host.DropCache()
	p2 := e.create(t, "INV-DC", "key-dc", 150000, "BRIVA")
	if p2.ID != p1.ID {
		t.Errorf("after the cache was lost the same key made payment %s; want the first, %s", p2.ID, p1.ID)
	}
	if n := e.fake.callCount("transaction/create"); n != 1 {
		t.Errorf("Tripay got %d creates; want 1", n)
	}
}

// TestUpgradeHonoursOldRecords: an installation upgraded from the version
// before the SDK, whose records (store.go's old layout) are in the host's
// durable store, keeps their promises: a repeated idempotency key returns
// the transaction the old version made (no second one at Tripay), one whose
// create had an unknown outcome is found by its order, a key used for
// another payment is refused, and a callback the old version handled is a
// duplicate when Tripay resends it.
func TestUpgradeHonoursOldRecords(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// Transactions the old version made: the fake has them; the SDK's
	// records of them are then removed, leaving only the old layout.
	made := e.create(t, "INV-OLD1", "old-key-1", 150000, "BRIVA")
	lost := e.create(t, "INV-OLD2", "old-key-2", 150000, "BRIVA")
	paid := e.create(t, "INV-OLD3", "old-key-3", 150000, "QRIS")
	e.fake.setStatus(t, paid.ID, "PAID")
	for _, k := range []string{sdkIdemKey("old-key-1"), sdkIdemKey("old-key-2"), sdkIdemKey("old-key-3"), "owner:" + made.ID, "owner:" + lost.ID, "owner:" + paid.ID} {
		if _, err := e.host.StoreDelete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	put := func(key string, v any) {
		t.Helper()
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.host.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: recordTTL}); err != nil {
			t.Fatal(err)
		}
	}
	started := e.clk.Now().Add(-time.Minute).UTC()
	// As the old version wrote them (store.go before the port).
	put(legacyIdemKey("old-key-1"), map[string]any{"order_id": "INV-OLD1", "amount": 150000, "currency": "IDR", "attempt": 1, "started": started, "reference": made.ID})
	put(legacyIdemKey("old-key-2"), map[string]any{"order_id": "INV-OLD2", "amount": 150000, "currency": "IDR", "attempt": 1, "started": started})
	put("ref/"+made.ID, map[string]any{"key": legacyIdemKey("old-key-1"), "order_id": "INV-OLD1", "amount": 150000, "currency": "IDR"})
	callback := e.callback(t, paid.ID, "PAID")
	put(legacyCallbackKey(paid.ID, "PAID"), map[string]any{"handled_at": started, "order_id": "INV-OLD3", "amount": 150000})

	// The upgrade: a new plugin process on the same host.
	e.serve(t)
	if _, err := e.configure(e.fake.settings()); err != nil {
		t.Fatal(err)
	}
	creates := e.fake.callCount("transaction/create")
	if again := e.create(t, "INV-OLD1", "old-key-1", 150000, "BRIVA"); again.ID != made.ID {
		t.Errorf("old-key-1 after the upgrade gave %s; want the old version's %s", again.ID, made.ID)
	}
	if again := e.create(t, "INV-OLD2", "old-key-2", 150000, "BRIVA"); again.ID != lost.ID {
		t.Errorf("old-key-2 (outcome unknown before the upgrade) gave %s; want the order's transaction %s", again.ID, lost.ID)
	}
	if n := e.fake.callCount("transaction/create") - creates; n != 0 {
		t.Errorf("repeated keys from before the upgrade made %d transactions at Tripay; want none", n)
	}
	_, err := e.gw.CreatePayment(ctx, createReq("INV-OTHER", "old-key-1", 150000, "BRIVA"))
	wantErr(t, err, sdk.ErrInvalidArgument)
	// And again, now from the SDK's own record.
	if again := e.create(t, "INV-OLD1", "old-key-1", 150000, "BRIVA"); again.ID != made.ID {
		t.Errorf("old-key-1 the second time gave %s; want %s", again.ID, made.ID)
	}

	details := e.fake.callCount("transaction/detail")
	resp, err := e.webhook(callback)
	if err != nil {
		t.Fatalf("a callback handled before the upgrade, resent: %v", err)
	}
	if !resp.Event.Duplicate || resp.Event.PaymentID != paid.ID || resp.Event.Status != payment.StatusPaid || resp.Event.Amount.Amount != 150000 {
		t.Errorf("a callback handled before the upgrade, resent, gave %+v; want it reported again marked Duplicate", resp.Event)
	}
	if n := e.fake.callCount("transaction/detail") - details; n != 0 {
		t.Errorf("the resent callback asked transaction/detail %d times; the old record saves that", n)
	}
	// A callback the old version never handled is news.
	e.fake.setStatus(t, made.ID, "PAID")
	if resp, err := e.webhook(e.callback(t, made.ID, "PAID")); err != nil || resp.Event.Duplicate || !resp.Event.Confirmed {
		t.Errorf("a new callback after the upgrade: %+v, %v; want a confirmed event, not a duplicate", resp, err)
	}
}
