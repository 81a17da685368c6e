package payment

import (
	"context"
	"fmt"

	"github.com/mikrobill/mikrobill/sdk"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
)

// server serves PaymentService over a Gateway. Each method: convert in,
// call, convert out. The SDK's interceptor maps errors to statuses.
type server struct {
	paymentv1.UnimplementedPaymentServiceServer
	impl Gateway
}

func (s *server) CreatePayment(ctx context.Context, req *paymentv1.CreatePaymentRequest) (*paymentv1.CreatePaymentResponse, error) {
	resp, err := s.impl.CreatePayment(ctx, createPaymentRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errNoResponse("CreatePayment")
	}
	return &paymentv1.CreatePaymentResponse{Payment: paymentToProto(resp.Payment)}, nil
}

func (s *server) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	resp, err := s.impl.GetPayment(ctx, &GetPaymentRequest{ID: req.GetId(), OrderID: req.GetOrderId()})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errNoResponse("GetPayment")
	}
	return &paymentv1.GetPaymentResponse{Payment: paymentToProto(resp.Payment)}, nil
}

func (s *server) HandleWebhook(ctx context.Context, req *paymentv1.HandleWebhookRequest) (*paymentv1.HandleWebhookResponse, error) {
	resp, err := s.impl.HandleWebhook(ctx, &WebhookRequest{Request: httpRequestFromProto(req.GetRequest())})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errNoResponse("HandleWebhook")
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
	if resp == nil {
		return nil, errNoResponse("Refund")
	}
	return refundResponseToProto(resp), nil
}

func (s *server) ListMethods(ctx context.Context, req *paymentv1.ListMethodsRequest) (*paymentv1.ListMethodsResponse, error) {
	l, ok := s.impl.(MethodLister)
	if !ok {
		return nil, fmt.Errorf("%w: this gateway does not list payment methods (implement payment.MethodLister)", sdk.ErrNotSupported)
	}
	resp, err := l.ListMethods(ctx, &ListMethodsRequest{Amount: moneyFromProto(req.GetAmount())})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return &paymentv1.ListMethodsResponse{}, nil
	}
	out := &paymentv1.ListMethodsResponse{}
	for _, m := range resp.Methods {
		out.Methods = append(out.Methods, methodToProto(m))
	}
	return out, nil
}

// errNoResponse is returned when an implementation returns neither a
// response nor an error: a bug in the plugin, reported as such.
func errNoResponse(method string) error {
	return fmt.Errorf("%w: %s returned neither a response nor an error", sdk.ErrInternal, method)
}
