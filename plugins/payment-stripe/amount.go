package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Amounts cross two conventions. payment.Money counts minor units as
// payment.Exponent says (IDR 0: {150000, "IDR"} is Rp 150.000). Stripe counts
// its own minor units (https://docs.stripe.com/currencies), which differ:
//
//   - Two-decimal by default, IDR included: Rp 150.000 is unit_amount 15000000.
//   - Zero-decimal: BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF.
//   - Special cases: ISK and UGX "transitioned to a zero-decimal currency, but
//     backward compatibility requires you to represent it as a two-decimal
//     value, where the decimal amount is always 00" (5 ISK is 500). UGX is
//     also on Stripe's zero-decimal list; the special case is the rule for
//     charges. HUF and TWD are zero-decimal for payouts only; charges are
//     two-decimal, as payment.Exponent has them.
//   - Three-decimal: BHD JOD KWD OMR TND, whose last digit must be 0 (5.124
//     KWD cannot be charged; 5.120 can).
//
// Conversion is exact both ways or refused; nothing is ever rounded.

// stripeCurrency is how Stripe represents one currency.
type stripeCurrency struct {
	// exp is the number of decimals in Stripe's amounts.
	exp int
	// step: Stripe amounts must be multiples of it (100 for ISK and UGX, 10
	// for three-decimal currencies, else 1).
	step int64
}

var stripeZeroDecimal = map[string]bool{
	"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true, "KRW": true, "MGA": true,
	"PYG": true, "RWF": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true,
}

var stripeThreeDecimal = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}

// stripeUnsupported are currencies payment.Exponent knows with three decimals
// that Stripe does not list among its three-decimal currencies: how Stripe
// would read their amounts is unknown, so they are refused.
var stripeUnsupported = map[string]bool{"IQD": true, "LYD": true}

// minCharge is Stripe's minimum charge per currency, in Stripe's minor units
// ("Minimum charge amount by currency"). It applies to charges in the
// account's settlement currency; charges in another currency must meet the
// settlement currency's minimum after conversion, which only Stripe can
// check (it answers amount_too_small).
var minCharge = map[string]int64{
	"USD": 50, "AED": 200, "ARS": 50, "AUD": 50, "BRL": 50, "CAD": 50, "CHF": 50, "COP": 50,
	"CZK": 1500, "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "IDR": 50, "ILS": 50,
	"INR": 50, "JPY": 50, "KRW": 50, "MXN": 1000, "MYR": 200, "NOK": 300, "NZD": 50, "PHP": 50,
	"PLN": 200, "RON": 200, "RUB": 50, "SEK": 300, "SGD": 50, "THB": 1000, "ZAR": 50,
}

// maxStripeAmount is the largest amount Stripe takes: 12 digits in minor
// units (card payments; other methods allow 8 to 12 and Stripe refuses the
// rest itself).
const maxStripeAmount = 999_999_999_999

// stripeCurrencyOf returns how Stripe represents currency (upper case ISO
// 4217), or an error wrapping payment.ErrUnsupportedCurrency.
func stripeCurrencyOf(currency string) (stripeCurrency, error) {
	c := strings.ToUpper(currency)
	switch {
	case len(c) != 3 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "":
		return stripeCurrency{}, fmt.Errorf("%w: %q is not an ISO 4217 currency code", payment.ErrUnsupportedCurrency, currency)
	case stripeUnsupported[c]:
		return stripeCurrency{}, fmt.Errorf("%w: Stripe does not take %s", payment.ErrUnsupportedCurrency, c)
	case c == "ISK" || c == "UGX":
		return stripeCurrency{exp: 2, step: 100}, nil
	case stripeZeroDecimal[c]:
		return stripeCurrency{exp: 0, step: 1}, nil
	case stripeThreeDecimal[c]:
		return stripeCurrency{exp: 3, step: 10}, nil
	default:
		return stripeCurrency{exp: 2, step: 1}, nil
	}
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// toStripe converts an amount to Stripe's minor units and its lower-case
// currency code. Amounts Stripe cannot represent are refused with
// sdk.ErrInvalidArgument, currencies it does not take with
// payment.ErrUnsupportedCurrency.
func toStripe(m payment.Money) (int64, string, error) {
	sc, err := stripeCurrencyOf(m.Currency)
	if err != nil {
		return 0, "", err
	}
	cur := strings.ToUpper(m.Currency)
	if m.Amount < 0 {
		return 0, "", fmt.Errorf("%w: amount %s is negative", sdk.ErrInvalidArgument, m)
	}
	sdkExp := payment.Exponent(cur)
	var v int64
	if d := sc.exp - sdkExp; d >= 0 {
		f := pow10(d)
		if m.Amount > math.MaxInt64/f {
			return 0, "", fmt.Errorf("%w: amount %s is too large for Stripe", sdk.ErrInvalidArgument, m)
		}
		v = m.Amount * f
	} else {
		f := pow10(-d)
		if m.Amount%f != 0 {
			return 0, "", fmt.Errorf("%w: Stripe charges %s in whole units of %d decimals; %s is finer", sdk.ErrInvalidArgument, cur, sc.exp, m)
		}
		v = m.Amount / f
	}
	if v%sc.step != 0 {
		return 0, "", fmt.Errorf("%w: Stripe takes %s only in steps of %s; %s is not one", sdk.ErrInvalidArgument, cur,
			stepString(cur, sc), m)
	}
	if v > maxStripeAmount {
		return 0, "", fmt.Errorf("%w: amount %s is above Stripe's maximum of 12 digits in minor units", sdk.ErrInvalidArgument, m)
	}
	return v, strings.ToLower(cur), nil
}

// fromStripe converts an amount in Stripe's minor units and currency (any
// case) to payment.Money. An amount that is not whole in payment.Money's
// units is an error: it cannot be represented without rounding.
func fromStripe(amount int64, currency string) (payment.Money, error) {
	sc, err := stripeCurrencyOf(currency)
	if err != nil {
		return payment.Money{}, err
	}
	cur := strings.ToUpper(currency)
	sdkExp := payment.Exponent(cur)
	if d := sc.exp - sdkExp; d >= 0 {
		f := pow10(d)
		if amount%f != 0 {
			return payment.Money{}, fmt.Errorf("Stripe amount %d %s has a fraction below %s's smallest unit here", amount, cur, cur)
		}
		return payment.Money{Amount: amount / f, Currency: cur}, nil
	}
	f := pow10(sdkExp - sc.exp)
	if amount > math.MaxInt64/f || amount < math.MinInt64/f {
		return payment.Money{}, fmt.Errorf("Stripe amount %d %s is out of range", amount, cur)
	}
	return payment.Money{Amount: amount * f, Currency: cur}, nil
}

// checkMinimum refuses an amount (Stripe minor units) below Stripe's
// minimum charge for its currency, when Stripe documents one.
func checkMinimum(m payment.Money, stripeAmount int64) error {
	cur := strings.ToUpper(m.Currency)
	low, ok := minCharge[cur]
	if !ok || stripeAmount >= low {
		return nil
	}
	sc, _ := stripeCurrencyOf(cur)
	least, err := fromStripe(ceilTo(low, pow10(max(0, sc.exp-payment.Exponent(cur)))), cur)
	if err != nil {
		return fmt.Errorf("%w: %s is below Stripe's minimum charge", sdk.ErrInvalidArgument, m)
	}
	return fmt.Errorf("%w: %s is below Stripe's minimum charge for %s; charge at least %s", sdk.ErrInvalidArgument, m, cur, least)
}

func ceilTo(v, step int64) int64 {
	if r := v % step; r != 0 {
		return v + step - r
	}
	return v
}

func stepString(cur string, sc stripeCurrency) string {
	m, err := fromStripe(sc.step, cur)
	if err != nil {
		return fmt.Sprintf("%d minor units", sc.step)
	}
	return m.String()
}
