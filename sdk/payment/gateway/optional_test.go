package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// fullAPI is memAPI that also refunds and lists its methods.
type fullAPI struct {
	*memAPI
	refunds int
}

func (f *fullAPI) Refund(ctx context.Context, req *payment.RefundRequest) (*payment.RefundResponse, error) {
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.refunds++
	return &payment.RefundResponse{RefundID: fmt.Sprintf("ref_%d", f.refunds), PaymentID: req.PaymentID, Amount: req.Amount, Status: "pending"}, nil
}

func (f *fullAPI) ListMethods(context.Context, *payment.ListMethodsRequest) (*payment.ListMethodsResponse, error) {
	return &payment.ListMethodsResponse{Methods: []payment.Method{{Code: "qris", Name: "QRIS", Group: "qris", Active: true}}}, nil
}

// serveOptional serves a Gateway over api with APIType apiType.
func serveOptional(t *testing.T, api gateway.API, apiType gateway.API, callTimeout time.Duration) *sdktest.Harness {
	t.Helper()
	g := gateway.New(gateway.Spec[settings]{
		Name: "payment-mem", Version: "0.1.0", CallTimeout: callTimeout, APIType: apiType,
		Environments: map[string]string{"sandbox": "https://sandbox.mem.example"},
		Defaults:     settings{Connection: gateway.Connection{Environment: "sandbox"}},
		New: func(s settings, _ *gateway.Env) (gateway.API, error) {
			if s.Token == "" {
				return nil, fmt.Errorf("%w: set token", gateway.ErrNotConfigured)
			}
			return api, nil
		},
	})
	return sdktest.Serve(t, g.Plugin())
}

func TestOptionalCapabilities(t *testing.T) {
	ctx := context.Background()
	refund := &payment.RefundRequest{PaymentID: "pay_1", IdempotencyKey: "r1"}

	t.Run("offered when APIType implements them", func(t *testing.T) {
		api := &fullAPI{memAPI: &memAPI{payments: map[string]*payment.Payment{}}}
		h := serveOptional(t, api, (*fullAPI)(nil), 0)
		d, err := h.Plugin().Describe(ctx, &sdk.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{payment.CapabilityRefund, payment.CapabilityListMethods} {
			if !slices.Contains(d.Capabilities, c) {
				t.Errorf("Describe's capabilities %v lack %q", d.Capabilities, c)
			}
		}
		gw := h.Payment()
		if _, err := gw.(payment.Refunder).Refund(ctx, refund); !errors.Is(err, sdk.ErrFailedPrecondition) {
			t.Errorf("Refund before the settings: %v, want ErrFailedPrecondition", err)
		}
		if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
			t.Fatal(err)
		}
		r, err := gw.(payment.Refunder).Refund(ctx, refund)
		if err != nil || r.RefundID != "ref_1" || r.PaymentID != "pay_1" {
			t.Fatalf("Refund = %+v, %v", r, err)
		}
		if _, err := gw.(payment.Refunder).Refund(ctx, &payment.RefundRequest{PaymentID: "pay_1"}); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("Refund without an idempotency key: %v, want ErrInvalidArgument", err)
		}
		m, err := gw.(payment.MethodLister).ListMethods(ctx, &payment.ListMethodsRequest{})
		if err != nil || len(m.Methods) != 1 || m.Methods[0].Code != "qris" {
			t.Fatalf("ListMethods = %+v, %v", m, err)
		}
	})

	t.Run("refused without APIType", func(t *testing.T) {
		api := &fullAPI{memAPI: &memAPI{payments: map[string]*payment.Payment{}}}
		h := serveOptional(t, api, nil, 0)
		if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
			t.Fatal(err)
		}
		d, err := h.Plugin().Describe(ctx, &sdk.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(d.Capabilities, payment.CapabilityRefund) || slices.Contains(d.Capabilities, payment.CapabilityListMethods) {
			t.Errorf("Describe's capabilities %v offer what the Spec did not declare", d.Capabilities)
		}
		if _, err := h.Payment().(payment.Refunder).Refund(ctx, refund); !errors.Is(err, sdk.ErrNotSupported) {
			t.Errorf("Refund: %v, want ErrNotSupported", err)
		}
	})

	t.Run("declared but not implemented", func(t *testing.T) {
		h := serveOptional(t, &memAPI{payments: map[string]*payment.Payment{}}, (*fullAPI)(nil), 0)
		d, _ := h.Plugin().Describe(ctx, &sdk.DescribeRequest{})
		if !slices.Contains(d.Capabilities, payment.CapabilityRefund) {
			t.Fatalf("capabilities %v", d.Capabilities)
		}
		if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
			t.Fatal(err)
		}
		// APIType promised a refund the configured API cannot make.
		if _, err := h.Payment().(payment.Refunder).Refund(ctx, refund); !errors.Is(err, sdk.ErrNotSupported) {
			t.Errorf("Refund on an API without it: %v, want ErrNotSupported", err)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		api := &fullAPI{memAPI: &memAPI{payments: map[string]*payment.Payment{}, block: true}}
		h := serveOptional(t, api, (*fullAPI)(nil), 200*time.Millisecond)
		if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := h.Payment().(payment.Refunder).Refund(ctx, refund); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a refund that hangs succeeded")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Refund did not honour Spec.CallTimeout")
		}
	})
}
