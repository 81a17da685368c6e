package payment

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

// Every converter here reads through the generated getters, so a nil message
// converts to the zero value.

func moneyFromProto(m *pluginv1.Money) Money {
	if m == nil {
		return Money{}
	}
	return Money{Amount: m.GetAmount(), Currency: m.GetCurrency()}
}

func statusFromProto(s paymentv1.PaymentStatus) Status {
	switch s {
	case paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING:
		return StatusPending
	case paymentv1.PaymentStatus_PAYMENT_STATUS_PAID:
		return StatusPaid
	case paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED:
		return StatusFailed
	case paymentv1.PaymentStatus_PAYMENT_STATUS_EXPIRED:
		return StatusExpired
	case paymentv1.PaymentStatus_PAYMENT_STATUS_CANCELLED:
		return StatusCancelled
	case paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED:
		return StatusRefunded
	default:
		return ""
	}
}

func paymentFromProto(p *paymentv1.Payment) Payment {
	return Payment{
		ID:            p.GetId(),
		OrderID:       p.GetOrderId(),
		Status:        statusFromProto(p.GetStatus()),
		Amount:        moneyFromProto(p.GetAmount()),
		Method:        p.GetMethod(),
		CheckoutURL:   p.GetCheckoutUrl(),
		Token:         p.GetToken(),
		PayCode:       p.GetPayCode(),
		QRString:      p.GetQrString(),
		Instructions:  p.GetInstructions(),
		CreatedAt:     convert.TimeFromProto(p.GetCreatedAt()),
		ExpiresAt:     convert.TimeFromProto(p.GetExpiresAt()),
		PaidAt:        convert.TimeFromProto(p.GetPaidAt()),
		GatewayStatus: p.GetGatewayStatus(),
		Raw:           p.GetRaw(),
	}
}

func createPaymentRequestFromProto(r *paymentv1.CreatePaymentRequest) *CreatePaymentRequest {
	var items []LineItem
	for _, it := range r.GetItems() {
		items = append(items, LineItem{SKU: it.GetSku(), Name: it.GetName(), Quantity: int(it.GetQuantity()), UnitPrice: moneyFromProto(it.GetUnitPrice())})
	}
	c := r.GetCustomer()
	return &CreatePaymentRequest{
		OrderID:        r.GetOrderId(),
		Amount:         moneyFromProto(r.GetAmount()),
		Description:    r.GetDescription(),
		Customer:       Customer{Name: c.GetName(), Email: c.GetEmail(), Phone: c.GetPhone()},
		Items:          items,
		Method:         r.GetMethod(),
		ReturnURL:      r.GetReturnUrl(),
		CancelURL:      r.GetCancelUrl(),
		CallbackURL:    r.GetCallbackUrl(),
		ExpiresAt:      convert.TimeFromProto(r.GetExpiresAt()),
		IdempotencyKey: r.GetIdempotencyKey(),
		Metadata:       r.GetMetadata(),
	}
}

func createPaymentResponseFromProto(r *paymentv1.CreatePaymentResponse) *CreatePaymentResponse {
	return &CreatePaymentResponse{Payment: paymentFromProto(r.GetPayment())}
}

func getPaymentRequestFromProto(r *paymentv1.GetPaymentRequest) *GetPaymentRequest {
	return &GetPaymentRequest{ID: r.GetId(), OrderID: r.GetOrderId()}
}

func getPaymentResponseFromProto(r *paymentv1.GetPaymentResponse) *GetPaymentResponse {
	return &GetPaymentResponse{Payment: paymentFromProto(r.GetPayment())}
}

func webhookRequestFromProto(r *paymentv1.HandleWebhookRequest) *WebhookRequest {
	return &WebhookRequest{Request: httpConv.RequestFromProto(r.GetRequest())}
}

func eventFromProto(e *paymentv1.PaymentEvent) *Event {
	if e == nil {
		return nil
	}
	return &Event{
		EventID:       e.GetEventId(),
		PaymentID:     e.GetPaymentId(),
		OrderID:       e.GetOrderId(),
		Status:        statusFromProto(e.GetStatus()),
		Amount:        moneyFromProto(e.GetAmount()),
		OccurredAt:    convert.TimeFromProto(e.GetOccurredAt()),
		Confirmed:     e.GetConfirmed(),
		GatewayStatus: e.GetGatewayStatus(),
		Raw:           e.GetRaw(),
		Duplicate:     e.GetDuplicate(),
	}
}

func webhookResponseFromProto(r *paymentv1.HandleWebhookResponse) *WebhookResponse {
	return &WebhookResponse{
		Response: httpConv.ResponseFromProto(r.GetResponse()),
		Event:    eventFromProto(r.GetEvent()),
	}
}

func refundRequestFromProto(r *paymentv1.RefundRequest) *RefundRequest {
	return &RefundRequest{
		PaymentID:      r.GetPaymentId(),
		Amount:         moneyFromProto(r.GetAmount()),
		Reason:         r.GetReason(),
		IdempotencyKey: r.GetIdempotencyKey(),
	}
}

func refundResponseFromProto(r *paymentv1.RefundResponse) *RefundResponse {
	return &RefundResponse{
		RefundID:  r.GetRefundId(),
		PaymentID: r.GetPaymentId(),
		Amount:    moneyFromProto(r.GetAmount()),
		Status:    r.GetStatus(),
	}
}

func methodFromProto(m *paymentv1.PaymentMethod) Method {
	return Method{
		Code:       m.GetCode(),
		Name:       m.GetName(),
		Group:      m.GetGroup(),
		Active:     m.GetActive(),
		FeeFlat:    moneyFromProto(m.GetFeeFlat()),
		FeePercent: m.GetFeePercent(),
		MinAmount:  moneyFromProto(m.GetMinAmount()),
		MaxAmount:  moneyFromProto(m.GetMaxAmount()),
	}
}

func listMethodsRequestFromProto(r *paymentv1.ListMethodsRequest) *ListMethodsRequest {
	return &ListMethodsRequest{Amount: moneyFromProto(r.GetAmount())}
}

func listMethodsResponseFromProto(r *paymentv1.ListMethodsResponse) *ListMethodsResponse {
	out := &ListMethodsResponse{}
	for _, m := range r.GetMethods() {
		out.Methods = append(out.Methods, methodFromProto(m))
	}
	return out
}
