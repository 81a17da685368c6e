package notify

import (
	"context"

	notifyv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/notify/v1"
)

// server serves NotifyService over a Notifier. Each method: convert in, call,
// convert out. The SDK's interceptor maps errors to statuses.
type server struct {
	notifyv1.UnimplementedNotifyServiceServer
	impl Notifier
}

func (s *server) ListSessions(ctx context.Context, req *notifyv1.ListSessionsRequest) (*notifyv1.ListSessionsResponse, error) {
	resp, err := s.impl.ListSessions(ctx, listSessionsRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return listSessionsResponseToProto(resp), nil
}

func (s *server) GetSession(ctx context.Context, req *notifyv1.GetSessionRequest) (*notifyv1.GetSessionResponse, error) {
	resp, err := s.impl.GetSession(ctx, getSessionRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return getSessionResponseToProto(resp), nil
}

func (s *server) StartPairing(ctx context.Context, req *notifyv1.StartPairingRequest) (*notifyv1.StartPairingResponse, error) {
	resp, err := s.impl.StartPairing(ctx, startPairingRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return startPairingResponseToProto(resp), nil
}

func (s *server) Logout(ctx context.Context, req *notifyv1.LogoutRequest) (*notifyv1.LogoutResponse, error) {
	resp, err := s.impl.Logout(ctx, logoutRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return logoutResponseToProto(resp), nil
}

func (s *server) Send(ctx context.Context, req *notifyv1.SendRequest) (*notifyv1.SendResponse, error) {
	resp, err := s.impl.Send(ctx, sendRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return sendResponseToProto(resp), nil
}

func (s *server) GetDeliveryStatus(ctx context.Context, req *notifyv1.GetDeliveryStatusRequest) (*notifyv1.GetDeliveryStatusResponse, error) {
	resp, err := s.impl.GetDeliveryStatus(ctx, getDeliveryStatusRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return getDeliveryStatusResponseToProto(resp), nil
}
