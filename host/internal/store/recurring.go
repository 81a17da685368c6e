package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errPeriodBilled rolls back a period invoice that another run made first.
var errPeriodBilled = errors.New("the period is billed already")

// ListPostpaidToBill returns up to limit active subscriptions on postpaid
// plans whose period ends at or before until and whose next period has
// no invoice yet (none with period_start = its expires_at), the soonest
// ending first. It is the recurring-bill job's work list: billing a
// subscription takes it off the list.
func (q *Queries) ListPostpaidToBill(ctx context.Context, until time.Time, limit int) ([]Subscription, error) {
	page, err := Page{Limit: limit}.Normalized()
	if err != nil {
		return nil, err
	}
	return q.subscriptions(ctx, "list postpaid subscriptions to bill",
		`SELECT s.id, s.customer_id, s.plan_id, s.status, s.starts_at, s.expires_at, s.created_at, s.updated_at
		FROM subscriptions s JOIN plans p ON p.id = s.plan_id
		WHERE s.status = ? AND p.billing_type = ? AND s.expires_at IS NOT NULL AND s.expires_at <= ?
		AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id AND i.period_start = s.expires_at)
		ORDER BY s.expires_at, s.id`+page.sql(),
		SubscriptionActive, BillingPostpaid, Millis(until))
}

// CreatePeriodInvoice records a postpaid subscription's bill for the
// period that starts at inv.PeriodStart, once: the unique key
// (subscription_id, period_start) makes a second run, or a second host,
// insert nothing (and use no invoice number). It reports whether this
// call made the invoice. Call it inside a transaction (Store.Tx) with what
// the bill queues; a false result has written nothing.
func (q *Queries) CreatePeriodInvoice(ctx context.Context, inv *Invoice) (bool, error) {
	if inv.SubscriptionID == 0 || inv.PeriodStart.IsZero() {
		return false, fmt.Errorf("%w: a period invoice needs its subscription and period", ErrInvalid)
	}
	var exists int
	err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM invoices WHERE subscription_id = ? AND period_start = ?",
		inv.SubscriptionID, Millis(inv.PeriodStart)).Scan(&exists)
	if err != nil || exists > 0 {
		return false, err
	}
	// A concurrent run that passed the same check loses on the unique key;
	// its savepoint-free transaction is the caller's, so the conflict is
	// reported as "not made" and the caller rolls back.
	if err := q.CreateInvoice(ctx, inv); err != nil {
		if errors.Is(err, ErrConflict) {
			return false, errPeriodBilled
		}
		return false, err
	}
	return true, nil
}

// PeriodBilled reports whether err is CreatePeriodInvoice's "another run
// made this bill first": the caller's transaction must roll back, and
// there is nothing to do.
func PeriodBilled(err error) bool { return errors.Is(err, errPeriodBilled) }

// ListDueSubscriptionsGrace is ListDueSubscriptions where subscriptions on
// postpaid plans are due grace after their end instead (the customer
// keeps the service while the bill is waiting).
func (q *Queries) ListDueSubscriptionsGrace(ctx context.Context, before time.Time, grace time.Duration, limit int) ([]Subscription, error) {
	page, err := Page{Limit: limit}.Normalized()
	if err != nil {
		return nil, err
	}
	return q.subscriptions(ctx, "list due subscriptions",
		`SELECT s.id, s.customer_id, s.plan_id, s.status, s.starts_at, s.expires_at, s.created_at, s.updated_at
		FROM subscriptions s JOIN plans p ON p.id = s.plan_id
		WHERE s.status = ? AND ((p.billing_type = ? AND s.expires_at <= ?) OR (p.billing_type <> ? AND s.expires_at <= ?))
		ORDER BY s.expires_at, s.id`+page.sql(),
		SubscriptionActive, BillingPostpaid, Millis(before.Add(-grace)), BillingPostpaid, Millis(before))
}
