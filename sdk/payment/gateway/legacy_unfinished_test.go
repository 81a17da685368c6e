package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// An earlier version recorded "old/<key>" = {"order", "started"} for a
// create whose outcome it never learnt, and "handled/<payment>/<status>"
// for the notifications it handled (they carry no event id):
// Legacy.Unfinished and Legacy.Handled honour both.
func TestLegacyUnfinishedAndHandled(t *testing.T) {
	ctx := context.Background()
	clk := &sdktest.Clock{}
	host := sdktest.NewFakeHost()
	api := &droppingAPI{memAPI: &memAPI{payments: map[string]*payment.Payment{}}}
	type old struct {
		Order   string    `json:"order"`
		Started time.Time `json:"started"`
	}
	put := func(k string, v any) {
		raw, _ := json.Marshal(v)
		if _, err := host.StoreSet(ctx, k, raw, sdk.StoreSetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The earlier version's lost create did reach the gateway (k-made);
	// k-lost's did not.
	made, err := api.memAPI.Create(ctx, create("k-made", idr))
	if err != nil {
		t.Fatal(err)
	}
	put("old/k-made", old{"INV-1", clk.Now().Add(-time.Minute)})
	put("old/k-lost", old{"INV-2", clk.Now().Add(-time.Minute)})
	put("handled/"+made.ID+"/PAID", true)

	gw := serveClocked(t, api, host, clk, func(s *gateway.Spec[settings]) {
		s.CreateLease = 3 * time.Minute
		s.Legacy = gateway.Legacy{
			Unfinished: func(ctx context.Context, store sdk.Host, req *payment.CreatePaymentRequest) (time.Time, error) {
				raw, found, err := store.StoreGet(ctx, "old/"+req.IdempotencyKey)
				if err != nil || !found {
					return time.Time{}, err
				}
				var o old
				return o.Started, json.Unmarshal(raw, &o)
			},
			Handled: func(ctx context.Context, store sdk.Host, n *gateway.Notification) (bool, error) {
				_, found, err := store.StoreGet(ctx, "handled/"+n.PaymentID+"/"+n.GatewayStatus)
				return found, err
			},
		}
	})

	if resp, err := gw.CreatePayment(ctx, create("k-made", idr)); err != nil || resp.Payment.ID != made.ID || api.creates != 1 {
		t.Fatalf("the key of an unfinished create the gateway made: %+v, %v (%d creates); want %s, adopted", resp, err, api.creates, made.ID)
	}
	lost := create("k-lost", idr)
	lost.OrderID = "INV-2"
	if _, err := gw.CreatePayment(ctx, lost); !errors.Is(err, sdk.ErrConflict) || api.creates != 1 {
		t.Fatalf("the key of an unfinished create within its lease: %v (%d creates); want sdk.ErrConflict", err, api.creates)
	}
	clk.Advance(3 * time.Minute)
	if resp, err := gw.CreatePayment(ctx, lost); err != nil || api.creates != 2 || resp.Payment.OrderID != "INV-2" {
		t.Fatalf("after the lease: %+v, %v (%d creates); want a new payment", resp, err, api.creates)
	}

	api.setStatus(made.ID, payment.StatusPaid)
	n := gateway.Notification{PaymentID: made.ID, OrderID: "INV-1", Status: payment.StatusPaid, GatewayStatus: "PAID", Amount: idr}
	wr, err := gw.HandleWebhook(ctx, note(n, "token-0123456789"))
	if err != nil || wr.Event == nil || !wr.Event.Duplicate {
		t.Fatalf("a notification the earlier version handled: %+v, %v; want a duplicate", wr, err)
	}
	n.GatewayStatus = "SETTLED"
	wr, err = gw.HandleWebhook(ctx, note(n, "token-0123456789"))
	if err != nil || wr.Event == nil || wr.Event.Duplicate || !wr.Event.Confirmed {
		t.Fatalf("a notification it did not handle: %+v, %v; want a confirmed event", wr, err)
	}
}
