package sdktest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Gateway is the payment gateway under test: in a real plugin, the type
// your main passes to sdk.Serve.
type Gateway struct {
	sdk.Base
}

func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "payment-example", Version: "1.0.0"}, nil
}

func (g *Gateway) CreatePayment(_ context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return &payment.CreatePaymentResponse{Payment: payment.Payment{
		ID: "PAY-" + req.OrderID, OrderID: req.OrderID, Status: payment.StatusPending, Amount: req.Amount,
	}}, nil
}

func (g *Gateway) GetPayment(context.Context, *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	return nil, payment.ErrUnknownOrder
}

func (g *Gateway) HandleWebhook(context.Context, *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	return nil, payment.ErrInvalidSignature
}

// Serve needs the test's *testing.T, so its example is the body of a test
// function; TestExampleServe below runs the same code. The gateway is served
// over real gRPC with mutual TLS, and h.Payment() is the client the host
// uses: errors come back as the SDK's sentinels.
func ExampleServe() {
	testCreatePayment := func(t *testing.T) {
		ctx := context.Background()
		h := sdktest.Serve(t, &Gateway{})
		if _, err := h.Configure(ctx, nil); err != nil {
			t.Fatal(err)
		}
		resp, err := h.Payment().CreatePayment(ctx, &payment.CreatePaymentRequest{
			OrderID:        "INV-42",
			Amount:         payment.Money{Amount: 150000, Currency: "IDR"},
			IdempotencyKey: "invoice-42-1",
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Payment.Status != payment.StatusPending {
			t.Errorf("status = %s, want pending", resp.Payment.Status)
		}
	}
	_ = testCreatePayment
}

func TestExampleServe(t *testing.T) {
	ctx := context.Background()
	h := sdktest.Serve(t, &Gateway{})
	if _, err := h.Configure(ctx, nil); err != nil {
		t.Fatal(err)
	}
	resp, err := h.Payment().CreatePayment(ctx, &payment.CreatePaymentRequest{
		OrderID:        "INV-42",
		Amount:         payment.Money{Amount: 150000, Currency: "IDR"},
		IdempotencyKey: "invoice-42-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := payment.Payment{ID: "PAY-INV-42", OrderID: "INV-42", Status: payment.StatusPending, Amount: payment.Money{Amount: 150000, Currency: "IDR"}}
	if diff := cmp.Diff(want, resp.Payment); diff != "" {
		t.Errorf("CreatePayment (-want +got):\n%s", diff)
	}

	// A request that fails validation comes back as the same sentinel.
	_, err = h.Payment().CreatePayment(ctx, &payment.CreatePaymentRequest{OrderID: "INV-43"})
	if want := `invalid argument: amount must be positive, got 0; currency must be a 3-letter ISO 4217 code in upper case, got ""; idempotency_key is required`; err == nil || err.Error() != want {
		t.Errorf("CreatePayment = %v, want %q", err, want)
	}
	if !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("CreatePayment = %v, want sdk.ErrInvalidArgument", err)
	}
}
