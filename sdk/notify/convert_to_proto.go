package notify

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	notifyv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/notify/v1"
)

// A nil request converts as the zero value. A nil response converts to nil,
// which the SDK's server guard answers with sdk.ErrInternal naming the
// method: an implementation returns a response or an error (see package
// sdk).

func sessionStatusToProto(s SessionStatus) notifyv1.SessionStatus {
	switch s {
	case SessionStatusDisconnected:
		return notifyv1.SessionStatus_SESSION_STATUS_DISCONNECTED
	case SessionStatusPairing:
		return notifyv1.SessionStatus_SESSION_STATUS_PAIRING
	case SessionStatusConnecting:
		return notifyv1.SessionStatus_SESSION_STATUS_CONNECTING
	case SessionStatusConnected:
		return notifyv1.SessionStatus_SESSION_STATUS_CONNECTED
	case SessionStatusLoggedOut:
		return notifyv1.SessionStatus_SESSION_STATUS_LOGGED_OUT
	default:
		return notifyv1.SessionStatus_SESSION_STATUS_UNSPECIFIED
	}
}

func deliveryStatusToProto(s DeliveryStatus) notifyv1.DeliveryStatus {
	switch s {
	case DeliveryStatusQueued:
		return notifyv1.DeliveryStatus_DELIVERY_STATUS_QUEUED
	case DeliveryStatusSent:
		return notifyv1.DeliveryStatus_DELIVERY_STATUS_SENT
	case DeliveryStatusDelivered:
		return notifyv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED
	case DeliveryStatusRead:
		return notifyv1.DeliveryStatus_DELIVERY_STATUS_READ
	case DeliveryStatusFailed:
		return notifyv1.DeliveryStatus_DELIVERY_STATUS_FAILED
	default:
		return notifyv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED
	}
}

func pairingToProto(p *Pairing) *notifyv1.Pairing {
	if p == nil {
		return nil
	}
	return &notifyv1.Pairing{
		QrCode:      p.QRCode,
		QrPng:       p.QRPNG,
		PairingCode: p.PairingCode,
		ExpiresAt:   convert.TimeToProto(p.ExpiresAt),
	}
}

func sessionToProto(s Session) *notifyv1.Session {
	return &notifyv1.Session{
		Id:          s.ID,
		Status:      sessionStatusToProto(s.Status),
		Phone:       s.Phone,
		DisplayName: s.DisplayName,
		ConnectedAt: convert.TimeToProto(s.ConnectedAt),
		LastSeenAt:  convert.TimeToProto(s.LastSeenAt),
		Pairing:     pairingToProto(s.Pairing),
		Error:       s.Error,
	}
}

func attachmentToProto(a Attachment) *notifyv1.Attachment {
	return &notifyv1.Attachment{Filename: a.Filename, MimeType: a.MIMEType, Data: a.Data}
}

func listSessionsRequestToProto(*ListSessionsRequest) *notifyv1.ListSessionsRequest {
	return &notifyv1.ListSessionsRequest{}
}

func listSessionsResponseToProto(r *ListSessionsResponse) *notifyv1.ListSessionsResponse {
	if r == nil {
		return nil
	}
	out := &notifyv1.ListSessionsResponse{}
	for _, s := range r.Sessions {
		out.Sessions = append(out.Sessions, sessionToProto(s))
	}
	return out
}

func getSessionRequestToProto(r *GetSessionRequest) *notifyv1.GetSessionRequest {
	if r == nil {
		r = &GetSessionRequest{}
	}
	return &notifyv1.GetSessionRequest{SessionId: r.SessionID}
}

func getSessionResponseToProto(r *GetSessionResponse) *notifyv1.GetSessionResponse {
	if r == nil {
		return nil
	}
	return &notifyv1.GetSessionResponse{Session: sessionToProto(r.Session)}
}

func startPairingRequestToProto(r *StartPairingRequest) *notifyv1.StartPairingRequest {
	if r == nil {
		r = &StartPairingRequest{}
	}
	return &notifyv1.StartPairingRequest{SessionId: r.SessionID, Phone: r.Phone}
}

func startPairingResponseToProto(r *StartPairingResponse) *notifyv1.StartPairingResponse {
	if r == nil {
		return nil
	}
	return &notifyv1.StartPairingResponse{Session: sessionToProto(r.Session)}
}

func logoutRequestToProto(r *LogoutRequest) *notifyv1.LogoutRequest {
	if r == nil {
		r = &LogoutRequest{}
	}
	return &notifyv1.LogoutRequest{SessionId: r.SessionID}
}

func logoutResponseToProto(r *LogoutResponse) *notifyv1.LogoutResponse {
	if r == nil {
		return nil
	}
	return &notifyv1.LogoutResponse{}
}

func sendRequestToProto(r *SendRequest) *notifyv1.SendRequest {
	if r == nil {
		r = &SendRequest{}
	}
	out := &notifyv1.SendRequest{
		SessionId:      r.SessionID,
		To:             r.To,
		Text:           r.Text,
		IdempotencyKey: r.IdempotencyKey,
		Location:       r.Location,
	}
	for _, a := range r.Attachments {
		out.Attachments = append(out.Attachments, attachmentToProto(a))
	}
	return out
}

func sendResponseToProto(r *SendResponse) *notifyv1.SendResponse {
	if r == nil {
		return nil
	}
	return &notifyv1.SendResponse{
		MessageId: r.MessageID,
		Status:    deliveryStatusToProto(r.Status),
		Duplicate: r.Duplicate,
		SessionId: r.SessionID,
	}
}

func getDeliveryStatusRequestToProto(r *GetDeliveryStatusRequest) *notifyv1.GetDeliveryStatusRequest {
	if r == nil {
		r = &GetDeliveryStatusRequest{}
	}
	return &notifyv1.GetDeliveryStatusRequest{MessageId: r.MessageID, IdempotencyKey: r.IdempotencyKey}
}

func getDeliveryStatusResponseToProto(r *GetDeliveryStatusResponse) *notifyv1.GetDeliveryStatusResponse {
	if r == nil {
		return nil
	}
	return &notifyv1.GetDeliveryStatusResponse{
		MessageId: r.MessageID,
		Status:    deliveryStatusToProto(r.Status),
		Error:     r.Error,
		UpdatedAt: convert.TimeToProto(r.UpdatedAt),
	}
}
