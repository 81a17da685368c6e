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

// monthBounds returns the starts of n+1 months from the first of month,
// in loc.
func monthBounds(year int, month time.Month, n int, loc *time.Location) []time.Time {
	out := make([]time.Time, n+1)
	for i := range out {
		out[i] = time.Date(year, month+time.Month(i), 1, 0, 0, 0, 0, loc)
	}
	return out
}

// TestIncomeByPeriod: credited payments grouped by month in the host's zone
// (00:30 on the first of November in WIB is November's, though it is still
// October in UTC), by plan,
// gateway and location, currencies kept apart; not credited payments and
// payments outside the periods left out.
func TestIncomeByPeriod(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		wib := time.FixedZone("WIB", 7*3600)
		north, south := mkLocation(t, q, "north"), mkLocation(t, q, "south")
		budi := mkCustomer(t, q, testCipher(t), north.ID, "Budi", "budi")
		sari := mkCustomer(t, q, testCipher(t), south.ID, "Sari", "sari")
		day, month := mkPlan(t, q, "Day"), mkPlan(t, q, "Month")
		bounds := monthBounds(2026, time.October, 2, wib) // October and November in WIB

		// 1 November 00:30 WIB is still 31 October in UTC: November's.
		paidAt(t, s, time.Date(2026, 11, 1, 0, 30, 0, 0, wib), budi.ID, day.ID, "payment-manual", 5000, "IDR", true)
		// 31 October 23:30 WIB: October's.
		paidAt(t, s, time.Date(2026, 10, 31, 23, 30, 0, 0, wib), budi.ID, month.ID, "payment-manual", 150000, "IDR", true)
		paidAt(t, s, time.Date(2026, 10, 5, 12, 0, 0, 0, wib), sari.ID, month.ID, "payment-midtrans", 150000, "IDR", true)
		paidAt(t, s, time.Date(2026, 10, 6, 12, 0, 0, 0, wib), sari.ID, month.ID, "payment-stripe", 999, "USD", true)
		paidAt(t, s, time.Date(2026, 11, 20, 12, 0, 0, 0, wib), sari.ID, day.ID, "payment-midtrans", 5000, "IDR", true)
		paidAt(t, s, time.Date(2026, 11, 21, 12, 0, 0, 0, wib), sari.ID, day.ID, "payment-midtrans", 7, "IDR", false) // not credited
		paidAt(t, s, time.Date(2026, 9, 30, 23, 59, 0, 0, wib), sari.ID, day.ID, "payment-midtrans", 1, "IDR", true)  // September
		paidAt(t, s, time.Date(2026, 12, 1, 0, 0, 0, 0, wib), sari.ID, day.ID, "payment-midtrans", 2, "IDR", true)    // December

		for _, c := range []struct {
			by   string
			want []store.IncomeRow
		}{
			{store.IncomeByGateway, []store.IncomeRow{
				{Period: 0, Name: "payment-manual", Currency: "IDR", Count: 1, Amount: 150000},
				{Period: 0, Name: "payment-midtrans", Currency: "IDR", Count: 1, Amount: 150000},
				{Period: 0, Name: "payment-stripe", Currency: "USD", Count: 1, Amount: 999},
				{Period: 1, Name: "payment-manual", Currency: "IDR", Count: 1, Amount: 5000},
				{Period: 1, Name: "payment-midtrans", Currency: "IDR", Count: 1, Amount: 5000},
			}},
			{store.IncomeByPlan, []store.IncomeRow{
				{Period: 0, ID: month.ID, Name: "Month", Currency: "IDR", Count: 2, Amount: 300000},
				{Period: 0, ID: month.ID, Name: "Month", Currency: "USD", Count: 1, Amount: 999},
				{Period: 1, ID: day.ID, Name: "Day", Currency: "IDR", Count: 2, Amount: 10000},
			}},
			{store.IncomeByLocation, []store.IncomeRow{
				{Period: 0, ID: north.ID, Name: "north", Currency: "IDR", Count: 1, Amount: 150000},
				{Period: 0, ID: south.ID, Name: "south", Currency: "IDR", Count: 1, Amount: 150000},
				{Period: 0, ID: south.ID, Name: "south", Currency: "USD", Count: 1, Amount: 999},
				{Period: 1, ID: north.ID, Name: "north", Currency: "IDR", Count: 1, Amount: 5000},
				{Period: 1, ID: south.ID, Name: "south", Currency: "IDR", Count: 1, Amount: 5000},
			}},
		} {
			got, err := q.IncomeByPeriod(ctx, bounds, c.by)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("IncomeByPeriod by %s (-want +got):\n%s", c.by, diff)
			}
		}
		if _, err := q.IncomeByPeriod(ctx, bounds, "customer"); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("IncomeByPeriod by customer: %v; want ErrInvalid", err)
		}
		if _, err := q.IncomeByPeriod(ctx, bounds[:1], store.IncomeByPlan); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("IncomeByPeriod of no period: %v; want ErrInvalid", err)
		}
		if _, err := q.IncomeByPeriod(ctx, []time.Time{bounds[1], bounds[0]}, store.IncomeByPlan); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("IncomeByPeriod of a backward period: %v; want ErrInvalid", err)
		}
	})
}

// TestSubscribersByPeriod: a customer counts as active in each month a
// subscription of theirs ran in (once, however many), as new in the month
// of their first; pending and cancelled subscriptions never count.
func TestSubscribersByPeriod(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		wib := time.FixedZone("WIB", 7*3600)
		loc := mkLocation(t, q, "main")
		plan := mkPlan(t, q, "Month")
		at := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, wib) }
		sub := func(c *store.Customer, status string, from, to time.Time) {
			t.Helper()
			if err := q.CreateSubscription(ctx, &store.Subscription{CustomerID: c.ID, PlanID: plan.ID, Status: status, StartsAt: from, ExpiresAt: to}); err != nil {
				t.Fatal(err)
			}
		}
		ani := mkCustomer(t, q, testCipher(t), loc.ID, "Ani", "ani")
		budi := mkCustomer(t, q, testCipher(t), loc.ID, "Budi", "budi")
		cici := mkCustomer(t, q, testCipher(t), loc.ID, "Cici", "cici")
		dedi := mkCustomer(t, q, testCipher(t), loc.ID, "Dedi", "dedi")
		sub(ani, store.SubscriptionExpired, at(time.September, 15, 12), at(time.October, 15, 12)) // new in September
		sub(ani, store.SubscriptionActive, at(time.October, 15, 12), at(time.November, 15, 12))   // renewed: active in Oct and Nov once
		// 1 November 01:00 WIB is 31 October in UTC: new in November.
		sub(budi, store.SubscriptionActive, at(time.November, 1, 1), at(time.December, 1, 1))
		sub(cici, store.SubscriptionCancelled, at(time.October, 2, 0), at(time.November, 2, 0))
		sub(dedi, store.SubscriptionPending, at(time.October, 2, 0), at(time.November, 2, 0))

		got, err := q.SubscribersByPeriod(ctx, monthBounds(2026, time.September, 3, wib))
		if err != nil {
			t.Fatal(err)
		}
		want := []store.SubscriberPeriod{
			{Period: 0, Active: 1, New: 1}, // September
			{Period: 1, Active: 1, New: 0}, // October
			{Period: 2, Active: 2, New: 1}, // November
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("SubscribersByPeriod (-want +got):\n%s", diff)
		}
	})
}

// TestListExpiring: active subscriptions expiring in the window, soonest
// first, with their customer's, plan's and location's names.
func TestListExpiring(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		loc := mkLocation(t, q, "main")
		plan := mkPlan(t, q, "Month")
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		week := 7 * 24 * time.Hour
		var ids []int64
		add := func(name, status string, expires time.Time) {
			t.Helper()
			c := mkCustomer(t, q, testCipher(t), loc.ID, name, name)
			sub := &store.Subscription{CustomerID: c.ID, PlanID: plan.ID, Status: status, StartsAt: now.Add(-week), ExpiresAt: expires}
			if err := q.CreateSubscription(ctx, sub); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, sub.ID)
		}
		add("Ani", store.SubscriptionActive, now.Add(3*time.Hour))
		add("Budi", store.SubscriptionActive, now.Add(time.Hour))
		add("Cici", store.SubscriptionActive, now.Add(week)) // after the window
		add("Dedi", store.SubscriptionExpired, now.Add(time.Hour))
		add("Eko", store.SubscriptionActive, now.Add(-time.Hour)) // overdue

		got, err := q.ListExpiring(ctx, now, now.Add(week), 10)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range got {
			names = append(names, e.CustomerName)
			if e.PlanName != "Month" || e.LocationName != "main" {
				t.Errorf("expiring %+v: want plan Month at main", e)
			}
		}
		if diff := cmp.Diff([]string{"Budi", "Ani"}, names); diff != "" {
			t.Errorf("ListExpiring (-want +got):\n%s", diff)
		}
		if got[0].ID != ids[1] || !got[0].ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("first expiring = %+v; want subscription %d at %v", got[0], ids[1], now.Add(time.Hour))
		}
		if got, err := q.ListExpiring(ctx, now, now.Add(week), 1); err != nil || len(got) != 1 {
			t.Errorf("ListExpiring limit 1 = %d, %v", len(got), err)
		}
	})
}
