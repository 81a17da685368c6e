package payment

import (
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

// A nil request converts as the zero value. A nil response converts to nil,
// which the SDK's server guard answers with sdk.ErrInternal naming the
// method: an implementation returns a response or an error (see package
// sdk).

// httpConv is the SDK's one HTTP request and response converter pair, the
// one the base service's HandleHTTP uses too.
var httpConv = convert.HTTP[sdk.HTTPRequest, sdk.HTTPResponse]()

func moneyToProto(m Money) *pluginv1.Money {
	if m.IsZero() {
		return nil
	}
	return &pluginv1.Money{Amount: m.Amount, Currency: m.Currency}
}

func statusToProto(s Status) paymentv1.PaymentStatus {
	switch s {
	case StatusPending:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING
	case StatusPaid:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_PAID
	case StatusFailed:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED
	case StatusExpired:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_EXPIRED
	case StatusCancelled:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_CANCELLED
	case StatusRefunded:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED
	default:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_UNSPECIFIED
	}
}

func paymentToProto(p Payment) *paymentv1.Payment {
	return &paymentv1.Payment{
		Id:            p.ID,
		OrderId:       p.OrderID,
		Status:        statusToProto(p.Status),
		Amount:        moneyToProto(p.Amount),
		Method:        p.Method,
		CheckoutUrl:   p.CheckoutURL,
		Token:         p.Token,
		PayCode:       p.PayCode,
		QrString:      p.QRString,
		Instructions:  p.Instructions,
		CreatedAt:     convert.TimeToProto(p.CreatedAt),
		ExpiresAt:     convert.TimeToProto(p.ExpiresAt),
		PaidAt:        convert.TimeToProto(p.PaidAt),
		GatewayStatus: p.GatewayStatus,
		Raw:           p.Raw,
	}
}

func createPaymentRequestToProto(r *CreatePaymentRequest) *paymentv1.CreatePaymentRequest {
	if r == nil {
		r = &CreatePaymentRequest{}
	}
	items := make([]*paymentv1.LineItem, len(r.Items))
	for i, it := range r.Items {
		items[i] = &paymentv1.LineItem{Sku: it.SKU, Name: it.Name, Quantity: int32(it.Quantity), UnitPrice: moneyToProto(it.UnitPrice)}
	}
	return &paymentv1.CreatePaymentRequest{
		OrderId:        r.OrderID,
		Amount:         moneyToProto(r.Amount),
		Description:    r.Description,
		Customer:       &paymentv1.Customer{Name: r.Customer.Name, Email: r.Customer.Email, Phone: r.Customer.Phone},
		Items:          items,
		Method:         r.Method,
		ReturnUrl:      r.ReturnURL,
		CancelUrl:      r.CancelURL,
		CallbackUrl:    r.CallbackURL,
		ExpiresAt:      convert.TimeToProto(r.ExpiresAt),
		IdempotencyKey: r.IdempotencyKey,
		Metadata:       r.Metadata,
	}
}

func createPaymentResponseToProto(r *CreatePaymentResponse) *paymentv1.CreatePaymentResponse {
	if r == nil {
		return nil
	}
	return &paymentv1.CreatePaymentResponse{Payment: paymentToProto(r.Payment)}
}

func getPaymentRequestToProto(r *GetPaymentRequest) *paymentv1.GetPaymentRequest {
	if r == nil {
		r = &GetPaymentRequest{}
	}
	return &paymentv1.GetPaymentRequest{Id: r.ID, OrderId: r.OrderID}
}

func getPaymentResponseToProto(r *GetPaymentResponse) *paymentv1.GetPaymentResponse {
	if r == nil {
		return nil
	}
	return &paymentv1.GetPaymentResponse{Payment: paymentToProto(r.Payment)}
}

func webhookRequestToProto(r *WebhookRequest) *paymentv1.HandleWebhookRequest {
	if r == nil {
		r = &WebhookRequest{}
	}
	return &paymentv1.HandleWebhookRequest{Request: httpConv.RequestToProto(r.Request)}
}

func eventToProto(e *Event) *paymentv1.PaymentEvent {
	if e == nil {
		return nil
	}
	return &paymentv1.PaymentEvent{
		EventId:       e.EventID,
		PaymentId:     e.PaymentID,
		OrderId:       e.OrderID,
		Status:        statusToProto(e.Status),
		Amount:        moneyToProto(e.Amount),
		OccurredAt:    convert.TimeToProto(e.OccurredAt),
		Confirmed:     e.Confirmed,
		GatewayStatus: e.GatewayStatus,
		Raw:           e.Raw,
		Duplicate:     e.Duplicate,
	}
}

// webhookResponseToProto sends a zero StatusCode as 200, as WebhookResponse
// documents.
func webhookResponseToProto(r *WebhookResponse) *paymentv1.HandleWebhookResponse {
	if r == nil {
		return nil
	}
	resp := httpConv.ResponseToProto(r.Response)
	if resp.StatusCode == 0 {
		resp.StatusCode = 200
	}
	return &paymentv1.HandleWebhookResponse{Response: resp, Event: eventToProto(r.Event)}
}

func refundRequestToProto(r *RefundRequest) *paymentv1.RefundRequest {
	if r == nil {
		r = &RefundRequest{}
	}
	return &paymentv1.RefundRequest{
		PaymentId:      r.PaymentID,
		Amount:         moneyToProto(r.Amount),
		Reason:         r.Reason,
		IdempotencyKey: r.IdempotencyKey,
	}
}

func refundResponseToProto(r *RefundResponse) *paymentv1.RefundResponse {
	if r == nil {
		return nil
	}
	return &paymentv1.RefundResponse{
		RefundId:  r.RefundID,
		PaymentId: r.PaymentID,
		Amount:    moneyToProto(r.Amount),
		Status:    r.Status,
	}
}

func methodToProto(m Method) *paymentv1.PaymentMethod {
	return &paymentv1.PaymentMethod{
		Code:       m.Code,
		Name:       m.Name,
		Group:      m.Group,
		Active:     m.Active,
		FeeFlat:    moneyToProto(m.FeeFlat),
		FeePercent: m.FeePercent,
		MinAmount:  moneyToProto(m.MinAmount),
		MaxAmount:  moneyToProto(m.MaxAmount),
	}
}

func listMethodsRequestToProto(r *ListMethodsRequest) *paymentv1.ListMethodsRequest {
	if r == nil {
		r = &ListMethodsRequest{}
	}
	return &paymentv1.ListMethodsRequest{Amount: moneyToProto(r.Amount)}
}

func listMethodsResponseToProto(r *ListMethodsResponse) *paymentv1.ListMethodsResponse {
	if r == nil {
		return nil
	}
	out := &paymentv1.ListMethodsResponse{}
	for _, m := range r.Methods {
		out.Methods = append(out.Methods, methodToProto(m))
	}
	return out
}
