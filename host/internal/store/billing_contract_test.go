package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// seedCustomer makes a location, a plan and a customer with plain SQL (the
// catalog repositories are tested on their own).
func seedCustomer(t *testing.T, s *store.Store) (customerID, planID int64) {
	t.Helper()
	ctx := context.Background()
	db := s.Q().DB()
	var loc int64
	if err := db.QueryRow(ctx, "INSERT INTO router_locations (name, created_at, updated_at) VALUES (?, 1, 1) RETURNING id", "main").Scan(&loc); err != nil {
		t.Fatal(err)
	}
	p := &store.Plan{Name: "Basic", Kind: store.PlanHotspot, Validity: 24 * time.Hour, Price: 10000, Currency: "IDR", Active: true}
	if err := s.Q().CreatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, "INSERT INTO customers (name, router_username, router_password_enc, location_id, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 1) RETURNING id",
		"Ani", "ani", "x", loc).Scan(&customerID); err != nil {
		t.Fatal(err)
	}
	return customerID, p.ID
}

func newInvoice(t *testing.T, s *store.Store, cust, plan int64) *store.Invoice {
	t.Helper()
	inv := &store.Invoice{CustomerID: cust, PlanID: plan, Amount: 10000, Currency: "IDR"}
	if err := s.Tx(context.Background(), func(tx *store.Tx) error { return tx.Q().CreateInvoice(context.Background(), inv) }); err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestInvoicesAndCredits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.Now = func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) }
		cust, plan := seedCustomer(t, s)
		a, b := newInvoice(t, s, cust, plan), newInvoice(t, s, cust, plan)
		if a.Number != "INV-2026-000001" || b.Number != "INV-2026-000002" || a.Status != store.InvoiceUnpaid {
			t.Errorf("numbers %s, %s, status %s", a.Number, b.Number, a.Status)
		}
		got, err := s.Q().GetInvoiceByNumber(ctx, b.Number)
		if err != nil || got.ID != b.ID {
			t.Fatalf("GetInvoiceByNumber = %+v, %v", got, err)
		}
		if err := s.Q().SetInvoicePayment(ctx, a.ID, "payment-manual", "https://pay.example/x"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Q().SetInvoiceStatus(ctx, a.ID, store.InvoiceExpired); !ok || err != nil {
			t.Fatalf("expire an unpaid invoice: %v %v", ok, err)
		}

		// Twenty transactions race to credit one invoice: exactly one wins.
		var wins atomic.Int64
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Tx(ctx, func(tx *store.Tx) error {
					ok, err := tx.Q().CreditInvoice(ctx, a.ID, 0, 0)
					if ok {
						wins.Add(1)
					}
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d credits won, want exactly 1", wins.Load())
		}
		if n, _ := s.Q().InvoiceCredits(ctx, a.ID); n != 1 {
			t.Errorf("%d credit rows", n)
		}
		got, _ = s.Q().GetInvoice(ctx, a.ID)
		if got.Status != store.InvoicePaid || got.PaidAt.IsZero() {
			t.Errorf("credited invoice: status %s paid_at %v (a credit also revives an expired invoice)", got.Status, got.PaidAt)
		}
		// An invoice that is not paid but has a credit (which nothing in
		// mikrobill leaves: a hand-edited database) is refused as a
		// conflict, and the transaction changes nothing.
		db, closeDB, err := s.SQLDB()
		if err != nil {
			t.Fatal(err)
		}
		defer closeDB()
		if _, err := db.ExecContext(ctx, "INSERT INTO invoice_credits (invoice_id, credited_at) VALUES ($1, $2)", b.ID, 1); err != nil {
			t.Fatal(err)
		}
		err = s.Tx(ctx, func(tx *store.Tx) error {
			ok, err := tx.Q().CreditInvoice(ctx, b.ID, 0, 0)
			if ok {
				t.Error("an invoice with a credit already was credited again")
			}
			return err
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("crediting an unpaid invoice that has a credit: %v, want ErrConflict", err)
		}
		if got, _ := s.Q().GetInvoice(ctx, b.ID); got.Status != store.InvoiceUnpaid {
			t.Errorf("after the refused credit the invoice is %s, want unpaid", got.Status)
		}
		// A paid invoice never changes status again.
		if ok, err := s.Q().SetInvoiceStatus(ctx, a.ID, store.InvoiceCancelled); ok || err != nil {
			t.Errorf("cancelling a paid invoice: %v %v", ok, err)
		}
		if err := s.Q().SetInvoicePayment(ctx, a.ID, "x", "y"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("SetInvoicePayment on a paid invoice: %v", err)
		}
		list, total, err := s.Q().ListInvoices(ctx, store.InvoiceFilter{Status: store.InvoicePaid}, store.Page{})
		if err != nil || total != 1 || len(list) != 1 || list[0].ID != a.ID {
			t.Errorf("ListInvoices(paid) = %v %d %v", list, total, err)
		}
	})
}

func TestPaymentsNeverGoBackFromPaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cust, plan := seedCustomer(t, s)
		inv := newInvoice(t, s, cust, plan)
		p := &store.Payment{InvoiceID: inv.ID, Gateway: "gw", ExternalID: "ext-1", Amount: 10000, Currency: "IDR", Status: store.PaymentPending, RawEvent: "{}"}
		if err := s.Q().RecordPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
		first := p.ID
		for _, step := range []struct{ in, want string }{
			{store.PaymentPaid, store.PaymentPaid},
			{store.PaymentPending, store.PaymentPaid},
			{store.PaymentExpired, store.PaymentPaid},
			{store.PaymentRefunded, store.PaymentRefunded},
		} {
			p := &store.Payment{InvoiceID: inv.ID, Gateway: "gw", ExternalID: "ext-1", Amount: 10000, Currency: "IDR", Status: step.in, RawEvent: `{"s":"` + step.in + `"}`}
			if err := s.Q().RecordPayment(ctx, p); err != nil {
				t.Fatal(err)
			}
			if p.ID != first || p.Status != step.want {
				t.Errorf("after %s: id %d status %s, want id %d status %s", step.in, p.ID, p.Status, first, step.want)
			}
		}
		got, err := s.Q().GetPaymentByExternalID(ctx, "gw", "ext-1")
		if err != nil || got.RawEvent != `{"s":"refunded"}` {
			t.Errorf("GetPaymentByExternalID = %+v %v", got, err)
		}
		if list, err := s.Q().ListPayments(ctx, inv.ID); err != nil || len(list) != 1 {
			t.Errorf("ListPayments = %v %v", list, err)
		}
	})
}

func TestAuditLogKeepsEachEventOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := &store.AuditEntry{EventID: "ev-1", OccurredAt: time.Now(), Actor: "system", Action: "invoice.paid", ResourceType: "invoice", ResourceID: "1", Metadata: map[string]string{"gateway": "gw"}}
		if ok, err := s.Q().AppendAudit(ctx, e); !ok || err != nil {
			t.Fatalf("first append: %v %v", ok, err)
		}
		if ok, err := s.Q().AppendAudit(ctx, e); ok || err != nil {
			t.Errorf("second append: %v %v, want false", ok, err)
		}
		list, total, err := s.Q().ListAudit(ctx, store.Page{})
		if err != nil || total != 1 || list[0].Metadata["gateway"] != "gw" {
			t.Errorf("ListAudit = %+v %d %v", list, total, err)
		}
	})
}

// TestPaymentKeepsNotificationsApart (issue point 13): raw_event holds
// notifications, create_response the create call's answer; recording one
// never blanks the other.
func TestPaymentKeepsNotificationsApart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cust, plan := seedCustomer(t, s)
		inv := newInvoice(t, s, cust, plan)
		rec := func(p store.Payment) *store.Payment {
			t.Helper()
			p.InvoiceID, p.Gateway, p.ExternalID, p.Amount, p.Currency = inv.ID, "gw", "ext-1", 10000, "IDR"
			if err := s.Q().RecordPayment(ctx, &p); err != nil {
				t.Fatal(err)
			}
			got, err := s.Q().GetPaymentByExternalID(ctx, "gw", "ext-1")
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := rec(store.Payment{Status: store.PaymentPending, CreateResponse: `{"token":"t"}`}); got.RawEvent != "" || got.CreateResponse != `{"token":"t"}` {
			t.Errorf("created: raw_event %q create_response %q", got.RawEvent, got.CreateResponse)
		}
		if got := rec(store.Payment{Status: store.PaymentPending, RawEvent: `{"n":1}`}); got.RawEvent != `{"n":1}` || got.CreateResponse != `{"token":"t"}` {
			t.Errorf("notified: raw_event %q create_response %q", got.RawEvent, got.CreateResponse)
		}
		if got := rec(store.Payment{Status: store.PaymentPending, CreateResponse: `{"token":"t"}`}); got.RawEvent != `{"n":1}` {
			t.Errorf("a retried create blanked the notification: raw_event %q", got.RawEvent)
		}
		if got := rec(store.Payment{Status: store.PaymentPaid}); got.RawEvent != `{"n":1}` || got.Status != store.PaymentPaid {
			t.Errorf("paid by status query: status %s raw_event %q", got.Status, got.RawEvent)
		}
	})
}

// TestPaymentSettled: a repeat of a notification has nothing left to do
// only when the payment is recorded in that status and, when paid, its
// invoice is credited (or cancelled).
func TestPaymentSettled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cust, plan := seedCustomer(t, s)
		inv := newInvoice(t, s, cust, plan)
		settled := func(ext, status string) bool {
			t.Helper()
			ok, err := s.Q().PaymentSettled(ctx, "gw", ext, status)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if settled("nope", store.PaymentPaid) {
			t.Error("an unknown payment is settled")
		}
		p := &store.Payment{InvoiceID: inv.ID, Gateway: "gw", ExternalID: "ext-1", Amount: 10000, Currency: "IDR", Status: store.PaymentPaid}
		if err := s.Q().RecordPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
		if settled("ext-1", store.PaymentPaid) {
			t.Error("a paid payment whose invoice has no credit is settled")
		}
		if ok, err := s.Q().CreditInvoice(ctx, inv.ID, p.ID, 0); !ok || err != nil {
			t.Fatalf("CreditInvoice: %v %v", ok, err)
		}
		if !settled("ext-1", store.PaymentPaid) {
			t.Error("a paid payment whose invoice is credited is not settled")
		}
		if settled("ext-1", store.PaymentFailed) {
			t.Error("a paid payment is settled as failed")
		}

		inv2 := newInvoice(t, s, cust, plan)
		p2 := &store.Payment{InvoiceID: inv2.ID, Gateway: "gw", ExternalID: "ext-2", Amount: 10000, Currency: "IDR", Status: store.PaymentFailed}
		if err := s.Q().RecordPayment(ctx, p2); err != nil {
			t.Fatal(err)
		}
		if !settled("ext-2", store.PaymentFailed) {
			t.Error("a failed payment is not settled as failed")
		}
		p2.Status = store.PaymentPaid
		if err := s.Q().RecordPayment(ctx, p2); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Q().SetInvoiceStatus(ctx, inv2.ID, store.InvoiceCancelled); !ok || err != nil {
			t.Fatalf("cancel: %v %v", ok, err)
		}
		if !settled("ext-2", store.PaymentPaid) {
			t.Error("money recorded for a cancelled invoice is not settled")
		}
	})
}
