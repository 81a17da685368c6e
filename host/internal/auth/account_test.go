package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestHasUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := newService(t, s, newClock())
		if has, err := svc.HasUsers(ctx); err != nil || has {
			t.Fatalf("empty store: %v, %v; want false", has, err)
		}
		mustUser(t, s, "ana", "correct horse battery", store.UserRoleViewer)
		if has, err := svc.HasUsers(ctx); err != nil || !has {
			t.Fatalf("with a user: %v, %v; want true", has, err)
		}
	})
}

func TestChangePassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, s, c)
		u := mustUser(t, s, "ana", "correct horse battery", store.UserRoleViewer)
		cookie, _, err := svc.StartSession(ctx, u, "192.0.2.1", false)
		if err != nil {
			t.Fatal(err)
		}

		if _, err := svc.ChangePassword(ctx, u.ID, "not the password", "a brand new secret"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("wrong current password: %v; want ErrBadCredentials", err)
		}
		if _, err := svc.ChangePassword(ctx, u.ID, "correct horse battery", "short"); !errors.Is(err, auth.ErrWeakPassword) {
			t.Errorf("weak new password: %v; want ErrWeakPassword", err)
		}
		if id, err := svc.Authenticate(ctx, request(withCookie(cookie))); err != nil || id == nil {
			t.Fatalf("refused changes must leave the session alone: %v, %v", id, err)
		}

		after, err := svc.ChangePassword(ctx, u.ID, "correct horse battery", "a brand new secret")
		if err != nil {
			t.Fatal(err)
		}
		if after.Generation == u.Generation {
			t.Errorf("generation stayed %d; the returned user must be the stored one after the change", after.Generation)
		}
		id, err := svc.Authenticate(ctx, request(withCookie(cookie)))
		wantRefused(t, "the session from before the change", id, err, auth.ErrInvalidCredentials, "")
		if _, err := svc.Login(ctx, "ana", "correct horse battery"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("old password: %v; want ErrBadCredentials", err)
		}
		if _, err := svc.Login(ctx, "ana", "a brand new secret"); err != nil {
			t.Errorf("new password: %v", err)
		}
	})
}
