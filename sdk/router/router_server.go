package router

import (
	"context"

	routerv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/router/v1"
)

// server serves RouterService over a Router. Each method: convert in, call,
// convert out. The SDK's interceptor maps errors to statuses.
type server struct {
	routerv1.UnimplementedRouterServiceServer
	impl Router
}

func (s *server) ListLocations(ctx context.Context, req *routerv1.ListLocationsRequest) (*routerv1.ListLocationsResponse, error) {
	resp, err := s.impl.ListLocations(ctx, listLocationsRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return listLocationsResponseToProto(resp), nil
}

func (s *server) GetResources(ctx context.Context, req *routerv1.GetResourcesRequest) (*routerv1.GetResourcesResponse, error) {
	resp, err := s.impl.GetResources(ctx, getResourcesRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return getResourcesResponseToProto(resp), nil
}

func (s *server) EnsureProfile(ctx context.Context, req *routerv1.EnsureProfileRequest) (*routerv1.EnsureProfileResponse, error) {
	resp, err := s.impl.EnsureProfile(ctx, ensureProfileRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return ensureProfileResponseToProto(resp), nil
}

func (s *server) ListProfiles(ctx context.Context, req *routerv1.ListProfilesRequest) (*routerv1.ListProfilesResponse, error) {
	resp, err := s.impl.ListProfiles(ctx, listProfilesRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return listProfilesResponseToProto(resp), nil
}

func (s *server) RemoveProfile(ctx context.Context, req *routerv1.RemoveProfileRequest) (*routerv1.RemoveProfileResponse, error) {
	resp, err := s.impl.RemoveProfile(ctx, removeProfileRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return removeProfileResponseToProto(resp), nil
}

func (s *server) UpsertUser(ctx context.Context, req *routerv1.UpsertUserRequest) (*routerv1.UpsertUserResponse, error) {
	resp, err := s.impl.UpsertUser(ctx, upsertUserRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return upsertUserResponseToProto(resp), nil
}

func (s *server) GetUser(ctx context.Context, req *routerv1.GetUserRequest) (*routerv1.GetUserResponse, error) {
	resp, err := s.impl.GetUser(ctx, getUserRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return getUserResponseToProto(resp), nil
}

func (s *server) ListUsers(ctx context.Context, req *routerv1.ListUsersRequest) (*routerv1.ListUsersResponse, error) {
	resp, err := s.impl.ListUsers(ctx, listUsersRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return listUsersResponseToProto(resp), nil
}

func (s *server) EnableUser(ctx context.Context, req *routerv1.EnableUserRequest) (*routerv1.EnableUserResponse, error) {
	resp, err := s.impl.EnableUser(ctx, enableUserRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return enableUserResponseToProto(resp), nil
}

func (s *server) DisableUser(ctx context.Context, req *routerv1.DisableUserRequest) (*routerv1.DisableUserResponse, error) {
	resp, err := s.impl.DisableUser(ctx, disableUserRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return disableUserResponseToProto(resp), nil
}

func (s *server) RemoveUser(ctx context.Context, req *routerv1.RemoveUserRequest) (*routerv1.RemoveUserResponse, error) {
	resp, err := s.impl.RemoveUser(ctx, removeUserRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return removeUserResponseToProto(resp), nil
}

func (s *server) IsolateUser(ctx context.Context, req *routerv1.IsolateUserRequest) (*routerv1.IsolateUserResponse, error) {
	resp, err := s.impl.IsolateUser(ctx, isolateUserRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return isolateUserResponseToProto(resp), nil
}

func (s *server) ListActiveSessions(ctx context.Context, req *routerv1.ListActiveSessionsRequest) (*routerv1.ListActiveSessionsResponse, error) {
	resp, err := s.impl.ListActiveSessions(ctx, listActiveSessionsRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return listActiveSessionsResponseToProto(resp), nil
}

func (s *server) DisconnectSession(ctx context.Context, req *routerv1.DisconnectSessionRequest) (*routerv1.DisconnectSessionResponse, error) {
	resp, err := s.impl.DisconnectSession(ctx, disconnectSessionRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return disconnectSessionResponseToProto(resp), nil
}
