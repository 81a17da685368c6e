package auth

import (
	"context"
	"fmt"

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

// HasUsers reports whether any user exists. With none, nobody can sign in:
// the first administrator is made with `mikrobill user create`.
func (s *Service) HasUsers(ctx context.Context) (bool, error) {
	_, total, err := s.db.Q().ListUsers(ctx, store.Page{Limit: 1})
	if err != nil {
		return false, fmt.Errorf("count users: %w", err)
	}
	return total > 0, nil
}

// ChangePassword sets a user's own new password after checking the current
// one, through SetPassword: the policy applies and every session of the
// user ends. A wrong current password is ErrBadCredentials. It returns the
// user as stored afterwards (its Generation moved on), for a new session.
func (s *Service) ChangePassword(ctx context.Context, userID int64, current, next string) (*store.User, error) {
	u, err := s.db.Q().GetUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	ok, err := VerifyPassword(ctx, u.PasswordHash, current)
	if err != nil && ctx.Err() != nil {
		return nil, err
	}
	if !ok || err != nil {
		return nil, refuse(ErrBadCredentials, "the current password is wrong")
	}
	if _, err := SetPassword(ctx, s.db, s.HashPassword, u, next); err != nil {
		return nil, err
	}
	u, err = s.db.Q().GetUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	return u, nil
}
