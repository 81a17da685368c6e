package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SubscriptionView is a read-only view of one subscription joined with
// what the billing jobs need beside it: the customer and their router
// login, the plan, and the router location.
type SubscriptionView struct {
	SubscriptionID int64
	Status         string
	StartsAt       time.Time
	ExpiresAt      time.Time

	CustomerID       int64
	CustomerName     string
	Phone            string
	Email            string
	RouterUsername   string
	RouterPasswordEn string // encrypted; decrypt with the Cipher

	Plan Plan

	LocationID     int64
	LocationName   string
	LocationPlugin string
}

const subscriptionViewSelect = `SELECT s.id, s.status, s.starts_at, s.expires_at,
			c.id, c.name, c.phone, c.email, c.router_username, c.router_password_enc,
			p.id, p.name, p.kind, p.rate_limit, p.shared_users, p.time_limit_seconds, p.data_limit_bytes, p.validity_seconds,
			p.price_amount, p.currency, p.profile, p.isolation_profile, p.active, p.created_at, p.updated_at, p.billing_type,
			l.id, l.name, l.plugin
		FROM subscriptions s
		JOIN customers c ON c.id = s.customer_id
		JOIN plans p ON p.id = s.plan_id
		JOIN router_locations l ON l.id = c.location_id`

func scanSubscriptionView(r Row) (*SubscriptionView, error) {
	var s SubscriptionView
	var starts, expires sql.NullInt64
	var timeLimit, validity, pc, pu int64
	p := &s.Plan
	if err := r.Scan(
		&s.SubscriptionID, &s.Status, &starts, &expires,
		&s.CustomerID, &s.CustomerName, &s.Phone, &s.Email, &s.RouterUsername, &s.RouterPasswordEn,
		&p.ID, &p.Name, &p.Kind, &p.RateLimit, &p.SharedUsers, &timeLimit, &p.DataLimitBytes, &validity,
		&p.Price, &p.Currency, &p.Profile, &p.IsolationProfile, &p.Active, &pc, &pu, &p.BillingType,
		&s.LocationID, &s.LocationName, &s.LocationPlugin); err != nil {
		return nil, err
	}
	s.StartsAt, s.ExpiresAt = FromNullMillis(starts), FromNullMillis(expires)
	p.TimeLimit, p.Validity = time.Duration(timeLimit)*time.Second, time.Duration(validity)*time.Second
	p.CreatedAt, p.UpdatedAt = FromMillis(pc), FromMillis(pu)
	return &s, nil
}

// GetSubscriptionView reads a subscription with its customer, plan and
// location.
func (q *Queries) GetSubscriptionView(ctx context.Context, subscriptionID int64) (*SubscriptionView, error) {
	s, err := scanSubscriptionView(q.db.QueryRow(ctx, subscriptionViewSelect+" WHERE s.id = ?", subscriptionID))
	if err != nil {
		return nil, fmt.Errorf("subscription %d: %w", subscriptionID, err)
	}
	return s, nil
}

// ListLocationSubscriptionViews reads the subscriptions of a location's
// customers that should have a login on its router: active and isolated
// ones, oldest first.
func (q *Queries) ListLocationSubscriptionViews(ctx context.Context, locationID int64) ([]SubscriptionView, error) {
	rows, err := q.db.Query(ctx, subscriptionViewSelect+" WHERE c.location_id = ? AND s.status IN (?, ?) ORDER BY s.id",
		locationID, SubscriptionActive, SubscriptionIsolated)
	if err != nil {
		return nil, fmt.Errorf("list the subscriptions of location %d: %w", locationID, err)
	}
	defer rows.Close()
	var out []SubscriptionView
	for rows.Next() {
		s, err := scanSubscriptionView(rows)
		if err != nil {
			return nil, fmt.Errorf("list the subscriptions of location %d: %w", locationID, err)
		}
		out = append(out, *s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the subscriptions of location %d: %w", locationID, err)
	}
	return out, nil
}

// LocationLogins maps the router usernames of a location's customers to
// their customer ids.
func (q *Queries) LocationLogins(ctx context.Context, locationID int64) (map[string]int64, error) {
	rows, err := q.db.Query(ctx, "SELECT id, router_username FROM customers WHERE location_id = ?", locationID)
	if err != nil {
		return nil, fmt.Errorf("list the logins of location %d: %w", locationID, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("list the logins of location %d: %w", locationID, err)
		}
		out[name] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the logins of location %d: %w", locationID, err)
	}
	return out, nil
}

// ActivateFor is Activate for a prepaid plan valid for validity.
func (q *Queries) ActivateFor(ctx context.Context, inv *Invoice, validity time.Duration) (int64, time.Time, error) {
	return q.Activate(ctx, inv, &Plan{Validity: validity, BillingType: BillingPrepaid})
}

// NextPeriodEnd is when a period of plan that starts at from ends: a
// calendar month later for a postpaid plan, the plan's validity later
// otherwise.
func NextPeriodEnd(plan *Plan, from time.Time) time.Time {
	if plan.Postpaid() {
		return from.UTC().AddDate(0, 1, 0)
	}
	return from.Add(plan.Validity)
}

// Activate starts or extends the subscription a credited invoice pays for,
// and returns it and its new expiry. Use it in the transaction that
// credits the invoice, so it happens exactly once. The rule:
//
//   - No subscription on the invoice (subscription_id 0): a new one starts
//     now, linked to the invoice. (The billing service first looks for the
//     customer's subscription on the same plan to renew, unless the
//     invoice asks for a new one: RenewableSubscription.)
//   - An active subscription that has not ended is extended from its end,
//     not from now: paying early loses nothing.
//   - A postpaid subscription that ended (isolated while its bill was
//     unpaid) continues from its end, when that period is not over yet:
//     the bill pays for the period it was made for.
//   - Any other (expired, isolated or pending prepaid, or a postpaid one
//     whose paid period is over already) starts again now.
//
// A period is the plan's validity, or a calendar month for a postpaid plan
// (NextPeriodEnd).
func (q *Queries) Activate(ctx context.Context, inv *Invoice, plan *Plan) (int64, time.Time, error) {
	now := q.store.now()
	if inv.SubscriptionID == 0 {
		end := NextPeriodEnd(plan, now)
		var id int64
		err := q.db.QueryRow(ctx, `INSERT INTO subscriptions (customer_id, plan_id, status, starts_at, expires_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			inv.CustomerID, inv.PlanID, SubscriptionActive, Millis(now), Millis(end), Millis(now), Millis(now)).Scan(&id)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("start a subscription for invoice %s: %w", inv.Number, err)
		}
		if _, err := q.db.Exec(ctx, "UPDATE invoices SET subscription_id = ?, updated_at = ? WHERE id = ?", id, Millis(now), inv.ID); err != nil {
			return 0, time.Time{}, fmt.Errorf("link invoice %s to its subscription: %w", inv.Number, err)
		}
		inv.SubscriptionID = id
		return id, end.Truncate(time.Millisecond), nil
	}
	var status string
	var expires sql.NullInt64
	if err := q.db.QueryRow(ctx, "SELECT status, expires_at FROM subscriptions WHERE id = ?", inv.SubscriptionID).Scan(&status, &expires); err != nil {
		return 0, time.Time{}, fmt.Errorf("subscription %d: %w", inv.SubscriptionID, err)
	}
	ends := FromNullMillis(expires)
	extend := expires.Valid && status == SubscriptionActive && ends.After(now)
	if !extend && expires.Valid && plan.Postpaid() && status != SubscriptionCancelled && NextPeriodEnd(plan, ends).After(now) {
		extend = true
	}
	if extend {
		end := NextPeriodEnd(plan, ends)
		if _, err := q.db.Exec(ctx, "UPDATE subscriptions SET plan_id = ?, status = ?, expires_at = ?, updated_at = ? WHERE id = ?",
			inv.PlanID, SubscriptionActive, Millis(end), Millis(now), inv.SubscriptionID); err != nil {
			return 0, time.Time{}, fmt.Errorf("extend subscription %d: %w", inv.SubscriptionID, err)
		}
		return inv.SubscriptionID, end.Truncate(time.Millisecond), nil
	}
	end := NextPeriodEnd(plan, now)
	if _, err := q.db.Exec(ctx, "UPDATE subscriptions SET plan_id = ?, status = ?, starts_at = ?, expires_at = ?, updated_at = ? WHERE id = ?",
		inv.PlanID, SubscriptionActive, Millis(now), Millis(end), Millis(now), inv.SubscriptionID); err != nil {
		return 0, time.Time{}, fmt.Errorf("reactivate subscription %d: %w", inv.SubscriptionID, err)
	}
	return inv.SubscriptionID, end.Truncate(time.Millisecond), nil
}

// RenewableSubscription is the subscription a payment for plan renews
// when the invoice names none: the customer's latest one on the same plan
// that is active, isolated or expired (not pending, not cancelled). 0 when
// there is none: paying starts a new one.
func (q *Queries) RenewableSubscription(ctx context.Context, customerID, planID int64) (int64, error) {
	var id int64
	err := q.db.QueryRow(ctx, `SELECT id FROM subscriptions WHERE customer_id = ? AND plan_id = ? AND status IN (?, ?, ?)
		ORDER BY CASE status WHEN ? THEN 0 ELSE 1 END, id DESC LIMIT 1`,
		customerID, planID, SubscriptionActive, SubscriptionIsolated, SubscriptionExpired, SubscriptionActive).Scan(&id)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("the subscription of customer %d to renew: %w", customerID, err)
	}
	return id, nil
}

// MoveSubscription changes a subscription's status from one of from to to,
// and reports whether it did (false: it was in another status by then).
func (q *Queries) MoveSubscription(ctx context.Context, id int64, to string, from ...string) (bool, error) {
	query := "UPDATE subscriptions SET status = ?, updated_at = ? WHERE id = ? AND status IN ("
	args := []any{to, Millis(q.store.now()), id}
	for i, f := range from {
		if i > 0 {
			query += ", "
		}
		query += "?"
		args = append(args, f)
	}
	n, err := q.db.Exec(ctx, query+")", args...)
	if err != nil {
		return false, fmt.Errorf("subscription %d to %s: %w", id, to, err)
	}
	return n == 1, nil
}
