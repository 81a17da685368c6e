package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/pdf"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// TestInvoicePDF: a paid invoice is a receipt PDF with its payment's
// reference, for viewers, in the language asked; an unpaid one an
// invoice; a bad language is 422, an unknown invoice 404, no credentials
// 401; the invoice page links to it in the page's language.
func TestInvoicePDF(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	ctx := context.Background()
	SeedPayments(t, s.deps.DB, 1, time.Now(), "payment-manual")
	invs, _, err := s.deps.DB.Q().ListInvoices(ctx, store.InvoiceFilter{}, store.Page{Limit: 10})
	if err != nil || len(invs) != 1 {
		t.Fatalf("invoices %v %v", invs, err)
	}
	paid := invs[0]
	unpaid := &store.Invoice{CustomerID: paid.CustomerID, PlanID: paid.PlanID, Amount: 5000, Currency: "IDR"}
	if err := s.deps.DB.Q().CreateInvoice(ctx, unpaid); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		inv  *store.Invoice
		kind string
	}{{&paid, pdf.KindReceipt}, {unpaid, pdf.KindInvoice}} {
		w := report(t, h, fmt.Sprintf("/api/v1/invoices/%d/pdf?lang=en&download=1", c.inv.ID), RoleViewer, "")
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(w.Body.Bytes(), []byte("%PDF-")) {
			t.Fatalf("PDF of %s: %d %v %.100q", c.inv.Number, w.Code, w.Header(), w.Body.String())
		}
		if want := fmt.Sprintf(`attachment; filename="%s-%s.pdf"`, c.kind, c.inv.Number); w.Header().Get("Content-Disposition") != want {
			t.Errorf("Content-Disposition %q; want %q", w.Header().Get("Content-Disposition"), want)
		}
		d, err := s.deps.Billing.InvoiceDocument(ctx, c.inv.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if d.Kind != c.kind || d.Number != c.inv.Number || d.Amount != c.inv.Amount || d.CustomerName != "Pelanggan 0" || d.Plan != "Daily" || d.Lang != "id" {
			t.Errorf("document of %s: %+v", c.inv.Number, d)
		}
		if c.kind == pdf.KindReceipt && (d.PaymentRef != paid.Number || d.Gateway != "payment-manual" || d.PaidAt.IsZero() || d.PeriodEnd.Sub(d.PeriodStart) != 24*time.Hour) {
			t.Errorf("receipt: reference %q through %q paid %v for %v–%v; want the payment's id, its gateway and a day's period", d.PaymentRef, d.Gateway, d.PaidAt, d.PeriodStart, d.PeriodEnd)
		}
	}
	if w := report(t, h, fmt.Sprintf("/api/v1/invoices/%d/pdf", paid.ID), RoleViewer, ""); !strings.HasPrefix(w.Header().Get("Content-Disposition"), "inline;") {
		t.Errorf("without download: %q; want inline", w.Header().Get("Content-Disposition"))
	}
	for path, want := range map[string]int{
		fmt.Sprintf("/api/v1/invoices/%d/pdf?lang=fr", paid.ID): http.StatusUnprocessableEntity,
		"/api/v1/invoices/99999/pdf":                            http.StatusNotFound,
	} {
		if w := report(t, h, path, RoleViewer, ""); w.Code != want {
			t.Errorf("GET %s: %d %s; want %d", path, w.Code, w.Body, want)
		}
	}
	if w := report(t, h, fmt.Sprintf("/api/v1/invoices/%d/pdf", paid.ID), "", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d; want 401", w.Code)
	}
	_, body := page(t, h, http.MethodGet, fmt.Sprintf("/invoices/%d", paid.ID), RoleViewer, nil, false)
	if want := fmt.Sprintf(`id="invoice-pdf" href="/api/v1/invoices/%d/pdf?lang=en&amp;download=1" download>Download the receipt (PDF)<`, paid.ID); !strings.Contains(body, want) {
		t.Errorf("the invoice page has no %s", want)
	}
}
