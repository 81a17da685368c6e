package ui

import (
	"html/template"
	"strings"
	"testing"
	"time"
)

// TestMoneyAndDurationFuncs: the templates' money writes an amount in the
// page's language (host/internal/money tests the formatting in full), and
// duration words a validity, one day in the singular.
func TestMoneyAndDurationFuncs(t *testing.T) {
	u := newTestUI(t)
	for _, c := range []struct{ lang, src, want string }{
		{"id", `{{money 150000 "IDR"}}`, "Rp\u00a0150.000"},
		{"en", `{{money 150000 "IDR"}}`, "IDR\u00a0150,000"},
		{"en", `{{money 1050 "USD"}}`, "$\u00a010.50"},
		{"id", `{{money 1050 "USD"}}`, "US$\u00a010,50"},
		{"en", `{{duration .}}`, "1 day"},
		{"id", `{{duration .}}`, "1 hari"},
	} {
		tmpl := template.Must(template.New("t").Funcs(u.funcs(c.lang)).Parse(c.src))
		var b strings.Builder
		if err := tmpl.Execute(&b, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("%s %s = %q; want %q", c.lang, c.src, b.String(), c.want)
		}
	}
	for d, want := range map[time.Duration]string{time.Hour: "1 hour", 3 * time.Hour: "3 hours", 30 * 24 * time.Hour: "30 days", 36 * time.Hour: "36 hours"} {
		if got, err := duration("en", d); err != nil || got != want {
			t.Errorf("duration(%s) = %q, %v; want %q", d, got, err, want)
		}
	}
}
