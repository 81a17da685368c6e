package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestUpgradeHonoursRecordsOfTheVersionBefore: an operator upgrades a running
// installation from the version before the port onto package gateway. The
// records that version wrote into the durable store, written here byte for
// byte as it wrote them, still count: a repeated idempotency key returns the
// same payment (no second Snap transaction), a key is still bound to its
// order and amount, and a notification handled before the upgrade is a
// duplicate when Midtrans resends it after.
func TestUpgradeHonoursRecordsOfTheVersionBefore(t *testing.T) {
	fake, host, ctx := newFakeMidtrans(t), sdktest.NewFakeHost(), ctxT(t)
	orderID, key := newOrderID(), "key-before-upgrade"
	// Midtrans has the Snap transaction the version before created; the
	// customer has not picked a method yet (the status API answers 404).
	o := &fakeOrder{OrderID: orderID, Gross: 150000, Token: uuid(), TxID: uuid(), Created: time.Now()}
	fake.mu.Lock()
	fake.orders[orderID] = o
	fake.mu.Unlock()
	checkout := fake.srv.URL + "/snap/v4/redirection/" + o.Token
	put := func(k, v string) {
		t.Helper()
		if _, err := host.StoreSet(ctx, k, []byte(v), sdk.StoreSetOptions{TTL: 30 * 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Now().UTC().Truncate(time.Second)
	put("order/"+orderID, fmt.Sprintf(`{"order_id":%q,"amount":150000,"currency":"IDR","token":%q,"redirect_url":%q,"created_at":%q,"expires_at":%q}`,
		orderID, o.Token, checkout, created.Format(time.RFC3339), created.Add(24*time.Hour).Format(time.RFC3339)))
	sum := sha256.Sum256([]byte(key))
	put("idempotency/"+hex.EncodeToString(sum[:]), orderID)

	e := serveAgainst(t, fake, host)
	req := func(orderID string, amount int64) *payment.CreatePaymentRequest {
		r := createReq(orderID)
		r.IdempotencyKey, r.Amount.Amount = key, amount
		return r
	}
	t.Run("the key for another order is refused", func(t *testing.T) {
		if _, err := e.pay.CreatePayment(ctx, req(newOrderID(), 150000)); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("err = %v, want ErrInvalidArgument: the key was used for order %s", err, orderID)
		}
	})
	t.Run("the key for another amount is refused", func(t *testing.T) {
		if _, err := e.pay.CreatePayment(ctx, req(orderID, 99000)); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("err = %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("the key again returns the same payment", func(t *testing.T) {
		for range 2 {
			resp, err := e.pay.CreatePayment(ctx, req(orderID, 150000))
			if err != nil {
				t.Fatal(err)
			}
			if p := resp.Payment; p.ID != orderID || p.Token != o.Token || p.CheckoutURL != checkout || p.Status != payment.StatusPending {
				t.Errorf("payment = %+v; want order %s's, token %s, pending", p, orderID, o.Token)
			}
		}
		if n := fake.snapRequestCount(); n != 0 {
			t.Errorf("Midtrans got %d Snap requests; the payment existed before the upgrade", n)
		}
	})
	t.Run("a notification handled before is a duplicate", func(t *testing.T) {
		fake.setStatus(orderID, "settlement", "accept")
		put("notification/"+o.TxID+"/settlement/200", orderID)
		calls := fake.statusCallCount()
		resp, err := e.webhook(fake.paidNotification(orderID))
		if err != nil || resp.Event == nil || !resp.Event.Duplicate || resp.Event.OrderID != orderID || resp.Event.EventID != o.TxID+"/settlement/200" {
			t.Fatalf("HandleWebhook = %+v, %v; want the event marked Duplicate", resp, err)
		}
		if n := fake.statusCallCount() - calls; n != 0 {
			t.Errorf("the repeat asked the status API %d times", n)
		}
	})
	t.Run("a notification id recorded before for another order is a replay", func(t *testing.T) {
		txID := uuid()
		put("notification/"+txID+"/settlement/200", "INV-another-order")
		_, err := e.webhook(fake.notification(orderID, txID, "settlement", "accept", "150000.00", fake.serverKey))
		if !errors.Is(err, payment.ErrReplay) {
			t.Errorf("err = %v, want ErrReplay", err)
		}
	})
}
