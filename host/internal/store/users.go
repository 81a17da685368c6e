package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// User roles, as the users table's check constraint allows them (the web
// package ranks them: viewer < operator < admin). They are the SDK's
// (sdk.Roles), defined there only.
const (
	UserRoleAdmin    = sdk.RoleAdmin
	UserRoleOperator = sdk.RoleOperator
	UserRoleViewer   = sdk.RoleViewer
)

// User is someone who signs in to the admin UI or the API.
type User struct {
	ID int64 `json:"id"`
	// Username is unique; the auth package keeps it lowercase.
	Username string `json:"username"`
	// PasswordHash is an argon2id hash in PHC format (auth.HashPassword).
	// It never leaves the host.
	PasswordHash string `json:"-"`
	// Role is "admin", "operator" or "viewer".
	Role string `json:"role"`
	// Disabled users cannot sign in, and their sessions, bearer tokens and
	// API tokens are refused.
	Disabled bool `json:"disabled"`
	// LastLoginAt is the last successful sign-in (zero: never).
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
	// UpdatedAt moves when the username, role, status or password change
	// (not on sign-in).
	UpdatedAt time.Time `json:"updated_at"`
	// Generation counts the changes of password, role and status. Bearer
	// JWTs and sessions carry the generation they were issued at and are
	// refused once it moved on: every earlier credential ends with the
	// change, whenever in the same second it came.
	Generation int64 `json:"-"`
}

const userColumns = "id, username, password_hash, role, disabled, last_login_at, created_at, updated_at, generation"

func scanUser(r Row) (*User, error) {
	var u User
	var lastLogin sql.NullInt64
	var created, updated int64
	if err := r.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &u.Disabled, &lastLogin, &created, &updated, &u.Generation); err != nil {
		return nil, err
	}
	u.LastLoginAt, u.CreatedAt, u.UpdatedAt = FromNullMillis(lastLogin), FromMillis(created), FromMillis(updated)
	return &u, nil
}

// usernameTaken says which username is in use when err is ErrConflict.
func usernameTaken(err error, username string) error {
	return nameTaken(err, "username", fmt.Sprintf("the username %q is taken; choose another", username))
}

// CreateUser inserts a user and sets its ID and times. A taken username is
// ErrConflict (a *FieldError on "username").
func (q *Queries) CreateUser(ctx context.Context, u *User) error {
	now := q.store.now()
	err := q.db.QueryRow(ctx, `INSERT INTO users (username, password_hash, role, disabled, last_login_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Username, u.PasswordHash, u.Role, u.Disabled, MillisOrNil(u.LastLoginAt), Millis(now), Millis(now)).Scan(&u.ID)
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, usernameTaken(err, u.Username))
	}
	u.CreatedAt, u.UpdatedAt = now.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	u.LastLoginAt = truncMillis(u.LastLoginAt)
	return nil
}

// GetUser reads one user.
func (q *Queries) GetUser(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(q.db.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

// GetUserByUsername reads one user by name (exactly as stored).
func (q *Queries) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	u, err := scanUser(q.db.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE username = ?", username))
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", username, err)
	}
	return u, nil
}

// ListUsers lists users by username and returns the total.
func (q *Queries) ListUsers(ctx context.Context, page Page) ([]User, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM users").Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+userColumns+" FROM users ORDER BY username, id"+page.sql())
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list users: %w", err)
		}
		out = append(out, *u)
	}
	return out, total, rows.Err()
}

// UpdateUser writes a user's username, role and disabled flag (not the
// password: SetUserPassword; not the last sign-in: RecordLogin). A change
// of role or status moves the user's Generation on, which ends their
// sessions and bearer JWTs; u.Generation is set to the new one. A taken
// username is ErrConflict (a *FieldError on "username").
func (q *Queries) UpdateUser(ctx context.Context, u *User) error {
	now := q.store.now()
	err := q.db.QueryRow(ctx, `UPDATE users SET username = ?, role = ?, disabled = ?, updated_at = ?,
		generation = CASE WHEN role <> ? OR disabled <> ? THEN generation + 1 ELSE generation END
		WHERE id = ? RETURNING generation`,
		u.Username, u.Role, u.Disabled, Millis(now), u.Role, u.Disabled, u.ID).Scan(&u.Generation)
	if err != nil {
		return fmt.Errorf("update user %d: %w", u.ID, usernameTaken(err, u.Username))
	}
	u.UpdatedAt = now.Truncate(time.Millisecond)
	return nil
}

// SetUserPassword replaces a user's password hash and moves the user's
// Generation on, which ends their sessions and bearer JWTs (API tokens stay
// valid: revoke them on their own). Delete the sessions' rows in the same
// transaction (DeleteUserSessions).
func (q *Queries) SetUserPassword(ctx context.Context, id int64, hash string) error {
	n, err := q.db.Exec(ctx, "UPDATE users SET password_hash = ?, updated_at = ?, generation = generation + 1 WHERE id = ?", hash, Millis(q.store.now()), id)
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("set password of user %d: %w", id, ErrNotFound)
	}
	return nil
}

// RecordLogin sets a user's last sign-in to now and, when rehash is not
// empty, replaces the password hash with it (the same password hashed with
// newer parameters). It leaves UpdatedAt and Generation alone, so the
// user's bearer tokens and sessions stay valid.
func (q *Queries) RecordLogin(ctx context.Context, id int64, rehash string) error {
	now := Millis(q.store.now())
	var n int64
	var err error
	if rehash != "" {
		n, err = q.db.Exec(ctx, "UPDATE users SET last_login_at = ?, password_hash = ? WHERE id = ?", now, rehash, id)
	} else {
		n, err = q.db.Exec(ctx, "UPDATE users SET last_login_at = ? WHERE id = ?", now, id)
	}
	if err != nil {
		return fmt.Errorf("record sign-in of user %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("record sign-in of user %d: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteUser removes a user with its sessions and API tokens. Run it in a
// transaction (Store.Tx) so that a failure leaves all three in place.
func (q *Queries) DeleteUser(ctx context.Context, id int64) error {
	if _, err := q.db.Exec(ctx, "DELETE FROM sessions WHERE user_id = ?", id); err != nil {
		return fmt.Errorf("delete user %d: sessions: %w", id, err)
	}
	if _, err := q.db.Exec(ctx, "DELETE FROM api_tokens WHERE user_id = ?", id); err != nil {
		return fmt.Errorf("delete user %d: API tokens: %w", id, err)
	}
	n, err := q.db.Exec(ctx, "DELETE FROM users WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete user %d: %w", id, ErrNotFound)
	}
	return nil
}

// ActiveAdmins returns the ids of the admins who are not disabled. On
// PostgreSQL it locks their rows until the transaction ends, so two
// transactions that each demote, disable or delete an admin cannot both
// count the other as the one who remains; on SQLite transactions already
// take the write lock when they begin. Call it in a transaction before
// removing an admin.
func (q *Queries) ActiveAdmins(ctx context.Context) ([]int64, error) {
	query := "SELECT id FROM users WHERE role = ? AND disabled = ? ORDER BY id"
	if q.db.Dialect() == Postgres {
		query += " FOR UPDATE"
	}
	rows, err := q.db.Query(ctx, query, UserRoleAdmin, false)
	if err != nil {
		return nil, fmt.Errorf("list active admins: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list active admins: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
