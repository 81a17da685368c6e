package router

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	routerv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/router/v1"
)

// Every converter here reads through the generated getters, so a nil message
// converts to the zero value.

func userKindFromProto(k routerv1.UserKind) UserKind {
	switch k {
	case routerv1.UserKind_USER_KIND_HOTSPOT:
		return KindHotspot
	case routerv1.UserKind_USER_KIND_PPP:
		return KindPPP
	default:
		return ""
	}
}

func locationFromProto(l *routerv1.Location) Location {
	return Location{
		ID:              l.GetId(),
		Name:            l.GetName(),
		Address:         l.GetAddress(),
		Reachable:       l.GetReachable(),
		RouterOSVersion: l.GetRouterosVersion(),
		Error:           l.GetError(),
	}
}

func profileFromProto(p *routerv1.Profile) Profile {
	return Profile{
		Kind:           userKindFromProto(p.GetKind()),
		Name:           p.GetName(),
		RateLimit:      p.GetRateLimit(),
		SharedUsers:    int(p.GetSharedUsers()),
		SessionTimeout: convert.DurationFromProto(p.GetSessionTimeout()),
		IdleTimeout:    convert.DurationFromProto(p.GetIdleTimeout()),
		LocalAddress:   p.GetLocalAddress(),
		RemoteAddress:  p.GetRemoteAddress(),
		AddressList:    p.GetAddressList(),
		Comment:        p.GetComment(),
		Managed:        p.GetManaged(),
	}
}

func userFromProto(u *routerv1.User) User {
	return User{
		Kind:            userKindFromProto(u.GetKind()),
		Name:            u.GetName(),
		Password:        u.GetPassword(),
		Profile:         u.GetProfile(),
		LimitUptime:     convert.DurationFromProto(u.GetLimitUptime()),
		LimitBytesTotal: u.GetLimitBytesTotal(),
		Comment:         u.GetComment(),
		Disabled:        u.GetDisabled(),
		Managed:         u.GetManaged(),
		Service:         u.GetService(),
		RemoteAddress:   u.GetRemoteAddress(),
		MACAddress:      u.GetMacAddress(),
		Server:          u.GetServer(),
	}
}

func userRefFromProto(r *routerv1.UserRef) UserRef {
	return UserRef{
		Location: r.GetLocation(),
		Kind:     userKindFromProto(r.GetKind()),
		Name:     r.GetName(),
	}
}

func sessionFromProto(s *routerv1.Session) Session {
	return Session{
		ID:         s.GetId(),
		Kind:       userKindFromProto(s.GetKind()),
		User:       s.GetUser(),
		Address:    s.GetAddress(),
		MACAddress: s.GetMacAddress(),
		Uptime:     convert.DurationFromProto(s.GetUptime()),
		BytesIn:    s.GetBytesIn(),
		BytesOut:   s.GetBytesOut(),
		CallerID:   s.GetCallerId(),
		Server:     s.GetServer(),
	}
}

func listLocationsRequestFromProto(*routerv1.ListLocationsRequest) *ListLocationsRequest {
	return &ListLocationsRequest{}
}

func listLocationsResponseFromProto(r *routerv1.ListLocationsResponse) *ListLocationsResponse {
	out := &ListLocationsResponse{}
	for _, l := range r.GetLocations() {
		out.Locations = append(out.Locations, locationFromProto(l))
	}
	return out
}

func getResourcesRequestFromProto(r *routerv1.GetResourcesRequest) *GetResourcesRequest {
	return &GetResourcesRequest{Location: r.GetLocation()}
}

func getResourcesResponseFromProto(r *routerv1.GetResourcesResponse) *GetResourcesResponse {
	return &GetResourcesResponse{Resources: Resources{
		Location:         r.GetLocation(),
		Version:          r.GetVersion(),
		BoardName:        r.GetBoardName(),
		Architecture:     r.GetArchitecture(),
		Uptime:           convert.DurationFromProto(r.GetUptime()),
		CPULoad:          int(r.GetCpuLoad()),
		CPUCount:         int(r.GetCpuCount()),
		FreeMemoryBytes:  r.GetFreeMemoryBytes(),
		TotalMemoryBytes: r.GetTotalMemoryBytes(),
		FreeHDDBytes:     r.GetFreeHddBytes(),
		TotalHDDBytes:    r.GetTotalHddBytes(),
	}}
}

func ensureProfileRequestFromProto(r *routerv1.EnsureProfileRequest) *EnsureProfileRequest {
	return &EnsureProfileRequest{Location: r.GetLocation(), Profile: profileFromProto(r.GetProfile())}
}

func ensureProfileResponseFromProto(r *routerv1.EnsureProfileResponse) *EnsureProfileResponse {
	return &EnsureProfileResponse{Profile: profileFromProto(r.GetProfile()), Changed: r.GetChanged()}
}

func listProfilesRequestFromProto(r *routerv1.ListProfilesRequest) *ListProfilesRequest {
	return &ListProfilesRequest{Location: r.GetLocation(), Kind: userKindFromProto(r.GetKind())}
}

func listProfilesResponseFromProto(r *routerv1.ListProfilesResponse) *ListProfilesResponse {
	out := &ListProfilesResponse{}
	for _, p := range r.GetProfiles() {
		out.Profiles = append(out.Profiles, profileFromProto(p))
	}
	return out
}

func removeProfileRequestFromProto(r *routerv1.RemoveProfileRequest) *RemoveProfileRequest {
	return &RemoveProfileRequest{Location: r.GetLocation(), Kind: userKindFromProto(r.GetKind()), Name: r.GetName()}
}

func removeProfileResponseFromProto(r *routerv1.RemoveProfileResponse) *RemoveProfileResponse {
	return &RemoveProfileResponse{Removed: r.GetRemoved()}
}

func upsertUserRequestFromProto(r *routerv1.UpsertUserRequest) *UpsertUserRequest {
	return &UpsertUserRequest{Location: r.GetLocation(), User: userFromProto(r.GetUser())}
}

func upsertUserResponseFromProto(r *routerv1.UpsertUserResponse) *UpsertUserResponse {
	return &UpsertUserResponse{User: userFromProto(r.GetUser()), Changed: r.GetChanged(), Created: r.GetCreated()}
}

func getUserRequestFromProto(r *routerv1.GetUserRequest) *GetUserRequest {
	return &GetUserRequest{User: userRefFromProto(r.GetUser())}
}

func getUserResponseFromProto(r *routerv1.GetUserResponse) *GetUserResponse {
	return &GetUserResponse{User: userFromProto(r.GetUser())}
}

func listUsersRequestFromProto(r *routerv1.ListUsersRequest) *ListUsersRequest {
	return &ListUsersRequest{Location: r.GetLocation(), Kind: userKindFromProto(r.GetKind()), ManagedOnly: r.GetManagedOnly()}
}

func listUsersResponseFromProto(r *routerv1.ListUsersResponse) *ListUsersResponse {
	out := &ListUsersResponse{}
	for _, u := range r.GetUsers() {
		out.Users = append(out.Users, userFromProto(u))
	}
	return out
}

func enableUserRequestFromProto(r *routerv1.EnableUserRequest) *EnableUserRequest {
	return &EnableUserRequest{User: userRefFromProto(r.GetUser())}
}

func enableUserResponseFromProto(r *routerv1.EnableUserResponse) *EnableUserResponse {
	return &EnableUserResponse{Changed: r.GetChanged()}
}

func disableUserRequestFromProto(r *routerv1.DisableUserRequest) *DisableUserRequest {
	return &DisableUserRequest{User: userRefFromProto(r.GetUser()), Disconnect: r.GetDisconnect()}
}

func disableUserResponseFromProto(r *routerv1.DisableUserResponse) *DisableUserResponse {
	return &DisableUserResponse{Changed: r.GetChanged(), Disconnected: int(r.GetDisconnected())}
}

func removeUserRequestFromProto(r *routerv1.RemoveUserRequest) *RemoveUserRequest {
	return &RemoveUserRequest{User: userRefFromProto(r.GetUser()), Disconnect: r.GetDisconnect()}
}

func removeUserResponseFromProto(r *routerv1.RemoveUserResponse) *RemoveUserResponse {
	return &RemoveUserResponse{Removed: r.GetRemoved(), Disconnected: int(r.GetDisconnected())}
}

func isolateUserRequestFromProto(r *routerv1.IsolateUserRequest) *IsolateUserRequest {
	return &IsolateUserRequest{User: userRefFromProto(r.GetUser()), IsolationProfile: r.GetIsolationProfile(), Disconnect: r.GetDisconnect()}
}

func isolateUserResponseFromProto(r *routerv1.IsolateUserResponse) *IsolateUserResponse {
	return &IsolateUserResponse{Changed: r.GetChanged(), Disconnected: int(r.GetDisconnected())}
}

func listActiveSessionsRequestFromProto(r *routerv1.ListActiveSessionsRequest) *ListActiveSessionsRequest {
	return &ListActiveSessionsRequest{Location: r.GetLocation(), Kind: userKindFromProto(r.GetKind()), User: r.GetUser()}
}

func listActiveSessionsResponseFromProto(r *routerv1.ListActiveSessionsResponse) *ListActiveSessionsResponse {
	out := &ListActiveSessionsResponse{}
	for _, s := range r.GetSessions() {
		out.Sessions = append(out.Sessions, sessionFromProto(s))
	}
	return out
}

func disconnectSessionRequestFromProto(r *routerv1.DisconnectSessionRequest) *DisconnectSessionRequest {
	return &DisconnectSessionRequest{Location: r.GetLocation(), Kind: userKindFromProto(r.GetKind()), SessionID: r.GetSessionId(), User: r.GetUser()}
}

func disconnectSessionResponseFromProto(r *routerv1.DisconnectSessionResponse) *DisconnectSessionResponse {
	return &DisconnectSessionResponse{Disconnected: int(r.GetDisconnected())}
}
