package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Fields reads a gateway's JSON payment object (an invoice, a transaction)
// into a payment.Payment, naming where each field is by its dotted path
// ("id", "data.order_id"). A path may list alternatives separated by "|"
// ("payment_channel|payment_method"): the first one present and not empty
// wins. Empty paths are not read. It saves the struct, the conversion and
// the list handling most gateways repeat:
//
//	var fields = gateway.Fields{ID: "id", OrderID: "external_id", Status: "status", Statuses: statuses,
//		Amount: "amount", Currency: "currency", CheckoutURL: "invoice_url", CreatedAt: "created"}
//
//	func (a *api) Get(ctx context.Context, id string) (*payment.Payment, error) {
//		return fields.Parse(a.c.Get(ctx, "/v2/invoices/"+url.PathEscape(id), nil))
//	}
type Fields struct {
	// ID, OrderID, Status, Amount and Currency are required in every
	// object read.
	ID, OrderID, Status string
	// Amount is a JSON number or a string: in major units ("150000.50",
	// parsed for the currency's decimals by ParseAmount), or in minor
	// units when AmountMinor is set (payment.Money.Amount as it is).
	Amount, Currency string
	AmountMinor      bool
	// Statuses maps Status's words (an unknown word is pending).
	Statuses StatusMap
	// Optional fields.
	Method, CheckoutURL, PayCode, QRString, Token, Instructions string
	// Times are RFC 3339 strings or Unix seconds (a JSON number).
	CreatedAt, ExpiresAt, PaidAt string
	// List is the path of the array in a list answer ({"data": [...]}:
	// "data"); empty: the answer is the array itself.
	List string
	// EventID and OccurredAt are read by Notification only (optional).
	EventID, OccurredAt string
}

// Parse reads one payment object from a gateway's answer; raw is kept as
// Payment.Raw. It takes Client.Do's results as they are, so that
// fields.Parse(a.c.Get(ctx, path, nil)) is a whole status query: an err is
// returned unchanged. An answer that lacks a required field, or has one
// this plugin cannot read, is sdk.ErrUnavailable (the gateway answered
// what it should not).
func (f Fields) Parse(raw []byte, err error) (*payment.Payment, error) {
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: the gateway's answer is not JSON: %v", sdk.ErrUnavailable, err)
	}
	p, err := f.payment(v, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: the gateway's answer: %v", sdk.ErrUnavailable, err)
	}
	return p, nil
}

// Newest reads a list answer (at List) and returns its newest payment by
// CreatedAt (the first of equals): what API.GetByOrder returns. An empty
// list is payment.ErrUnknownOrder.
func (f Fields) Newest(raw []byte, err error) (*payment.Payment, error) {
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: the gateway's answer is not JSON: %v", sdk.ErrUnavailable, err)
	}
	list, ok := lookupPath(v, f.List).([]any)
	if !ok {
		return nil, fmt.Errorf("%w: the gateway's answer has no list at %q", sdk.ErrUnavailable, cmpOr(f.List, "its top"))
	}
	var newest *payment.Payment
	for i, item := range list {
		one, err := json.Marshal(item)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d of the gateway's list: %v", sdk.ErrUnavailable, i, err)
		}
		p, err := f.payment(item, one)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d of the gateway's list: %v", sdk.ErrUnavailable, i, err)
		}
		if newest == nil || p.CreatedAt.After(newest.CreatedAt) {
			newest = p
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("%w: the gateway has no payment for the order", payment.ErrUnknownOrder)
	}
	return newest, nil
}

// Notification reads a notification whose body is the payment object
// (with EventID and OccurredAt when the gateway sends them): what it
// claims, for API.ParseNotification. A body that is not such an object is
// payment.ErrMalformedPayload.
func (f Fields) Notification(body []byte) (*Notification, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", payment.ErrMalformedPayload, err)
	}
	p, err := f.payment(v, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", payment.ErrMalformedPayload, err)
	}
	n := &Notification{PaymentID: p.ID, OrderID: p.OrderID, Status: p.Status, Amount: p.Amount, GatewayStatus: p.GatewayStatus}
	if n.ID, err = optString(v, f.EventID); err == nil {
		n.OccurredAt, err = optTime(v, f.OccurredAt)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", payment.ErrMalformedPayload, err)
	}
	return n, nil
}

// payment reads the object v (raw is its JSON).
func (f Fields) payment(v any, raw []byte) (*payment.Payment, error) {
	p := &payment.Payment{Raw: raw}
	var errs []error
	for _, r := range []struct {
		path string
		to   *string
	}{{f.ID, &p.ID}, {f.OrderID, &p.OrderID}, {f.Status, &p.GatewayStatus}, {f.Currency, &p.Amount.Currency}} {
		s, err := optString(v, r.path)
		if err == nil && s == "" {
			err = fmt.Errorf("%s is missing", cmpOr(r.path, "a required field (a Fields path is empty)"))
		}
		*r.to, errs = s, append(errs, err)
	}
	for _, r := range []struct {
		path string
		to   *string
	}{{f.Method, &p.Method}, {f.CheckoutURL, &p.CheckoutURL}, {f.PayCode, &p.PayCode}, {f.QRString, &p.QRString}, {f.Token, &p.Token}, {f.Instructions, &p.Instructions}} {
		s, err := optString(v, r.path)
		*r.to, errs = s, append(errs, err)
	}
	for _, r := range []struct {
		path string
		to   *time.Time
	}{{f.CreatedAt, &p.CreatedAt}, {f.ExpiresAt, &p.ExpiresAt}, {f.PaidAt, &p.PaidAt}} {
		t, err := optTime(v, r.path)
		*r.to, errs = t, append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.Status = f.Statuses.Status(p.GatewayStatus)
	amount, err := f.amount(v, p.Amount.Currency)
	if err != nil {
		return nil, err
	}
	p.Amount = amount
	return p, nil
}

func (f Fields) amount(v any, code string) (payment.Money, error) {
	var s string
	switch a := lookupPath(v, f.Amount).(type) {
	case json.Number:
		s = a.String()
	case string:
		s = a
	case nil:
		return payment.Money{}, fmt.Errorf("%s is missing", cmpOr(f.Amount, "the amount (Fields.Amount is empty)"))
	default:
		return payment.Money{}, fmt.Errorf("%s is not a number", f.Amount)
	}
	if !f.AmountMinor {
		m, err := ParseAmount(s, code)
		if err != nil {
			return payment.Money{}, fmt.Errorf("%s: %w", f.Amount, err)
		}
		return m, nil
	}
	if _, err := Decimals(code); err != nil {
		return payment.Money{}, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return payment.Money{}, fmt.Errorf("%s %q is not a whole number of minor units", f.Amount, s)
	}
	return payment.Money{Amount: n, Currency: code}, nil
}

// decodeJSON decodes with numbers kept as json.Number (no float rounding
// of amounts).
func decodeJSON(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// lookupPath returns the value at a dotted path ("" is v itself), or at the
// first of its "|" alternatives that is present and not empty; nil when
// none is.
func lookupPath(v any, path string) any {
	if path == "" {
		return v
	}
	for _, alt := range strings.Split(path, "|") {
		x := v
		for _, k := range strings.Split(alt, ".") {
			m, ok := x.(map[string]any)
			if !ok {
				x = nil
				break
			}
			x = m[k]
		}
		if x != nil && x != "" {
			return x
		}
	}
	return nil
}

// optString reads a string, or a number as its text; "" when the path is
// empty or absent.
func optString(v any, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	switch x := lookupPath(v, path).(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	default:
		return "", fmt.Errorf("%s is not a string", path)
	}
}

// optTime reads an RFC 3339 string or Unix seconds; zero when absent.
func optTime(v any, path string) (time.Time, error) {
	if path == "" {
		return time.Time{}, nil
	}
	switch x := lookupPath(v, path).(type) {
	case nil:
		return time.Time{}, nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s %q is not an RFC 3339 time", path, x)
		}
		return t, nil
	case json.Number:
		sec, err := x.Int64()
		if err != nil {
			return time.Time{}, fmt.Errorf("%s %s is not Unix seconds", path, x)
		}
		return time.Unix(sec, 0).UTC(), nil
	default:
		return time.Time{}, fmt.Errorf("%s is not a time", path)
	}
}
