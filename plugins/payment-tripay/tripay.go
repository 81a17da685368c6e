package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Tripay's API roots (the base_url setting replaces them).
const (
	SandboxBaseURL    = "https://tripay.co.id/api-sandbox/"
	ProductionBaseURL = "https://tripay.co.id/api/"
)

// RequestSignature is the signature of a closed-payment transaction request:
// the hex HMAC-SHA256 of merchant code, merchant reference and amount, keyed
// with the merchant's private key.
func RequestSignature(merchantCode, merchantRef string, amount int64, privateKey string) string {
	return gateway.HMACSHA256(privateKey, []byte(merchantCode+merchantRef+strconv.FormatInt(amount, 10)))
}

// CallbackSignature is the X-Callback-Signature Tripay sends with a
// callback: the hex HMAC-SHA256 of the raw body, keyed with the private key.
func CallbackSignature(body []byte, privateKey string) string {
	return gateway.HMACSHA256(privateKey, body)
}

// envelope is how Tripay wraps every answer.
type envelope struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call sends a call and decodes the envelope's data into out. An answer
// that says success false is a refusal (sdk.ErrInvalidArgument), whatever
// its HTTP status.
func (a *api) call(ctx context.Context, c gateway.Call, out any) error {
	var env envelope
	c.Out = &env
	if _, err := a.c.Do(ctx, c); err != nil {
		return err
	}
	what := c.Method + " " + strings.SplitN(c.Path, "?", 2)[0]
	if !env.Success {
		return fmt.Errorf("%w: Tripay refused %s: %s", sdk.ErrInvalidArgument, what, cmp.Or(strings.TrimSpace(env.Message), "request refused"))
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("%w: Tripay answered %s with data this plugin cannot read: %v", sdk.ErrUnavailable, what, err)
	}
	if t, ok := out.(*transaction); ok {
		if t.Reference == "" {
			return fmt.Errorf("%w: Tripay answered %s with a transaction without a reference", sdk.ErrUnavailable, what)
		}
		t.raw = append(json.RawMessage(nil), env.Data...)
	}
	return nil
}

// createRequest is the body of POST transaction/create.
type createRequest struct {
	Method        string      `json:"method"`
	MerchantRef   string      `json:"merchant_ref"`
	Amount        int64       `json:"amount"`
	CustomerName  string      `json:"customer_name"`
	CustomerEmail string      `json:"customer_email"`
	CustomerPhone string      `json:"customer_phone,omitempty"`
	OrderItems    []orderItem `json:"order_items"`
	CallbackURL   string      `json:"callback_url,omitempty"`
	ReturnURL     string      `json:"return_url,omitempty"`
	ExpiredTime   int64       `json:"expired_time,omitempty"`
	Signature     string      `json:"signature"`
}

type orderItem struct {
	SKU      string  `json:"sku,omitempty"`
	Name     string  `json:"name"`
	Price    flexInt `json:"price"`
	Quantity flexInt `json:"quantity"`
	Subtotal flexInt `json:"subtotal,omitzero"`
}

// transaction is a closed-payment transaction as transaction/create,
// transaction/detail and merchant/transactions describe it.
type transaction struct {
	Reference     string     `json:"reference"`
	MerchantRef   string     `json:"merchant_ref"`
	PaymentMethod string     `json:"payment_method"`
	PaymentName   string     `json:"payment_name"`
	Amount        flexInt    `json:"amount"`
	FeeMerchant   flexInt    `json:"fee_merchant"`
	FeeCustomer   flexInt    `json:"fee_customer"`
	TotalFee      flexInt    `json:"total_fee"`
	AmountRecv    flexInt    `json:"amount_received"`
	PayCode       flexString `json:"pay_code"`
	PayURL        flexString `json:"pay_url"`
	CheckoutURL   flexString `json:"checkout_url"`
	Status        string     `json:"status"`
	PaidAt        flexInt    `json:"paid_at"`
	ExpiredTime   flexInt    `json:"expired_time"`
	ExpiredAt     flexInt    `json:"expired_at"` // merchant/transactions
	CreatedAt     flexInt    `json:"created_at"`
	QRString      flexString `json:"qr_string"`
	Instructions  []struct {
		Title string   `json:"title"`
		Steps []string `json:"steps"`
	} `json:"instructions"`

	raw json.RawMessage
}

// invoiceAmount is the amount the merchant asked for (the amount of
// transaction/create). Tripay's "amount" on a transaction is what the
// customer pays, which includes fee_customer when the channel's fee is
// charged to the customer; amount_received is what the merchant gets, the
// invoice amount less fee_merchant. So the invoice amount is
// amount_received + fee_merchant, which equals amount - fee_customer.
func (t *transaction) invoiceAmount() int64 {
	if t.AmountRecv.set {
		return t.AmountRecv.v + t.FeeMerchant.v
	}
	return t.Amount.v - t.FeeCustomer.v
}

// channel is one entry of merchant/payment-channel.
type channel struct {
	Group       string  `json:"group"`
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	FeeCustomer fee     `json:"fee_customer"`
	MinAmount   flexInt `json:"minimum_amount"`
	MaxAmount   flexInt `json:"maximum_amount"`
	Active      bool    `json:"active"`
}

type fee struct {
	Flat    flexInt   `json:"flat"`
	Percent flexFloat `json:"percent"`
}

// flexInt is an integer that Tripay sends as a number, a numeric string
// ("1582856000", "150000.00") or null.
type flexInt struct {
	v   int64
	set bool
}

func (f flexInt) MarshalJSON() ([]byte, error) { return []byte(strconv.FormatInt(f.v, 10)), nil }

// IsZero lets omitzero drop unset values.
func (f flexInt) IsZero() bool { return !f.set && f.v == 0 }

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = flexInt{}
		return nil
	}
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
		if s == "" {
			*f = flexInt{}
			return nil
		}
	}
	whole, frac, _ := strings.Cut(s, ".")
	if strings.Trim(frac, "0") != "" {
		return fmt.Errorf("%s is not a whole number", s)
	}
	v, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an integer", s)
	}
	*f = flexInt{v: v, set: true}
	return nil
}

// flexString is a string that Tripay sometimes sends as a number
// (pay_code) or null.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch {
	case s == "null":
		*f = ""
	case strings.HasPrefix(s, `"`):
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = flexString(v)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("%s is neither a string nor a number", s)
		}
		*f = flexString(n)
	}
	return nil
}

// flexFloat is a number that Tripay sends as a number or a string ("0.70").
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = 0
		return nil
	}
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
	}
	if s == "" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%s is not a number", s)
	}
	*f = flexFloat(v)
	return nil
}
