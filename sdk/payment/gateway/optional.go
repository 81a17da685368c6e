package gateway

import (
	"context"
	"fmt"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Plugin returns what to serve (sdk.Serve(gateway.New(spec).Plugin())): the
// Gateway itself, or, when Spec.APIType implements payment.Refunder or
// payment.MethodLister, the Gateway with those capabilities too. The SDK
// detects a plugin's capabilities from its type, so they must be known
// before the settings (and so the API) are.
func (g *Gateway[S]) Plugin() sdk.Plugin {
	_, refunds := g.spec.APIType.(payment.Refunder)
	_, lists := g.spec.APIType.(payment.MethodLister)
	switch {
	case refunds && lists:
		return &refundListGateway[S]{g}
	case refunds:
		return &refundGateway[S]{g}
	case lists:
		return &listGateway[S]{g}
	}
	return g
}

type refundGateway[S any] struct{ *Gateway[S] }

type listGateway[S any] struct{ *Gateway[S] }

type refundListGateway[S any] struct{ *Gateway[S] }

var (
	_ payment.Refunder     = (*refundGateway[struct{}])(nil)
	_ payment.MethodLister = (*listGateway[struct{}])(nil)
	_ payment.Refunder     = (*refundListGateway[struct{}])(nil)
	_ payment.MethodLister = (*refundListGateway[struct{}])(nil)
)

func (g *refundGateway[S]) Refund(ctx context.Context, req *payment.RefundRequest) (*payment.RefundResponse, error) {
	return g.refund(ctx, req)
}

func (g *listGateway[S]) ListMethods(ctx context.Context, req *payment.ListMethodsRequest) (*payment.ListMethodsResponse, error) {
	return g.listMethods(ctx, req)
}

func (g *refundListGateway[S]) Refund(ctx context.Context, req *payment.RefundRequest) (*payment.RefundResponse, error) {
	return g.refund(ctx, req)
}

func (g *refundListGateway[S]) ListMethods(ctx context.Context, req *payment.ListMethodsRequest) (*payment.ListMethodsResponse, error) {
	return g.listMethods(ctx, req)
}

// refund calls the configured API's Refund under the call deadline.
func (g *Gateway[S]) refund(ctx context.Context, req *payment.RefundRequest) (*payment.RefundResponse, error) {
	ctx, cancel := g.deadline(ctx)
	defer cancel()
	if req.PaymentID == "" || req.IdempotencyKey == "" {
		return nil, fmt.Errorf("%w: a refund needs the payment's id and an idempotency key", sdk.ErrInvalidArgument)
	}
	inst, err := g.api()
	if err != nil {
		return nil, err
	}
	r, ok := inst.api.(payment.Refunder)
	if !ok {
		return nil, fmt.Errorf("%w: %s's API (%T) does not refund", sdk.ErrNotSupported, g.spec.Name, inst.api)
	}
	resp, err := r.Refund(operation(ctx, "refund"), req)
	if err != nil {
		return nil, fmt.Errorf("refund payment %s: %w", req.PaymentID, err)
	}
	return resp, nil
}

// listMethods calls the configured API's ListMethods under the call
// deadline.
func (g *Gateway[S]) listMethods(ctx context.Context, req *payment.ListMethodsRequest) (*payment.ListMethodsResponse, error) {
	ctx, cancel := g.deadline(ctx)
	defer cancel()
	inst, err := g.api()
	if err != nil {
		return nil, err
	}
	l, ok := inst.api.(payment.MethodLister)
	if !ok {
		return nil, fmt.Errorf("%w: %s's API (%T) does not list payment methods", sdk.ErrNotSupported, g.spec.Name, inst.api)
	}
	resp, err := l.ListMethods(operation(ctx, "list_methods"), req)
	if err != nil {
		return nil, fmt.Errorf("list payment methods: %w", err)
	}
	return resp, nil
}
