package billing_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/pdf"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// paidMessages pays a new invoice through the fake gateway and returns
// the messages sent for it, by key.
func paidMessages(t *testing.T, e *env) (*store.Invoice, map[string]sentMessage) {
	t.Helper()
	inv, payID := e.invoiceAndPayment()
	if _, err := e.webhook(payID, "paid"); err != nil {
		t.Fatal(err)
	}
	e.waitJobs("notify")
	got := map[string]sentMessage{}
	for _, m := range e.nt.messages() {
		got[m.key] = m
	}
	return inv, got
}

// TestPaymentMessageCarriesReceipt: the payment-received message reaches
// the notify plugin with the receipt PDF attached, over the plugin
// protocol, and its amount written as the admin UI writes it in the
// operator's language (Rp 150.000, not "150000 IDR"); the invoice's
// message carries none.
func TestPaymentMessageCarriesReceipt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st, func(c *billing.Config) { c.Operator = pdf.Operator{Name: "Net Desa"} })
		inv, msgs := paidMessages(t, e)
		paid, ok := msgs["paid-"+inv.Number]
		if !ok {
			t.Fatalf("no payment message among %+v", msgs)
		}
		if len(paid.attachments) != 1 {
			t.Fatalf("the payment message has %d attachments; want the receipt", len(paid.attachments))
		}
		a := paid.attachments[0]
		if a.Filename != "receipt-"+inv.Number+".pdf" || a.MIMEType != "application/pdf" || !bytes.HasPrefix(a.Data, []byte("%PDF-")) {
			t.Errorf("attachment %q %q %.20q; want the receipt PDF", a.Filename, a.MIMEType, a.Data)
		}
		if !strings.Contains(paid.text, "Rp\u00a0150.000") || strings.Contains(paid.text, "150000 IDR") {
			t.Errorf("payment message %q; want the amount as Rp 150.000", paid.text)
		}
		for key, m := range msgs {
			if key != "paid-"+inv.Number && len(m.attachments) != 0 {
				t.Errorf("message %s carries %d attachments; only the payment's should", key, len(m.attachments))
			}
		}
	})
}

// TestPaymentMessageWithoutReceipt: a receipt that cannot be made (the
// logo file is gone) does not hold the message back: it goes without the
// attachment, in English when operator.language is en.
func TestPaymentMessageWithoutReceipt(t *testing.T) {
	e := setup(t, storetest.SQLite(t), func(c *billing.Config) {
		c.Operator = pdf.Operator{Logo: filepath.Join(t.TempDir(), "gone.png")}
		c.Language = "en"
	})
	inv, msgs := paidMessages(t, e)
	paid, ok := msgs["paid-"+inv.Number]
	if !ok || len(paid.attachments) != 0 || !strings.Contains(paid.text, "IDR\u00a0150,000") {
		t.Errorf("payment message %+v (found %v); want it sent without an attachment, the amount as IDR 150,000", paid, ok)
	}
	if _, err := e.svc.InvoicePDF(context.Background(), &bytes.Buffer{}, inv.ID, ""); err == nil || !strings.Contains(err.Error(), "operator.logo") {
		t.Errorf("InvoicePDF with a missing logo: %v; want an error naming operator.logo", err)
	}
}
