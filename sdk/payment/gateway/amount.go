package gateway

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/text/currency"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Decimals is the number of minor-unit digits of an ISO 4217 currency, from
// CLDR's data (golang.org/x/text/currency, standard rounding): IDR 0, PHP
// 2, USD 2, KWD 3. A code CLDR does not know is an error wrapping
// payment.ErrUnsupportedCurrency, and so is one whose digits differ from
// the unit payment.Money counts in (payment.Exponent; COP, for one), since
// an amount in it would be ambiguous. Codes that name no money (XTS for
// tests, XXX, precious metals such as XAU, XDR and the other units of
// account, fund codes such as CLF) are refused the same way, saying so.
func Decimals(code string) (int, error) {
	if err := CheckMoney(code); err != nil {
		return 0, err
	}
	u, err := currency.ParseISO(code)
	if err != nil || len(code) != 3 || strings.ToUpper(code) != code {
		return 0, fmt.Errorf("%w: %q is not an ISO 4217 currency code", payment.ErrUnsupportedCurrency, code)
	}
	scale, _ := currency.Standard.Rounding(u)
	if scale != payment.Exponent(code) {
		return 0, fmt.Errorf("%w: %s has %d decimals in CLDR and %d in payment.Money; an amount in it would be ambiguous",
			payment.ErrUnsupportedCurrency, code, scale, payment.Exponent(code))
	}
	return scale, nil
}

// FormatAmount writes m as the decimal number gateways that count in
// major units take: {150000, "IDR"} is "150000", {1050, "PHP"} is "10.50".
func FormatAmount(m payment.Money) (string, error) {
	d, err := Decimals(m.Currency)
	if err != nil {
		return "", err
	}
	if d == 0 {
		return strconv.FormatInt(m.Amount, 10), nil
	}
	sign, a := "", uint64(m.Amount)
	if m.Amount < 0 {
		sign, a = "-", uint64(-(m.Amount+1))+1 // no overflow at math.MinInt64
	}
	div := uint64(math.Pow10(d))
	return fmt.Sprintf("%s%d.%0*d", sign, a/div, d, a%div), nil
}

// ParseAmount reads a decimal amount in major units, as a gateway writes
// it ("150000", "150000.00", "10.5"), into minor units of code. Digits
// beyond the currency's minor units must be zeros ("10.501" PHP is an
// error, never rounded); an exponent, a sign other than a leading "-",
// or an amount too large is an error wrapping sdk.ErrInvalidArgument.
func ParseAmount(s, code string) (payment.Money, error) {
	d, err := Decimals(code)
	if err != nil {
		return payment.Money{}, err
	}
	bad := func(why string) (payment.Money, error) {
		return payment.Money{}, fmt.Errorf("%w: amount %q in %s: %s", sdk.ErrInvalidArgument, s, code, why)
	}
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" || !digits(whole) || !digits(frac) {
		return bad("not a decimal number")
	}
	if trimmed := strings.TrimRight(frac, "0"); len(trimmed) > d {
		return bad(fmt.Sprintf("%s has %d decimals", code, d))
	}
	frac = (frac + strings.Repeat("0", d))[:d]
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return bad("out of range")
	}
	if neg {
		n = -n
	}
	return payment.Money{Amount: n, Currency: code}, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
