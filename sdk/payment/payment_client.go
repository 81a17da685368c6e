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
	return &CreatePaymentResponse{Payment: paymentFromProto(resp.GetPayment())}, nil
}

func (c *client) GetPayment(ctx context.Context, req *GetPaymentRequest) (*GetPaymentResponse, error) {
	resp, err := c.c.GetPayment(ctx, &paymentv1.GetPaymentRequest{Id: req.ID, OrderId: req.OrderID})
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return &GetPaymentResponse{Payment: paymentFromProto(resp.GetPayment())}, nil
}

func (c *client) HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResponse, error) {
	resp, err := c.c.HandleWebhook(ctx, &paymentv1.HandleWebhookRequest{Request: httpRequestToProto(req.Request)})
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
	resp, err := c.c.ListMethods(ctx, &paymentv1.ListMethodsRequest{Amount: moneyToProto(req.Amount)})
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	out := &ListMethodsResponse{}
	for _, m := range resp.GetMethods() {
		out.Methods = append(out.Methods, methodFromProto(m))
	}
	return out, nil
}
