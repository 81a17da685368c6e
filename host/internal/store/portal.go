package store

import (
	"context"
	"fmt"
	"time"
)

// The customer portal's records (migration 00008): customers' sessions,
// kept apart from the admin users' sessions, and the one-time codes that
// sign a customer in by phone. billing.Service's portal methods use them.

// PortalSession is a customer signed in to the portal. The cookie holds a
// random value; the store keeps only its SHA-256.
type PortalSession struct {
	// IDHash is the SHA-256 of the cookie value, lowercase hex.
	IDHash     string
	CustomerID int64
	// ExpiresAt is when the session ends, whatever happens before.
	ExpiresAt time.Time
	CreatedAt time.Time
	// Remote is the client's address when the customer signed in.
	Remote string
}

// CreatePortalSession inserts a session (IDHash, CustomerID, ExpiresAt,
// Remote) and sets its creation time.
func (q *Queries) CreatePortalSession(ctx context.Context, s *PortalSession) error {
	now := q.store.now()
	_, err := q.db.Exec(ctx, "INSERT INTO portal_sessions (id_hash, customer_id, expires_at, created_at, remote) VALUES (?, ?, ?, ?, ?)",
		s.IDHash, s.CustomerID, Millis(s.ExpiresAt), Millis(now), s.Remote)
	if err != nil {
		return fmt.Errorf("create portal session for customer %d: %w", s.CustomerID, fieldError(err, ErrReferenced, "customer_id", fmt.Sprintf("no customer has id %d", s.CustomerID)))
	}
	s.CreatedAt, s.ExpiresAt = now.Truncate(time.Millisecond), truncMillis(s.ExpiresAt)
	return nil
}

// GetPortalSession reads the session whose cookie hashes to idHash,
// expired or not: the caller compares ExpiresAt with its clock.
func (q *Queries) GetPortalSession(ctx context.Context, idHash string) (*PortalSession, error) {
	var s PortalSession
	var expires, created int64
	err := q.db.QueryRow(ctx, "SELECT id_hash, customer_id, expires_at, created_at, remote FROM portal_sessions WHERE id_hash = ?", idHash).
		Scan(&s.IDHash, &s.CustomerID, &expires, &created, &s.Remote)
	if err != nil {
		// The hash is a credential's digest: keep it out of the message.
		return nil, fmt.Errorf("portal session: %w", err)
	}
	s.ExpiresAt, s.CreatedAt = FromMillis(expires), FromMillis(created)
	return &s, nil
}

// DeletePortalSession ends one session (signing out). A missing session is
// ErrNotFound.
func (q *Queries) DeletePortalSession(ctx context.Context, idHash string) error {
	n, err := q.db.Exec(ctx, "DELETE FROM portal_sessions WHERE id_hash = ?", idHash)
	if err != nil {
		return fmt.Errorf("delete portal session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("delete portal session: %w", ErrNotFound)
	}
	return nil
}

// DeleteExpiredPortalSessions removes the sessions and codes that have
// ended and returns how many (expired ones are refused anyway).
func (q *Queries) DeleteExpiredPortalSessions(ctx context.Context) (int64, error) {
	now := Millis(q.store.now())
	n, err := q.db.Exec(ctx, "DELETE FROM portal_sessions WHERE expires_at <= ?", now)
	if err != nil {
		return 0, fmt.Errorf("delete expired portal sessions: %w", err)
	}
	m, err := q.db.Exec(ctx, "DELETE FROM portal_codes WHERE expires_at <= ?", now)
	if err != nil {
		return n, fmt.Errorf("delete expired portal codes: %w", err)
	}
	return n + m, nil
}

// PortalCode is a one-time sign-in code sent to a phone: one per phone at
// a time.
type PortalCode struct {
	// Phone is the E.164 number the code was sent to.
	Phone string
	// CodeHash is a keyed digest of the code; the code itself is never
	// stored.
	CodeHash   string
	CustomerID int64
	ExpiresAt  time.Time
	// Attempts counts the wrong codes tried against it.
	Attempts  int
	CreatedAt time.Time
}

// PutPortalCode stores the phone's code, replacing the one it had (and its
// attempts): one code is active per phone.
func (q *Queries) PutPortalCode(ctx context.Context, c *PortalCode) error {
	now := q.store.now()
	_, err := q.db.Exec(ctx, `INSERT INTO portal_codes (phone, code_hash, customer_id, expires_at, attempts, created_at) VALUES (?, ?, ?, ?, 0, ?)
		ON CONFLICT (phone) DO UPDATE SET code_hash = excluded.code_hash, customer_id = excluded.customer_id,
		expires_at = excluded.expires_at, attempts = 0, created_at = excluded.created_at`,
		c.Phone, c.CodeHash, c.CustomerID, Millis(c.ExpiresAt), Millis(now))
	if err != nil {
		return fmt.Errorf("store the sign-in code for customer %d: %w", c.CustomerID, fieldError(err, ErrReferenced, "customer_id", fmt.Sprintf("no customer has id %d", c.CustomerID)))
	}
	c.Attempts, c.CreatedAt, c.ExpiresAt = 0, now.Truncate(time.Millisecond), truncMillis(c.ExpiresAt)
	return nil
}

// GetPortalCode reads the phone's code, expired or not.
func (q *Queries) GetPortalCode(ctx context.Context, phone string) (*PortalCode, error) {
	var c PortalCode
	var expires, created int64
	err := q.db.QueryRow(ctx, "SELECT phone, code_hash, customer_id, expires_at, attempts, created_at FROM portal_codes WHERE phone = ?", phone).
		Scan(&c.Phone, &c.CodeHash, &c.CustomerID, &expires, &c.Attempts, &created)
	if err != nil {
		return nil, fmt.Errorf("sign-in code: %w", err)
	}
	c.ExpiresAt, c.CreatedAt = FromMillis(expires), FromMillis(created)
	return &c, nil
}

// FailPortalCode counts a wrong code against the phone's code and returns
// the attempts so far (ErrNotFound: no code).
func (q *Queries) FailPortalCode(ctx context.Context, phone string) (int, error) {
	var n int
	if err := q.db.QueryRow(ctx, "UPDATE portal_codes SET attempts = attempts + 1 WHERE phone = ? RETURNING attempts", phone).Scan(&n); err != nil {
		return 0, fmt.Errorf("count a wrong sign-in code: %w", err)
	}
	return n, nil
}

// UsePortalCode removes the phone's code if its digest is codeHash and
// reports whether it did: of two requests with the same code, one wins.
func (q *Queries) UsePortalCode(ctx context.Context, phone, codeHash string) (bool, error) {
	n, err := q.db.Exec(ctx, "DELETE FROM portal_codes WHERE phone = ? AND code_hash = ?", phone, codeHash)
	if err != nil {
		return false, fmt.Errorf("use the sign-in code: %w", err)
	}
	return n == 1, nil
}

// DeletePortalCode removes the phone's code, if any.
func (q *Queries) DeletePortalCode(ctx context.Context, phone string) error {
	if _, err := q.db.Exec(ctx, "DELETE FROM portal_codes WHERE phone = ?", phone); err != nil {
		return fmt.Errorf("delete the sign-in code: %w", err)
	}
	return nil
}

// CustomersByRouterUsername reads the customers with a router login at any
// location, with their router passwords decrypted by cip, by id.
func (q *Queries) CustomersByRouterUsername(ctx context.Context, username string, cip *Cipher) ([]Customer, error) {
	return q.customersWhere(ctx, "router_username = ?", username, cip)
}

// CustomersByPhone reads the customers with a phone number, by id (router
// passwords left empty).
func (q *Queries) CustomersByPhone(ctx context.Context, phone string) ([]Customer, error) {
	return q.customersWhere(ctx, "phone = ?", phone, nil)
}

func (q *Queries) customersWhere(ctx context.Context, cond string, arg any, cip *Cipher) ([]Customer, error) {
	rows, err := q.db.Query(ctx, "SELECT "+customerColumns+" FROM customers WHERE "+cond+" ORDER BY id LIMIT 20", arg)
	if err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	defer rows.Close()
	var out []Customer
	for rows.Next() {
		c, err := scanCustomer(rows, cip)
		if err != nil {
			return nil, fmt.Errorf("find customers: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}
