package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Invoice statuses.
const (
	InvoiceUnpaid    = "unpaid"
	InvoicePaid      = "paid"
	InvoiceFailed    = "failed"
	InvoiceExpired   = "expired"
	InvoiceCancelled = "cancelled"
)

// Invoice kinds.
const (
	// InvoicePlan buys a plan: paying it starts or renews a subscription.
	InvoicePlan = "plan"
	// InvoiceTopUp adds its amount to the customer's balance when paid; it
	// has no plan.
	InvoiceTopUp = "topup"
)

// Invoice is what a customer owes for a plan, or a top-up of their
// balance.
type Invoice struct {
	ID int64 `json:"id"`
	// Number is the order id gateways see, for example "INV-2026-000042".
	Number         string `json:"number"`
	CustomerID     int64  `json:"customer_id"`
	SubscriptionID int64  `json:"subscription_id,omitempty"`
	// PlanID is the plan bought (0 for a top-up).
	PlanID int64 `json:"plan_id,omitempty"`
	// Kind is InvoicePlan (empty means a plan) or InvoiceTopUp.
	Kind string `json:"kind"`
	// NewSubscription: paying starts a parallel subscription instead of
	// renewing the customer's current one on the same plan.
	NewSubscription bool `json:"new_subscription,omitempty"`
	// PeriodStart is the period a postpaid bill is for (zero otherwise).
	PeriodStart time.Time `json:"period_start,omitzero"`
	// Amount in the currency's minor units.
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	Status     string    `json:"status"`
	Gateway    string    `json:"gateway"`
	PaymentURL string    `json:"payment_url"`
	DueAt      time.Time `json:"due_at,omitzero"`
	PaidAt     time.Time `json:"paid_at,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

const invoiceColumns = "id, number, customer_id, subscription_id, plan_id, amount, currency, status, gateway, payment_url, due_at, paid_at, created_at, updated_at, kind, new_subscription, period_start"

func scanInvoice(r Row) (*Invoice, error) {
	var inv Invoice
	var sub, plan sql.NullInt64
	var due, paid, period sql.NullInt64
	var created, updated int64
	if err := r.Scan(&inv.ID, &inv.Number, &inv.CustomerID, &sub, &plan, &inv.Amount, &inv.Currency, &inv.Status,
		&inv.Gateway, &inv.PaymentURL, &due, &paid, &created, &updated, &inv.Kind, &inv.NewSubscription, &period); err != nil {
		return nil, err
	}
	inv.SubscriptionID, inv.PlanID = sub.Int64, plan.Int64
	inv.PeriodStart = FromNullMillis(period)
	inv.DueAt, inv.PaidAt = FromNullMillis(due), FromNullMillis(paid)
	inv.CreatedAt, inv.UpdatedAt = FromMillis(created), FromMillis(updated)
	return &inv, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// NextSequence increments a named counter and returns its new value; inside
// a transaction, numbers are never handed out twice.
func (q *Queries) NextSequence(ctx context.Context, name string) (int64, error) {
	var v int64
	err := q.db.QueryRow(ctx, `INSERT INTO sequences (name, value) VALUES (?, 1)
		ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("next %s number: %w", name, err)
	}
	return v, nil
}

// CreateInvoice inserts an invoice with the next number of the year
// ("INV-2026-000042") and sets its ID, number and times. Call it in a
// transaction so the number and the invoice go together.
func (q *Queries) CreateInvoice(ctx context.Context, inv *Invoice) error {
	now := q.store.now()
	year := now.Format("2006")
	n, err := q.NextSequence(ctx, "invoice-"+year)
	if err != nil {
		return err
	}
	inv.Number = fmt.Sprintf("INV-%s-%06d", year, n)
	if inv.Status == "" {
		inv.Status = InvoiceUnpaid
	}
	if inv.Kind == "" {
		inv.Kind = InvoicePlan
	}
	if (inv.Kind == InvoicePlan) != (inv.PlanID != 0) {
		return fmt.Errorf("create invoice for customer %d: %w: a plan invoice names its plan, a top-up names none", inv.CustomerID, ErrInvalid)
	}
	err = q.db.QueryRow(ctx, `INSERT INTO invoices (number, customer_id, subscription_id, plan_id, amount, currency, status,
		gateway, payment_url, due_at, paid_at, created_at, updated_at, kind, new_subscription, period_start)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		inv.Number, inv.CustomerID, nullID(inv.SubscriptionID), nullID(inv.PlanID), inv.Amount, inv.Currency, inv.Status,
		inv.Gateway, inv.PaymentURL, MillisOrNil(inv.DueAt), MillisOrNil(inv.PaidAt), Millis(now), Millis(now),
		inv.Kind, inv.NewSubscription, MillisOrNil(inv.PeriodStart)).Scan(&inv.ID)
	if err != nil {
		return fmt.Errorf("create invoice for customer %d: %w", inv.CustomerID, err)
	}
	inv.CreatedAt, inv.UpdatedAt = now.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	inv.DueAt, inv.PaidAt = truncMillis(inv.DueAt), truncMillis(inv.PaidAt)
	inv.PeriodStart = truncMillis(inv.PeriodStart)
	return nil
}

// GetInvoice reads one invoice.
func (q *Queries) GetInvoice(ctx context.Context, id int64) (*Invoice, error) {
	inv, err := scanInvoice(q.db.QueryRow(ctx, "SELECT "+invoiceColumns+" FROM invoices WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("invoice %d: %w", id, err)
	}
	return inv, nil
}

// GetInvoiceByNumber reads an invoice by its number (the gateways' order id).
func (q *Queries) GetInvoiceByNumber(ctx context.Context, number string) (*Invoice, error) {
	inv, err := scanInvoice(q.db.QueryRow(ctx, "SELECT "+invoiceColumns+" FROM invoices WHERE number = ?", number))
	if err != nil {
		return nil, fmt.Errorf("invoice %s: %w", number, err)
	}
	return inv, nil
}

// InvoiceFilter narrows ListInvoices; zero fields match everything.
type InvoiceFilter struct {
	Status     string
	CustomerID int64
}

// where returns the filter's WHERE clause and arguments.
func (f InvoiceFilter) where(extra ...string) (string, []any) {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.CustomerID != 0 {
		where, args = append(where, "customer_id = ?"), append(args, f.CustomerID)
	}
	where = append(where, extra...)
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// ListInvoices lists invoices, newest first, and returns the total.
func (q *Queries) ListInvoices(ctx context.Context, f InvoiceFilter, page Page) ([]Invoice, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	cond, args := f.where()
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM invoices"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count invoices: %w", err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+invoiceColumns+" FROM invoices"+cond+" ORDER BY id DESC"+page.sql(), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list invoices: %w", err)
	}
	defer rows.Close()
	var out []Invoice
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list invoices: %w", err)
		}
		out = append(out, *inv)
	}
	return out, total, rows.Err()
}

// SetInvoicePayment records the gateway and checkout link of a payment
// attempt, making a failed or expired invoice unpaid again; a paid or
// cancelled invoice is refused (ErrConflict).
func (q *Queries) SetInvoicePayment(ctx context.Context, id int64, gateway, paymentURL string) error {
	n, err := q.db.Exec(ctx, "UPDATE invoices SET gateway = ?, payment_url = ?, status = ?, updated_at = ? WHERE id = ? AND status NOT IN (?, ?)",
		gateway, paymentURL, InvoiceUnpaid, Millis(q.store.now()), id, InvoicePaid, InvoiceCancelled)
	if err != nil {
		return fmt.Errorf("invoice %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("invoice %d is paid or cancelled, or does not exist: %w", id, ErrConflict)
	}
	return nil
}

// SetInvoiceStatus moves an invoice that is not paid to failed, expired,
// cancelled or back to unpaid. A paid invoice never changes: the result is
// false then.
func (q *Queries) SetInvoiceStatus(ctx context.Context, id int64, status string) (bool, error) {
	n, err := q.db.Exec(ctx, "UPDATE invoices SET status = ?, updated_at = ? WHERE id = ? AND status <> ?",
		status, Millis(q.store.now()), id, InvoicePaid)
	if err != nil {
		return false, fmt.Errorf("invoice %d: %w", id, err)
	}
	return n == 1, nil
}

// CreditInvoice marks an invoice paid, by a payment or a voucher, exactly
// once: the primary key of invoice_credits refuses any second credit,
// whatever races to make it. Only an unpaid, failed or expired invoice is
// credited: a cancelled one is not (the conditional update also orders a
// credit against a concurrent cancellation). It reports whether this call
// credited the invoice (false: it was credited before, or is cancelled).
// Use it in the transaction that also inserts the jobs the payment causes.
func (q *Queries) CreditInvoice(ctx context.Context, invoiceID, paymentID, voucherID int64) (bool, error) {
	now := q.store.now()
	n, err := q.db.Exec(ctx, "UPDATE invoices SET status = ?, paid_at = ?, updated_at = ? WHERE id = ? AND status IN (?, ?, ?)",
		InvoicePaid, Millis(now), Millis(now), invoiceID, InvoiceUnpaid, InvoiceFailed, InvoiceExpired)
	if err != nil {
		return false, fmt.Errorf("mark invoice %d paid: %w", invoiceID, err)
	}
	if n == 0 {
		return false, nil
	}
	n, err = q.db.Exec(ctx, `INSERT INTO invoice_credits (invoice_id, payment_id, voucher_id, credited_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (invoice_id) DO NOTHING`, invoiceID, nullID(paymentID), nullID(voucherID), Millis(now))
	if err != nil {
		return false, fmt.Errorf("credit invoice %d: %w", invoiceID, err)
	}
	if n == 0 {
		return false, fmt.Errorf("%w: invoice %d was not paid but has a credit already", ErrConflict, invoiceID)
	}
	return true, nil
}

// InvoiceCredits counts an invoice's credits (0 or 1; for tests and checks).
func (q *Queries) InvoiceCredits(ctx context.Context, invoiceID int64) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM invoice_credits WHERE invoice_id = ?", invoiceID).Scan(&n)
	return n, err
}

// ListInvoicesBefore lists up to limit invoices the filter keeps, newest
// first, with ids below before (0: from the newest): a keyset page, whose
// cost does not grow with how far into the list it is. The last invoice's
// id is the next page's before. No total is counted.
func (q *Queries) ListInvoicesBefore(ctx context.Context, f InvoiceFilter, before int64, limit int) ([]Invoice, error) {
	page, err := Page{Limit: limit}.Normalized()
	if err != nil {
		return nil, err
	}
	var extra []string
	if before > 0 {
		extra = append(extra, "id < ?")
	}
	cond, args := f.where(extra...)
	if before > 0 {
		args = append(args, before)
	}
	rows, err := q.db.Query(ctx, "SELECT "+invoiceColumns+" FROM invoices"+cond+fmt.Sprintf(" ORDER BY id DESC LIMIT %d", page.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	defer rows.Close()
	out := make([]Invoice, 0, page.Limit)
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return nil, fmt.Errorf("list invoices: %w", err)
		}
		out = append(out, *inv)
	}
	return out, rows.Err()
}

// LinkInvoiceSubscription names the subscription an unpaid invoice renews
// (one that names none yet) and reports whether it did.
func (q *Queries) LinkInvoiceSubscription(ctx context.Context, invoiceID, subscriptionID int64) (bool, error) {
	n, err := q.db.Exec(ctx, "UPDATE invoices SET subscription_id = ?, updated_at = ? WHERE id = ? AND subscription_id IS NULL",
		subscriptionID, Millis(q.store.now()), invoiceID)
	if err != nil {
		return false, fmt.Errorf("link invoice %d to subscription %d: %w", invoiceID, subscriptionID, err)
	}
	return n == 1, nil
}
