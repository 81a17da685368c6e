package pdf

import (
	"bytes"
	"compress/zlib"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unicode"

	"codeberg.org/go-pdf/fpdf"

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

// TestFontsFor: Windows-1252 text takes the WinAnsi subsets, other Latin
// text the Latin subsets, anything else the full fonts.
func TestFontsFor(t *testing.T) {
	const winAnsi, latin, full = "WinAnsi", "Latin", "full"
	for _, c := range []struct {
		texts []string
		want  string
	}{
		{[]string{"Budi Santoso", "Rp\u00a0150.000", "Jl. Merdeka 1\nBandung", "Periode: 1 – 31 Desember"}, winAnsi},
		{[]string{"Net Désa", "Ñandú", "€ 12,50", "“quoted” — Œuvre ˆ˜ ƒ"}, winAnsi},
		{[]string{"Net Désa", "Łódź"}, latin},
		{[]string{"Erdős"}, latin},
		{[]string{"a\u0081b"}, full}, // a C1 control: in neither subset
		{[]string{"Budi", "Siti Привет"}, full},
		{[]string{"東京"}, full},
		{[]string{"฿100"}, full},
	} {
		f := fontsFor(c.texts...)
		got := full
		switch {
		case f.winAnsi && bytes.Equal(f.regular, fontRegularWinAnsi) && bytes.Equal(f.bold, fontBoldWinAnsi) &&
			bytes.Equal(f.regularDef, fontRegularWinAnsiDef) && bytes.Equal(f.boldDef, fontBoldWinAnsiDef):
			got = winAnsi
		case f.winAnsi:
			got = "WinAnsi with other fonts"
		case bytes.Equal(f.regular, fontRegularLatin) && bytes.Equal(f.bold, fontBoldLatin):
			got = latin
		case !bytes.Equal(f.regular, fontRegular) || !bytes.Equal(f.bold, fontBold):
			got = "unknown fonts"
		}
		if got != c.want {
			t.Errorf("fontsFor(%q): %s; want %s", c.texts, got, c.want)
		}
	}
	if !unicode.Is(latinRanges, 'é') || unicode.Is(latinRanges, 'Ж') {
		t.Error("latinRanges: want é in, Ж out")
	}
	if got := toWinAnsi("Désa — € 5\n東"); got != "D\xe9sa \x97 \x80 5\n?" {
		t.Errorf("toWinAnsi: %q", got)
	}
}

// inflate is z decompressed (zlib).
func inflate(t *testing.T, z []byte) []byte {
	t.Helper()
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var update = flag.Bool("update", false, "write fonts/*-WinAnsi.json and .z again from their .ttf")

// TestWinAnsiFonts: the committed definitions and compressed files of the
// WinAnsi subsets are what fpdf.MakeFont makes of the subsets' .ttf with
// Windows-1252; each subset holds a glyph for every printable character
// of Windows-1252 (so no character fontsFor lets through prints as a
// box), and no Cyrillic.
func TestWinAnsiFonts(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		def, z []byte
		ttf    string
	}{
		{"DejaVuSans-WinAnsi", fontRegularWinAnsiDef, fontRegularWinAnsi, "fonts/DejaVuSans-WinAnsi.ttf"},
		{"DejaVuSans-Bold-WinAnsi", fontBoldWinAnsiDef, fontBoldWinAnsi, "fonts/DejaVuSans-Bold-WinAnsi.ttf"},
	} {
		if err := fpdf.MakeFont(c.ttf, "testdata/cp1252.map", dir, io.Discard, true); err != nil {
			t.Fatalf("MakeFont %s: %v", c.ttf, err)
		}
		// The definition as MakeFont writes it; the compressed file as
		// the .ttf, decompressed (compress/flate's bytes may differ between
		// Go releases).
		for _, f := range []struct {
			ext       string
			committed []byte
		}{{".json", c.def}, {".z", c.z}} {
			made, err := os.ReadFile(filepath.Join(dir, c.name+f.ext))
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(filepath.Join("fonts", c.name+f.ext), made, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			same := bytes.Equal(made, f.committed)
			if f.ext == ".z" {
				same = bytes.Equal(inflate(t, made), inflate(t, f.committed))
			}
			if !same {
				t.Errorf("fonts/%s%s is not what fpdf.MakeFont makes of %s; run go test ./internal/pdf -run TestWinAnsiFonts -update", c.name, f.ext, c.ttf)
			}
		}
		raw, err := os.ReadFile(c.ttf)
		if err != nil {
			t.Fatal(err)
		}
		font, err := sfnt.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		var buf sfnt.Buffer
		n := 0
		for r := rune(0); r < 0x10000; r++ {
			if !inWinAnsi(r) {
				continue
			}
			n++
			if i, err := font.GlyphIndex(&buf, r); err != nil || i == 0 {
				t.Errorf("%s has no glyph for U+%04X %q", c.ttf, r, r)
			}
		}
		if n != 218 {
			t.Errorf("%d printable characters in Windows-1252; want 218", n)
		}
		if i, _ := font.GlyphIndex(&buf, 'Ж'); i != 0 {
			t.Errorf("%s has Ж: not the WinAnsi subset", c.ttf)
		}
	}
}

// BenchmarkWriteReceipt: the same receipt with a customer's name in
// Windows-1252 (the WinAnsi subsets), in other Latin script (the Latin
// subsets, which every Latin document took before the WinAnsi subsets)
// and in Cyrillic (the full fonts), in one run; bytes is the PDF's size.
func BenchmarkWriteReceipt(b *testing.B) {
	for _, c := range []struct{ name, customer string }{
		{"winansi", "Siti Nurhaliza"},
		{"latin-subset", "Siti Nurhaliza Łukasz"},
		{"full-fonts", "Сити Нурхализа"},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := &Document{Kind: KindReceipt, Lang: "id", Number: "INV-2026-000042", Status: "paid",
				Operator:     Operator{Name: "Net Desa Sejahtera", Address: "Jl. Merdeka 1\nBandung 40111"},
				CustomerName: c.customer, CustomerPhone: "+6281234567890", Plan: "Home 10M",
				Amount: 150000, Currency: "IDR", Gateway: "payment-midtrans", PaymentRef: "MT-98765"}
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := Write(&buf, d); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
	}
}
