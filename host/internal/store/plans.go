package store

import (
	"context"
	"fmt"
	"time"
)

// Plan kinds.
const (
	PlanHotspot = "hotspot"
	PlanPPPoE   = "pppoe"
)

// Plan billing types: how a plan's periods are paid.
const (
	// BillingPrepaid: the customer pays for a period before it starts (an
	// invoice, a voucher); nothing is billed automatically.
	BillingPrepaid = "prepaid"
	// BillingPostpaid: monthly recurring bills. The next period's invoice
	// is made a few days before the current period ends (jobs.
	// invoice_lead_days); an unpaid one isolates the customer a grace
	// period after the end (jobs.postpaid_grace).
	BillingPostpaid = "postpaid"
)

// ValidBillingType reports whether t is a plan billing type.
func ValidBillingType(t string) bool { return t == BillingPrepaid || t == BillingPostpaid }

// Plan is what a customer buys: a router profile with limits, for a price,
// valid for a time.
type Plan struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Kind is "hotspot" or "pppoe".
	Kind string `json:"kind"`
	// RateLimit in RouterOS syntax, for example "2M/4M".
	RateLimit   string `json:"rate_limit"`
	SharedUsers int    `json:"shared_users"`
	// TimeLimit is the online time allowed (0: unlimited).
	TimeLimit time.Duration `json:"-"`
	// DataLimitBytes is the traffic allowed (0: unlimited).
	DataLimitBytes int64 `json:"data_limit_bytes"`
	// Validity is how long a purchase lasts.
	Validity time.Duration `json:"-"`
	// Price in the currency's minor units.
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
	// Profile is the router profile; empty means one derived from the name.
	Profile string `json:"profile"`
	// IsolationProfile, when set, is where an expired subscriber goes
	// instead of being removed.
	IsolationProfile string `json:"isolation_profile"`
	// BillingType is BillingPrepaid (empty means prepaid) or
	// BillingPostpaid.
	BillingType string    `json:"billing_type"`
	Active      bool      `json:"active"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

const planColumns = "id, name, kind, rate_limit, shared_users, time_limit_seconds, data_limit_bytes, validity_seconds, price_amount, currency, profile, isolation_profile, active, created_at, updated_at, billing_type"

func scanPlan(r Row) (*Plan, error) {
	var p Plan
	var timeLimit, validity, created, updated int64
	if err := r.Scan(&p.ID, &p.Name, &p.Kind, &p.RateLimit, &p.SharedUsers, &timeLimit, &p.DataLimitBytes, &validity,
		&p.Price, &p.Currency, &p.Profile, &p.IsolationProfile, &p.Active, &created, &updated, &p.BillingType); err != nil {
		return nil, err
	}
	p.TimeLimit, p.Validity = time.Duration(timeLimit)*time.Second, time.Duration(validity)*time.Second
	p.CreatedAt, p.UpdatedAt = FromMillis(created), FromMillis(updated)
	return &p, nil
}

// billingType is the plan's billing type as stored (empty: prepaid).
func (p *Plan) billingType() string {
	if p.BillingType == "" {
		p.BillingType = BillingPrepaid
	}
	return p.BillingType
}

// Postpaid reports whether the plan is billed monthly after use.
func (p *Plan) Postpaid() bool { return p.BillingType == BillingPostpaid }

// planNameTaken says which name is in use when err is ErrConflict.
func planNameTaken(err error, name string) error {
	return nameTaken(err, "name", fmt.Sprintf("a plan named %q exists; choose another name", name))
}

// CreatePlan inserts a plan and sets its ID and times. A name in use is
// ErrConflict (a *FieldError on "name").
func (q *Queries) CreatePlan(ctx context.Context, p *Plan) error {
	now := q.store.now()
	err := q.db.QueryRow(ctx, `INSERT INTO plans (name, kind, rate_limit, shared_users, time_limit_seconds, data_limit_bytes,
		validity_seconds, price_amount, currency, profile, isolation_profile, active, created_at, updated_at, billing_type)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Name, p.Kind, p.RateLimit, p.SharedUsers, int64(p.TimeLimit/time.Second), p.DataLimitBytes,
		int64(p.Validity/time.Second), p.Price, p.Currency, p.Profile, p.IsolationProfile, p.Active, Millis(now), Millis(now), p.billingType()).Scan(&p.ID)
	if err != nil {
		return fmt.Errorf("create plan %q: %w", p.Name, planNameTaken(err, p.Name))
	}
	p.CreatedAt, p.UpdatedAt = now.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	return nil
}

// GetPlan reads one plan.
func (q *Queries) GetPlan(ctx context.Context, id int64) (*Plan, error) {
	p, err := scanPlan(q.db.QueryRow(ctx, "SELECT "+planColumns+" FROM plans WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("plan %d: %w", id, err)
	}
	return p, nil
}

// ListPlans lists plans by name and returns the total.
func (q *Queries) ListPlans(ctx context.Context, page Page) ([]Plan, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM plans").Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count plans: %w", err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+planColumns+" FROM plans ORDER BY name, id"+page.sql())
	if err != nil {
		return nil, 0, fmt.Errorf("list plans: %w", err)
	}
	defer rows.Close()
	var out []Plan
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list plans: %w", err)
		}
		out = append(out, *p)
	}
	return out, total, rows.Err()
}

// UpdatePlan writes every field of a plan but its ID and creation time. A
// name in use is ErrConflict (a *FieldError on "name").
func (q *Queries) UpdatePlan(ctx context.Context, p *Plan) error {
	now := q.store.now()
	n, err := q.db.Exec(ctx, `UPDATE plans SET name = ?, kind = ?, rate_limit = ?, shared_users = ?, time_limit_seconds = ?,
		data_limit_bytes = ?, validity_seconds = ?, price_amount = ?, currency = ?, profile = ?, isolation_profile = ?,
		active = ?, updated_at = ?, billing_type = ? WHERE id = ?`,
		p.Name, p.Kind, p.RateLimit, p.SharedUsers, int64(p.TimeLimit/time.Second), p.DataLimitBytes,
		int64(p.Validity/time.Second), p.Price, p.Currency, p.Profile, p.IsolationProfile, p.Active, Millis(now), p.billingType(), p.ID)
	if err != nil {
		return fmt.Errorf("update plan %d: %w", p.ID, planNameTaken(err, p.Name))
	}
	if n == 0 {
		return fmt.Errorf("update plan %d: %w", p.ID, ErrNotFound)
	}
	p.UpdatedAt = now.Truncate(time.Millisecond)
	return nil
}

// DeletePlan removes a plan that nothing refers to (ErrReferenced otherwise:
// deactivate it instead).
func (q *Queries) DeletePlan(ctx context.Context, id int64) error {
	n, err := q.db.Exec(ctx, "DELETE FROM plans WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete plan %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete plan %d: %w", id, ErrNotFound)
	}
	return nil
}
