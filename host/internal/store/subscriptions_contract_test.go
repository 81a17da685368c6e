package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestSubscriptions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		loc := mkLocation(t, q, "main")
		budi := mkCustomer(t, q, testCipher(t), loc.ID, "Budi", "budi")
		siti := mkCustomer(t, q, testCipher(t), loc.ID, "Siti", "siti")
		plan := mkPlan(t, q, "Month")

		start := time.Date(2026, 11, 1, 8, 30, 0, 123456789, time.FixedZone("WIB", 7*3600))
		sub := &store.Subscription{CustomerID: budi.ID, PlanID: plan.ID, Status: store.SubscriptionActive,
			StartsAt: start, ExpiresAt: start.AddDate(0, 1, 0)}
		if err := q.CreateSubscription(ctx, sub); err != nil {
			t.Fatal(err)
		}
		got, err := q.GetSubscription(ctx, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(sub, got); diff != "" {
			t.Errorf("GetSubscription (-created +read):\n%s", diff)
		}
		if !got.StartsAt.Equal(start.Truncate(time.Millisecond)) {
			t.Errorf("starts_at %v, want %v", got.StartsAt, start)
		}

		// A pending subscription has no times; they are NULL and left out
		// of JSON.
		pending := &store.Subscription{CustomerID: siti.ID, PlanID: plan.ID, Status: store.SubscriptionPending}
		if err := q.CreateSubscription(ctx, pending); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetSubscription(ctx, pending.ID)
		if !got.StartsAt.IsZero() || !got.ExpiresAt.IsZero() {
			t.Errorf("pending subscription has times: %+v", got)
		}
		if js, _ := json.Marshal(got); strings.Contains(string(js), "expires_at") {
			t.Errorf("JSON of a subscription without expiry: %s", js)
		}

		if _, err := q.GetSubscription(ctx, 999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSubscription(999): %v, want ErrNotFound", err)
		}
		for _, bad := range []struct {
			s    store.Subscription
			want error
		}{
			{store.Subscription{CustomerID: 999, PlanID: plan.ID, Status: store.SubscriptionPending}, store.ErrReferenced},
			{store.Subscription{CustomerID: budi.ID, PlanID: 999, Status: store.SubscriptionPending}, store.ErrReferenced},
			{store.Subscription{CustomerID: budi.ID, PlanID: plan.ID, Status: "paused"}, store.ErrInvalid},
		} {
			if err := q.CreateSubscription(ctx, &bad.s); !errors.Is(err, bad.want) {
				t.Errorf("CreateSubscription(%+v): %v, want %v", bad.s, err, bad.want)
			}
		}

		// Lists by customer and status, newest first.
		ids := func(ss []store.Subscription) []int64 {
			var out []int64
			for _, s := range ss {
				out = append(out, s.ID)
			}
			return out
		}
		for _, tt := range []struct {
			f    store.SubscriptionFilter
			page store.Page
			want []int64
			tot  int
		}{
			{store.SubscriptionFilter{}, store.Page{}, []int64{pending.ID, sub.ID}, 2},
			{store.SubscriptionFilter{}, store.Page{Limit: 1, Offset: 1}, []int64{sub.ID}, 2},
			{store.SubscriptionFilter{CustomerID: budi.ID}, store.Page{}, []int64{sub.ID}, 1},
			{store.SubscriptionFilter{Status: store.SubscriptionPending}, store.Page{}, []int64{pending.ID}, 1},
			{store.SubscriptionFilter{CustomerID: budi.ID, Status: store.SubscriptionPending}, store.Page{}, nil, 0},
		} {
			list, total, err := q.ListSubscriptions(ctx, tt.f, tt.page)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(list)); diff != "" || total != tt.tot {
				t.Errorf("ListSubscriptions(%+v, %+v): total %d (want %d), ids (-want +got):\n%s", tt.f, tt.page, total, tt.tot, diff)
			}
		}
		if _, _, err := q.ListSubscriptions(ctx, store.SubscriptionFilter{}, store.Page{Limit: store.MaxLimit + 1}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("huge limit: %v", err)
		}

		pending.Status, pending.StartsAt, pending.ExpiresAt = store.SubscriptionActive, start, start.Add(48*time.Hour)
		if err := q.UpdateSubscription(ctx, pending); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetSubscription(ctx, pending.ID)
		if diff := cmp.Diff(pending, got); diff != "" {
			t.Errorf("after update (-written +read):\n%s", diff)
		}
		pending.ExpiresAt = time.Time{} // back to no expiry: NULL
		if err := q.UpdateSubscription(ctx, pending); err != nil {
			t.Fatal(err)
		}
		if got, _ = q.GetSubscription(ctx, pending.ID); !got.ExpiresAt.IsZero() {
			t.Errorf("expiry not cleared: %v", got.ExpiresAt)
		}
		if err := q.UpdateSubscription(ctx, &store.Subscription{ID: 999, CustomerID: budi.ID, PlanID: plan.ID, Status: store.SubscriptionActive}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update missing: %v, want ErrNotFound", err)
		}
		bad := *sub
		bad.Status = "paused"
		if err := q.UpdateSubscription(ctx, &bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("update to a bad status: %v, want ErrInvalid", err)
		}
		bad.Status, bad.PlanID = store.SubscriptionActive, 999
		if err := q.UpdateSubscription(ctx, &bad); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("update to a missing plan: %v, want ErrReferenced", err)
		}

		if err := q.DeleteSubscription(ctx, pending.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteSubscription(ctx, pending.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v, want ErrNotFound", err)
		}
		// A subscription a voucher paid for cannot go.
		b := &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}
		vs, err := q.CreateVoucherBatch(ctx, b, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.LinkVoucherSubscription(ctx, vs[0].ID, sub.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteSubscription(ctx, sub.ID); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("delete a referenced subscription: %v, want ErrReferenced", err)
		}
	})
}

func TestDueAndExpiringSubscriptions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		loc := mkLocation(t, q, "main")
		cust := mkCustomer(t, q, testCipher(t), loc.ID, "Budi", "budi")
		plan := mkPlan(t, q, "Month")
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		mk := func(status string, expires time.Time) int64 {
			sub := &store.Subscription{CustomerID: cust.ID, PlanID: plan.ID, Status: status, StartsAt: now.AddDate(0, -1, 0), ExpiresAt: expires}
			if err := q.CreateSubscription(ctx, sub); err != nil {
				t.Fatal(err)
			}
			return sub.ID
		}
		overdue2 := mk(store.SubscriptionActive, now.Add(-48*time.Hour))
		overdue1 := mk(store.SubscriptionActive, now.Add(-time.Hour))
		exactlyNow := mk(store.SubscriptionActive, now)
		mk(store.SubscriptionIsolated, now.Add(-72*time.Hour)) // handled already
		mk(store.SubscriptionExpired, now.Add(-72*time.Hour))
		mk(store.SubscriptionPending, time.Time{})
		mk(store.SubscriptionActive, time.Time{}) // never expires
		in1d := mk(store.SubscriptionActive, now.Add(24*time.Hour))
		in3d := mk(store.SubscriptionActive, now.Add(72*time.Hour))
		in3dAndABit := mk(store.SubscriptionActive, now.Add(72*time.Hour+time.Minute))
		mk(store.SubscriptionCancelled, now.Add(72*time.Hour))
		in4d := mk(store.SubscriptionActive, now.Add(96*time.Hour))

		ids := func(ss []store.Subscription, err error) []int64 {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, s := range ss {
				out = append(out, s.ID)
			}
			return out
		}
		if diff := cmp.Diff([]int64{overdue2, overdue1, exactlyNow}, ids(q.ListDueSubscriptions(ctx, now, 0))); diff != "" {
			t.Errorf("ListDueSubscriptions (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{overdue2, overdue1}, ids(q.ListDueSubscriptions(ctx, now, 2))); diff != "" {
			t.Errorf("ListDueSubscriptions(limit 2) (-want +got):\n%s", diff)
		}
		// Handling one takes it off the list.
		isolated, err := q.GetSubscription(ctx, overdue2)
		if err != nil {
			t.Fatal(err)
		}
		isolated.Status = store.SubscriptionIsolated
		if err := q.UpdateSubscription(ctx, isolated); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int64{overdue1, exactlyNow}, ids(q.ListDueSubscriptions(ctx, now, 2))); diff != "" {
			t.Errorf("ListDueSubscriptions after isolating one (-want +got):\n%s", diff)
		}
		if _, err := q.ListDueSubscriptions(ctx, now, store.MaxLimit+1); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("huge limit: %v", err)
		}

		// Windows are half-open: [from, to).
		if diff := cmp.Diff([]int64{in3d, in3dAndABit}, ids(q.ListExpiringBetween(ctx, now.Add(72*time.Hour), now.Add(96*time.Hour)))); diff != "" {
			t.Errorf("ListExpiringBetween(3d, 4d) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{in4d}, ids(q.ListExpiringBetween(ctx, now.Add(96*time.Hour), now.Add(120*time.Hour)))); diff != "" {
			t.Errorf("ListExpiringBetween(4d, 5d) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{in1d, in3d, in3dAndABit, in4d}, ids(q.ListExpiringBetween(ctx, now.Add(time.Millisecond), now.Add(200*time.Hour)))); diff != "" {
			t.Errorf("ListExpiringBetween(now, 200h) (-want +got):\n%s", diff)
		}
		if got := ids(q.ListExpiringBetween(ctx, now.Add(200*time.Hour), now.Add(300*time.Hour))); len(got) != 0 {
			t.Errorf("ListExpiringBetween(empty window) = %v", got)
		}
	})
}

func TestSubscriptionStatuses(t *testing.T) {
	for _, s := range store.SubscriptionStatuses {
		if !store.ValidSubscriptionStatus(s) {
			t.Errorf("%q is not valid", s)
		}
	}
	if store.ValidSubscriptionStatus("paused") || store.ValidSubscriptionStatus("") {
		t.Error("an unknown status is valid")
	}
}
