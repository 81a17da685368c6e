package gateway_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

var invoiceFields = gateway.Fields{ID: "id", OrderID: "external_id", Status: "status", Amount: "amount", Currency: "currency",
	Statuses: gateway.StatusMap{"PAID": payment.StatusPaid}, Method: "payment_channel|payment_method", CheckoutURL: "links.pay",
	CreatedAt: "created", PaidAt: "paid_at", EventID: "event", OccurredAt: "paid_at|updated", List: "data"}

func TestFieldsParse(t *testing.T) {
	raw := []byte(`{"id":"inv_1","external_id":"INV-1","status":"PAID","amount":150000.50,"currency":"PHP","payment_channel":"",
		"payment_method":"EWALLET","links":{"pay":"https://pay.example/1"},"created":"2026-12-01T10:00:00.123Z","paid_at":1764583200}`)
	p, err := invoiceFields.Parse(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := payment.Payment{ID: "inv_1", OrderID: "INV-1", Status: payment.StatusPaid, GatewayStatus: "PAID",
		Amount: payment.Money{Amount: 15000050, Currency: "PHP"}, Method: "EWALLET", CheckoutURL: "https://pay.example/1",
		CreatedAt: time.Date(2026, 12, 1, 10, 0, 0, 123e6, time.UTC), PaidAt: time.Unix(1764583200, 0).UTC()}
	p.Raw = nil
	if !p.CreatedAt.Equal(want.CreatedAt) || !p.PaidAt.Equal(want.PaidAt) {
		t.Fatalf("times: %v, %v; want %v, %v", p.CreatedAt, p.PaidAt, want.CreatedAt, want.PaidAt)
	}
	p.CreatedAt, p.PaidAt, want.CreatedAt, want.PaidAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(*p, want) {
		t.Fatalf("Parse: %+v\nwant %+v", *p, want)
	}

	minor := gateway.Fields{ID: "id", OrderID: "order", Status: "status", Amount: "amount", Currency: "currency", AmountMinor: true}
	if p, err := minor.Parse([]byte(`{"id":"p","order":"o","status":"new","amount":"1999","currency":"USD"}`), nil); err != nil ||
		p.Amount != (payment.Money{Amount: 1999, Currency: "USD"}) || p.Status != payment.StatusPending {
		t.Fatalf("minor units: %+v, %v; want 1999 USD cents, pending", p, err)
	}

	sentinel := errors.New("the call failed")
	if _, err := invoiceFields.Parse(nil, sentinel); err != sentinel {
		t.Fatalf("Parse passes the call's error on unchanged: %v", err)
	}
	for name, body := range map[string]string{
		"not JSON":           `{`,
		"two values":         `{} {}`,
		"no id":              `{"external_id":"INV-1","status":"PAID","amount":1,"currency":"IDR"}`,
		"no amount":          `{"id":"i","external_id":"INV-1","status":"PAID","currency":"IDR"}`,
		"too many decimals":  `{"id":"i","external_id":"INV-1","status":"PAID","amount":"1.5","currency":"IDR"}`,
		"a bad time":         `{"id":"i","external_id":"INV-1","status":"PAID","amount":1,"currency":"IDR","created":"yesterday"}`,
		"an id not a string": `{"id":{},"external_id":"INV-1","status":"PAID","amount":1,"currency":"IDR"}`,
		"not a currency":     `{"id":"i","external_id":"INV-1","status":"PAID","amount":1,"currency":"idr"}`,
	} {
		if _, err := invoiceFields.Parse([]byte(body), nil); !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("%s: Parse: %v; want sdk.ErrUnavailable", name, err)
		}
	}
	if _, err := minor.Parse([]byte(`{"id":"p","order":"o","status":"new","amount":19.99,"currency":"USD"}`), nil); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Fatalf("minor units with a fraction: %v; want refused", err)
	}
}

func TestFieldsNewest(t *testing.T) {
	list := `{"data":[
		{"id":"a","external_id":"INV-1","status":"EXPIRED","amount":1000,"currency":"IDR","created":"2026-12-01T10:00:00Z"},
		{"id":"b","external_id":"INV-1","status":"PENDING","amount":1000,"currency":"IDR","created":"2026-12-02T10:00:00Z"},
		{"id":"c","external_id":"INV-1","status":"PENDING","amount":1000,"currency":"IDR","created":"2026-11-30T10:00:00Z"}]}`
	p, err := invoiceFields.Newest([]byte(list), nil)
	if err != nil || p.ID != "b" || !strings.Contains(string(p.Raw), `"id":"b"`) {
		t.Fatalf("Newest: %+v, %v; want b with its own JSON as Raw", p, err)
	}
	if _, err := invoiceFields.Newest([]byte(`{"data":[]}`), nil); !errors.Is(err, payment.ErrUnknownOrder) {
		t.Fatalf("an empty list: %v; want payment.ErrUnknownOrder", err)
	}
	if _, err := invoiceFields.Newest([]byte(`[]`), nil); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("no list at data: %v; want sdk.ErrUnavailable", err)
	}
	if _, err := invoiceFields.Newest([]byte(`{"data":[{"id":"x"}]}`), nil); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("an unreadable item: %v; want sdk.ErrUnavailable", err)
	}
}

func TestFieldsNotification(t *testing.T) {
	n, err := invoiceFields.Notification([]byte(`{"event":"evt_9","id":"inv_1","external_id":"INV-1","status":"PAID","amount":"150000","currency":"IDR","updated":"2026-12-01T10:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.Notification{ID: "evt_9", PaymentID: "inv_1", OrderID: "INV-1", Status: payment.StatusPaid, GatewayStatus: "PAID",
		Amount: payment.Money{Amount: 150000, Currency: "IDR"}, OccurredAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	if *n != want {
		t.Fatalf("Notification: %+v\nwant %+v", *n, want)
	}
	for _, body := range []string{`{`, `[]`, `{"id":"inv_1","status":"PAID","amount":1,"currency":"IDR"}`, `{"event":7.5,"id":"i","external_id":"o","status":"PAID","amount":1,"currency":"IDR","updated":"soon"}`} {
		if _, err := invoiceFields.Notification([]byte(body)); !errors.Is(err, payment.ErrMalformedPayload) {
			t.Errorf("Notification(%s): %v; want payment.ErrMalformedPayload", body, err)
		}
	}
}
