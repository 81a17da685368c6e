package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// paidAt records a paid payment for a new invoice and credits the invoice
// at the store's clock set to at, as the billing flow does.
func paidAt(t *testing.T, s *store.Store, at time.Time, cust, plan int64, gateway string, amount int64, currency string, credit bool) {
	t.Helper()
	ctx := context.Background()
	s.Now = func() time.Time { return at }
	inv := &store.Invoice{CustomerID: cust, PlanID: plan, Amount: amount, Currency: currency}
	err := s.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.Q().CreateInvoice(ctx, inv); err != nil {
			return err
		}
		p := &store.Payment{InvoiceID: inv.ID, Gateway: gateway, ExternalID: inv.Number, Amount: amount, Currency: currency, Status: store.PaymentPaid}
		if err := tx.Q().RecordPayment(ctx, p); err != nil {
			return err
		}
		if !credit {
			return nil
		}
		_, err := tx.Q().CreditInvoice(ctx, inv.ID, p.ID, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPaymentsByDay: credited payments summed per day, gateway and currency
// (IDR never added to USD); payments before the window, after it, not
// credited, and credits without a payment (vouchers) are left out.
func TestPaymentsByDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		loc := mkLocation(t, q, "main")
		cust := mkCustomer(t, q, testCipher(t), loc.ID, "Budi", "budi")
		plan := mkPlan(t, q, "Day")
		wib := time.FixedZone("WIB", 7*3600)
		from := time.Date(2026, 11, 1, 0, 0, 0, 0, wib)

		paidAt(t, s, from.Add(-time.Millisecond), cust.ID, plan.ID, "payment-manual", 1, "IDR", true) // the day before
		paidAt(t, s, from, cust.ID, plan.ID, "payment-manual", 10000, "IDR", true)
		paidAt(t, s, from.Add(23*time.Hour), cust.ID, plan.ID, "payment-manual", 5000, "IDR", true)
		paidAt(t, s, from.Add(5*time.Hour), cust.ID, plan.ID, "payment-manual", 250, "USD", true)
		paidAt(t, s, from.Add(6*time.Hour), cust.ID, plan.ID, "payment-midtrans", 20000, "IDR", true)
		paidAt(t, s, from.Add(6*time.Hour), cust.ID, plan.ID, "payment-midtrans", 7, "IDR", false) // not credited
		paidAt(t, s, from.Add(2*24*time.Hour+time.Hour), cust.ID, plan.ID, "payment-midtrans", 30000, "IDR", true)
		paidAt(t, s, from.Add(3*24*time.Hour), cust.ID, plan.ID, "payment-midtrans", 99, "IDR", true) // after the window
		// A voucher's credit has no payment.
		s.Now = func() time.Time { return from.Add(time.Hour) }
		inv := &store.Invoice{CustomerID: cust.ID, PlanID: plan.ID, Amount: 3, Currency: "IDR"}
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			if err := tx.Q().CreateInvoice(ctx, inv); err != nil {
				return err
			}
			_, err := tx.Q().CreditInvoice(ctx, inv.ID, 0, 0)
			return err
		}); err != nil {
			t.Fatal(err)
		}

		got, err := q.PaymentsByDay(ctx, from, 3)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.PaymentDay{
			{Day: 0, Gateway: "payment-manual", Currency: "IDR", Count: 2, Amount: 15000},
			{Day: 0, Gateway: "payment-manual", Currency: "USD", Count: 1, Amount: 250},
			{Day: 0, Gateway: "payment-midtrans", Currency: "IDR", Count: 1, Amount: 20000},
			{Day: 2, Gateway: "payment-midtrans", Currency: "IDR", Count: 1, Amount: 30000},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PaymentsByDay (-want +got):\n%s", diff)
		}
		if got, err := q.PaymentsByDay(ctx, from.AddDate(1, 0, 0), 30); err != nil || len(got) != 0 {
			t.Errorf("PaymentsByDay of a window without payments = %v, %v; want none", got, err)
		}
		if _, err := q.PaymentsByDay(ctx, from, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PaymentsByDay of 0 days: %v; want ErrInvalid", err)
		}
	})
}

// TestSubscriberCountsAt: customers with an active subscription (once
// each), and the active subscriptions expiring within the window.
func TestSubscriberCountsAt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		loc := mkLocation(t, q, "main")
		plan := mkPlan(t, q, "Month")
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		week := 7 * 24 * time.Hour
		add := func(username, status string, expires time.Time) *store.Customer {
			t.Helper()
			c := mkCustomer(t, q, testCipher(t), loc.ID, username, username)
			sub := &store.Subscription{CustomerID: c.ID, PlanID: plan.ID, Status: status, StartsAt: now.Add(-week), ExpiresAt: expires}
			if err := q.CreateSubscription(ctx, sub); err != nil {
				t.Fatal(err)
			}
			return c
		}
		ani := add("ani", store.SubscriptionActive, now.Add(time.Hour))       // expiring
		add("budi", store.SubscriptionActive, now.Add(week-time.Millisecond)) // expiring, the window's last moment
		add("cici", store.SubscriptionActive, now.Add(week))                  // active, expires after the window
		add("dedi", store.SubscriptionActive, now.Add(-time.Hour))            // active, overdue: not expiring
		add("eko", store.SubscriptionIsolated, now.Add(time.Hour))            // not active
		add("fani", store.SubscriptionExpired, now.Add(time.Hour))            // not active
		// A customer with two active subscriptions is one subscriber.
		second := &store.Subscription{CustomerID: ani.ID, PlanID: plan.ID, Status: store.SubscriptionActive, StartsAt: now, ExpiresAt: now.Add(2 * week)}
		if err := q.CreateSubscription(ctx, second); err != nil {
			t.Fatal(err)
		}

		got, err := q.SubscriberCountsAt(ctx, now, week)
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.SubscriberCounts{Active: 4, Expiring: 2}); got != want {
			t.Errorf("SubscriberCountsAt = %+v; want %+v", got, want)
		}
	})
}
