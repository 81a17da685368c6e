package pdf

import (
	_ "embed"
	"strings"
	"unicode"

	"golang.org/x/text/encoding/charmap"
)

// fpdf parses a whole TrueType font for every document it sets in a
// UTF-8 font, and subsets it when it writes it: 13.7 ms of CPU for one
// receipt with the full DejaVu Sans (some 6,000 glyphs), most of it in the
// fonts (docs/BENCHMARKS.md, "Receipts"). So Write takes, of the same
// fonts (the same outlines and metrics), the smallest set that holds every
// character of the document:
//
//   - winAnsi: when every character has a place in Windows-1252 (the
//     PDF's WinAnsiEncoding: ASCII, Latin-1, the euro, curly quotes, the
//     dashes; Indonesian, English and most Western European text), a
//     218-glyph subset as a simple TrueType font: its definition and its
//     compressed file are made once, ahead (fonts/*-WinAnsi.json and .z,
//     by fpdf.MakeFont), so a document only copies them, and the text is
//     written one byte a character;
//   - latin: otherwise, when every character is in latinRanges, a subset
//     that keeps those scripts, as a UTF-8 font (fpdf parses it and embeds
//     the glyphs used);
//   - the full fonts, as UTF-8 fonts, otherwise.
//
// The subsets are made from fonts/DejaVuSans.ttf and DejaVuSans-Bold.ttf
// with fontTools (Debian's python3-fonttools 4.38):
//
//	python3 -m fontTools.subset fonts/DejaVuSans.ttf --layout-features='*' --glyph-names \
//	  --unicodes=U+0020-007E,U+00A0-024F,U+2000-206F,U+20A0-20CF,U+2100-214F,U+2190-21FF,U+2212,U+FFFD \
//	  --output-file=fonts/DejaVuSans-Latin.ttf
//	python3 -m fontTools.subset fonts/DejaVuSans.ttf --glyph-names --notdef-outline --no-hinting \
//	  --unicodes=U+0020-007E,U+00A0-00FF,U+0152,U+0153,U+0160,U+0161,U+0178,U+017D,U+017E,U+0192,U+02C6,U+02DC,U+2013,U+2014,U+2018-201A,U+201C-201E,U+2020-2022,U+2026,U+2030,U+2039,U+203A,U+20AC,U+2122 \
//	  --output-file=fonts/DejaVuSans-WinAnsi.ttf
//
// and the same for the bold face (the WinAnsi subsets without hinting: a
// PDF viewer scales the outlines; it halves the file, 14 KB a face
// compressed). The .json and .z files of the WinAnsi subsets are
// fpdf.MakeFont's, with fpdf's cp1252.map (testdata/): TestWinAnsiFonts
// makes them again and compares; `go test ./internal/pdf -run
// TestWinAnsiFonts -update` writes them. TestLatinSubsetsCoverLatinRanges
// checks that the Latin subsets hold every glyph of the full fonts in
// latinRanges.

//go:embed fonts/DejaVuSans.ttf
var fontRegular []byte

//go:embed fonts/DejaVuSans-Bold.ttf
var fontBold []byte

//go:embed fonts/DejaVuSans-Latin.ttf
var fontRegularLatin []byte

//go:embed fonts/DejaVuSans-Bold-Latin.ttf
var fontBoldLatin []byte

// latinRanges are the characters the Latin subsets keep: ASCII, Latin-1,
// Latin Extended-A and -B, general punctuation (dashes, quotes, spaces),
// currency symbols, letterlike symbols, arrows, the minus sign and the
// replacement character.
var latinRanges = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x0020, Hi: 0x007e, Stride: 1},
		{Lo: 0x00a0, Hi: 0x024f, Stride: 1},
		{Lo: 0x2000, Hi: 0x206f, Stride: 1},
		{Lo: 0x20a0, Hi: 0x20cf, Stride: 1},
		{Lo: 0x2100, Hi: 0x214f, Stride: 1},
		{Lo: 0x2190, Hi: 0x21ff, Stride: 1},
		{Lo: 0x2212, Hi: 0x2212, Stride: 1},
		{Lo: 0xfffd, Hi: 0xfffd, Stride: 1},
	},
}

//go:embed fonts/DejaVuSans-WinAnsi.json
var fontRegularWinAnsiDef []byte

//go:embed fonts/DejaVuSans-WinAnsi.z
var fontRegularWinAnsi []byte

//go:embed fonts/DejaVuSans-Bold-WinAnsi.json
var fontBoldWinAnsiDef []byte

//go:embed fonts/DejaVuSans-Bold-WinAnsi.z
var fontBoldWinAnsi []byte

// faces are the regular and bold fonts a document is set in.
type faces struct {
	// winAnsi: regular and bold are fpdf.MakeFont's compressed font files,
	// regularDef and boldDef their definitions, and text goes through
	// toWinAnsi. Otherwise regular and bold are TrueType files for fpdf's
	// UTF-8 fonts.
	winAnsi             bool
	regular, bold       []byte
	regularDef, boldDef []byte
}

// text is s as the faces write it: in Windows-1252 for the WinAnsi
// subsets, as it is (UTF-8) otherwise.
func (f faces) text(s string) string {
	if !f.winAnsi {
		return s
	}
	return toWinAnsi(s)
}

// fontsFor returns the fonts for a document whose texts are texts: the
// WinAnsi subsets when every character is in Windows-1252, the Latin
// subsets when every character is in latinRanges, the full fonts
// otherwise. A line break or tab is not drawn.
func fontsFor(texts ...string) faces {
	winAnsi, latin := true, true
	for _, s := range texts {
		for _, r := range s {
			if r == '\n' || r == '\r' || r == '\t' {
				continue
			}
			winAnsi = winAnsi && inWinAnsi(r)
			latin = latin && unicode.Is(latinRanges, r)
		}
	}
	switch {
	case winAnsi:
		return faces{winAnsi: true, regular: fontRegularWinAnsi, bold: fontBoldWinAnsi, regularDef: fontRegularWinAnsiDef, boldDef: fontBoldWinAnsiDef}
	case latin:
		return faces{regular: fontRegularLatin, bold: fontBoldLatin}
	}
	return faces{regular: fontRegular, bold: fontBold}
}

// inWinAnsi reports whether r is a printable character of Windows-1252
// (not a control character, C0 or C1).
func inWinAnsi(r rune) bool {
	if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
		return false
	}
	_, ok := charmap.Windows1252.EncodeRune(r)
	return ok
}

// toWinAnsi is s in Windows-1252, a byte a character; a character that
// has no place there (fontsFor did not choose the WinAnsi subsets then)
// is written as a question mark.
func toWinAnsi(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if c, ok := charmap.Windows1252.EncodeRune(r); ok && (inWinAnsi(r) || r == '\n' || r == '\r' || r == '\t') {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
