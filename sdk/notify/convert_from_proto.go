package notify

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	notifyv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/notify/v1"
)

// Every converter here reads through the generated getters, so a nil message
// converts to the zero value.

func sessionStatusFromProto(s notifyv1.SessionStatus) SessionStatus {
	switch s {
	case notifyv1.SessionStatus_SESSION_STATUS_DISCONNECTED:
		return SessionStatusDisconnected
	case notifyv1.SessionStatus_SESSION_STATUS_PAIRING:
		return SessionStatusPairing
	case notifyv1.SessionStatus_SESSION_STATUS_CONNECTING:
		return SessionStatusConnecting
	case notifyv1.SessionStatus_SESSION_STATUS_CONNECTED:
		return SessionStatusConnected
	case notifyv1.SessionStatus_SESSION_STATUS_LOGGED_OUT:
		return SessionStatusLoggedOut
	default:
		return ""
	}
}

func deliveryStatusFromProto(s notifyv1.DeliveryStatus) DeliveryStatus {
	switch s {
	case notifyv1.DeliveryStatus_DELIVERY_STATUS_QUEUED:
		return DeliveryStatusQueued
	case notifyv1.DeliveryStatus_DELIVERY_STATUS_SENT:
		return DeliveryStatusSent
	case notifyv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED:
		return DeliveryStatusDelivered
	case notifyv1.DeliveryStatus_DELIVERY_STATUS_READ:
		return DeliveryStatusRead
	case notifyv1.DeliveryStatus_DELIVERY_STATUS_FAILED:
		return DeliveryStatusFailed
	default:
		return ""
	}
}

func pairingFromProto(p *notifyv1.Pairing) *Pairing {
	if p == nil {
		return nil
	}
	return &Pairing{
		QRCode:      p.GetQrCode(),
		QRPNG:       p.GetQrPng(),
		PairingCode: p.GetPairingCode(),
		ExpiresAt:   convert.TimeFromProto(p.GetExpiresAt()),
	}
}

func sessionFromProto(s *notifyv1.Session) Session {
	return Session{
		ID:          s.GetId(),
		Status:      sessionStatusFromProto(s.GetStatus()),
		Phone:       s.GetPhone(),
		DisplayName: s.GetDisplayName(),
		ConnectedAt: convert.TimeFromProto(s.GetConnectedAt()),
		LastSeenAt:  convert.TimeFromProto(s.GetLastSeenAt()),
		Pairing:     pairingFromProto(s.GetPairing()),
		Error:       s.GetError(),
	}
}

func attachmentFromProto(a *notifyv1.Attachment) Attachment {
	return Attachment{Filename: a.GetFilename(), MIMEType: a.GetMimeType(), Data: a.GetData()}
}

func listSessionsRequestFromProto(*notifyv1.ListSessionsRequest) *ListSessionsRequest {
	return &ListSessionsRequest{}
}

func listSessionsResponseFromProto(r *notifyv1.ListSessionsResponse) *ListSessionsResponse {
	out := &ListSessionsResponse{}
	for _, s := range r.GetSessions() {
		out.Sessions = append(out.Sessions, sessionFromProto(s))
	}
	return out
}

func getSessionRequestFromProto(r *notifyv1.GetSessionRequest) *GetSessionRequest {
	return &GetSessionRequest{SessionID: r.GetSessionId()}
}

func getSessionResponseFromProto(r *notifyv1.GetSessionResponse) *GetSessionResponse {
	return &GetSessionResponse{Session: sessionFromProto(r.GetSession())}
}

func startPairingRequestFromProto(r *notifyv1.StartPairingRequest) *StartPairingRequest {
	return &StartPairingRequest{SessionID: r.GetSessionId(), Phone: r.GetPhone()}
}

func startPairingResponseFromProto(r *notifyv1.StartPairingResponse) *StartPairingResponse {
	return &StartPairingResponse{Session: sessionFromProto(r.GetSession())}
}

func logoutRequestFromProto(r *notifyv1.LogoutRequest) *LogoutRequest {
	return &LogoutRequest{SessionID: r.GetSessionId()}
}

func logoutResponseFromProto(*notifyv1.LogoutResponse) *LogoutResponse {
	return &LogoutResponse{}
}

func sendRequestFromProto(r *notifyv1.SendRequest) *SendRequest {
	out := &SendRequest{
		SessionID:      r.GetSessionId(),
		To:             r.GetTo(),
		Text:           r.GetText(),
		IdempotencyKey: r.GetIdempotencyKey(),
		Location:       r.GetLocation(),
	}
	for _, a := range r.GetAttachments() {
		out.Attachments = append(out.Attachments, attachmentFromProto(a))
	}
	return out
}

func sendResponseFromProto(r *notifyv1.SendResponse) *SendResponse {
	return &SendResponse{
		MessageID: r.GetMessageId(),
		Status:    deliveryStatusFromProto(r.GetStatus()),
		Duplicate: r.GetDuplicate(),
		SessionID: r.GetSessionId(),
	}
}

func getDeliveryStatusRequestFromProto(r *notifyv1.GetDeliveryStatusRequest) *GetDeliveryStatusRequest {
	return &GetDeliveryStatusRequest{MessageID: r.GetMessageId(), IdempotencyKey: r.GetIdempotencyKey()}
}

func getDeliveryStatusResponseFromProto(r *notifyv1.GetDeliveryStatusResponse) *GetDeliveryStatusResponse {
	return &GetDeliveryStatusResponse{
		MessageID: r.GetMessageId(),
		Status:    deliveryStatusFromProto(r.GetStatus()),
		Error:     r.GetError(),
		UpdatedAt: convert.TimeFromProto(r.GetUpdatedAt()),
	}
}
