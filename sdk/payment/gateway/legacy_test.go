package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// An earlier version recorded "old-idem/<key>" = "<order> <payment id>"
// and replay records under "event/": the ported gateway honours both.
func TestLegacyRecords(t *testing.T) {
	ctx := context.Background()
	m := &memAPI{payments: map[string]*payment.Payment{
		"pay_old": {ID: "pay_old", OrderID: "INV-1", Amount: idr, Status: payment.StatusPending},
		"pay_two": {ID: "pay_two", OrderID: "INV-2", Amount: idr, Status: payment.StatusPaid},
	}}
	host := sdktest.NewFakeHost()
	for k, v := range map[string]string{"old-idem/k-old": "INV-1 pay_old", "event/evt-old": "pay_old"} {
		if _, err := host.StoreSet(ctx, k, []byte(v), sdk.StoreSetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	g := gateway.New(gateway.Spec[settings]{
		Name: "payment-mem", Version: "0.1.0",
		Environments: map[string]string{"sandbox": "https://sandbox.mem.example"},
		Defaults:     settings{Connection: gateway.Connection{Environment: "sandbox"}},
		New:          func(settings, *gateway.Env) (gateway.API, error) { return m, nil },
		Legacy: gateway.Legacy{
			ReplayPrefix: "event/",
			Payment: func(ctx context.Context, store sdk.Host, req *payment.CreatePaymentRequest) (string, error) {
				raw, found, err := store.StoreGet(ctx, "old-idem/"+req.IdempotencyKey)
				if err != nil || !found {
					return "", err
				}
				order, id, _ := strings.Cut(string(raw), " ")
				if order != req.OrderID {
					return "", fmt.Errorf("%w: key %s was used for order %s", sdk.ErrInvalidArgument, req.IdempotencyKey, order)
				}
				return id, nil
			},
		},
	})
	h := sdktest.Serve(t, g, sdktest.WithHost(host))
	gw := h.Payment()
	if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
		t.Fatal(err)
	}

	resp, err := gw.CreatePayment(ctx, create("k-old", idr))
	if err != nil || resp.Payment.ID != "pay_old" {
		t.Fatalf("CreatePayment with a key recorded before the upgrade = %+v, %v; want pay_old", resp, err)
	}
	other := create("k-old", idr)
	other.OrderID = "INV-9"
	if _, err := gw.CreatePayment(ctx, other); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "INV-1") {
		t.Errorf("CreatePayment with the key for another order = %v; want sdk.ErrInvalidArgument naming INV-1", err)
	}
	otherAmount := create("k-old", payment.Money{Amount: 1, Currency: "IDR"})
	if _, err := gw.CreatePayment(ctx, otherAmount); !errors.Is(err, payment.ErrAmountMismatch) {
		t.Errorf("CreatePayment with the key for another amount = %v; want payment.ErrAmountMismatch", err)
	}
	if m.creates != 0 {
		t.Errorf("the API made %d payments; want none", m.creates)
	}
	if resp, err := gw.CreatePayment(ctx, create("k-new", idr)); err != nil || resp.Payment.ID == "pay_old" || m.creates != 1 {
		t.Errorf("CreatePayment with a new key = %+v, %v (%d creates); want a new payment", resp, err, m.creates)
	}

	m.setStatus("pay_old", payment.StatusPaid)
	wr, err := gw.HandleWebhook(ctx, note(gateway.Notification{ID: "evt-old", PaymentID: "pay_old", OrderID: "INV-1", Status: payment.StatusPaid}, "token-0123456789"))
	if err != nil || wr.Event == nil || !wr.Event.Duplicate {
		t.Errorf("a notification handled before the upgrade = %+v, %v; want a duplicate", wr, err)
	}
	_, err = gw.HandleWebhook(ctx, note(gateway.Notification{ID: "evt-old", PaymentID: "pay_two", OrderID: "INV-2", Status: payment.StatusPaid}, "token-0123456789"))
	if !errors.Is(err, payment.ErrReplay) {
		t.Errorf("its id for another payment = %v; want payment.ErrReplay", err)
	}
	wr, err = gw.HandleWebhook(ctx, note(gateway.Notification{ID: "evt-new", PaymentID: "pay_two", OrderID: "INV-2", Status: payment.StatusPaid}, "token-0123456789"))
	if err != nil || wr.Event == nil || wr.Event.Duplicate || !wr.Event.Confirmed {
		t.Errorf("a new notification = %+v, %v; want it confirmed, not a duplicate", wr, err)
	}
}
