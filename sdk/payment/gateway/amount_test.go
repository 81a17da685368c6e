package gateway

import (
	"errors"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

func TestDecimals(t *testing.T) {
	for code, want := range map[string]int{"IDR": 0, "PHP": 2, "USD": 2, "JPY": 0, "KWD": 3, "SGD": 2} {
		if got, err := Decimals(code); err != nil || got != want {
			t.Errorf("Decimals(%q) = %d, %v; want %d", code, got, err, want)
		}
	}
	// Unknown, lower case, and ambiguous (CLDR: 0 digits, payment.Money: 2).
	for _, code := range []string{"XYZ", "idr", "", "COP"} {
		if _, err := Decimals(code); !errors.Is(err, payment.ErrUnsupportedCurrency) {
			t.Errorf("Decimals(%q): %v; want payment.ErrUnsupportedCurrency", code, err)
		}
	}
}

func TestAmounts(t *testing.T) {
	tests := []struct {
		m    payment.Money
		text string
	}{
		{payment.Money{Amount: 150000, Currency: "IDR"}, "150000"},
		{payment.Money{Amount: 10050, Currency: "PHP"}, "100.50"},
		{payment.Money{Amount: 5, Currency: "USD"}, "0.05"},
		{payment.Money{Amount: -1234, Currency: "KWD"}, "-1.234"},
	}
	for _, tt := range tests {
		got, err := FormatAmount(tt.m)
		if err != nil || got != tt.text {
			t.Errorf("FormatAmount(%v) = %q, %v; want %q", tt.m, got, err, tt.text)
		}
		back, err := ParseAmount(tt.text, tt.m.Currency)
		if err != nil || back != tt.m {
			t.Errorf("ParseAmount(%q) = %v, %v; want %v", tt.text, back, err, tt.m)
		}
	}
	parsed := []struct {
		text, code string
		want       int64
	}{
		{"150000.00", "IDR", 150000}, {"10.5", "PHP", 1050}, {"10", "PHP", 1000}, {"0.10", "USD", 10},
	}
	for _, tt := range parsed {
		if got, err := ParseAmount(tt.text, tt.code); err != nil || got.Amount != tt.want {
			t.Errorf("ParseAmount(%q, %s) = %v, %v; want %d", tt.text, tt.code, got, err, tt.want)
		}
	}
	for _, bad := range []struct{ text, code string }{
		{"150000.5", "IDR"}, {"10.501", "PHP"}, {"1e3", "PHP"}, {"", "PHP"}, {".5", "PHP"}, {"+1", "PHP"}, {"1,000", "IDR"},
		{"99999999999999999999", "IDR"},
	} {
		if _, err := ParseAmount(bad.text, bad.code); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("ParseAmount(%q, %s): %v; want sdk.ErrInvalidArgument", bad.text, bad.code, err)
		}
	}
}
