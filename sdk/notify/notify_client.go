package notify

import (
	"context"

	"github.com/mikrobill/mikrobill/sdk"
	notifyv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/notify/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// client is the host's side: the same Notifier interface over gRPC.
type client struct {
	sdk.Plugin
	c notifyv1.NotifyServiceClient
}

var _ Notifier = (*client)(nil)

func (c *client) ListSessions(ctx context.Context, req *ListSessionsRequest) (*ListSessionsResponse, error) {
	resp, err := c.c.ListSessions(ctx, listSessionsRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return listSessionsResponseFromProto(resp), nil
}

func (c *client) GetSession(ctx context.Context, req *GetSessionRequest) (*GetSessionResponse, error) {
	resp, err := c.c.GetSession(ctx, getSessionRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return getSessionResponseFromProto(resp), nil
}

func (c *client) StartPairing(ctx context.Context, req *StartPairingRequest) (*StartPairingResponse, error) {
	resp, err := c.c.StartPairing(ctx, startPairingRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return startPairingResponseFromProto(resp), nil
}

func (c *client) Logout(ctx context.Context, req *LogoutRequest) (*LogoutResponse, error) {
	resp, err := c.c.Logout(ctx, logoutRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return logoutResponseFromProto(resp), nil
}

func (c *client) Send(ctx context.Context, req *SendRequest) (*SendResponse, error) {
	resp, err := c.c.Send(ctx, sendRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return sendResponseFromProto(resp), nil
}

func (c *client) GetDeliveryStatus(ctx context.Context, req *GetDeliveryStatusRequest) (*GetDeliveryStatusResponse, error) {
	resp, err := c.c.GetDeliveryStatus(ctx, getDeliveryStatusRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return getDeliveryStatusResponseFromProto(resp), nil
}
