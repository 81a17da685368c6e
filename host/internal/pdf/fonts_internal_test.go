package pdf

import (
	"bytes"
	"testing"
	"unicode"

	"golang.org/x/image/font/sfnt"
)

// TestLatinSubsetsCoverLatinRanges: each Latin subset has a glyph for every
// character of latinRanges that its full font has, so a document fontsFor
// gives the subsets prints as it would in the full fonts; and a character
// outside the ranges that the full font has (Cyrillic) is not in the
// subset, so the test would notice subsets made with other ranges.
func TestLatinSubsetsCoverLatinRanges(t *testing.T) {
	for _, c := range []struct {
		name         string
		full, subset []byte
	}{
		{"regular", fontRegular, fontRegularLatin},
		{"bold", fontBold, fontBoldLatin},
	} {
		full, err := sfnt.Parse(c.full)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := sfnt.Parse(c.subset)
		if err != nil {
			t.Fatal(err)
		}
		var buf sfnt.Buffer
		has := func(f *sfnt.Font, r rune) bool {
			i, err := f.GlyphIndex(&buf, r)
			return err == nil && i != 0
		}
		n := 0
		for _, rg := range latinRanges.R16 {
			for r := rune(rg.Lo); r <= rune(rg.Hi); r += rune(rg.Stride) {
				if has(full, r) {
					n++
					if !has(sub, r) {
						t.Errorf("%s: the full font has U+%04X %q, the Latin subset does not", c.name, r, r)
					}
				}
			}
		}
		if n < 500 {
			t.Errorf("%s: only %d characters of latinRanges in the full font", c.name, n)
		}
		if !has(full, 'Ж') || has(sub, 'Ж') {
			t.Errorf("%s: Ж in the full font %v, in the subset %v; want only in the full font", c.name, has(full, 'Ж'), has(sub, 'Ж'))
		}
		if len(c.subset)*4 > len(c.full) {
			t.Errorf("%s: the subset is %d bytes, the full font %d; want it far smaller", c.name, len(c.subset), len(c.full))
		}
	}
}

func TestFontsForTakesTheFullFontsOutsideLatin(t *testing.T) {
	for _, c := range []struct {
		texts []string
		full  bool
	}{
		{[]string{"Budi Santoso", "Rp\u00a0150.000", "Jl. Merdeka 1\nBandung", "Periode: 1 – 31 Desember"}, false},
		{[]string{"Net Désa", "Ñandú", "€ 12,50", "Łódź"}, false},
		{[]string{"Budi", "Siti Привет"}, true},
		{[]string{"東京"}, true},
		{[]string{"฿100"}, true},
	} {
		regular, bold := fontsFor(c.texts...)
		full := bytes.Equal(regular, fontRegular) && bytes.Equal(bold, fontBold)
		latin := bytes.Equal(regular, fontRegularLatin) && bytes.Equal(bold, fontBoldLatin)
		if full != c.full || latin == c.full {
			t.Errorf("fontsFor(%q): full fonts %v, Latin subsets %v; want full %v", c.texts, full, latin, c.full)
		}
	}
	if !unicode.Is(latinRanges, 'é') || unicode.Is(latinRanges, 'Ж') {
		t.Error("latinRanges: want é in, Ж out")
	}
}

// BenchmarkWriteReceipt: a receipt in Latin script (the Latin subsets)
// against the same receipt with a Cyrillic name (the full fonts), in one
// run.
func BenchmarkWriteReceipt(b *testing.B) {
	for _, c := range []struct{ name, customer string }{
		{"latin-subset", "Siti Nurhaliza"},
		{"full-fonts", "Сити Нурхализа"},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := &Document{Kind: KindReceipt, Lang: "id", Number: "INV-2026-000042", Status: "paid",
				Operator:     Operator{Name: "Net Desa Sejahtera", Address: "Jl. Merdeka 1\nBandung 40111"},
				CustomerName: c.customer, CustomerPhone: "+6281234567890", Plan: "Home 10M",
				Amount: 150000, Currency: "IDR", Gateway: "payment-midtrans", PaymentRef: "MT-98765"}
			b.ReportAllocs()
			for b.Loop() {
				if err := Write(&bytes.Buffer{}, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
