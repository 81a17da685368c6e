package payment

import (
	"context"

	"github.com/mikrobill/mikrobill/sdk"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// client is the host's side: the same Gateway interface over gRPC. It
// implements Refunder and MethodLister too; a plugin without them answers
// sdk.ErrNotSupported (check Describe's capabilities first).
type client struct {
	sdk.Plugin
	c paymentv1.PaymentServiceClient
}

var (
	_ Gateway      = (*client)(nil)
	_ Refunder     = (*client)(nil)
	_ MethodLister = (*client)(nil)
)

func (c *client) CreatePayment(ctx context.Context, req *CreatePaymentRequest) (*CreatePaymentResponse, error) {
	resp, err := c.c.CreatePayment(ctx, createPaymentRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return createPaymentResponseFromProto(resp), nil
}

func (c *client) GetPayment(ctx context.Context, req *GetPaymentRequest) (*GetPaymentResponse, error) {
	resp, err := c.c.GetPayment(ctx, getPaymentRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return getPaymentResponseFromProto(resp), nil
}

func (c *client) HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResponse, error) {
	resp, err := c.c.HandleWebhook(ctx, webhookRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return webhookResponseFromProto(resp), nil
}

func (c *client) Refund(ctx context.Context, req *RefundRequest) (*RefundResponse, error) {
	resp, err := c.c.Refund(ctx, refundRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return refundResponseFromProto(resp), nil
}

func (c *client) ListMethods(ctx context.Context, req *ListMethodsRequest) (*ListMethodsResponse, error) {
	resp, err := c.c.ListMethods(ctx, listMethodsRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return listMethodsResponseFromProto(resp), nil
}
