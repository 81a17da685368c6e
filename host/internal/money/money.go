// Package money writes amounts of money for people: the currency's symbol
// in the reader's language, the language's digit grouping and decimal
// mark, and the digits the currency is written with ("Rp 150.000" in
// Indonesian, "IDR 150,000" and "$ 12.50" in English). The admin UI's
// "money" template function and the customer's pay page call Format.
//
// Two tables meet here and neither is written in this package: what an
// amount counts is the SDK's (payment.Exponent, the minor units payment
// gateways use, in which the store keeps every amount), and how a currency
// is written is CLDR's, through golang.org/x/text/currency. They mostly
// agree; where CLDR writes fewer digits than the amount counts (COP, PKR
// and IQD, for example), the amount is shown with CLDR's digits when that
// drops only zeros, and with all of its own otherwise, so no amount is
// ever rounded for display.
package money

import (
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

// nbsp joins the symbol to the number, so a narrow table cell does not
// break "Rp" from its amount.
const nbsp = "\u00a0"

// Format returns amount, counted in the minor units of currency (an ISO
// 4217 code) as payment.Exponent counts them, written for a reader of
// lang. A code CLDR does not know is written as it is, upper-cased, with
// the amount's own digits.
func Format(lang language.Tag, amount int64, code string) string {
	code = strings.ToUpper(strings.TrimSpace(code))
	exp := payment.Exponent(code)
	lf := formatterFor(lang)
	sym, digits := code, exp
	if unit, err := currency.ParseISO(code); err == nil {
		sym = lf.symbol(unit)
		digits, _ = currency.Standard.Rounding(unit)
	}

	sign, a := "", uint64(amount)
	if amount < 0 {
		sign, a = "-", uint64(-(amount+1))+1 // no overflow at math.MinInt64
	}
	div := pow10(exp)
	whole, frac := a/div, a%div
	switch {
	case digits > exp: // written with more digits than counted: pad
		frac *= pow10(digits - exp)
	case digits < exp && frac%pow10(exp-digits) == 0: // only zeros dropped
		frac /= pow10(exp - digits)
	case digits < exp: // the amount has more: show them all
		digits = exp
	}
	var b strings.Builder
	b.WriteString(sign)
	b.WriteString(sym)
	b.WriteString(nbsp)
	b.WriteString(lf.p.Sprint(number.Decimal(whole)))
	if digits > 0 {
		b.WriteString(lf.decimal)
		b.WriteString(lf.p.Sprint(number.Decimal(frac, number.MinIntegerDigits(digits), number.NoSeparator())))
	}
	return b.String()
}

// langFormat is a language's printer, decimal mark and the currency
// symbols asked for so far.
type langFormat struct {
	p       *message.Printer
	decimal string
	symbols sync.Map // currency.Unit -> string
}

// symbol is the currency's symbol in the language ("Rp", "US$").
func (f *langFormat) symbol(unit currency.Unit) string {
	if s, ok := f.symbols.Load(unit); ok {
		return s.(string)
	}
	s := f.p.Sprint(currency.Symbol(unit))
	f.symbols.Store(unit, s)
	return s
}

// formats caches a langFormat per language (the UI has few).
var formats sync.Map // language.Tag -> *langFormat

func formatterFor(lang language.Tag) *langFormat {
	if f, ok := formats.Load(lang); ok {
		return f.(*langFormat)
	}
	p := message.NewPrinter(lang)
	// The decimal mark is what the language puts between 1 and 5 in one
	// and a half.
	f := &langFormat{p: p, decimal: strings.TrimFunc(p.Sprint(number.Decimal(1.5, number.Scale(1))), unicode.IsDigit)}
	actual, _ := formats.LoadOrStore(lang, f)
	return actual.(*langFormat)
}

func pow10(n int) uint64 {
	out := uint64(1)
	for range n {
		out *= 10
	}
	return out
}
