package store

import (
	"context"
	"fmt"
	"time"
)

// Session is a signed-in browser. The cookie holds a random value; the
// store keeps only its SHA-256.
type Session struct {
	// IDHash is the SHA-256 of the cookie value, lowercase hex. It never
	// leaves the host.
	IDHash string `json:"-"`
	UserID int64  `json:"user_id"`
	// ExpiresAt is when the session ends, whatever happens before.
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	// Remote is the client's address when it signed in.
	Remote string `json:"remote"`
	// UserGeneration is the user's Generation when the session began; the
	// session ends when the user's moves on (a password, role or status
	// change).
	UserGeneration int64 `json:"-"`
}

const sessionColumns = "id_hash, user_id, expires_at, created_at, remote, user_generation"

func scanSession(r Row) (*Session, error) {
	var s Session
	var expires, created int64
	if err := r.Scan(&s.IDHash, &s.UserID, &expires, &created, &s.Remote, &s.UserGeneration); err != nil {
		return nil, err
	}
	s.ExpiresAt, s.CreatedAt = FromMillis(expires), FromMillis(created)
	return &s, nil
}

// CreateSession inserts a session (IDHash, UserID, ExpiresAt, Remote,
// UserGeneration) and sets its creation time.
func (q *Queries) CreateSession(ctx context.Context, s *Session) error {
	now := q.store.now()
	_, err := q.db.Exec(ctx, "INSERT INTO sessions (id_hash, user_id, expires_at, created_at, remote, user_generation) VALUES (?, ?, ?, ?, ?, ?)",
		s.IDHash, s.UserID, Millis(s.ExpiresAt), Millis(now), s.Remote, s.UserGeneration)
	if err != nil {
		return fmt.Errorf("create session for user %d: %w", s.UserID, err)
	}
	s.CreatedAt, s.ExpiresAt = now.Truncate(time.Millisecond), truncMillis(s.ExpiresAt)
	return nil
}

// GetSession reads the session whose cookie hashes to idHash, expired or
// not: the caller compares ExpiresAt with its clock.
func (q *Queries) GetSession(ctx context.Context, idHash string) (*Session, error) {
	s, err := scanSession(q.db.QueryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id_hash = ?", idHash))
	if err != nil {
		// The hash is a credential's digest: keep it out of the message.
		return nil, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// DeleteSession removes one session (signing out). A missing session is
// ErrNotFound.
func (q *Queries) DeleteSession(ctx context.Context, idHash string) error {
	n, err := q.db.Exec(ctx, "DELETE FROM sessions WHERE id_hash = ?", idHash)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("delete session: %w", ErrNotFound)
	}
	return nil
}

// DeleteUserSessions signs a user out everywhere and returns how many
// sessions ended.
func (q *Queries) DeleteUserSessions(ctx context.Context, userID int64) (int64, error) {
	n, err := q.db.Exec(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return n, nil
}

// DeleteExpiredSessions removes sessions that have ended and returns how
// many (a periodic job calls it; expired sessions are refused anyway).
func (q *Queries) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	n, err := q.db.Exec(ctx, "DELETE FROM sessions WHERE expires_at <= ?", Millis(q.store.now()))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}
