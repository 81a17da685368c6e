package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Subscription statuses. A subscription is created pending (waiting for a
// payment or a voucher), becomes active when paid, and at expiry is either
// isolated (moved to the plan's isolation profile, still known to the
// router) or expired (removed from the router). Cancelled ones are over.
const (
	SubscriptionPending   = "pending"
	SubscriptionActive    = "active"
	SubscriptionIsolated  = "isolated"
	SubscriptionExpired   = "expired"
	SubscriptionCancelled = "cancelled"
)

// SubscriptionStatuses are every status, in lifecycle order.
var SubscriptionStatuses = []string{SubscriptionPending, SubscriptionActive, SubscriptionIsolated, SubscriptionExpired, SubscriptionCancelled}

// ValidSubscriptionStatus reports whether s is a subscription status.
func ValidSubscriptionStatus(s string) bool { return slices.Contains(SubscriptionStatuses, s) }

// Subscription is a customer's use of a plan over a period.
type Subscription struct {
	ID         int64 `json:"id"`
	CustomerID int64 `json:"customer_id"`
	PlanID     int64 `json:"plan_id"`
	// Status is one of SubscriptionStatuses.
	Status string `json:"status"`
	// StartsAt is when the period began (zero: not started, stored NULL).
	StartsAt time.Time `json:"starts_at,omitzero"`
	// ExpiresAt is when it ends (zero: no end, stored NULL; such a
	// subscription is never due).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const subscriptionColumns = "id, customer_id, plan_id, status, starts_at, expires_at, created_at, updated_at"

func scanSubscription(r Row) (*Subscription, error) {
	var s Subscription
	var starts, expires sql.NullInt64
	var created, updated int64
	if err := r.Scan(&s.ID, &s.CustomerID, &s.PlanID, &s.Status, &starts, &expires, &created, &updated); err != nil {
		return nil, err
	}
	s.StartsAt, s.ExpiresAt = FromNullMillis(starts), FromNullMillis(expires)
	s.CreatedAt, s.UpdatedAt = FromMillis(created), FromMillis(updated)
	return &s, nil
}

// subscriptionRefused words ErrReferenced: the customer or the plan is
// missing (SQLite does not say which, so no field is named).
func subscriptionRefused(err error, s *Subscription) error {
	return fieldError(err, ErrReferenced, "",
		fmt.Sprintf("customer %d or plan %d does not exist; check both ids", s.CustomerID, s.PlanID))
}

// CreateSubscription inserts a subscription and sets its ID and times. A
// missing customer or plan is ErrReferenced (a *FieldError); an unknown
// status ErrInvalid.
func (q *Queries) CreateSubscription(ctx context.Context, s *Subscription) error {
	now := q.store.now()
	err := q.db.QueryRow(ctx, `INSERT INTO subscriptions (customer_id, plan_id, status, starts_at, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		s.CustomerID, s.PlanID, s.Status, MillisOrNil(s.StartsAt), MillisOrNil(s.ExpiresAt), Millis(now), Millis(now)).Scan(&s.ID)
	if err != nil {
		return fmt.Errorf("create subscription of customer %d: %w", s.CustomerID, subscriptionRefused(err, s))
	}
	s.StartsAt, s.ExpiresAt = truncMillis(s.StartsAt), truncMillis(s.ExpiresAt)
	s.CreatedAt, s.UpdatedAt = now.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	return nil
}

// truncMillis returns t as it reads back from the database: UTC, to the
// millisecond (the zero time stays zero).
func truncMillis(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return FromMillis(Millis(t))
}

// GetSubscription reads one subscription.
func (q *Queries) GetSubscription(ctx context.Context, id int64) (*Subscription, error) {
	s, err := scanSubscription(q.db.QueryRow(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("subscription %d: %w", id, err)
	}
	return s, nil
}

// SubscriptionFilter narrows ListSubscriptions. The zero filter lists all.
type SubscriptionFilter struct {
	// CustomerID keeps one customer's subscriptions (0: everyone's).
	CustomerID int64
	// Status keeps one status (empty: every status).
	Status string
}

// ListSubscriptions lists the subscriptions a filter keeps, newest first,
// and returns their total.
func (q *Queries) ListSubscriptions(ctx context.Context, f SubscriptionFilter, page Page) ([]Subscription, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	var conds []string
	var args []any
	if f.CustomerID != 0 {
		conds, args = append(conds, "customer_id = ?"), append(args, f.CustomerID)
	}
	if f.Status != "" {
		conds, args = append(conds, "status = ?"), append(args, f.Status)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM subscriptions"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count subscriptions: %w", err)
	}
	out, err := q.subscriptions(ctx, "list subscriptions",
		"SELECT "+subscriptionColumns+" FROM subscriptions"+where+" ORDER BY created_at DESC, id DESC"+page.sql(), args...)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// subscriptions runs a query returning subscription rows.
func (q *Queries) subscriptions(ctx context.Context, op, query string, args ...any) ([]Subscription, error) {
	rows, err := q.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, *s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// ListDueSubscriptions returns up to limit subscriptions that have run out
// by before: status active and expires_at at or before it (subscriptions
// without an expiry are never due), the longest expired first (expires_at,
// then id). limit 0 means DefaultLimit; above MaxLimit is ErrInvalid.
//
// This is the expiry job's work list. It has no offset on purpose: handle
// each subscription returned (isolate or expire it, which takes it off the
// list, or extend it) and call again until the list comes back shorter than
// limit. A subscription the job cannot handle stays at the head of the list,
// so the job must change or skip it (by ID) rather than loop on it.
// Isolated subscriptions are not listed: they were handled when they
// expired; find them with ListSubscriptions and status isolated.
func (q *Queries) ListDueSubscriptions(ctx context.Context, before time.Time, limit int) ([]Subscription, error) {
	page, err := Page{Limit: limit}.Normalized()
	if err != nil {
		return nil, err
	}
	return q.subscriptions(ctx, "list due subscriptions",
		"SELECT "+subscriptionColumns+" FROM subscriptions WHERE status = ? AND expires_at <= ? ORDER BY expires_at, id"+page.sql(),
		SubscriptionActive, Millis(before))
}

// ListExpiringBetween returns the active subscriptions that expire in
// [from, to): at or after from and before to, soonest first. This is the
// reminder job's work list: windows that follow each other ([d, d+24h),
// then [d+24h, d+48h)) never list a subscription twice. The list is not
// paged; keep the window to a day or so.
func (q *Queries) ListExpiringBetween(ctx context.Context, from, to time.Time) ([]Subscription, error) {
	return q.subscriptions(ctx, "list expiring subscriptions",
		"SELECT "+subscriptionColumns+" FROM subscriptions WHERE status = ? AND expires_at >= ? AND expires_at < ? ORDER BY expires_at, id",
		SubscriptionActive, Millis(from), Millis(to))
}

// UpdateSubscription writes every field of a subscription but its ID and
// creation time.
func (q *Queries) UpdateSubscription(ctx context.Context, s *Subscription) error {
	now := q.store.now()
	n, err := q.db.Exec(ctx, `UPDATE subscriptions SET customer_id = ?, plan_id = ?, status = ?, starts_at = ?, expires_at = ?,
		updated_at = ? WHERE id = ?`,
		s.CustomerID, s.PlanID, s.Status, MillisOrNil(s.StartsAt), MillisOrNil(s.ExpiresAt), Millis(now), s.ID)
	if err != nil {
		return fmt.Errorf("update subscription %d: %w", s.ID, subscriptionRefused(err, s))
	}
	if n == 0 {
		return fmt.Errorf("update subscription %d: %w", s.ID, ErrNotFound)
	}
	s.StartsAt, s.ExpiresAt = truncMillis(s.StartsAt), truncMillis(s.ExpiresAt)
	s.UpdatedAt = now.Truncate(time.Millisecond)
	return nil
}

// DeleteSubscription removes a subscription that nothing refers to
// (ErrReferenced while an invoice or a voucher names it: cancel it
// instead).
func (q *Queries) DeleteSubscription(ctx context.Context, id int64) error {
	n, err := q.db.Exec(ctx, "DELETE FROM subscriptions WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete subscription %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete subscription %d: %w", id, ErrNotFound)
	}
	return nil
}
