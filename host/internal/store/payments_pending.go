package store

import (
	"context"
	"fmt"
	"time"
)

// ListPendingPayments lists pending payments created between after and
// before, oldest first, at most limit: the ones to ask their gateways about
// when a webhook may have been lost.
func (q *Queries) ListPendingPayments(ctx context.Context, after, before time.Time, limit int) ([]Payment, error) {
	rows, err := q.db.Query(ctx, "SELECT "+paymentColumns+" FROM payments WHERE status = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id LIMIT ?",
		PaymentPending, Millis(after), Millis(before), limit)
	if err != nil {
		return nil, fmt.Errorf("list pending payments: %w", err)
	}
	return scanPayments(rows)
}

// ListPendingPaymentsOf is ListPendingPayments for one gateway.
func (q *Queries) ListPendingPaymentsOf(ctx context.Context, gateway string, after, before time.Time, limit int) ([]Payment, error) {
	rows, err := q.db.Query(ctx, "SELECT "+paymentColumns+" FROM payments WHERE gateway = ? AND status = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id LIMIT ?",
		gateway, PaymentPending, Millis(after), Millis(before), limit)
	if err != nil {
		return nil, fmt.Errorf("list pending payments of %s: %w", gateway, err)
	}
	return scanPayments(rows)
}

// scanPayments reads payment rows and closes them.
func scanPayments(rows Rows) ([]Payment, error) {
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}
