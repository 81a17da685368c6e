package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Balance entry kinds.
const (
	// BalanceTopUp: a top-up invoice paid through a gateway (positive).
	BalanceTopUp = "topup"
	// BalanceCash: money an operator received in hand (positive).
	BalanceCash = "cash"
	// BalanceInvoicePayment: an invoice paid from the balance (negative).
	BalanceInvoicePayment = "invoice_payment"
	// BalanceRefund: money given back to the customer (negative).
	BalanceRefund = "refund"
	// BalanceAdjustment: an administrator's correction (either sign).
	BalanceAdjustment = "adjustment"
)

// BalanceKinds are every entry kind.
var BalanceKinds = []string{BalanceTopUp, BalanceCash, BalanceInvoicePayment, BalanceRefund, BalanceAdjustment}

// ValidBalanceKind reports whether k is a balance entry kind.
func ValidBalanceKind(k string) bool { return slices.Contains(BalanceKinds, k) }

// ErrInsufficientBalance: the entry would take the customer's balance
// below zero.
var ErrInsufficientBalance = errors.New("the customer's balance does not cover it")

// BalanceEntry is one change of a customer's balance: the ledger's line.
type BalanceEntry struct {
	ID         int64 `json:"id"`
	CustomerID int64 `json:"customer_id"`
	// Amount is signed, in the currency's minor units: positive adds.
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// Kind is one of BalanceKinds.
	Kind string `json:"kind"`
	// InvoiceID is the top-up invoice, or the invoice paid (0: none).
	InvoiceID int64 `json:"invoice_id,omitempty"`
	// Reference is free text: a receipt number, a payment id.
	Reference string `json:"reference,omitempty"`
	// Actor is who made the change ("user:3", "gateway:payment-manual").
	Actor string `json:"actor"`
	// Reason is why, in the actor's words.
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Balance is what a customer holds in one currency.
type Balance struct {
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
}

// AddBalanceEntry appends an entry to a customer's ledger and applies it
// to their balance in one statement each; call it inside a transaction
// (Store.Tx) so both commit together. A balance never goes below zero: an
// entry that would take it there is ErrInsufficientBalance and the
// transaction must roll back. The balance row is updated in place
// (INSERT ... ON CONFLICT DO UPDATE), which PostgreSQL's row lock and
// SQLite's single writer serialize: two debits never both see the same
// balance. A second invoice_payment or topup entry for the same invoice is
// ErrConflict: the ledger pays or tops up an invoice once.
func (q *Queries) AddBalanceEntry(ctx context.Context, e *BalanceEntry) error {
	if e.Amount == 0 || !ValidBalanceKind(e.Kind) || e.CustomerID == 0 || e.Currency == "" {
		return fmt.Errorf("%w: a balance entry needs a customer, a currency, a kind and an amount other than zero", ErrInvalid)
	}
	now := q.store.now()
	err := q.db.QueryRow(ctx, `INSERT INTO balance_entries (customer_id, amount, currency, kind, invoice_id, reference, actor, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.CustomerID, e.Amount, e.Currency, e.Kind, nullID(e.InvoiceID), e.Reference, e.Actor, e.Reason, Millis(now)).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("add a balance entry for customer %d: %w", e.CustomerID, err)
	}
	// A credit inserts or adds; a debit only updates (SQLite checks the
	// inserted row's CHECK before the conflict turns it into an update).
	var n int64
	if e.Amount > 0 {
		n, err = q.db.Exec(ctx, `INSERT INTO customer_balances (customer_id, currency, balance, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (customer_id, currency) DO UPDATE SET balance = customer_balances.balance + excluded.balance, updated_at = excluded.updated_at`,
			e.CustomerID, e.Currency, e.Amount, Millis(now))
	} else {
		n, err = q.db.Exec(ctx, "UPDATE customer_balances SET balance = balance + ?, updated_at = ? WHERE customer_id = ? AND currency = ?",
			e.Amount, Millis(now), e.CustomerID, e.Currency)
		if err == nil && n == 0 {
			err = ErrInvalid // no balance in that currency at all
		}
	}
	if errors.Is(err, ErrInvalid) {
		return fmt.Errorf("customer %d, %d %s: %w", e.CustomerID, e.Amount, e.Currency, ErrInsufficientBalance)
	}
	if err != nil {
		return fmt.Errorf("apply a balance entry for customer %d: %w", e.CustomerID, err)
	}
	e.CreatedAt = now.Truncate(time.Millisecond)
	return nil
}

// Balances returns what a customer holds, per currency (currencies
// without an entry are left out), by currency.
func (q *Queries) Balances(ctx context.Context, customerID int64) ([]Balance, error) {
	rows, err := q.db.Query(ctx, "SELECT currency, balance FROM customer_balances WHERE customer_id = ? ORDER BY currency", customerID)
	if err != nil {
		return nil, fmt.Errorf("balances of customer %d: %w", customerID, err)
	}
	defer rows.Close()
	out := []Balance{}
	for rows.Next() {
		var b Balance
		if err := rows.Scan(&b.Currency, &b.Amount); err != nil {
			return nil, fmt.Errorf("balances of customer %d: %w", customerID, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// BalanceOf returns a customer's balance in one currency (0 when none).
func (q *Queries) BalanceOf(ctx context.Context, customerID int64, currency string) (int64, error) {
	var b int64
	err := q.db.QueryRow(ctx, "SELECT balance FROM customer_balances WHERE customer_id = ? AND currency = ?", customerID, currency).Scan(&b)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("balance of customer %d: %w", customerID, err)
	}
	return b, nil
}

// LedgerSum adds up a customer's entries in one currency: what the cached
// balance must equal (for checks and tests).
func (q *Queries) LedgerSum(ctx context.Context, customerID int64, currency string) (int64, error) {
	var sum int64
	err := q.db.QueryRow(ctx, "SELECT COALESCE(SUM(amount), 0) FROM balance_entries WHERE customer_id = ? AND currency = ?", customerID, currency).Scan(&sum)
	return sum, err
}

// ListBalanceEntries lists up to limit of a customer's ledger entries,
// newest first, with ids below before (0: from the newest): a keyset page.
// The last entry's id is the next page's before.
func (q *Queries) ListBalanceEntries(ctx context.Context, customerID, before int64, limit int) ([]BalanceEntry, error) {
	page, err := Page{Limit: limit}.Normalized()
	if err != nil {
		return nil, err
	}
	query := "SELECT id, customer_id, amount, currency, kind, invoice_id, reference, actor, reason, created_at FROM balance_entries WHERE customer_id = ?"
	args := []any{customerID}
	if before > 0 {
		query, args = query+" AND id < ?", append(args, before)
	}
	rows, err := q.db.Query(ctx, query+fmt.Sprintf(" ORDER BY id DESC LIMIT %d", page.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("ledger of customer %d: %w", customerID, err)
	}
	defer rows.Close()
	out := make([]BalanceEntry, 0, page.Limit)
	for rows.Next() {
		var e BalanceEntry
		var inv sql.NullInt64
		var created int64
		if err := rows.Scan(&e.ID, &e.CustomerID, &e.Amount, &e.Currency, &e.Kind, &inv, &e.Reference, &e.Actor, &e.Reason, &created); err != nil {
			return nil, fmt.Errorf("ledger of customer %d: %w", customerID, err)
		}
		e.InvoiceID, e.CreatedAt = inv.Int64, FromMillis(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LockBalance returns a customer's balance in one currency and holds it
// until the transaction ends: on PostgreSQL the row is locked (a no-op
// update), so a concurrent debit waits; SQLite has one writer at a time
// anyway. Decide on a debit with it, inside Store.Tx.
func (q *Queries) LockBalance(ctx context.Context, customerID int64, currency string) (int64, error) {
	if _, err := q.db.Exec(ctx, "UPDATE customer_balances SET updated_at = updated_at WHERE customer_id = ? AND currency = ?", customerID, currency); err != nil {
		return 0, fmt.Errorf("lock the balance of customer %d: %w", customerID, err)
	}
	return q.BalanceOf(ctx, customerID, currency)
}
