package payment

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/mikrobill/mikrobill/sdk"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
)

// convCase is one round trip: Go -> proto -> wire -> proto -> Go.
type convCase struct {
	name string
	run  func(t *testing.T)
}

// roundTrip builds a case that converts in to proto, marshals and unmarshals
// it, converts it back and expects in again. With full set, it first checks
// that every field of in is set, so a field added to a type but not to its
// converters (or to the fixture) fails the test.
func roundTrip[G any, P proto.Message](name string, in G, full bool, to func(G) P, from func(P) G) convCase {
	return convCase{name: name, run: func(t *testing.T) {
		if full {
			assertAllSet(t, reflect.ValueOf(in), "in")
		}
		b, err := proto.Marshal(to(in))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		p := to(in).ProtoReflect().New().Interface().(P)
		if err := proto.Unmarshal(b, p); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if diff := cmp.Diff(in, from(p)); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
	}}
}

// assertAllSet fails for every exported field under v that holds its zero
// value, and for empty slices and maps.
func assertAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil; set every field in the fixture", path)
			return
		}
		assertAllSet(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.IsZero() {
				t.Errorf("%s.%s is the zero value; set every field in the fixture", path, f.Name)
				continue
			}
			assertAllSet(t, fv, path+"."+f.Name)
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			t.Errorf("%s is empty; set every field in the fixture", path)
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			for i := range v.Len() {
				assertAllSet(t, v.Index(i), path)
			}
		}
	}
}

var (
	t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

	fullMoney   = Money{Amount: 150000, Currency: "IDR"}
	fullPayment = Payment{
		ID:            "MAN-0A1B2C3D4E5F",
		OrderID:       "INV-2026-0042",
		Status:        StatusPaid,
		Amount:        fullMoney,
		Method:        "QRIS",
		CheckoutURL:   "https://pay.example.com/c/abc",
		Token:         "snap-token-123",
		PayCode:       "8808123456789",
		QRString:      "00020101021226620014ID.CO.QRIS.WWW",
		Instructions:  "Scan the code with any QRIS app.",
		CreatedAt:     t0,
		ExpiresAt:     t0.Add(24 * time.Hour),
		PaidAt:        t0.Add(5 * time.Minute),
		GatewayStatus: "settlement",
		Raw:           []byte(`{"transaction_status":"settlement"}`),
	}
	fullCreate = &CreatePaymentRequest{
		OrderID:     "INV-2026-0042",
		Amount:      fullMoney,
		Description: "Internet 10M, March 2026",
		Customer:    Customer{Name: "Siti Rahayu", Email: "siti@example.com", Phone: "+6281234567890"},
		Items: []LineItem{
			{SKU: "10M", Name: "Internet 10M", Quantity: 1, UnitPrice: Money{Amount: 140000, Currency: "IDR"}},
			{SKU: "FEE", Name: "Admin fee", Quantity: 2, UnitPrice: Money{Amount: 5000, Currency: "IDR"}},
		},
		Method:         "bank_transfer",
		ReturnURL:      "https://billing.example.com/invoices/42",
		CancelURL:      "https://billing.example.com/invoices/42?cancelled=1",
		CallbackURL:    "https://billing.example.com/webhooks/payment-acme",
		ExpiresAt:      t0.Add(48 * time.Hour),
		IdempotencyKey: "invoice-42-attempt-1",
		Metadata:       map[string]string{"customer_id": "7", "plan": "10M"},
	}
	fullHTTPRequest = sdk.HTTPRequest{
		Method:     http.MethodPost,
		Path:       "/webhooks/payment-acme",
		RawQuery:   "a=1&b=2",
		Header:     http.Header{"Content-Type": {"application/json"}, "X-Signature": {"sha256=ab", "sha256=cd"}},
		Body:       []byte(`{"order_id":"INV-2026-0042"}`),
		RemoteAddr: "203.0.113.7:41234",
		Host:       "billing.example.com",
		ReceivedAt: t0,
		RequestID:  "req-01",
		Principal:  &sdk.Principal{Subject: "user-7", Role: "operator"},
	}
	fullEvent = &Event{
		EventID:       "evt-1",
		PaymentID:     "MAN-0A1B2C3D4E5F",
		OrderID:       "INV-2026-0042",
		Status:        StatusPaid,
		Amount:        fullMoney,
		OccurredAt:    t0,
		Confirmed:     true,
		GatewayStatus: "settlement",
		Raw:           []byte(`{"status":"settlement"}`),
		Duplicate:     true,
	}
	fullMethod = Method{
		Code:       "BRIVA",
		Name:       "BRI Virtual Account",
		Group:      "virtual_account",
		Active:     true,
		FeeFlat:    Money{Amount: 4000, Currency: "IDR"},
		FeePercent: 0.7,
		MinAmount:  Money{Amount: 10000, Currency: "IDR"},
		MaxAmount:  Money{Amount: 50000000, Currency: "IDR"},
	}
)

func TestConvertRoundTrip(t *testing.T) {
	cases := []convCase{
		roundTrip("Payment", fullPayment, true, paymentToProto, paymentFromProto),
		roundTrip("CreatePaymentRequest", fullCreate, true, createPaymentRequestToProto, createPaymentRequestFromProto),
		roundTrip("HTTPRequest", fullHTTPRequest, true, httpRequestToProto, httpRequestFromProto),
		roundTrip("Event", fullEvent, true, eventToProto, eventFromProto),
		roundTrip("WebhookResponse", &WebhookResponse{
			Response: sdk.HTTPResponse{StatusCode: http.StatusAccepted, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"ok":true}`)},
			Event:    fullEvent,
		}, true, webhookResponseToProto, webhookResponseFromProto),
		roundTrip("RefundRequest", &RefundRequest{PaymentID: "MAN-1", Amount: fullMoney, Reason: "duplicate", IdempotencyKey: "refund-1"}, true, refundRequestToProto, refundRequestFromProto),
		roundTrip("RefundResponse", &RefundResponse{RefundID: "REF-1", PaymentID: "MAN-1", Amount: fullMoney, Status: "succeeded"}, true, refundResponseToProto, refundResponseFromProto),
		roundTrip("Method", fullMethod, true, methodToProto, methodFromProto),
		roundTrip("Money", fullMoney, true, moneyToProto, moneyFromProto),
		roundTrip("Money/negative", Money{Amount: -1050, Currency: "USD"}, true, moneyToProto, moneyFromProto),

		// Zero values survive too (nil sub-messages, nil slices).
		roundTrip("zero/Payment", Payment{}, false, paymentToProto, paymentFromProto),
		roundTrip("zero/CreatePaymentRequest", &CreatePaymentRequest{}, false, createPaymentRequestToProto, createPaymentRequestFromProto),
		roundTrip("zero/WebhookResponse without event", &WebhookResponse{
			Response: sdk.HTTPResponse{StatusCode: http.StatusOK},
		}, false, webhookResponseToProto, webhookResponseFromProto),
		roundTrip("zero/HTTPRequest", sdk.HTTPRequest{}, false, httpRequestToProto, httpRequestFromProto),
		roundTrip("zero/Money", Money{}, false, moneyToProto, moneyFromProto),
		roundTrip("zero/Method", Method{}, false, methodToProto, methodFromProto),
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	tests := []struct {
		status Status
		want   paymentv1.PaymentStatus
	}{
		{StatusPending, paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING},
		{StatusPaid, paymentv1.PaymentStatus_PAYMENT_STATUS_PAID},
		{StatusFailed, paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED},
		{StatusExpired, paymentv1.PaymentStatus_PAYMENT_STATUS_EXPIRED},
		{StatusCancelled, paymentv1.PaymentStatus_PAYMENT_STATUS_CANCELLED},
		{StatusRefunded, paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED},
		{"", paymentv1.PaymentStatus_PAYMENT_STATUS_UNSPECIFIED},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			if got := statusToProto(tt.status); got != tt.want {
				t.Errorf("statusToProto(%q) = %v, want %v", tt.status, got, tt.want)
			}
			if got := statusFromProto(tt.want); got != tt.status {
				t.Errorf("statusFromProto(%v) = %q, want %q", tt.want, got, tt.status)
			}
		})
	}
	// A status the protocol does not know is sent as unspecified and read
	// back as "".
	if got := statusFromProto(statusToProto("on_hold")); got != "" {
		t.Errorf("unknown status round-tripped to %q, want \"\"", got)
	}
}

func TestWebhookResponseDefaultStatus(t *testing.T) {
	// A zero StatusCode means 200 for the gateway.
	got := webhookResponseToProto(&WebhookResponse{}).GetResponse().GetStatusCode()
	if got != http.StatusOK {
		t.Errorf("status code = %d, want 200", got)
	}
}
