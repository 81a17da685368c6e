package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestLocationSubscriptionViews: what a router sync compares, per
// location: the active and isolated subscriptions with their customer and
// plan, and every customer's router login.
func TestLocationSubscriptionViews(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		main, branch := mkLocation(t, q, "main"), mkLocation(t, q, "branch")
		budi := mkCustomer(t, q, testCipher(t), main.ID, "Budi", "budi")
		siti := mkCustomer(t, q, testCipher(t), main.ID, "Siti", "siti")
		eko := mkCustomer(t, q, testCipher(t), main.ID, "Eko", "eko")
		other := mkCustomer(t, q, testCipher(t), branch.ID, "Other", "other")
		plan := mkPlan(t, q, "Month")
		start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		var ids []int64
		for _, c := range []struct {
			cust   int64
			status string
		}{{budi.ID, store.SubscriptionActive}, {siti.ID, store.SubscriptionIsolated}, {eko.ID, store.SubscriptionExpired}, {other.ID, store.SubscriptionActive}} {
			sub := &store.Subscription{CustomerID: c.cust, PlanID: plan.ID, Status: c.status, StartsAt: start, ExpiresAt: start.AddDate(0, 1, 0)}
			if err := q.CreateSubscription(ctx, sub); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, sub.ID)
		}
		svcs, err := q.ListLocationSubscriptionViews(ctx, main.ID)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Sub              int64
			Status, User     string
			Plan, Location   string
			PasswordIsCipher bool
		}
		var got []row
		for _, s := range svcs {
			got = append(got, row{s.SubscriptionID, s.Status, s.RouterUsername, s.Plan.Name, s.LocationName, s.RouterPasswordEn != ""})
		}
		want := []row{
			{ids[0], store.SubscriptionActive, "budi", "Month", "main", true},
			{ids[1], store.SubscriptionIsolated, "siti", "Month", "main", true},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("ListLocationSubscriptionViews(main) (-want +got):\n%s", d)
		}
		logins, err := q.LocationLogins(ctx, main.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]int64{"budi": budi.ID, "siti": siti.ID, "eko": eko.ID}, logins); d != "" {
			t.Errorf("LocationLogins(main) (-want +got):\n%s", d)
		}
		if svcs, err := q.ListLocationSubscriptionViews(ctx, 9999); err != nil || len(svcs) != 0 {
			t.Errorf("unknown location: %v %v; want nothing", svcs, err)
		}
	})
}
