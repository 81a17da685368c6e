// Package pdf writes invoices and receipts as PDF files (with
// codeberg.org/go-pdf/fpdf, the continuation of github.com/go-pdf/fpdf):
// the operator's name, address, tax number and logo, the invoice's
// number, customer, plan and period, and the amount written with
// host/internal/money in the document's language ("Rp 5.000"); a receipt
// adds its paid date and the payment's reference.
//
// Start at Write: it takes a Document, which billing fills from the store
// (billing.Service.InvoicePDF, the one call the admin API and UI and the
// customer portal make, and the receipt attached to the payment message).
//
// Text is set in DejaVu Sans, embedded (fonts/, with its license), since
// fpdf's core fonts only know cp1252: names in any script DejaVu covers
// print as typed, and a glyph it lacks prints as a box rather than failing.
// A document all in Latin script takes a subset of the fonts, which fpdf
// reads several times faster (fonts.go).
package pdf

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/text/language"

	"github.com/mikrobill/mikrobill/host/internal/money"
)

// Kinds of document.
const (
	// KindInvoice asks for payment.
	KindInvoice = "invoice"
	// KindReceipt confirms a payment.
	KindReceipt = "receipt"
)

// Operator is who issues the documents (the configuration's operator
// block).
type Operator struct {
	Name    string
	Address string
	TaxID   string
	// Logo is a PNG or JPEG file's path ("": none).
	Logo string
}

// Document is one invoice or receipt.
type Document struct {
	// Kind is KindInvoice or KindReceipt.
	Kind     string
	Operator Operator
	// Lang is the language of the labels, the amounts and the dates ("id"
	// or "en"; anything else is English).
	Lang string
	// Location is the zone dates are written in (nil: UTC).
	Location *time.Location

	Number string
	Issued time.Time
	// Due is the invoice's due date (zero: none).
	Due time.Time
	// Status is the invoice's status (store.Invoice*: "paid", "unpaid",
	// ...).
	Status string

	CustomerName  string
	CustomerPhone string
	CustomerEmail string

	Plan string
	// PeriodStart and PeriodEnd are the service period (zero: not known).
	PeriodStart, PeriodEnd time.Time

	// Amount in the currency's minor units.
	Amount   int64
	Currency string

	// PaidAt, Gateway and PaymentRef are the receipt's: when the invoice
	// was paid, through which gateway, and the gateway's payment id.
	PaidAt     time.Time
	Gateway    string
	PaymentRef string

	// Uncompressed leaves the content streams readable (tests look for
	// text in them).
	Uncompressed bool
}

// Filename is the document's file name, for example
// "receipt-INV-2026-000042.pdf".
func (d *Document) Filename() string {
	return d.Kind + "-" + safeName(d.Number) + ".pdf"
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// ErrInvalid marks a document Write refuses (no number, an unknown kind).
var ErrInvalid = errors.New("invalid document")

// Write writes d as a one-page A4 PDF to w.
func Write(w io.Writer, d *Document) error {
	if d.Kind != KindInvoice && d.Kind != KindReceipt {
		return fmt.Errorf("%w: the kind is %q; want %q or %q", ErrInvalid, d.Kind, KindInvoice, KindReceipt)
	}
	if d.Number == "" {
		return fmt.Errorf("%w: the %s has no number", ErrInvalid, d.Kind)
	}
	l := labelsFor(d.Lang)
	tag := language.Indonesian
	if d.Lang != "id" {
		tag = language.English
	}
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	date := func(t time.Time) string { return l.date(t.In(loc)) }

	amount := money.Format(tag, d.Amount, d.Currency)
	fonts := fontsFor(l.all(), d.Operator.Name, d.Operator.Address, d.Operator.TaxID, d.Number, d.Status,
		d.CustomerName, d.CustomerPhone, d.CustomerEmail, d.Plan, d.Gateway, d.PaymentRef, amount)
	tx := fonts.text

	p := fpdf.New("P", "mm", "A4", "")
	p.SetCompression(!d.Uncompressed)
	if fonts.winAnsi {
		p.AddFontFromBytes("dejavu", "", fonts.regularDef, fonts.regular)
		p.AddFontFromBytes("dejavu", "B", fonts.boldDef, fonts.bold)
	} else {
		p.AddUTF8FontFromBytes("dejavu", "", fonts.regular)
		p.AddUTF8FontFromBytes("dejavu", "B", fonts.bold)
	}
	title := l.get(d.Kind) + " " + d.Number
	p.SetTitle(title, true)
	p.SetAuthor(d.Operator.Name, true)
	p.SetCreator("mikrobill", true)
	if !d.Issued.IsZero() {
		p.SetCreationDate(d.Issued)
		p.SetModificationDate(d.Issued)
	}
	p.SetMargins(18, 18, 18)
	p.SetAutoPageBreak(true, 18)
	p.AddPage()

	// The operator: logo at the left, name, address and tax number.
	x := 18.0
	if d.Operator.Logo != "" {
		p.ImageOptions(d.Operator.Logo, 18, 18, 0, 20, false, fpdf.ImageOptions{ReadDpi: true}, 0, "")
		if err := p.Error(); err != nil {
			return fmt.Errorf("the operator's logo %q (operator.logo): %w; give a readable PNG or JPEG file", d.Operator.Logo, err)
		}
		x = 18 + 45
	}
	p.SetXY(x, 18)
	p.SetFont("dejavu", "B", 14)
	p.MultiCell(0, 7, tx(d.Operator.Name), "", "L", false)
	p.SetFont("dejavu", "", 9.5)
	for _, line := range strings.Split(strings.ReplaceAll(d.Operator.Address, `\n`, "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			p.SetX(x)
			p.MultiCell(0, 5, tx(line), "", "L", false)
		}
	}
	if d.Operator.TaxID != "" {
		p.SetX(x)
		p.MultiCell(0, 5, tx(l.get("tax_id")+": "+d.Operator.TaxID), "", "L", false)
	}
	p.SetY(max(p.GetY(), 40) + 6)

	// The title and the document's facts.
	p.SetFont("dejavu", "B", 20)
	p.CellFormat(0, 10, tx(strings.ToUpper(l.get(d.Kind))), "", 1, "L", false, 0, "")
	p.Ln(2)
	row := func(label, value string) {
		if value == "" {
			return
		}
		p.SetFont("dejavu", "", 10)
		p.SetTextColor(90, 90, 90)
		p.CellFormat(45, 6.5, tx(label), "", 0, "L", false, 0, "")
		p.SetTextColor(0, 0, 0)
		p.SetFont("dejavu", "B", 10)
		p.MultiCell(0, 6.5, tx(value), "", "L", false)
	}
	row(l.get("number"), d.Number)
	if !d.Issued.IsZero() {
		row(l.get("issued"), date(d.Issued))
	}
	if d.Kind == KindInvoice && !d.Due.IsZero() {
		row(l.get("due"), date(d.Due))
	}
	row(l.get("status"), l.get("status."+d.Status))
	p.Ln(4)
	row(l.get("customer"), d.CustomerName)
	row(l.get("phone"), d.CustomerPhone)
	row(l.get("email"), d.CustomerEmail)
	p.Ln(6)

	// The line: plan and period, amount.
	p.SetFillColor(238, 241, 246)
	p.SetFont("dejavu", "B", 10)
	p.CellFormat(120, 8, tx(l.get("description")), "B", 0, "L", true, 0, "")
	p.CellFormat(0, 8, tx(l.get("amount")), "B", 1, "R", true, 0, "")
	p.SetFont("dejavu", "", 10)
	desc := d.Plan
	if !d.PeriodStart.IsZero() && !d.PeriodEnd.IsZero() {
		desc += "\n" + l.get("period") + ": " + date(d.PeriodStart) + " – " + date(d.PeriodEnd)
	}
	y := p.GetY()
	p.MultiCell(120, 6.5, tx(desc), "", "L", false)
	end := p.GetY()
	p.SetXY(18+120, y)
	p.CellFormat(0, 6.5, tx(amount), "", 1, "R", false, 0, "")
	p.SetY(max(end, p.GetY()) + 1)
	p.SetFont("dejavu", "B", 11)
	p.CellFormat(120, 9, tx(l.get("total")), "T", 0, "L", false, 0, "")
	p.CellFormat(0, 9, tx(amount), "T", 1, "R", false, 0, "")

	if d.Kind == KindReceipt {
		p.Ln(8)
		row(l.get("paid_at"), dateIf(d.PaidAt, date))
		row(l.get("gateway"), d.Gateway)
		row(l.get("reference"), d.PaymentRef)
		p.Ln(4)
		p.SetFont("dejavu", "", 10)
		p.MultiCell(0, 6, tx(l.get("thanks")), "", "L", false)
	}
	if err := p.Output(w); err != nil {
		return fmt.Errorf("write the %s %s as PDF: %w", d.Kind, d.Number, err)
	}
	return nil
}

func dateIf(t time.Time, f func(time.Time) string) string {
	if t.IsZero() {
		return ""
	}
	return f(t)
}
