package main

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

func TestAmountConversion(t *testing.T) {
	tests := []struct {
		name   string
		money  payment.Money
		stripe int64
		code   string
	}{
		{"IDR is two-decimal at Stripe: Rp 150.000", payment.Money{Amount: 150000, Currency: "IDR"}, 15000000, "idr"},
		{"JPY is zero-decimal on both sides", payment.Money{Amount: 500, Currency: "JPY"}, 500, "jpy"},
		{"USD two-decimal on both sides", payment.Money{Amount: 1050, Currency: "USD"}, 1050, "usd"},
		{"EUR", payment.Money{Amount: 50, Currency: "EUR"}, 50, "eur"},
		{"KRW zero-decimal", payment.Money{Amount: 10000, Currency: "KRW"}, 10000, "krw"},
		{"VND zero-decimal", payment.Money{Amount: 20000, Currency: "VND"}, 20000, "vnd"},
		{"ISK special case: 5 ISK is 500", payment.Money{Amount: 5, Currency: "ISK"}, 500, "isk"},
		{"UGX special case: 5 UGX is 500", payment.Money{Amount: 5, Currency: "UGX"}, 500, "ugx"},
		{"HUF charges are two-decimal", payment.Money{Amount: 17550, Currency: "HUF"}, 17550, "huf"},
		{"TWD charges are two-decimal", payment.Money{Amount: 80045, Currency: "TWD"}, 80045, "twd"},
		{"KWD three-decimal, last digit 0", payment.Money{Amount: 5120, Currency: "KWD"}, 5120, "kwd"},
		{"the largest amount", payment.Money{Amount: 9_999_999_999, Currency: "IDR"}, 999_999_999_900, "idr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, code, err := toStripe(tc.money)
			if err != nil || v != tc.stripe || code != tc.code {
				t.Fatalf("toStripe(%s) = %d %q %v, want %d %q", tc.money, v, code, err, tc.stripe, tc.code)
			}
			back, err := fromStripe(v, code)
			if err != nil || back != tc.money {
				t.Errorf("fromStripe(%d, %q) = %+v %v, want %+v", v, code, back, err, tc.money)
			}
		})
	}

	refused := []struct {
		name  string
		money payment.Money
		want  error
	}{
		{"fils below Stripe's step", payment.Money{Amount: 5124, Currency: "KWD"}, sdk.ErrInvalidArgument},
		{"IQD: no known Stripe exponent", payment.Money{Amount: 1000, Currency: "IQD"}, payment.ErrUnsupportedCurrency},
		{"LYD", payment.Money{Amount: 1000, Currency: "LYD"}, payment.ErrUnsupportedCurrency},
		{"not a code", payment.Money{Amount: 1000, Currency: "RP"}, payment.ErrUnsupportedCurrency},
		{"above 12 digits", payment.Money{Amount: 10_000_000_000, Currency: "IDR"}, sdk.ErrInvalidArgument},
		{"overflow", payment.Money{Amount: math.MaxInt64 / 10, Currency: "IDR"}, sdk.ErrInvalidArgument},
		{"negative", payment.Money{Amount: -100, Currency: "USD"}, sdk.ErrInvalidArgument},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			if _, _, err := toStripe(tc.money); !errors.Is(err, tc.want) {
				t.Errorf("toStripe(%+v) = %v, want %v", tc.money, err, tc.want)
			}
		})
	}

	// From Stripe, an amount that is not whole in payment.Money's units
	// cannot be represented: it is an error, never rounded.
	for _, tc := range []struct {
		amount int64
		code   string
	}{{15000050, "idr"}, {550, "isk"}, {501, "ugx"}} {
		if m, err := fromStripe(tc.amount, tc.code); err == nil {
			t.Errorf("fromStripe(%d, %s) = %s, want an error", tc.amount, tc.code, m)
		}
	}
}

func TestMinimumCharge(t *testing.T) {
	tests := []struct {
		money payment.Money
		ok    bool
		says  string
	}{
		{payment.Money{Amount: 50, Currency: "USD"}, true, ""},
		{payment.Money{Amount: 49, Currency: "USD"}, false, "at least 0.50 USD"},
		{payment.Money{Amount: 30, Currency: "GBP"}, true, ""},
		{payment.Money{Amount: 49, Currency: "JPY"}, false, "at least 50 JPY"},
		{payment.Money{Amount: 1, Currency: "IDR"}, true, ""}, // Stripe's IDR minimum is 0.50
		{payment.Money{Amount: 17499, Currency: "HUF"}, false, "at least 175.00 HUF"},
		{payment.Money{Amount: 999, Currency: "THB"}, false, "at least 10.00 THB"},
		{payment.Money{Amount: 10, Currency: "KWD"}, true, ""}, // no documented minimum: Stripe decides
	}
	for _, tc := range tests {
		v, _, err := toStripe(tc.money)
		if err != nil && tc.ok {
			t.Fatalf("toStripe(%s): %v", tc.money, err)
		}
		err = checkMinimum(tc.money, v)
		if tc.ok != (err == nil) || (!tc.ok && (!errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.says))) {
			t.Errorf("checkMinimum(%s) = %v, want ok=%v saying %q", tc.money, err, tc.ok, tc.says)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		want time.Time
		sent int64
		err  bool
	}{
		{"none", time.Time{}, 0, false},
		{"within Stripe's window", now.Add(6 * time.Hour), now.Add(6 * time.Hour).Unix(), false},
		{"just inside the upper bound", now.Add(maxSessionLife - expiryMargin), now.Add(maxSessionLife - expiryMargin).Unix(), false},
		{"beyond 24 hours: Stripe's default of 24 hours", now.Add(48 * time.Hour), 0, false},
		{"sooner than 30 minutes: 30 minutes and the margin", now.Add(time.Minute), now.Add(minSessionLife + expiryMargin).Unix(), false},
		{"now", now, 0, true},
		{"past", now.Add(-time.Hour), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sessionExpiry(tc.want, now)
			if (err != nil) != tc.err || got != tc.sent {
				t.Errorf("sessionExpiry = %d, %v; want %d, error %v", got, err, tc.sent, tc.err)
			}
			if err != nil && !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("error %v is not sdk.ErrInvalidArgument", err)
			}
		})
	}
}
