package store

// The dashboard's numbers: one query each, over the records the billing
// flow writes (payments, the invoices' credits, subscriptions).

import (
	"context"
	"fmt"
	"time"
)

// PaymentDay is what one gateway took in one currency on one day: the
// payments that credited an invoice (a paid invoice's money), by the day
// of the credit.
type PaymentDay struct {
	// Day counts days from the from of PaymentsByDay: 0 is its first day.
	Day      int
	Gateway  string
	Currency string
	// Count is how many payments; Amount their sum, in the currency's
	// minor units. Amounts of different currencies are never added.
	Count  int
	Amount int64
}

// PaymentsByDay returns the credited payments from from (inclusive) for
// days days, summed per day, gateway and currency, ordered by day, gateway
// and currency. A day is 24 hours from from: pass the start of a day in
// the zone the numbers are read in. Days without payments are left out.
func (q *Queries) PaymentsByDay(ctx context.Context, from time.Time, days int) ([]PaymentDay, error) {
	if days < 1 {
		return nil, fmt.Errorf("%w: payments by day needs at least one day, not %d", ErrInvalid, days)
	}
	start := Millis(from)
	end := Millis(from.Add(time.Duration(days) * 24 * time.Hour))
	rows, err := q.db.Query(ctx, `SELECT (c.credited_at - ?) / 86400000 AS day, p.gateway, p.currency, COUNT(*), CAST(SUM(p.amount) AS BIGINT)
		FROM invoice_credits c JOIN payments p ON p.id = c.payment_id
		WHERE c.credited_at >= ? AND c.credited_at < ?
		GROUP BY day, p.gateway, p.currency ORDER BY day, p.gateway, p.currency`, start, start, end)
	if err != nil {
		return nil, fmt.Errorf("sum payments by day: %w", err)
	}
	defer rows.Close()
	var out []PaymentDay
	for rows.Next() {
		var d PaymentDay
		if err := rows.Scan(&d.Day, &d.Gateway, &d.Currency, &d.Count, &d.Amount); err != nil {
			return nil, fmt.Errorf("sum payments by day: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum payments by day: %w", err)
	}
	return out, nil
}

// SubscriberCounts are the active subscribers and the subscriptions about
// to run out.
type SubscriberCounts struct {
	// Active is how many customers have an active subscription.
	Active int `json:"active"`
	// Expiring is how many active subscriptions expire in the window
	// SubscriberCountsAt was given.
	Expiring int `json:"expiring"`
}

// SubscriberCountsAt counts the customers with an active subscription and
// the active subscriptions that expire in [now, now+within).
func (q *Queries) SubscriberCountsAt(ctx context.Context, now time.Time, within time.Duration) (SubscriberCounts, error) {
	var c SubscriberCounts
	err := q.db.QueryRow(ctx, `SELECT COUNT(DISTINCT customer_id),
		COALESCE(SUM(CASE WHEN expires_at >= ? AND expires_at < ? THEN 1 ELSE 0 END), 0)
		FROM subscriptions WHERE status = ?`, Millis(now), Millis(now.Add(within)), SubscriptionActive).Scan(&c.Active, &c.Expiring)
	if err != nil {
		return SubscriberCounts{}, fmt.Errorf("count subscribers: %w", err)
	}
	return c, nil
}
