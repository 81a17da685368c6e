package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Payment statuses (the same words as the SDK's payment.Status).
const (
	PaymentPending   = "pending"
	PaymentPaid      = "paid"
	PaymentFailed    = "failed"
	PaymentExpired   = "expired"
	PaymentCancelled = "cancelled"
	PaymentRefunded  = "refunded"
)

// Payment is a payment attempt at a gateway for an invoice.
type Payment struct {
	ID        int64  `json:"id"`
	InvoiceID int64  `json:"invoice_id"`
	Gateway   string `json:"gateway"`
	// ExternalID is the gateway's payment id; unique per gateway.
	ExternalID string `json:"external_id"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	Status     string `json:"status"`
	// RawEvent is the gateway's last notification about the payment, as
	// received; empty until one arrives.
	RawEvent string `json:"raw_event,omitempty"`
	// CreateResponse is what the gateway answered when the payment was
	// created (its CreatePayment answer), kept apart from notifications.
	CreateResponse string    `json:"create_response,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

const paymentColumns = "id, invoice_id, gateway, external_id, amount, currency, status, raw_event, create_response, created_at, updated_at"

func scanPayment(r Row) (*Payment, error) {
	var p Payment
	var created, updated int64
	if err := r.Scan(&p.ID, &p.InvoiceID, &p.Gateway, &p.ExternalID, &p.Amount, &p.Currency, &p.Status, &p.RawEvent, &p.CreateResponse, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = FromMillis(created), FromMillis(updated)
	return &p, nil
}

// RecordPayment inserts a payment or, when the gateway's id is known,
// updates its status (and its raw event and create response, each when
// given), and sets p.ID, p.Status (as stored) and its times. A paid
// payment only ever moves to refunded: a late "pending" or "expired"
// notification never takes a paid payment back.
func (q *Queries) RecordPayment(ctx context.Context, p *Payment) error {
	now := q.store.now()
	var created, updated int64
	err := q.db.QueryRow(ctx, `INSERT INTO payments (invoice_id, gateway, external_id, amount, currency, status, raw_event, create_response, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (gateway, external_id) DO UPDATE SET
			status = CASE WHEN payments.status = 'paid' AND excluded.status <> 'refunded' THEN payments.status ELSE excluded.status END,
			raw_event = CASE WHEN excluded.raw_event <> '' THEN excluded.raw_event ELSE payments.raw_event END,
			create_response = CASE WHEN excluded.create_response <> '' THEN excluded.create_response ELSE payments.create_response END,
			updated_at = excluded.updated_at
		RETURNING id, status, created_at, updated_at`,
		p.InvoiceID, p.Gateway, p.ExternalID, p.Amount, p.Currency, p.Status, p.RawEvent, p.CreateResponse, Millis(now), Millis(now)).Scan(&p.ID, &p.Status, &created, &updated)
	if err != nil {
		return fmt.Errorf("record payment %s/%s: %w", p.Gateway, p.ExternalID, err)
	}
	p.CreatedAt, p.UpdatedAt = FromMillis(created), FromMillis(updated)
	return nil
}

// PaymentSettled reports whether a payment is recorded in status and, for
// status paid, applied: its invoice is credited, or was cancelled (money
// for a cancelled invoice is recorded, audited and not applied). A repeat
// of a notification about a settled payment has nothing left to do. An
// unknown payment is not settled.
func (q *Queries) PaymentSettled(ctx context.Context, gateway, externalID, status string) (bool, error) {
	var got, invoiceStatus string
	var credits int
	err := q.db.QueryRow(ctx, `SELECT p.status, i.status, (SELECT COUNT(*) FROM invoice_credits c WHERE c.invoice_id = p.invoice_id)
		FROM payments p JOIN invoices i ON i.id = p.invoice_id WHERE p.gateway = ? AND p.external_id = ?`,
		gateway, externalID).Scan(&got, &invoiceStatus, &credits)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("payment %s/%s: %w", gateway, externalID, err)
	}
	if got != status {
		return false, nil
	}
	return status != PaymentPaid || credits > 0 || invoiceStatus == InvoiceCancelled, nil
}

// GetPaymentByExternalID reads a payment by the gateway's id.
func (q *Queries) GetPaymentByExternalID(ctx context.Context, gateway, externalID string) (*Payment, error) {
	p, err := scanPayment(q.db.QueryRow(ctx, "SELECT "+paymentColumns+" FROM payments WHERE gateway = ? AND external_id = ?", gateway, externalID))
	if err != nil {
		return nil, fmt.Errorf("payment %s/%s: %w", gateway, externalID, err)
	}
	return p, nil
}

// ListPayments lists an invoice's payments, newest first.
func (q *Queries) ListPayments(ctx context.Context, invoiceID int64) ([]Payment, error) {
	rows, err := q.db.Query(ctx, "SELECT "+paymentColumns+" FROM payments WHERE invoice_id = ? ORDER BY id DESC", invoiceID)
	if err != nil {
		return nil, fmt.Errorf("list payments of invoice %d: %w", invoiceID, err)
	}
	return scanPayments(rows)
}
