package payment

import (
	"errors"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
)

func TestCreatePaymentRequestValidate(t *testing.T) {
	valid := func() *CreatePaymentRequest {
		return &CreatePaymentRequest{
			OrderID:        "INV-42",
			Amount:         Money{Amount: 150000, Currency: "IDR"},
			IdempotencyKey: "invoice-42-1",
		}
	}
	tests := []struct {
		name   string
		modify func(r *CreatePaymentRequest)
		// want is the whole message; empty means valid.
		want string
	}{
		{name: "minimal", modify: func(*CreatePaymentRequest) {}},
		{name: "full fixture", modify: func(r *CreatePaymentRequest) { *r = *fullCreate }},
		{name: "items add up", modify: func(r *CreatePaymentRequest) {
			r.Items = []LineItem{
				{Name: "10M", Quantity: 1, UnitPrice: Money{Amount: 140000, Currency: "IDR"}},
				{Name: "fee", Quantity: 2, UnitPrice: Money{Amount: 5000, Currency: "IDR"}},
			}
		}},
		{name: "items without a currency take the payment's", modify: func(r *CreatePaymentRequest) {
			r.Items = []LineItem{{Name: "10M", Quantity: 3, UnitPrice: Money{Amount: 50000}}}
		}},

		{name: "everything missing", modify: func(r *CreatePaymentRequest) { *r = CreatePaymentRequest{} },
			want: `invalid argument: order_id is required; amount must be positive, got 0; currency must be a 3-letter ISO 4217 code in upper case, got ""; idempotency_key is required`},
		{name: "blank order and key", modify: func(r *CreatePaymentRequest) { r.OrderID, r.IdempotencyKey = "  ", "\t" },
			want: "invalid argument: order_id is required; idempotency_key is required"},
		{name: "negative amount", modify: func(r *CreatePaymentRequest) { r.Amount.Amount = -5 },
			want: "invalid argument: amount must be positive, got -5"},
		{name: "lower-case currency", modify: func(r *CreatePaymentRequest) { r.Amount.Currency = "idr" },
			want: `invalid argument: currency must be a 3-letter ISO 4217 code in upper case, got "idr"`},
		{name: "long currency", modify: func(r *CreatePaymentRequest) { r.Amount.Currency = "RUPIAH" },
			want: `invalid argument: currency must be a 3-letter ISO 4217 code in upper case, got "RUPIAH"`},
		{name: "currency with digits", modify: func(r *CreatePaymentRequest) { r.Amount.Currency = "US1" },
			want: `invalid argument: currency must be a 3-letter ISO 4217 code in upper case, got "US1"`},
		{name: "items do not add up", modify: func(r *CreatePaymentRequest) {
			r.Items = []LineItem{{Name: "10M", Quantity: 1, UnitPrice: Money{Amount: 140000, Currency: "IDR"}}}
		}, want: "invalid argument: items add up to 140000, amount is 150000"},
		{name: "every item problem at once", modify: func(r *CreatePaymentRequest) {
			r.Items = []LineItem{
				{Name: "10M", Quantity: 0, UnitPrice: Money{Amount: 140000, Currency: "IDR"}},
				{Name: "fee", Quantity: 1, UnitPrice: Money{Amount: 10000, Currency: "USD"}},
			}
		}, want: "invalid argument: items[0].quantity must be positive; items[1] is in USD, the payment in IDR; items add up to 10000, amount is 150000"},
		{name: "request and item problems together", modify: func(r *CreatePaymentRequest) {
			r.OrderID = ""
			r.Items = []LineItem{{Name: "10M", Quantity: -1, UnitPrice: Money{Amount: 150000, Currency: "IDR"}}}
		}, want: "invalid argument: order_id is required; items[0].quantity must be positive; items add up to -150000, amount is 150000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.modify(r)
			err := r.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Validate() =\n  %q\nwant\n  %q", err, tt.want)
			}
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("Validate() = %v, want it to match sdk.ErrInvalidArgument", err)
			}
		})
	}
}

func TestMoneyString(t *testing.T) {
	tests := []struct {
		m    Money
		want string
	}{
		{Money{1050, "USD"}, "10.50 USD"},
		{Money{5, "USD"}, "0.05 USD"},
		{Money{0, "USD"}, "0.00 USD"},
		{Money{-1050, "USD"}, "-10.50 USD"},
		{Money{-5, "USD"}, "-0.05 USD"},
		{Money{10000, "IDR"}, "10000 IDR"},
		{Money{-10000, "IDR"}, "-10000 IDR"},
		{Money{1234, "KWD"}, "1.234 KWD"},
		{Money{-7, "KWD"}, "-0.007 KWD"},
		{Money{500, "JPY"}, "500 JPY"},
		{Money{1999, "usd"}, "19.99 usd"}, // the exponent ignores case
		{Money{1999, "XYZ"}, "19.99 XYZ"}, // unknown currencies have two decimals
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.m.String(); got != tt.want {
				t.Errorf("%#v.String() = %q, want %q", tt.m, got, tt.want)
			}
		})
	}
}

func TestMoneyIsZero(t *testing.T) {
	tests := []struct {
		m    Money
		want bool
	}{
		{Money{}, true},
		{Money{Amount: 0, Currency: "IDR"}, false},
		{Money{Amount: 1}, false},
	}
	for _, tt := range tests {
		if got := tt.m.IsZero(); got != tt.want {
			t.Errorf("%#v.IsZero() = %v, want %v", tt.m, got, tt.want)
		}
	}
}

func TestExponent(t *testing.T) {
	tests := []struct {
		currency string
		want     int
	}{
		{"IDR", 0},
		{"idr", 0},
		{"JPY", 0},
		{"KRW", 0},
		{"VND", 0},
		{"USD", 2},
		{"EUR", 2},
		{"SGD", 2},
		{"KWD", 3},
		{"BHD", 3},
		{"OMR", 3},
		{"", 2},
		{"XYZ", 2},
	}
	for _, tt := range tests {
		t.Run(tt.currency, func(t *testing.T) {
			if got := Exponent(tt.currency); got != tt.want {
				t.Errorf("Exponent(%q) = %d, want %d", tt.currency, got, tt.want)
			}
		})
	}
}

func TestStatusFinal(t *testing.T) {
	tests := []struct {
		status Status
		want   bool
	}{
		{StatusPending, false},
		{StatusPaid, true},
		{StatusFailed, true},
		{StatusExpired, true},
		{StatusCancelled, true},
		{StatusRefunded, true},
		{"", false},
		{"settlement", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			if got := tt.status.Final(); got != tt.want {
				t.Errorf("Status(%q).Final() = %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

func TestSentinelParents(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		parent error
	}{
		{"ErrInvalidSignature", ErrInvalidSignature, sdk.ErrUnauthenticated},
		{"ErrReplay", ErrReplay, sdk.ErrAlreadyExists},
		{"ErrAmountMismatch", ErrAmountMismatch, sdk.ErrInvalidArgument},
		{"ErrUnknownOrder", ErrUnknownOrder, sdk.ErrNotFound},
		{"ErrMalformedPayload", ErrMalformedPayload, sdk.ErrInvalidArgument},
		{"ErrUnsupportedCurrency", ErrUnsupportedCurrency, sdk.ErrInvalidArgument},
		{"ErrDeclined", ErrDeclined, sdk.ErrFailedPrecondition},
		{"ErrUnconfirmed", ErrUnconfirmed, sdk.ErrFailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.parent) {
				t.Errorf("errors.Is(%s, %v) = false, want true", tt.name, tt.parent)
			}
		})
	}
}
