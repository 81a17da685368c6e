package billing_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// markPaidAtGateway makes the fake gateway report a payment paid, as if
// the customer paid and the webhook was lost.
func (e *env) markPaidAtGateway(id string) {
	e.gw.mu.Lock()
	defer e.gw.mu.Unlock()
	e.gw.payments[id].Status = payment.StatusPaid
}

func (e *env) waitInvoice(id int64, status string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		inv, err := e.st.Q().GetInvoice(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if inv.Status == status {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("invoice %s is %s after 20s, want %s", inv.Number, inv.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPaymentConfirmedEventCredits: a payment plugin's payment.confirmed
// event (payment-manual's confirm route) credits the invoice through a
// confirm_payment job, once however often it comes; events from other
// plugins or without a payment id are refused.
func TestPaymentConfirmedEventCredits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, payID := e.invoiceAndPayment()
		data, _ := json.Marshal(map[string]string{"payment_id": payID})
		ev := sdk.Event{Type: billing.EventPaymentConfirmed, Source: "payment-fake", Data: data}

		// Not paid at the gateway: the job asks and changes nothing.
		if err := e.svc.HandleEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("confirm_payment")
		if got, _ := st.Q().GetInvoice(ctx, inv.ID); got.Status != store.InvoiceUnpaid {
			t.Fatalf("invoice %s after a confirmation the gateway does not back, want unpaid", got.Status)
		}

		e.markPaidAtGateway(payID)
		for range 3 {
			if err := e.svc.HandleEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		e.waitInvoice(inv.ID, store.InvoicePaid)
		e.waitJobs("confirm_payment", "provision")
		if n, _ := st.Q().InvoiceCredits(ctx, inv.ID); n != 1 {
			t.Errorf("credits %d, want 1", n)
		}

		for _, bad := range []sdk.Event{
			{Type: billing.EventPaymentConfirmed, Source: "whatsapp", Data: data},
			{Type: billing.EventPaymentConfirmed, Source: "payment-fake", Data: []byte(`{}`)},
		} {
			if err := e.svc.HandleEvent(ctx, bad); err == nil {
				t.Errorf("HandleEvent(%s from %s, %s) = nil, want an error", bad.Type, bad.Source, bad.Data)
			}
		}
		if err := e.svc.HandleEvent(ctx, sdk.Event{Type: "invoice.viewed", Source: "whatsapp"}); err != nil {
			t.Errorf("an event billing does not take: %v", err)
		}
	})
}

// TestReconcileFindsLostWebhooks: a payment paid at the gateway whose
// webhook never came is found by the reconciliation scan and credited.
func TestReconcileFindsLostWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st, func(c *billing.Config) { c.ReconcileAfter = time.Millisecond })
		ctx := context.Background()
		paid, paidID := e.invoiceAndPayment()
		e.markPaidAtGateway(paidID)
		inv2, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 24*time.Hour, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.StartPayment(ctx, inv2.ID, "payment-fake", "", "user:test"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if _, err := e.q.Insert(ctx, billing.ReconcileScanArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		e.waitInvoice(paid.ID, store.InvoicePaid)
		e.waitJobs("reconcile_scan", "confirm_payment")
		if got, _ := st.Q().GetInvoice(ctx, inv2.ID); got.Status != store.InvoiceUnpaid {
			t.Errorf("the invoice whose payment is still pending is %s, want unpaid", got.Status)
		}
	})
}
