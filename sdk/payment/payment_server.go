package payment

import (
	"context"
	"fmt"

	"github.com/mikrobill/mikrobill/sdk"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
)

// server serves PaymentService over a Gateway. Each method: convert in,
// call, convert out. The SDK's server guard maps errors to statuses and
// answers a nil response with sdk.ErrInternal.
type server struct {
	paymentv1.UnimplementedPaymentServiceServer
	impl Gateway
}

func (s *server) CreatePayment(ctx context.Context, req *paymentv1.CreatePaymentRequest) (*paymentv1.CreatePaymentResponse, error) {
	resp, err := s.impl.CreatePayment(ctx, createPaymentRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return createPaymentResponseToProto(resp), nil
}

func (s *server) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	resp, err := s.impl.GetPayment(ctx, getPaymentRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return getPaymentResponseToProto(resp), nil
}

func (s *server) HandleWebhook(ctx context.Context, req *paymentv1.HandleWebhookRequest) (*paymentv1.HandleWebhookResponse, error) {
	resp, err := s.impl.HandleWebhook(ctx, webhookRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return webhookResponseToProto(resp), nil
}

func (s *server) Refund(ctx context.Context, req *paymentv1.RefundRequest) (*paymentv1.RefundResponse, error) {
	r, ok := s.impl.(Refunder)
	if !ok {
		return nil, fmt.Errorf("%w: this gateway does not refund (implement payment.Refunder)", sdk.ErrNotSupported)
	}
	resp, err := r.Refund(ctx, refundRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return refundResponseToProto(resp), nil
}

func (s *server) ListMethods(ctx context.Context, req *paymentv1.ListMethodsRequest) (*paymentv1.ListMethodsResponse, error) {
	l, ok := s.impl.(MethodLister)
	if !ok {
		return nil, fmt.Errorf("%w: this gateway does not list payment methods (implement payment.MethodLister)", sdk.ErrNotSupported)
	}
	resp, err := l.ListMethods(ctx, listMethodsRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return listMethodsResponseToProto(resp), nil
}
