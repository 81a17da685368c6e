package payment

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/convtest"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
)

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
	cases := []convtest.Case{
		convtest.RoundTrip("Payment", fullPayment, true, paymentToProto, paymentFromProto),
		convtest.RoundTrip("CreatePaymentRequest", fullCreate, true, createPaymentRequestToProto, createPaymentRequestFromProto),
		convtest.RoundTrip("CreatePaymentResponse", &CreatePaymentResponse{Payment: fullPayment}, true, createPaymentResponseToProto, createPaymentResponseFromProto),
		convtest.RoundTrip("GetPaymentRequest", &GetPaymentRequest{ID: "MAN-1", OrderID: "INV-2026-0042"}, true, getPaymentRequestToProto, getPaymentRequestFromProto),
		convtest.RoundTrip("GetPaymentResponse", &GetPaymentResponse{Payment: fullPayment}, true, getPaymentResponseToProto, getPaymentResponseFromProto),
		convtest.RoundTrip("WebhookRequest", &WebhookRequest{Request: fullHTTPRequest}, true, webhookRequestToProto, webhookRequestFromProto),
		convtest.RoundTrip("Event", fullEvent, true, eventToProto, eventFromProto),
		convtest.RoundTrip("WebhookResponse", &WebhookResponse{
			Response: sdk.HTTPResponse{StatusCode: http.StatusAccepted, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"ok":true}`)},
			Event:    fullEvent,
		}, true, webhookResponseToProto, webhookResponseFromProto),
		convtest.RoundTrip("RefundRequest", &RefundRequest{PaymentID: "MAN-1", Amount: fullMoney, Reason: "duplicate", IdempotencyKey: "refund-1"}, true, refundRequestToProto, refundRequestFromProto),
		convtest.RoundTrip("RefundResponse", &RefundResponse{RefundID: "REF-1", PaymentID: "MAN-1", Amount: fullMoney, Status: "succeeded"}, true, refundResponseToProto, refundResponseFromProto),
		convtest.RoundTrip("Method", fullMethod, true, methodToProto, methodFromProto),
		convtest.RoundTrip("ListMethodsRequest", &ListMethodsRequest{Amount: fullMoney}, true, listMethodsRequestToProto, listMethodsRequestFromProto),
		convtest.RoundTrip("ListMethodsResponse", &ListMethodsResponse{Methods: []Method{fullMethod, fullMethod}}, true, listMethodsResponseToProto, listMethodsResponseFromProto),
		convtest.RoundTrip("Money", fullMoney, true, moneyToProto, moneyFromProto),
		convtest.RoundTrip("Money/negative", Money{Amount: -1050, Currency: "USD"}, true, moneyToProto, moneyFromProto),

		// Zero values survive too (nil sub-messages, nil slices).
		convtest.RoundTrip("zero/Payment", Payment{}, false, paymentToProto, paymentFromProto),
		convtest.RoundTrip("zero/CreatePaymentRequest", &CreatePaymentRequest{}, false, createPaymentRequestToProto, createPaymentRequestFromProto),
		convtest.RoundTrip("zero/WebhookResponse without event", &WebhookResponse{
			Response: sdk.HTTPResponse{StatusCode: http.StatusOK},
		}, false, webhookResponseToProto, webhookResponseFromProto),
		convtest.RoundTrip("zero/WebhookRequest", &WebhookRequest{}, false, webhookRequestToProto, webhookRequestFromProto),
		convtest.RoundTrip("zero/ListMethodsResponse", &ListMethodsResponse{}, false, listMethodsResponseToProto, listMethodsResponseFromProto),
		convtest.RoundTrip("zero/Money", Money{}, false, moneyToProto, moneyFromProto),
		convtest.RoundTrip("zero/Method", Method{}, false, methodToProto, methodFromProto),
	}
	convtest.Run(t, cases...)
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

func TestConvertNil(t *testing.T) {
	// A nil response converts to nil, which the SDK's server guard answers
	// with sdk.ErrInternal.
	convtest.AssertNilMessages(t, map[string]proto.Message{
		"createPaymentResponseToProto": createPaymentResponseToProto(nil),
		"getPaymentResponseToProto":    getPaymentResponseToProto(nil),
		"webhookResponseToProto":       webhookResponseToProto(nil),
		"refundResponseToProto":        refundResponseToProto(nil),
		"listMethodsResponseToProto":   listMethodsResponseToProto(nil),
	})
}
