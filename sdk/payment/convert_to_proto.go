package payment

import (
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

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

func httpRequestToProto(r sdk.HTTPRequest) *pluginv1.HttpRequest {
	out := &pluginv1.HttpRequest{
		Method:     r.Method,
		Path:       r.Path,
		RawQuery:   r.RawQuery,
		Headers:    convert.HeaderToProto(r.Header),
		Body:       r.Body,
		RemoteAddr: r.RemoteAddr,
		Host:       r.Host,
		ReceivedAt: convert.TimeToProto(r.ReceivedAt),
		RequestId:  r.RequestID,
	}
	if r.Principal != nil {
		out.Principal = &pluginv1.Principal{Subject: r.Principal.Subject, Role: r.Principal.Role}
	}
	return out
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

func webhookResponseToProto(r *WebhookResponse) *paymentv1.HandleWebhookResponse {
	status := r.Response.StatusCode
	if status == 0 {
		status = 200
	}
	return &paymentv1.HandleWebhookResponse{
		Response: &pluginv1.HttpResponse{
			StatusCode: int32(status),
			Headers:    convert.HeaderToProto(r.Response.Header),
			Body:       r.Response.Body,
		},
		Event: eventToProto(r.Event),
	}
}

func refundRequestToProto(r *RefundRequest) *paymentv1.RefundRequest {
	return &paymentv1.RefundRequest{
		PaymentId:      r.PaymentID,
		Amount:         moneyToProto(r.Amount),
		Reason:         r.Reason,
		IdempotencyKey: r.IdempotencyKey,
	}
}

func refundResponseToProto(r *RefundResponse) *paymentv1.RefundResponse {
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
