package money

import (
	"math"
	"testing"

	"golang.org/x/text/language"
)

func TestFormat(t *testing.T) {
	en, id := language.English, language.Indonesian
	for _, c := range []struct {
		lang   language.Tag
		amount int64
		code   string
		want   string
	}{
		// The brief's examples: rupiah have no minor unit at the gateways.
		{id, 150000, "IDR", "Rp 150.000"},
		{en, 150000, "IDR", "IDR 150,000"},
		{id, 0, "IDR", "Rp 0"},
		{id, 1500000000, "idr", "Rp 1.500.000.000"},
		// Cents, in each language's marks.
		{en, 1050, "USD", "$ 10.50"},
		{id, 1050, "USD", "US$ 10,50"},
		{en, 123456789, "USD", "$ 1,234,567.89"},
		{en, 5, "USD", "$ 0.05"},
		{en, -1050, "USD", "-$ 10.50"},
		{en, 1050, "EUR", "€ 10.50"},
		{id, 1000, "JPY", "JP¥ 1.000"},
		// Three minor digits.
		{en, 1234567, "KWD", "KWD 1,234.567"},
		// CLDR writes pesos without cents, gateways count them: zeros go,
		// cents that are there stay.
		{en, 150000, "COP", "COP 1,500"},
		{en, 150050, "COP", "COP 1,500.50"},
		// A code CLDR does not know: as it is, with the gateways' digits.
		{en, 1050, "xyz", "XYZ 10.50"},
		{en, math.MinInt64, "IDR", "-IDR 9,223,372,036,854,775,808"},
		{en, math.MaxInt64, "USD", "$ 92,233,720,368,547,758.07"},
	} {
		got := Format(c.lang, c.amount, c.code)
		want := replaceSpace(c.want)
		if got != want {
			t.Errorf("Format(%s, %d, %q) = %q; want %q", c.lang, c.amount, c.code, got, want)
		}
	}
}

// replaceSpace writes the tests' plain space as the no-break space Format
// puts between symbol and number.
func replaceSpace(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i] + nbsp + s[i+1:]
		}
	}
	return s
}

func BenchmarkFormat(b *testing.B) {
	for b.Loop() {
		Format(language.Indonesian, 150000, "IDR")
	}
}
