package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestAPITokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		alice := &store.User{Username: "alice", PasswordHash: "h", Role: store.UserRoleOperator}
		bob := &store.User{Username: "bob", PasswordHash: "h", Role: store.UserRoleViewer}
		for _, u := range []*store.User{alice, bob} {
			if err := q.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		expires := time.Date(2027, 1, 2, 3, 4, 5, 678901234, time.FixedZone("WIB", 7*3600))
		ci := &store.APIToken{UserID: alice.ID, Name: "ci", Hash: strings.Repeat("a", 64), Prefix: "mbt_aaaaaa", ExpiresAt: expires}
		if err := q.CreateAPIToken(ctx, ci); err != nil {
			t.Fatal(err)
		}
		if !ci.ExpiresAt.Equal(expires.Truncate(time.Millisecond)) || ci.ExpiresAt.Location() != time.UTC {
			t.Errorf("ExpiresAt after create = %v", ci.ExpiresAt)
		}
		got, err := q.GetAPITokenByHash(ctx, ci.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ci, got); diff != "" {
			t.Errorf("GetAPITokenByHash (-created +read):\n%s", diff)
		}
		if got, err := q.GetAPIToken(ctx, ci.ID); err != nil || got.Hash != ci.Hash {
			t.Errorf("GetAPIToken = %+v, %v", got, err)
		}
		if _, err := q.GetAPITokenByHash(ctx, strings.Repeat("f", 64)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown hash: %v, want ErrNotFound", err)
		}
		if err := q.CreateAPIToken(ctx, &store.APIToken{UserID: bob.ID, Name: "dup", Hash: ci.Hash, Prefix: "mbt_aaaaaa"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate hash: %v, want ErrConflict", err)
		}
		if err := q.CreateAPIToken(ctx, &store.APIToken{UserID: 9999, Name: "orphan", Hash: "b", Prefix: "mbt_b"}); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("missing user: %v, want ErrReferenced", err)
		}
		never := &store.APIToken{UserID: bob.ID, Name: "forever", Hash: strings.Repeat("c", 64), Prefix: "mbt_cccccc"}
		if err := q.CreateAPIToken(ctx, never); err != nil {
			t.Fatal(err)
		}

		if err := q.TouchAPIToken(ctx, ci.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ = q.GetAPIToken(ctx, ci.ID); got.LastUsedAt.IsZero() {
			t.Error("TouchAPIToken did not set LastUsedAt")
		}
		if err := q.RevokeAPIToken(ctx, ci.ID); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetAPIToken(ctx, ci.ID)
		first := got.RevokedAt
		if first.IsZero() {
			t.Fatal("RevokeAPIToken did not set RevokedAt")
		}
		if err := q.RevokeAPIToken(ctx, ci.ID); err != nil {
			t.Errorf("revoking twice: %v", err)
		}
		if got, _ = q.GetAPIToken(ctx, ci.ID); !got.RevokedAt.Equal(first) {
			t.Errorf("revoking twice moved RevokedAt from %v to %v", first, got.RevokedAt)
		}
		if err := q.RevokeAPIToken(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoking a missing token: %v", err)
		}
		if err := q.TouchAPIToken(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("touching a missing token: %v", err)
		}

		all, total, err := q.ListAPITokens(ctx, 0, store.Page{})
		if err != nil || total != 2 || len(all) != 2 || all[0].Name != "forever" || all[0].Username != "bob" || all[1].Username != "alice" {
			t.Errorf("ListAPITokens(all) = %+v, %d, %v", all, total, err)
		}
		mine, total, err := q.ListAPITokens(ctx, alice.ID, store.Page{})
		if err != nil || total != 1 || len(mine) != 1 || mine[0].ID != ci.ID || mine[0].RevokedAt.IsZero() {
			t.Errorf("ListAPITokens(alice) = %+v, %d, %v", mine, total, err)
		}
		if _, _, err := q.ListAPITokens(ctx, 0, store.Page{Offset: -1}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("negative offset: %v", err)
		}
	})
}
