package main

import (
	"context"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

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

	records := []string{idemKey("key-90d"), refKey(p.ID), callbackKey(p.ID, "PAID")}
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
