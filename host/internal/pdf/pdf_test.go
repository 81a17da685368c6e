package pdf_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/mikrobill/mikrobill/host/internal/pdf"
)

// utf16be is how fpdf writes text in a UTF-8 font's content stream (and
// the document's title): UTF-16, big-endian.
func utf16be(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

func logo(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for x := range 40 {
		for y := range 20 {
			img.Set(x, y, color.RGBA{R: uint8(x * 6), G: 80, B: 200, A: 255})
		}
	}
	path := filepath.Join(t.TempDir(), "logo.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func document(kind, lang string) *pdf.Document {
	wib := time.FixedZone("WIB", 7*3600)
	return &pdf.Document{
		Kind: kind, Lang: lang, Location: wib, Uncompressed: true,
		Operator: pdf.Operator{Name: "Net Désa Sejahtera", Address: "Jl. Merdeka 1\nBandung 40111", TaxID: "01.234.567.8-901.000"},
		Number:   "INV-2026-000042", Issued: time.Date(2026, 12, 1, 9, 0, 0, 0, wib), Due: time.Date(2026, 12, 8, 9, 0, 0, 0, wib), Status: "paid",
		CustomerName: "Siti Nurhaliza — Ñandú 東京 Привет", CustomerPhone: "+6281234567890",
		Plan: "Home 10M", PeriodStart: time.Date(2026, 12, 1, 9, 0, 0, 0, wib), PeriodEnd: time.Date(2026, 12, 31, 9, 0, 0, 0, wib),
		Amount: 150000, Currency: "IDR", PaidAt: time.Date(2026, 12, 1, 9, 5, 0, 0, wib), Gateway: "payment-midtrans", PaymentRef: "MT-98765",
	}
}

// TestWrite: an invoice and a receipt in each language are PDFs holding
// the number, the amount as money writes it, the customer's name in
// several scripts, the period in the language's words; the receipt adds
// the payment's reference; a logo prints.
func TestWrite(t *testing.T) {
	for _, c := range []struct {
		kind, lang string
		want       []string
		not        []string
	}{
		{pdf.KindInvoice, "id", []string{"TAGIHAN", "Rp\u00a0150.000", "1 Desember 2026 – 31 Desember 2026", "Jatuh tempo", "NPWP: 01.234.567.8-901.000"}, []string{"MT-98765"}},
		{pdf.KindReceipt, "id", []string{"KUITANSI", "Rp\u00a0150.000", "MT-98765", "payment-midtrans", "Dibayar pada", "Lunas"}, []string{"Jatuh tempo"}},
		{pdf.KindReceipt, "en", []string{"RECEIPT", "IDR\u00a0150,000", "Payment reference", "1 December 2026"}, []string{"150.000"}},
	} {
		t.Run(c.kind+"-"+c.lang, func(t *testing.T) {
			d := document(c.kind, c.lang)
			d.Operator.Logo = logo(t)
			var buf bytes.Buffer
			if err := pdf.Write(&buf, d); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			if !bytes.HasPrefix(b, []byte("%PDF-")) || !bytes.HasSuffix(bytes.TrimSpace(b), []byte("%%EOF")) {
				t.Fatalf("not a PDF: %.40q ... %q", b, b[max(0, len(b)-20):])
			}
			for _, s := range append(c.want, "INV-2026-000042", "Siti Nurhaliza — Ñandú 東京 Привет", "Net Désa Sejahtera", "Home 10M") {
				if !bytes.Contains(b, utf16be(s)) {
					t.Errorf("the %s has no %q", c.kind, s)
				}
			}
			for _, s := range c.not {
				if bytes.Contains(b, utf16be(s)) {
					t.Errorf("the %s has %q", c.kind, s)
				}
			}
			if !bytes.Contains(b, []byte("/Subtype /Image")) {
				t.Errorf("the %s has no image: the logo is missing", c.kind)
			}
			if d.Filename() != c.kind+"-INV-2026-000042.pdf" {
				t.Errorf("file name %q", d.Filename())
			}
		})
	}
}

// TestWriteWinAnsi: a document whose text is all in Windows-1252 (here
// Indonesian, with an é, the en dash and the no-break space money writes)
// is set in the WinAnsi subsets: simple TrueType fonts with
// WinAnsiEncoding, the text a byte a character, no UTF-8 (Type0) font.
func TestWriteWinAnsi(t *testing.T) {
	d := document(pdf.KindReceipt, "id")
	d.CustomerName = "Siti Nurhaliza"
	var buf bytes.Buffer
	if err := pdf.Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for _, s := range []string{"KUITANSI", "INV-2026-000042", "Siti Nurhaliza", "Net D\xe9sa Sejahtera", "Rp\xa0150.000",
		"1 Desember 2026 \x96 31 Desember 2026", "MT-98765", "Dibayar pada",
		"/Subtype /TrueType", "/Encoding /WinAnsiEncoding", "/FontFile2"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("the receipt has no %q", s)
		}
	}
	if bytes.Contains(b, []byte("/Type0")) || bytes.Contains(b, utf16be("Siti Nurhaliza")) {
		t.Error("the receipt in Windows-1252 text is set in a UTF-8 font")
	}
	if len(b) > 60_000 {
		t.Errorf("the receipt is %d bytes; want the two subsets (about 28 KB) and the page", len(b))
	}
}

// TestWriteRefuses: an unknown kind, no number and a logo that is not
// there are errors that say so.
func TestWriteRefuses(t *testing.T) {
	d := document("bill", "en")
	if err := pdf.Write(&bytes.Buffer{}, d); !errors.Is(err, pdf.ErrInvalid) {
		t.Errorf("kind bill: %v; want ErrInvalid", err)
	}
	d = document(pdf.KindInvoice, "en")
	d.Number = ""
	if err := pdf.Write(&bytes.Buffer{}, d); !errors.Is(err, pdf.ErrInvalid) {
		t.Errorf("no number: %v; want ErrInvalid", err)
	}
	d = document(pdf.KindInvoice, "en")
	d.Operator.Logo = filepath.Join(t.TempDir(), "missing.png")
	if err := pdf.Write(&bytes.Buffer{}, d); err == nil || !strings.Contains(err.Error(), "operator.logo") {
		t.Errorf("missing logo: %v; want an error naming operator.logo", err)
	}
	// Compressed (as served): still a PDF.
	d = document(pdf.KindInvoice, "id")
	d.Uncompressed = false
	var buf bytes.Buffer
	if err := pdf.Write(&buf, d); err != nil || !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
		t.Errorf("compressed: %v %.20q", err, buf.Bytes())
	}
}
