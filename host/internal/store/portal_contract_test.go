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

// TestPortalRecords: the portal's sessions and one-time codes on both
// backends: one code per phone, wrong attempts counted, a code used once,
// the expired ones swept, and both going with their customer.
func TestPortalRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s) // 2026-11-25 10:00:01 and a second more on each call
		q := s.Q()
		cip := testCipher(t)
		main, branch := mkLocation(t, q, "main"), mkLocation(t, q, "branch")
		budi := &store.Customer{Name: "Budi", Phone: "+6281234567890", RouterUsername: "budi", RouterPassword: "pw-main", LocationID: main.ID}
		budi2 := &store.Customer{Name: "Budi B", Phone: "+6281234567891", RouterUsername: "budi", RouterPassword: "pw-branch", LocationID: branch.ID}
		for _, c := range []*store.Customer{budi, budi2} {
			if err := q.CreateCustomer(ctx, c, cip); err != nil {
				t.Fatal(err)
			}
		}

		// Customers by router username across locations, with passwords.
		found, err := q.CustomersByRouterUsername(ctx, "budi", cip)
		if err != nil || len(found) != 2 || found[0].RouterPassword != "pw-main" || found[1].RouterPassword != "pw-branch" {
			t.Errorf("CustomersByRouterUsername = %+v, %v", found, err)
		}
		if found, err := q.CustomersByPhone(ctx, "+6281234567891"); err != nil || len(found) != 1 || found[0].ID != budi2.ID {
			t.Errorf("CustomersByPhone = %+v, %v", found, err)
		}

		// Sessions.
		base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		live := &store.PortalSession{IDHash: "live", CustomerID: budi.ID, ExpiresAt: base.Add(time.Hour), Remote: "192.0.2.7"}
		old := &store.PortalSession{IDHash: "old", CustomerID: budi.ID, ExpiresAt: base.Add(-time.Minute)}
		for _, x := range []*store.PortalSession{live, old} {
			if err := q.CreatePortalSession(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		got, err := q.GetPortalSession(ctx, "live")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(live, got); diff != "" {
			t.Errorf("GetPortalSession (-created +read):\n%s", diff)
		}
		if err := q.CreatePortalSession(ctx, &store.PortalSession{IDHash: "orphan", CustomerID: 9999, ExpiresAt: base}); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("missing customer: %v, want ErrReferenced", err)
		}
		// An admin session's table knows nothing of the portal's.
		if _, err := q.GetSession(ctx, "live"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a portal session read as an admin session: %v", err)
		}

		// Codes: one per phone, the second replaces the first.
		first := &store.PortalCode{Phone: budi.Phone, CodeHash: "h1", CustomerID: budi.ID, ExpiresAt: base.Add(10 * time.Minute)}
		if err := q.PutPortalCode(ctx, first); err != nil {
			t.Fatal(err)
		}
		if n, err := q.FailPortalCode(ctx, budi.Phone); err != nil || n != 1 {
			t.Errorf("FailPortalCode = %d, %v; want 1", n, err)
		}
		second := &store.PortalCode{Phone: budi.Phone, CodeHash: "h2", CustomerID: budi.ID, ExpiresAt: base.Add(10 * time.Minute)}
		if err := q.PutPortalCode(ctx, second); err != nil {
			t.Fatal(err)
		}
		code, err := q.GetPortalCode(ctx, budi.Phone)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(second, code); diff != "" {
			t.Errorf("GetPortalCode after the replacement (-put +read):\n%s", diff)
		}
		if ok, err := q.UsePortalCode(ctx, budi.Phone, "h1"); err != nil || ok {
			t.Errorf("the replaced code used: %v, %v", ok, err)
		}
		if ok, err := q.UsePortalCode(ctx, budi.Phone, "h2"); err != nil || !ok {
			t.Errorf("the code not used: %v, %v", ok, err)
		}
		if ok, err := q.UsePortalCode(ctx, budi.Phone, "h2"); err != nil || ok {
			t.Errorf("the code used twice: %v, %v", ok, err)
		}
		if _, err := q.FailPortalCode(ctx, budi.Phone); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FailPortalCode without a code: %v, want ErrNotFound", err)
		}

		// The sweep removes what has ended.
		if err := q.PutPortalCode(ctx, &store.PortalCode{Phone: budi2.Phone, CodeHash: "h3", CustomerID: budi2.ID, ExpiresAt: base.Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		if n, err := q.DeleteExpiredPortalSessions(ctx); err != nil || n != 2 {
			t.Errorf("DeleteExpiredPortalSessions = %d, %v; want 2 (a session and a code)", n, err)
		}

		// Deleting the customer deletes their session and code.
		if err := q.PutPortalCode(ctx, &store.PortalCode{Phone: budi.Phone, CodeHash: "h4", CustomerID: budi.ID, ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteCustomer(ctx, budi.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetPortalSession(ctx, "live"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session of a deleted customer: %v", err)
		}
		if _, err := q.GetPortalCode(ctx, budi.Phone); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("code of a deleted customer: %v", err)
		}
		if err := q.DeletePortalSession(ctx, "live"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting a missing session: %v", err)
		}
	})
}
