package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// APIToken is a long-lived credential for scripts and integrations. The
// token itself is shown once, when it is made; the store keeps only its
// SHA-256 and a short prefix to recognise it by.
type APIToken struct {
	ID     int64 `json:"id"`
	UserID int64 `json:"user_id"`
	// Username is the owner's, filled in by ListAPITokens.
	Username string `json:"username,omitempty"`
	Name     string `json:"name"`
	// Hash is the SHA-256 of the token, lowercase hex. It never leaves the
	// host.
	Hash string `json:"-"`
	// Prefix is the token's first characters ("mbt_AbCdEf").
	Prefix string `json:"prefix"`
	// ExpiresAt is when the token stops working (zero: never).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// LastUsedAt is the last request made with it (zero: never), to the
	// minute.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// RevokedAt is when it was revoked (zero: it was not).
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
}

const tokenColumns = "t.id, t.user_id, t.name, t.token_hash, t.prefix, t.expires_at, t.last_used_at, t.revoked_at, t.created_at"

func scanToken(r Row, extra ...any) (*APIToken, error) {
	var t APIToken
	var expires, lastUsed, revoked sql.NullInt64
	var created int64
	dest := append([]any{&t.ID, &t.UserID, &t.Name, &t.Hash, &t.Prefix, &expires, &lastUsed, &revoked, &created}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = FromNullMillis(expires), FromNullMillis(lastUsed), FromNullMillis(revoked)
	t.CreatedAt = FromMillis(created)
	return &t, nil
}

// CreateAPIToken inserts a token (UserID, Name, Hash, Prefix and optionally
// ExpiresAt) and sets its ID and creation time.
func (q *Queries) CreateAPIToken(ctx context.Context, t *APIToken) error {
	now := q.store.now()
	err := q.db.QueryRow(ctx, `INSERT INTO api_tokens (user_id, name, token_hash, prefix, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		t.UserID, t.Name, t.Hash, t.Prefix, MillisOrNil(t.ExpiresAt), Millis(now)).Scan(&t.ID)
	if err != nil {
		return fmt.Errorf("create API token %q: %w", t.Name, fieldError(err, ErrReferenced, "user_id", fmt.Sprintf("no user has id %d", t.UserID)))
	}
	t.CreatedAt = now.Truncate(time.Millisecond)
	t.ExpiresAt = truncMillis(t.ExpiresAt)
	return nil
}

// GetAPIToken reads one token by id.
func (q *Queries) GetAPIToken(ctx context.Context, id int64) (*APIToken, error) {
	t, err := scanToken(q.db.QueryRow(ctx, "SELECT "+tokenColumns+" FROM api_tokens t WHERE t.id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("API token %d: %w", id, err)
	}
	return t, nil
}

// GetAPITokenByHash reads the token whose SHA-256 (hex) is hash, revoked
// and expired ones included: the caller says why it refuses them.
func (q *Queries) GetAPITokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	t, err := scanToken(q.db.QueryRow(ctx, "SELECT "+tokenColumns+" FROM api_tokens t WHERE t.token_hash = ?", hash))
	if err != nil {
		// The hash is a credential's digest: keep it out of the message.
		return nil, fmt.Errorf("API token: %w", err)
	}
	return t, nil
}

// ListAPITokens lists one user's tokens (userID 0: everyone's), newest
// first, revoked ones included, with their owners' usernames, and returns
// the total.
func (q *Queries) ListAPITokens(ctx context.Context, userID int64, page Page) ([]APIToken, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	where, args := "", []any{}
	if userID != 0 {
		where, args = " WHERE t.user_id = ?", append(args, userID)
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM api_tokens t"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count API tokens: %w", err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+tokenColumns+", u.username FROM api_tokens t JOIN users u ON u.id = t.user_id"+
		where+" ORDER BY t.created_at DESC, t.id DESC"+page.sql(), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list API tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		var username string
		t, err := scanToken(rows, &username)
		if err != nil {
			return nil, 0, fmt.Errorf("list API tokens: %w", err)
		}
		t.Username = username
		out = append(out, *t)
	}
	return out, total, rows.Err()
}

// RevokeAPIToken marks a token revoked now. Revoking a revoked token keeps
// the first time and is not an error.
func (q *Queries) RevokeAPIToken(ctx context.Context, id int64) error {
	n, err := q.db.Exec(ctx, "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", Millis(q.store.now()), id)
	if err != nil {
		return fmt.Errorf("revoke API token %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("revoke API token %d: %w", id, ErrNotFound)
	}
	return nil
}

// TouchAPIToken sets a token's last use to now.
func (q *Queries) TouchAPIToken(ctx context.Context, id int64) error {
	n, err := q.db.Exec(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", Millis(q.store.now()), id)
	if err != nil {
		return fmt.Errorf("record use of API token %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("record use of API token %d: %w", id, ErrNotFound)
	}
	return nil
}
