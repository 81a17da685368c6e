package router

import (
	"context"

	"github.com/mikrobill/mikrobill/sdk"
	routerv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/router/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// client is the host's side: the same Router interface over gRPC.
type client struct {
	sdk.Plugin
	c routerv1.RouterServiceClient
}

var _ Router = (*client)(nil)

func (c *client) ListLocations(ctx context.Context, req *ListLocationsRequest) (*ListLocationsResponse, error) {
	resp, err := c.c.ListLocations(ctx, listLocationsRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return listLocationsResponseFromProto(resp), nil
}

func (c *client) GetResources(ctx context.Context, req *GetResourcesRequest) (*GetResourcesResponse, error) {
	resp, err := c.c.GetResources(ctx, getResourcesRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return getResourcesResponseFromProto(resp), nil
}

func (c *client) EnsureProfile(ctx context.Context, req *EnsureProfileRequest) (*EnsureProfileResponse, error) {
	resp, err := c.c.EnsureProfile(ctx, ensureProfileRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return ensureProfileResponseFromProto(resp), nil
}

func (c *client) ListProfiles(ctx context.Context, req *ListProfilesRequest) (*ListProfilesResponse, error) {
	resp, err := c.c.ListProfiles(ctx, listProfilesRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return listProfilesResponseFromProto(resp), nil
}

func (c *client) RemoveProfile(ctx context.Context, req *RemoveProfileRequest) (*RemoveProfileResponse, error) {
	resp, err := c.c.RemoveProfile(ctx, removeProfileRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return removeProfileResponseFromProto(resp), nil
}

func (c *client) UpsertUser(ctx context.Context, req *UpsertUserRequest) (*UpsertUserResponse, error) {
	resp, err := c.c.UpsertUser(ctx, upsertUserRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return upsertUserResponseFromProto(resp), nil
}

func (c *client) GetUser(ctx context.Context, req *GetUserRequest) (*GetUserResponse, error) {
	resp, err := c.c.GetUser(ctx, getUserRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return getUserResponseFromProto(resp), nil
}

func (c *client) ListUsers(ctx context.Context, req *ListUsersRequest) (*ListUsersResponse, error) {
	resp, err := c.c.ListUsers(ctx, listUsersRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return listUsersResponseFromProto(resp), nil
}

func (c *client) EnableUser(ctx context.Context, req *EnableUserRequest) (*EnableUserResponse, error) {
	resp, err := c.c.EnableUser(ctx, enableUserRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return enableUserResponseFromProto(resp), nil
}

func (c *client) DisableUser(ctx context.Context, req *DisableUserRequest) (*DisableUserResponse, error) {
	resp, err := c.c.DisableUser(ctx, disableUserRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return disableUserResponseFromProto(resp), nil
}

func (c *client) RemoveUser(ctx context.Context, req *RemoveUserRequest) (*RemoveUserResponse, error) {
	resp, err := c.c.RemoveUser(ctx, removeUserRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return removeUserResponseFromProto(resp), nil
}

func (c *client) IsolateUser(ctx context.Context, req *IsolateUserRequest) (*IsolateUserResponse, error) {
	resp, err := c.c.IsolateUser(ctx, isolateUserRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return isolateUserResponseFromProto(resp), nil
}

func (c *client) ListActiveSessions(ctx context.Context, req *ListActiveSessionsRequest) (*ListActiveSessionsResponse, error) {
	resp, err := c.c.ListActiveSessions(ctx, listActiveSessionsRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return listActiveSessionsResponseFromProto(resp), nil
}

func (c *client) DisconnectSession(ctx context.Context, req *DisconnectSessionRequest) (*DisconnectSessionResponse, error) {
	resp, err := c.c.DisconnectSession(ctx, disconnectSessionRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return disconnectSessionResponseFromProto(resp), nil
}
