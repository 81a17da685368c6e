package store

// The reports' numbers (billing.Service's IncomeReport, SubscriberReport
// and ExpiringReport): grouped in the database, over periods whose
// boundaries the caller computes in its time zone (a day or a month there
// is not a fixed number of milliseconds), passed as one small VALUES table
// the rows are joined to by range.

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Income groupings: what IncomeByPeriod sums by beside the period and the
// currency.
const (
	IncomeByPlan = "plan"
	// TopUpGroup names the income of balance top-ups (invoices without a
	// plan) in income by plan, with id 0.
	TopUpGroup       = "top-up"
	IncomeByGateway  = "gateway"
	IncomeByLocation = "location"
)

// MaxReportPeriods is how many periods one report query may cover.
const MaxReportPeriods = 400

// IncomeRow is what the credited payments of one group brought in one
// currency during one period.
type IncomeRow struct {
	// Period indexes the periods of IncomeByPeriod's bounds: 0 is the
	// first.
	Period int
	// ID is the plan's or the location's id (0 for a gateway); Name is the
	// plan's or the location's name, or the gateway's.
	ID       int64
	Name     string
	Currency string
	// Count is how many payments; Amount their sum in the currency's minor
	// units. Amounts of different currencies are never added.
	Count  int
	Amount int64
}

// periodTable returns the SQL of a VALUES table p(i, s, e) of the periods
// between bounds (bounds[i] to bounds[i+1], in milliseconds), and its
// arguments.
func periodTable(bounds []time.Time) (string, []any, error) {
	n := len(bounds) - 1
	if n < 1 || n > MaxReportPeriods {
		return "", nil, fmt.Errorf("%w: a report covers 1 to %d periods, not %d", ErrInvalid, MaxReportPeriods, max(n, 0))
	}
	var b strings.Builder
	b.WriteString("p(i, s, e) AS (VALUES ")
	args := make([]any, 0, 3*n)
	for i := range n {
		if !bounds[i].Before(bounds[i+1]) {
			return "", nil, fmt.Errorf("%w: report periods must follow each other (period %d ends before it starts)", ErrInvalid, i)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))")
		args = append(args, i, Millis(bounds[i]), Millis(bounds[i+1]))
	}
	b.WriteString(")")
	return b.String(), args, nil
}

// IncomeByPeriod sums the credited payments (a paid invoice's money, by
// the time of the credit; voucher credits carry no payment and are left
// out) per period, group (by: IncomeByPlan, IncomeByGateway or
// IncomeByLocation, the customer's) and currency. bounds are the periods'
// boundaries: len(bounds)-1 periods. Rows are ordered by period, name and
// currency; periods without payments are left out.
func (q *Queries) IncomeByPeriod(ctx context.Context, bounds []time.Time, by string) ([]IncomeRow, error) {
	var id, name, join string
	group := "" // the id in GROUP BY (a constant there is a column position)
	switch by {
	case IncomeByPlan:
		// Balance top-ups have no plan: they are one row of id 0 named
		// TopUpGroup, so income by plan adds up to income by gateway.
		id, name, group, join = "COALESCE(pl.id, 0)", "COALESCE(pl.name, '"+TopUpGroup+"')", "COALESCE(pl.id, 0), ", "JOIN invoices i ON i.id = c.invoice_id LEFT JOIN plans pl ON pl.id = i.plan_id"
	case IncomeByGateway:
		id, name = "0", "pay.gateway"
	case IncomeByLocation:
		id, name, group, join = "l.id", "l.name", "l.id, ", "JOIN invoices i ON i.id = c.invoice_id JOIN customers cu ON cu.id = i.customer_id JOIN router_locations l ON l.id = cu.location_id"
	default:
		return nil, fmt.Errorf("%w: income is grouped by plan, gateway or location, not %q", ErrInvalid, by)
	}
	periods, args, err := periodTable(bounds)
	if err != nil {
		return nil, err
	}
	rows, err := q.db.Query(ctx, `WITH `+periods+`
		SELECT p.i, `+id+`, `+name+`, pay.currency, COUNT(*), CAST(SUM(pay.amount) AS BIGINT)
		FROM p JOIN invoice_credits c ON c.credited_at >= p.s AND c.credited_at < p.e
		JOIN payments pay ON pay.id = c.payment_id `+join+`
		GROUP BY p.i, `+group+name+`, pay.currency ORDER BY p.i, `+name+`, pay.currency`, args...)
	if err != nil {
		return nil, fmt.Errorf("sum income by %s: %w", by, err)
	}
	defer rows.Close()
	var out []IncomeRow
	for rows.Next() {
		var r IncomeRow
		if err := rows.Scan(&r.Period, &r.ID, &r.Name, &r.Currency, &r.Count, &r.Amount); err != nil {
			return nil, fmt.Errorf("sum income by %s: %w", by, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum income by %s: %w", by, err)
	}
	return out, nil
}

// SubscriberPeriod counts the subscribers of one period.
type SubscriberPeriod struct {
	Period int
	// Active is how many customers had a subscription running during the
	// period (its [starts_at, expires_at) overlaps it). New is how many
	// customers' first subscription started in it.
	Active int
	New    int
}

// subscribedStatuses are the statuses of subscriptions that ran (or run):
// pending ones never started and cancelled ones never counted.
const subscribedStatuses = `('active', 'isolated', 'expired')`

// SubscribersByPeriod counts the active and the new subscribers per
// period (see SubscriberPeriod) between bounds, one entry per period,
// zeros included.
func (q *Queries) SubscribersByPeriod(ctx context.Context, bounds []time.Time) ([]SubscriberPeriod, error) {
	periods, args, err := periodTable(bounds)
	if err != nil {
		return nil, err
	}
	out := make([]SubscriberPeriod, len(bounds)-1)
	for i := range out {
		out[i].Period = i
	}
	scan := func(what, query string, set func(*SubscriberPeriod, int)) error {
		rows, err := q.db.Query(ctx, `WITH `+periods+` `+query, args...)
		if err != nil {
			return fmt.Errorf("count %s subscribers: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			var i, n int
			if err := rows.Scan(&i, &n); err != nil {
				return fmt.Errorf("count %s subscribers: %w", what, err)
			}
			if i >= 0 && i < len(out) {
				set(&out[i], n)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("count %s subscribers: %w", what, err)
		}
		return nil
	}
	if err := scan("active", `SELECT p.i, COUNT(DISTINCT s.customer_id)
		FROM p JOIN subscriptions s ON s.starts_at < p.e AND s.expires_at > p.s
		WHERE s.status IN `+subscribedStatuses+` GROUP BY p.i`,
		func(sp *SubscriberPeriod, n int) { sp.Active = n }); err != nil {
		return nil, err
	}
	if err := scan("new", `SELECT p.i, COUNT(*)
		FROM p JOIN (SELECT customer_id, MIN(starts_at) AS first FROM subscriptions
			WHERE status IN `+subscribedStatuses+` AND starts_at IS NOT NULL GROUP BY customer_id) f
		ON f.first >= p.s AND f.first < p.e GROUP BY p.i`,
		func(sp *SubscriberPeriod, n int) { sp.New = n }); err != nil {
		return nil, err
	}
	return out, nil
}

// ExpiringSubscription is an active subscription about to run out, with
// the names a list shows.
type ExpiringSubscription struct {
	ID           int64     `json:"id"`
	CustomerID   int64     `json:"customer_id"`
	CustomerName string    `json:"customer_name"`
	Phone        string    `json:"phone"`
	PlanID       int64     `json:"plan_id"`
	PlanName     string    `json:"plan_name"`
	LocationName string    `json:"location_name"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// ListExpiring returns the active subscriptions expiring in [from, to),
// soonest first, at most limit.
func (q *Queries) ListExpiring(ctx context.Context, from, to time.Time, limit int) ([]ExpiringSubscription, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: list expiring needs a limit of at least 1, not %d", ErrInvalid, limit)
	}
	rows, err := q.db.Query(ctx, `SELECT s.id, c.id, c.name, c.phone, pl.id, pl.name, l.name, s.expires_at
		FROM subscriptions s JOIN customers c ON c.id = s.customer_id JOIN plans pl ON pl.id = s.plan_id
		JOIN router_locations l ON l.id = c.location_id
		WHERE s.status = ? AND s.expires_at >= ? AND s.expires_at < ?
		ORDER BY s.expires_at, s.id LIMIT ?`, SubscriptionActive, Millis(from), Millis(to), limit)
	if err != nil {
		return nil, fmt.Errorf("list expiring subscriptions: %w", err)
	}
	defer rows.Close()
	var out []ExpiringSubscription
	for rows.Next() {
		var e ExpiringSubscription
		var exp int64
		if err := rows.Scan(&e.ID, &e.CustomerID, &e.CustomerName, &e.Phone, &e.PlanID, &e.PlanName, &e.LocationName, &exp); err != nil {
			return nil, fmt.Errorf("list expiring subscriptions: %w", err)
		}
		e.ExpiresAt = FromMillis(exp)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list expiring subscriptions: %w", err)
	}
	return out, nil
}
