package billing_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// TestPaymentForACancelledInvoiceIsKeptNotApplied: money that arrives for
// a cancelled invoice is recorded as paid and audited, but does not credit
// the invoice or start a subscription; the invoice cannot be paid again.
func TestPaymentForACancelledInvoiceIsKeptNotApplied(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, payID := e.invoiceAndPayment()
		if err := e.svc.CancelInvoice(ctx, inv.ID, "user:test"); err != nil {
			t.Fatal(err)
		}
		res, err := e.webhook(payID, "paid")
		if err != nil || res.Credited {
			t.Fatalf("paid webhook for a cancelled invoice: %+v, %v; want no credit and no error (the gateway must not retry)", res, err)
		}
		got, _ := st.Q().GetInvoice(ctx, inv.ID)
		if got.Status != store.InvoiceCancelled {
			t.Errorf("invoice %s, want cancelled", got.Status)
		}
		if n, _ := st.Q().InvoiceCredits(ctx, inv.ID); n != 0 {
			t.Errorf("credits: %d, want 0", n)
		}
		pays, _ := st.Q().ListPayments(ctx, inv.ID)
		if len(pays) != 1 || pays[0].Status != store.PaymentPaid {
			t.Errorf("payments %+v; want the one payment, recorded paid", pays)
		}
		subs, _, _ := st.Q().ListSubscriptions(ctx, store.SubscriptionFilter{CustomerID: e.cust.ID}, store.Page{Limit: 10})
		if len(subs) != 0 {
			t.Errorf("subscriptions %+v; want none", subs)
		}
		e.waitJobs("audit", "provision")
		entries, _, _ := st.Q().ListAudit(ctx, store.Page{Limit: 100})
		var unapplied int
		for _, a := range entries {
			if a.Action == "payment.unapplied" && a.ResourceID == inv.Number && a.Outcome == "failure" && a.Metadata["payment_id"] == payID {
				unapplied++
			}
			if a.Action == "invoice.paid" {
				t.Errorf("audit has invoice.paid: %+v", a)
			}
		}
		if unapplied != 1 {
			t.Errorf("payment.unapplied audit entries: %d, want 1", unapplied)
		}
		if _, err := e.svc.StartPayment(ctx, inv.ID, "payment-fake", "", "user:test"); !errors.Is(err, billing.ErrNotPayable) {
			t.Errorf("paying a cancelled invoice: %v", err)
		}
	})
}

// TestNewAttemptReopensAFailedInvoice: after a failed payment, a new
// attempt makes the invoice unpaid again, and its payment credits it.
func TestNewAttemptReopensAFailedInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, payID := e.invoiceAndPayment()
		if _, err := e.webhook(payID, "failed"); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.Q().GetInvoice(ctx, inv.ID); got.Status != store.InvoiceFailed {
			t.Fatalf("invoice %s after a failed payment, want failed", got.Status)
		}
		start, err := e.svc.StartPayment(ctx, inv.ID, "payment-fake", "", "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if start.Invoice.Status != store.InvoiceUnpaid {
			t.Errorf("StartPayment answered the invoice %s, want unpaid", start.Invoice.Status)
		}
		if got, _ := st.Q().GetInvoice(ctx, inv.ID); got.Status != store.InvoiceUnpaid {
			t.Errorf("invoice %s after a new attempt, want unpaid", got.Status)
		}
	})
}

// TestPayPage: the pay link's digest is checked; the page shows the
// pending payment as the gateway reports it, and the paid state after.
func TestPayPage(t *testing.T) {
	e := setup(t, storetest.SQLite(t))
	ctx := context.Background()
	inv, payID := e.invoiceAndPayment()
	link, err := url.Parse(e.svc.PayLink(inv.Number))
	if err != nil || !strings.HasPrefix(link.String(), "https://billing.example.net/pay/"+inv.Number+"?k=") {
		t.Fatalf("PayLink = %v, %v", link, err)
	}
	k := link.Query().Get("k")
	for _, bad := range []string{"", "x", strings.ToUpper(k), k + "A"} {
		if _, err := e.svc.PayPage(ctx, inv.Number, bad); !errors.Is(err, billing.ErrBadPayLink) {
			t.Errorf("PayPage with k=%q: %v, want ErrBadPayLink", bad, err)
		}
	}
	if _, err := e.svc.PayPage(ctx, "INV-0000-000999", k); !errors.Is(err, billing.ErrBadPayLink) {
		t.Errorf("another invoice's number with this digest: %v, want ErrBadPayLink", err)
	}
	v, err := e.svc.PayPage(ctx, inv.Number, k)
	if err != nil {
		t.Fatal(err)
	}
	if v.Payment == nil || v.Payment.ID != payID || v.Payment.Status != payment.StatusPending || v.Payment.CheckoutURL == "" || v.Plan != "Home 10M" || v.Invoice.Amount != 150000 || v.Invoice.Currency != "IDR" {
		t.Errorf("pay view before payment: %+v (payment %+v)", v, v.Payment)
	}
	if _, err := e.webhook(payID, "paid"); err != nil {
		t.Fatal(err)
	}
	v, err = e.svc.PayPage(ctx, inv.Number, k)
	if err != nil || v.Invoice.Status != store.InvoicePaid || v.Payment != nil {
		t.Errorf("pay view after payment: %+v, %v", v, err)
	}
}
