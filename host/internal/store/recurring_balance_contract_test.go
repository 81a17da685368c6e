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

// TestBalanceLedger: entries add up to the cached balance, which never
// goes below zero; an invoice is paid from the ledger once; the ledger
// pages by keyset.
func TestBalanceLedger(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cust, plan := seedCustomer(t, s)
		add := func(e store.BalanceEntry) error {
			return s.Tx(ctx, func(tx *store.Tx) error { return tx.Q().AddBalanceEntry(ctx, &e) })
		}
		for _, amount := range []int64{5000, 7000, -2000} {
			kind := store.BalanceCash
			if amount < 0 {
				kind = store.BalanceAdjustment
			}
			if err := add(store.BalanceEntry{CustomerID: cust, Amount: amount, Currency: "IDR", Kind: kind, Actor: "user:1", Reason: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := add(store.BalanceEntry{CustomerID: cust, Amount: -10001, Currency: "IDR", Kind: store.BalanceAdjustment, Actor: "user:1"}); !errors.Is(err, store.ErrInsufficientBalance) {
			t.Fatalf("overdraft = %v, want ErrInsufficientBalance", err)
		}
		if err := add(store.BalanceEntry{CustomerID: cust, Amount: -1, Currency: "USD", Kind: store.BalanceAdjustment, Actor: "user:1"}); !errors.Is(err, store.ErrInsufficientBalance) {
			t.Fatalf("a debit in a currency never held = %v, want ErrInsufficientBalance", err)
		}
		if err := add(store.BalanceEntry{CustomerID: cust, Amount: 0, Currency: "IDR", Kind: store.BalanceCash, Actor: "user:1"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("zero entry = %v, want ErrInvalid", err)
		}
		inv := newInvoice(t, s, cust, plan)
		pay := store.BalanceEntry{CustomerID: cust, Amount: -100, Currency: "IDR", Kind: store.BalanceInvoicePayment, InvoiceID: inv.ID, Actor: "user:1"}
		if err := add(pay); err != nil {
			t.Fatal(err)
		}
		if err := add(pay); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second payment of one invoice = %v, want ErrConflict", err)
		}
		bal, err := s.Q().BalanceOf(ctx, cust, "IDR")
		if err != nil || bal != 9900 {
			t.Fatalf("balance = %d, %v; want 9900", bal, err)
		}
		sum, err := s.Q().LedgerSum(ctx, cust, "IDR")
		if err != nil || sum != bal {
			t.Fatalf("ledger sum = %d, %v; want the balance %d", sum, err, bal)
		}
		all, err := s.Q().Balances(ctx, cust)
		if err != nil || len(all) != 1 || all[0] != (store.Balance{Currency: "IDR", Amount: 9900}) {
			t.Fatalf("balances = %+v, %v", all, err)
		}
		first, err := s.Q().ListBalanceEntries(ctx, cust, 0, 2)
		if err != nil || len(first) != 2 || first[0].Kind != store.BalanceInvoicePayment || first[0].InvoiceID != inv.ID {
			t.Fatalf("first page = %+v, %v", first, err)
		}
		rest, err := s.Q().ListBalanceEntries(ctx, cust, first[1].ID, 10)
		if err != nil || len(rest) != 2 || rest[1].Amount != 5000 || rest[1].Reason != "test" || rest[1].Actor != "user:1" {
			t.Fatalf("second page = %+v, %v", rest, err)
		}
	})
}

// TestBalanceNeverNegativeUnderConcurrentDebits: 20 debits of 1000 race on
// a balance of 5000; exactly 5 go through.
func TestBalanceNeverNegativeUnderConcurrentDebits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cust, _ := seedCustomer(t, s)
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			return tx.Q().AddBalanceEntry(ctx, &store.BalanceEntry{CustomerID: cust, Amount: 5000, Currency: "IDR", Kind: store.BalanceCash, Actor: "user:1"})
		}); err != nil {
			t.Fatal(err)
		}
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				err := s.Tx(ctx, func(tx *store.Tx) error {
					return tx.Q().AddBalanceEntry(ctx, &store.BalanceEntry{CustomerID: cust, Amount: -1000, Currency: "IDR", Kind: store.BalanceAdjustment, Actor: "user:1"})
				})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrInsufficientBalance):
					refused.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 5 || refused.Load() != 15 {
			t.Fatalf("%d debits went through, %d refused; want 5 and 15", ok.Load(), refused.Load())
		}
		if bal, _ := s.Q().BalanceOf(ctx, cust, "IDR"); bal != 0 {
			t.Fatalf("balance = %d, want 0", bal)
		}
	})
}

// TestTopUpInvoiceHasNoPlan: a top-up invoice is stored without a plan (on
// SQLite too, after migration 00007's edit) and reads back as one; a plan
// invoice must name its plan.
func TestTopUpInvoiceHasNoPlan(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cust, _ := seedCustomer(t, s)
		inv := &store.Invoice{CustomerID: cust, Kind: store.InvoiceTopUp, Amount: 50000, Currency: "IDR"}
		if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.Q().CreateInvoice(ctx, inv) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.Q().GetInvoice(ctx, inv.ID)
		if err != nil || got.Kind != store.InvoiceTopUp || got.PlanID != 0 {
			t.Fatalf("top-up read back as %+v, %v", got, err)
		}
		bad := &store.Invoice{CustomerID: cust, Amount: 1, Currency: "IDR"}
		if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.Q().CreateInvoice(ctx, bad) }); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("plan invoice without a plan = %v, want ErrInvalid", err)
		}
	})
}

// seedSubscription makes an active subscription of plan ending at end.
func seedSubscription(t *testing.T, s *store.Store, cust, plan int64, status string, end time.Time) int64 {
	t.Helper()
	sub := &store.Subscription{CustomerID: cust, PlanID: plan, Status: status, StartsAt: end.AddDate(0, -1, 0), ExpiresAt: end}
	if err := s.Q().CreateSubscription(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	return sub.ID
}

// TestPeriodInvoiceOnce: a postpaid subscription's bill for a period is
// made once, by however many runs at once; the work list drops it then.
func TestPeriodInvoiceOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		s.Now = func() time.Time { return now }
		cust, prepaid := seedCustomer(t, s)
		p := &store.Plan{Name: "Home monthly", Kind: store.PlanPPPoE, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true, BillingType: store.BillingPostpaid}
		if err := s.Q().CreatePlan(ctx, p); err != nil {
			t.Fatal(err)
		}
		end := now.Add(3 * 24 * time.Hour)
		sub := seedSubscription(t, s, cust, p.ID, store.SubscriptionActive, end)
		seedSubscription(t, s, cust, prepaid, store.SubscriptionActive, end) // prepaid: never billed
		seedSubscription(t, s, cust, p.ID, store.SubscriptionActive, now.Add(20*24*time.Hour))

		list, err := s.Q().ListPostpaidToBill(ctx, now.Add(5*24*time.Hour), 0)
		if err != nil || len(list) != 1 || list[0].ID != sub {
			t.Fatalf("to bill = %+v, %v; want subscription %d alone", list, err, sub)
		}
		var made atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				inv := &store.Invoice{CustomerID: cust, PlanID: p.ID, SubscriptionID: sub, Amount: p.Price, Currency: "IDR", PeriodStart: end}
				err := s.Tx(ctx, func(tx *store.Tx) error {
					ok, err := tx.Q().CreatePeriodInvoice(ctx, inv)
					if ok {
						made.Add(1)
					}
					return err
				})
				if err != nil && !store.PeriodBilled(err) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if made.Load() != 1 {
			t.Fatalf("%d bills made, want 1", made.Load())
		}
		invs, _, err := s.Q().ListInvoices(ctx, store.InvoiceFilter{CustomerID: cust}, store.Page{})
		if err != nil || len(invs) != 1 || !invs[0].PeriodStart.Equal(end) {
			t.Fatalf("invoices = %+v, %v", invs, err)
		}
		if list, _ := s.Q().ListPostpaidToBill(ctx, now.Add(5*24*time.Hour), 0); len(list) != 0 {
			t.Fatalf("billed subscription still listed: %+v", list)
		}
	})
}

// TestDueWithGrace: a postpaid subscription is due grace after its end, a
// prepaid one at its end.
func TestDueWithGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		cust, prepaid := seedCustomer(t, s)
		p := &store.Plan{Name: "Home monthly", Kind: store.PlanPPPoE, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true, BillingType: store.BillingPostpaid}
		if err := s.Q().CreatePlan(ctx, p); err != nil {
			t.Fatal(err)
		}
		pre := seedSubscription(t, s, cust, prepaid, store.SubscriptionActive, now.Add(-time.Hour))
		inGrace := seedSubscription(t, s, cust, p.ID, store.SubscriptionActive, now.Add(-2*24*time.Hour))
		past := seedSubscription(t, s, cust, p.ID, store.SubscriptionActive, now.Add(-4*24*time.Hour))
		due, err := s.Q().ListDueSubscriptionsGrace(ctx, now, 3*24*time.Hour, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, d := range due {
			ids = append(ids, d.ID)
		}
		if len(ids) != 2 || ids[0] != past || ids[1] != pre {
			t.Fatalf("due = %v; want %d (postpaid past its grace), %d (prepaid); not %d", ids, past, pre, inGrace)
		}
	})
}

// TestActivateRule: the renewal rule of store.Activate, case by case.
func TestActivateRule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		s.Now = func() time.Time { return now }
		cust, prepaidID := seedCustomer(t, s)
		prepaid, _ := s.Q().GetPlan(ctx, prepaidID)
		post := &store.Plan{Name: "Home monthly", Kind: store.PlanPPPoE, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true, BillingType: store.BillingPostpaid}
		if err := s.Q().CreatePlan(ctx, post); err != nil {
			t.Fatal(err)
		}
		day := 24 * time.Hour
		for _, c := range []struct {
			name   string
			plan   *store.Plan
			status string
			end    time.Time
			want   time.Time
		}{
			{"active prepaid extends from its end", prepaid, store.SubscriptionActive, now.Add(5 * day), now.Add(6 * day)},
			{"expired prepaid restarts now", prepaid, store.SubscriptionExpired, now.Add(-5 * day), now.Add(day)},
			{"isolated prepaid restarts now", prepaid, store.SubscriptionIsolated, now.Add(-time.Hour), now.Add(day)},
			{"active postpaid extends a month from its end", post, store.SubscriptionActive, now.Add(2 * day), now.Add(2*day).AddDate(0, 1, 0)},
			{"isolated postpaid continues from its end", post, store.SubscriptionIsolated, now.Add(-4 * day), now.Add(-4*day).AddDate(0, 1, 0)},
			{"postpaid whose paid period is over restarts now", post, store.SubscriptionExpired, now.AddDate(0, -2, 0), now.AddDate(0, 1, 0)},
		} {
			t.Run(c.name, func(t *testing.T) {
				sub := seedSubscription(t, s, cust, c.plan.ID, c.status, c.end)
				inv := &store.Invoice{CustomerID: cust, PlanID: c.plan.ID, SubscriptionID: sub, Amount: 1, Currency: "IDR"}
				var got time.Time
				err := s.Tx(ctx, func(tx *store.Tx) error {
					if err := tx.Q().CreateInvoice(ctx, inv); err != nil {
						return err
					}
					var err error
					_, got, err = tx.Q().Activate(ctx, inv, c.plan)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(c.want) {
					t.Fatalf("expires %v, want %v", got, c.want)
				}
				after, _ := s.Q().GetSubscription(ctx, sub)
				if after.Status != store.SubscriptionActive || !after.ExpiresAt.Equal(c.want) {
					t.Fatalf("subscription after = %+v", after)
				}
			})
		}
	})
}

// TestActivateStartsAndLinks: an invoice with no subscription starts one,
// now, and is linked to it.
func TestActivateStartsAndLinks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		s.Now = func() time.Time { return now }
		cust, planID := seedCustomer(t, s)
		plan, _ := s.Q().GetPlan(ctx, planID)
		inv := &store.Invoice{CustomerID: cust, PlanID: planID, Amount: 1, Currency: "IDR"}
		var sub int64
		var ends time.Time
		err := s.Tx(ctx, func(tx *store.Tx) error {
			if err := tx.Q().CreateInvoice(ctx, inv); err != nil {
				return err
			}
			var err error
			sub, ends, err = tx.Q().Activate(ctx, inv, plan)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if sub == 0 || inv.SubscriptionID != sub || !ends.Equal(now.Add(plan.Validity)) {
			t.Fatalf("Activate = %d, %v; invoice's subscription %d", sub, ends, inv.SubscriptionID)
		}
		got, err := s.Q().GetInvoice(ctx, inv.ID)
		if err != nil || got.SubscriptionID != sub {
			t.Fatalf("the invoice's subscription as stored = %d (%v), want %d", got.SubscriptionID, err, sub)
		}
		after, err := s.Q().GetSubscription(ctx, sub)
		if err != nil || after.Status != store.SubscriptionActive || after.CustomerID != cust || after.PlanID != planID ||
			!after.StartsAt.Equal(now) || !after.ExpiresAt.Equal(ends) {
			t.Fatalf("the new subscription = %+v, %v", after, err)
		}
	})
}

// TestRenewableSubscription: the same plan's latest subscription that is
// not pending or cancelled, an active one first.
func TestRenewableSubscription(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		cust, plan := seedCustomer(t, s)
		if id, err := s.Q().RenewableSubscription(ctx, cust, plan); err != nil || id != 0 {
			t.Fatalf("none yet = %d, %v", id, err)
		}
		seedSubscription(t, s, cust, plan, store.SubscriptionCancelled, now.Add(time.Hour))
		expired := seedSubscription(t, s, cust, plan, store.SubscriptionExpired, now.Add(-time.Hour))
		if id, _ := s.Q().RenewableSubscription(ctx, cust, plan); id != expired {
			t.Fatalf("renewable = %d, want the expired %d", id, expired)
		}
		active := seedSubscription(t, s, cust, plan, store.SubscriptionActive, now.Add(time.Hour))
		seedSubscription(t, s, cust, plan, store.SubscriptionIsolated, now.Add(-time.Hour))
		if id, _ := s.Q().RenewableSubscription(ctx, cust, plan); id != active {
			t.Fatalf("renewable = %d, want the active %d", id, active)
		}
	})
}
