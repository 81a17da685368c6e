package auth

import (
	"context"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// NewUser checks a username and password against the rules and returns a
// user with the password hashed by hash (Service.HashPassword, or
// HashPassword), ready for store.Queries.CreateUser. The username is
// normalized first.
func NewUser(ctx context.Context, hash func(context.Context, string) (string, error), username, password, role string) (*store.User, error) {
	name := NormalizeUsername(username)
	if err := CheckUsername(name); err != nil {
		return nil, err
	}
	if err := CheckPassword(name, password); err != nil {
		return nil, err
	}
	h, err := hash(ctx, password)
	if err != nil {
		return nil, err
	}
	return &store.User{Username: name, PasswordHash: h, Role: role}, nil
}

// SetPassword checks a new password against the policy, stores its hash
// and ends the user's sessions, in one transaction, and returns how many
// sessions ended. Bearer JWTs issued before the change are refused from
// then on (the user's Generation moves on); API tokens stay valid: they
// are credentials of their own, made for programs, and are revoked on
// their own (DELETE /api/v1/tokens/{id}).
func SetPassword(ctx context.Context, db *store.Store, hash func(context.Context, string) (string, error), u *store.User, password string) (int64, error) {
	if err := CheckPassword(u.Username, password); err != nil {
		return 0, err
	}
	h, err := hash(ctx, password)
	if err != nil {
		return 0, err
	}
	var ended int64
	err = db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.Q().SetUserPassword(ctx, u.ID, h); err != nil {
			return err
		}
		ended, err = tx.Q().DeleteUserSessions(ctx, u.ID)
		return err
	})
	return ended, err
}
