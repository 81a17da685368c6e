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

func TestSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s) // 2026-11-25 10:00:01 and a second more on each call
		q := s.Q()
		u := &store.User{Username: "op", PasswordHash: "h", Role: store.UserRoleOperator}
		other := &store.User{Username: "other", PasswordHash: "h", Role: store.UserRoleViewer}
		for _, x := range []*store.User{u, other} {
			if err := q.CreateUser(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		live := &store.Session{IDHash: "live", UserID: u.ID, ExpiresAt: base.Add(24 * time.Hour), Remote: "192.0.2.7"}
		old := &store.Session{IDHash: "old", UserID: u.ID, ExpiresAt: base.Add(-time.Minute)}
		elsewhere := &store.Session{IDHash: "elsewhere", UserID: other.ID, ExpiresAt: base.Add(time.Hour)}
		for _, x := range []*store.Session{live, old, elsewhere} {
			if err := q.CreateSession(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		got, err := q.GetSession(ctx, "live")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(live, got); diff != "" {
			t.Errorf("GetSession (-created +read):\n%s", diff)
		}
		if err := q.CreateSession(ctx, &store.Session{IDHash: "live", UserID: u.ID, ExpiresAt: base}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate session: %v, want ErrConflict", err)
		}
		if err := q.CreateSession(ctx, &store.Session{IDHash: "orphan", UserID: 9999, ExpiresAt: base}); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("missing user: %v, want ErrReferenced", err)
		}

		if n, err := q.DeleteExpiredSessions(ctx); err != nil || n != 1 {
			t.Errorf("DeleteExpiredSessions = %d, %v; want 1", n, err)
		}
		if _, err := q.GetSession(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session after the sweep: %v", err)
		}
		if err := q.DeleteSession(ctx, "live"); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteSession(ctx, "live"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}

		for _, h := range []string{"a", "b"} {
			if err := q.CreateSession(ctx, &store.Session{IDHash: h, UserID: u.ID, ExpiresAt: base.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := q.DeleteUserSessions(ctx, u.ID); err != nil || n != 2 {
			t.Errorf("DeleteUserSessions = %d, %v; want 2", n, err)
		}
		if _, err := q.GetSession(ctx, "elsewhere"); err != nil {
			t.Errorf("another user's session went too: %v", err)
		}
	})
}
