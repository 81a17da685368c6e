package testutil_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestGatewayOverGRPC: served with sdktest, the Gateway answers with its
// function fields, ErrNotSupported where a field is nil, and its name.
func TestGatewayOverGRPC(t *testing.T) {
	ctx := context.Background()
	gw := &testutil.Gateway{Name: "payment-test"}
	gw.CreatePaymentFunc = func(_ context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
		return &payment.CreatePaymentResponse{Payment: payment.Payment{ID: "PAY-" + req.OrderID, OrderID: req.OrderID, Status: payment.StatusPending, Amount: req.Amount}}, nil
	}
	h := sdktest.Serve(t, gw)
	d, err := h.Plugin().Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || d.Name != "payment-test" {
		t.Errorf("Describe = %+v, %v; want payment-test", d, err)
	}
	resp, err := h.Payment().CreatePayment(ctx, &payment.CreatePaymentRequest{OrderID: "INV-1", Amount: payment.Money{Amount: 1000, Currency: "IDR"}, IdempotencyKey: "k"})
	if err != nil || resp.Payment.ID != "PAY-INV-1" {
		t.Errorf("CreatePayment = %+v, %v; want PAY-INV-1", resp, err)
	}
	if _, err := h.Payment().GetPayment(ctx, &payment.GetPaymentRequest{ID: "PAY-INV-1"}); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("GetPayment without GetPaymentFunc: %v; want sdk.ErrNotSupported", err)
	}
}

func TestPlugins(t *testing.T) {
	gw := sdktest.Serve(t, &testutil.Gateway{}).Payment()
	p := testutil.Plugins{Payments: map[string]payment.Gateway{"payment-fake": gw}}
	if got, err := p.Payment("payment-fake"); err != nil || got != gw {
		t.Errorf("Payment(payment-fake) = %v, %v; want the gateway", got, err)
	}
	if _, err := p.Payment("payment-other"); !errors.Is(err, billing.ErrNoPlugin) {
		t.Errorf("Payment(payment-other): %v; want billing.ErrNoPlugin", err)
	}
	if _, err := p.Router("mikrotik"); !errors.Is(err, billing.ErrNoPlugin) {
		t.Errorf("Router(mikrotik): %v; want billing.ErrNoPlugin", err)
	}
	if _, err := p.Notifier("whatsapp"); !errors.Is(err, billing.ErrNoPlugin) {
		t.Errorf("Notifier(whatsapp): %v; want billing.ErrNoPlugin", err)
	}
	if a, ok := p.Audit(); ok || a != nil {
		t.Errorf("Audit() = %v, %v; want no audit plugin", a, ok)
	}
}
