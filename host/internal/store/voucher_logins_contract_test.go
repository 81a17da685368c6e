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

// TestHotspotVoucherLogins: a hotspot batch's codes start pending and move
// pending -> ready -> active (first login, once) -> expired; the batch
// counts them; a hotspot code is not redeemed for a customer; a batch with
// logins on the router is not deleted; codes are unique at a location
// across batches.
func TestHotspotVoucherLogins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		loc := mkLocation(t, q, "main")
		other := mkLocation(t, q, "branch")
		plan := mkPlan(t, q, "Day")

		if _, err := q.CreateVoucherBatch(ctx, &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID, Kind: "radius"}, 1); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("a batch of kind radius: %v, want ErrInvalid", err)
		}
		b := &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID, Kind: store.BatchHotspot}
		vs, err := q.CreateVoucherBatch(ctx, b, 3)
		if err != nil {
			t.Fatal(err)
		}
		redeem := &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}
		more, err := q.CreateVoucherBatch(ctx, redeem, 40)
		if err != nil {
			t.Fatal(err)
		}
		if redeem.Kind != store.BatchRedeem || redeem.Logins != nil || more[0].LoginState != "" {
			t.Errorf("a batch without a kind: kind %q, logins %v, state %q; want a redeem batch", redeem.Kind, redeem.Logins, more[0].LoginState)
		}
		seen := map[string]bool{}
		for _, v := range append(append([]store.Voucher{}, vs...), more...) {
			if seen[v.Code] {
				t.Errorf("code %s twice at one location", v.Code)
			}
			seen[v.Code] = true
		}
		counts := func() store.LoginCounts {
			t.Helper()
			got, err := q.GetVoucherBatch(ctx, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != store.BatchHotspot || got.Logins == nil {
				t.Fatalf("batch %+v; want a hotspot batch with counts", got)
			}
			return *got.Logins
		}
		if d := cmp.Diff(store.LoginCounts{Pending: 3}, counts()); d != "" || vs[0].LoginState != store.LoginPending {
			t.Errorf("new batch (-want +got):\n%s (state %q)", d, vs[0].LoginState)
		}
		pending, err := q.ListVouchersAfter(ctx, b.ID, store.VoucherFilter{LoginState: store.LoginPending}, 0, 10)
		if err != nil || len(pending) != 3 {
			t.Fatalf("pending: %d, %v", len(pending), err)
		}

		// The router failed, then two logins made it.
		if err := q.SetVoucherBatchProvisionError(ctx, b.ID, "router unreachable"); err != nil {
			t.Fatal(err)
		}
		if got, _ := q.GetVoucherBatch(ctx, b.ID); got.ProvisionError != "router unreachable" {
			t.Errorf("provision error %q", got.ProvisionError)
		}
		if n, err := q.MarkVoucherLoginsReady(ctx, b.ID, []int64{vs[0].ID, vs[1].ID, more[0].ID}); err != nil || n != 2 {
			t.Errorf("MarkVoucherLoginsReady = %d, %v; want 2 (the other batch's voucher is not this batch's)", n, err)
		}
		if got, _ := q.GetVoucherBatch(ctx, b.ID); got.ProvisionError != "" || got.Logins.Provisioned() {
			t.Errorf("after progress: error %q, provisioned %v", got.ProvisionError, got.Logins.Provisioned())
		}
		if d := cmp.Diff(store.LoginCounts{Pending: 1, Ready: 2}, counts()); d != "" {
			t.Errorf("after two ready (-want +got):\n%s", d)
		}
		locs, err := q.ListVoucherLoginLocations(ctx, store.LoginReady)
		if err != nil || !cmp.Equal(locs, []int64{loc.ID}) {
			t.Errorf("locations with ready logins: %v, %v", locs, err)
		}
		ready, err := q.ListVoucherLoginsAt(ctx, loc.ID, store.LoginReady)
		if err != nil || len(ready) != 2 || ready[0].Code != vs[0].Code || ready[0].LocationName != "main" || ready[0].Plan.Validity != 24*time.Hour {
			t.Fatalf("ready logins at main: %+v, %v", ready, err)
		}
		if at, _ := q.ListVoucherLoginsAt(ctx, other.ID, store.LoginReady); len(at) != 0 {
			t.Errorf("logins at branch: %+v", at)
		}

		// A hotspot code typed in the redeem form.
		if _, err := q.RedeemVoucher(ctx, vs[0].Code, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("redeeming a hotspot code: %v, want ErrInvalid", err)
		}

		// First login.
		first := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		for i, want := range []bool{true, false} {
			ok, err := q.RecordVoucherFirstLogin(ctx, vs[0].ID, first.Add(time.Duration(i)*time.Hour), first.Add(24*time.Hour))
			if err != nil || ok != want {
				t.Errorf("first login #%d: %v, %v; want %v", i+1, ok, err, want)
			}
		}
		if ok, _ := q.RecordVoucherFirstLogin(ctx, vs[2].ID, first, first); ok {
			t.Error("a pending login recorded a first login")
		}
		l, err := q.GetVoucherLogin(ctx, vs[0].ID)
		if err != nil || l.LoginState != store.LoginActive || !l.FirstLoginAt.Equal(first) || !l.ExpiresAt.Equal(first.Add(24*time.Hour)) || !l.RedeemedAt.Equal(first) {
			t.Fatalf("after the first login: %+v, %v", l, err)
		}
		if _, err := q.GetVoucherLogin(ctx, more[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetVoucherLogin of a redeem voucher: %v, want ErrNotFound", err)
		}
		if got, _ := q.GetVoucherBatch(ctx, b.ID); got.Redeemed != 1 {
			t.Errorf("redeemed %d, want 1 (the first login)", got.Redeemed)
		}
		if err := q.DeleteVoucherBatch(ctx, b.ID); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("deleting a batch with logins on the router: %v, want ErrReferenced", err)
		}

		// Expiry.
		if due, err := q.ListDueVoucherLogins(ctx, first.Add(23*time.Hour), 10); err != nil || len(due) != 0 {
			t.Errorf("due before the end: %+v, %v", due, err)
		}
		due, err := q.ListDueVoucherLogins(ctx, first.Add(24*time.Hour), 10)
		if err != nil || len(due) != 1 || due[0].ID != vs[0].ID {
			t.Fatalf("due at the end: %+v, %v", due, err)
		}
		for i, want := range []bool{true, false} {
			if ok, err := q.ExpireVoucherLogin(ctx, vs[0].ID); err != nil || ok != want {
				t.Errorf("expire #%d: %v, %v; want %v", i+1, ok, err, want)
			}
		}
		if d := cmp.Diff(store.LoginCounts{Pending: 1, Ready: 1, Expired: 1}, counts()); d != "" {
			t.Errorf("at the end (-want +got):\n%s", d)
		}
	})
}
