package billing

// Invoices and receipts as PDF (package pdf): the one call the admin API
// (GET /api/v1/invoices/{id}/pdf), the admin UI's invoice page, the
// customer portal and the payment message's attachment make.

import (
	"context"
	"fmt"
	"io"

	"github.com/mikrobill/mikrobill/host/internal/pdf"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// InvoiceDocument returns invoice id as a PDF document: a receipt once it
// is paid, an invoice before; in lang ("id" or "en"; "" is the
// configured operator.language), with the configured operator.
func (s *Service) InvoiceDocument(ctx context.Context, id int64, lang string) (*pdf.Document, error) {
	q := s.st.Q()
	inv, err := q.GetInvoice(ctx, id)
	if err != nil {
		return nil, err
	}
	cust, err := q.GetCustomer(ctx, inv.CustomerID, nil)
	if err != nil {
		return nil, fmt.Errorf("invoice %s's customer: %w", inv.Number, err)
	}
	plan, err := q.GetPlan(ctx, inv.PlanID)
	if err != nil {
		return nil, fmt.Errorf("invoice %s's plan: %w", inv.Number, err)
	}
	if lang == "" {
		lang = s.cfg.Language
	}
	d := &pdf.Document{Kind: pdf.KindInvoice, Operator: s.cfg.Operator, Lang: lang, Location: s.cfg.Location,
		Number: inv.Number, Issued: inv.CreatedAt, Due: inv.DueAt, Status: inv.Status,
		CustomerName: cust.Name, CustomerPhone: cust.Phone, CustomerEmail: cust.Email,
		Plan: plan.Name, Amount: inv.Amount, Currency: inv.Currency}
	if inv.SubscriptionID != 0 {
		if sv, err := q.GetSubscriptionView(ctx, inv.SubscriptionID); err == nil {
			d.PeriodStart, d.PeriodEnd = sv.StartsAt, sv.ExpiresAt
		}
	}
	if inv.Status == store.InvoicePaid {
		d.Kind, d.PaidAt = pdf.KindReceipt, inv.PaidAt
		if d.PeriodStart.IsZero() && !inv.PaidAt.IsZero() && plan.Validity > 0 {
			d.PeriodStart, d.PeriodEnd = inv.PaidAt, inv.PaidAt.Add(plan.Validity)
		}
		pays, err := q.ListPayments(ctx, inv.ID)
		if err != nil {
			return nil, fmt.Errorf("invoice %s's payments: %w", inv.Number, err)
		}
		for _, p := range pays {
			if p.Status == store.PaymentPaid {
				d.Gateway, d.PaymentRef = p.Gateway, p.ExternalID
			}
		}
	}
	return d, nil
}

// InvoicePDF writes invoice id as a PDF to w (see InvoiceDocument) and
// returns its file name, for example "receipt-INV-2026-000042.pdf". The
// customer portal calls it for its customers' invoices and receipts, as
// the admin API and UI do.
func (s *Service) InvoicePDF(ctx context.Context, w io.Writer, id int64, lang string) (string, error) {
	d, err := s.InvoiceDocument(ctx, id, lang)
	if err != nil {
		return "", err
	}
	if err := pdf.Write(w, d); err != nil {
		return "", err
	}
	return d.Filename(), nil
}
