package pdf

import (
	_ "embed"
	"unicode"
)

// The full DejaVu Sans covers some 6,000 glyphs, and fpdf parses a whole
// font for every document it makes and subsets it when it writes it: 13.7
// ms of CPU for one receipt, most of it in the fonts (docs/BENCHMARKS.md,
// "Webhooks under concurrency"). Almost every document is in Latin script,
// so Write sets it in a subset of the same fonts that keeps only the
// scripts of latinRanges (the same glyphs, outlines and metrics), and takes
// the full fonts when any text of the document falls outside them.
//
// The subsets are made from fonts/DejaVuSans.ttf and DejaVuSans-Bold.ttf
// with fontTools (Debian's python3-fonttools 4.38):
//
//	python3 -m fontTools.subset fonts/DejaVuSans.ttf --layout-features='*' --glyph-names \
//	  --unicodes=U+0020-007E,U+00A0-024F,U+2000-206F,U+20A0-20CF,U+2100-214F,U+2190-21FF,U+2212,U+FFFD \
//	  --output-file=fonts/DejaVuSans-Latin.ttf
//
// and the same for the bold face. TestLatinSubsetsCoverLatinRanges checks
// that they hold every glyph of the full fonts in those ranges.

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

// fontsFor returns the regular and bold fonts for a document whose texts
// are texts: the Latin subsets when every character is in latinRanges (a
// line break or tab is not drawn), the full fonts otherwise.
func fontsFor(texts ...string) (regular, bold []byte) {
	for _, s := range texts {
		for _, r := range s {
			if r != '\n' && r != '\r' && r != '\t' && !unicode.Is(latinRanges, r) {
				return fontRegular, fontBold
			}
		}
	}
	return fontRegularLatin, fontBoldLatin
}
