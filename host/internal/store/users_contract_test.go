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

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		admin := &store.User{Username: "root", PasswordHash: "$argon2id$v=19$m=65536,t=1,p=2$c2FsdA$aGFzaA", Role: store.UserRoleAdmin}
		if err := q.CreateUser(ctx, admin); err != nil {
			t.Fatal(err)
		}
		got, err := q.GetUser(ctx, admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(admin, got); diff != "" {
			t.Errorf("GetUser (-created +read):\n%s", diff)
		}
		if !got.LastLoginAt.IsZero() {
			t.Errorf("a new user has signed in at %v", got.LastLoginAt)
		}
		byName, err := q.GetUserByUsername(ctx, "root")
		if err != nil || byName.ID != admin.ID || byName.PasswordHash != admin.PasswordHash {
			t.Errorf("GetUserByUsername = %+v, %v", byName, err)
		}
		if _, err := q.GetUserByUsername(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown username: %v, want ErrNotFound", err)
		}
		if err := q.CreateUser(ctx, &store.User{Username: "root", PasswordHash: "x", Role: store.UserRoleViewer}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate username: %v, want ErrConflict", err)
		}
		if err := q.CreateUser(ctx, &store.User{Username: "eve", PasswordHash: "x", Role: "superuser"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("unknown role: %v, want ErrInvalid", err)
		}

		// Signing in records the time and may rehash, but does not move
		// UpdatedAt (bearer tokens issued before it stay valid).
		if err := q.RecordLogin(ctx, admin.ID, ""); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetUser(ctx, admin.ID)
		if got.LastLoginAt.IsZero() || !got.UpdatedAt.Equal(admin.UpdatedAt) || got.PasswordHash != admin.PasswordHash {
			t.Errorf("after RecordLogin: %+v", got)
		}
		if err := q.RecordLogin(ctx, admin.ID, "rehashed"); err != nil {
			t.Fatal(err)
		}
		if got, _ = q.GetUser(ctx, admin.ID); got.PasswordHash != "rehashed" || !got.UpdatedAt.Equal(admin.UpdatedAt) {
			t.Errorf("after RecordLogin with a rehash: %+v", got)
		}
		if err := q.RecordLogin(ctx, 9999, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RecordLogin of a missing user: %v", err)
		}

		if err := q.SetUserPassword(ctx, admin.ID, "new-hash"); err != nil {
			t.Fatal(err)
		}
		if got, _ = q.GetUser(ctx, admin.ID); got.PasswordHash != "new-hash" || !got.UpdatedAt.After(admin.UpdatedAt) {
			t.Errorf("after SetUserPassword: %+v", got)
		}
		if err := q.SetUserPassword(ctx, 9999, "x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetUserPassword of a missing user: %v", err)
		}

		viewer := &store.User{Username: "ana", PasswordHash: "h", Role: store.UserRoleViewer}
		if err := q.CreateUser(ctx, viewer); err != nil {
			t.Fatal(err)
		}
		viewer.Role, viewer.Disabled = store.UserRoleAdmin, true
		if err := q.UpdateUser(ctx, viewer); err != nil {
			t.Fatal(err)
		}
		if got, _ = q.GetUser(ctx, viewer.ID); got.Role != store.UserRoleAdmin || !got.Disabled || got.PasswordHash != "h" {
			t.Errorf("after UpdateUser: %+v", got)
		}
		if err := q.UpdateUser(ctx, &store.User{ID: 9999, Username: "x", Role: store.UserRoleViewer}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateUser of a missing user: %v", err)
		}

		// A disabled admin does not count as one who remains.
		if ids, err := q.ActiveAdmins(ctx); err != nil || !cmp.Equal(ids, []int64{admin.ID}) {
			t.Errorf("ActiveAdmins = %v, %v; want [%d]", ids, err, admin.ID)
		}
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			ids, err := tx.Q().ActiveAdmins(ctx)
			if len(ids) != 1 {
				t.Errorf("ActiveAdmins in a transaction = %v", ids)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}

		list, total, err := q.ListUsers(ctx, store.Page{Limit: 1})
		if err != nil || total != 2 || len(list) != 1 || list[0].Username != "ana" {
			t.Errorf("ListUsers(limit 1) = %v, %d, %v", list, total, err)
		}

		// Deleting a user takes its sessions and tokens with it.
		if err := q.CreateSession(ctx, &store.Session{IDHash: "s1", UserID: viewer.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := q.CreateAPIToken(ctx, &store.APIToken{UserID: viewer.ID, Name: "ci", Hash: "t1", Prefix: "mbt_t1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.Q().DeleteUser(ctx, viewer.ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetUser(ctx, viewer.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted user: %v", err)
		}
		if _, err := q.GetSession(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted user's session: %v", err)
		}
		if _, err := q.GetAPITokenByHash(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted user's token: %v", err)
		}
		if err := q.DeleteUser(ctx, viewer.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting twice: %v", err)
		}
	})
}
