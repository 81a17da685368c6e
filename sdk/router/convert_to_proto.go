package router

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	routerv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/router/v1"
)

// A nil request converts as the zero value. A nil response converts to nil,
// which the SDK's server guard answers with sdk.ErrInternal naming the
// method: an implementation returns a response or an error (see package
// sdk).

func userKindToProto(k UserKind) routerv1.UserKind {
	switch k {
	case KindHotspot:
		return routerv1.UserKind_USER_KIND_HOTSPOT
	case KindPPP:
		return routerv1.UserKind_USER_KIND_PPP
	default:
		return routerv1.UserKind_USER_KIND_UNSPECIFIED
	}
}

func locationToProto(l Location) *routerv1.Location {
	return &routerv1.Location{
		Id:              l.ID,
		Name:            l.Name,
		Address:         l.Address,
		Reachable:       l.Reachable,
		RouterosVersion: l.RouterOSVersion,
		Error:           l.Error,
	}
}

func profileToProto(p Profile) *routerv1.Profile {
	return &routerv1.Profile{
		Kind:           userKindToProto(p.Kind),
		Name:           p.Name,
		RateLimit:      p.RateLimit,
		SharedUsers:    convert.CountToProto(p.SharedUsers),
		SessionTimeout: convert.DurationToProto(p.SessionTimeout),
		IdleTimeout:    convert.DurationToProto(p.IdleTimeout),
		LocalAddress:   p.LocalAddress,
		RemoteAddress:  p.RemoteAddress,
		AddressList:    p.AddressList,
		Comment:        p.Comment,
		Managed:        p.Managed,
	}
}

func userToProto(u User) *routerv1.User {
	return &routerv1.User{
		Kind:            userKindToProto(u.Kind),
		Name:            u.Name,
		Password:        u.Password,
		Profile:         u.Profile,
		LimitUptime:     convert.DurationToProto(u.LimitUptime),
		LimitBytesTotal: u.LimitBytesTotal,
		Comment:         u.Comment,
		Disabled:        u.Disabled,
		Managed:         u.Managed,
		Service:         u.Service,
		RemoteAddress:   u.RemoteAddress,
		MacAddress:      u.MACAddress,
		Server:          u.Server,
	}
}

func userRefToProto(r UserRef) *routerv1.UserRef {
	return &routerv1.UserRef{
		Location: r.Location,
		Kind:     userKindToProto(r.Kind),
		Name:     r.Name,
	}
}

func sessionToProto(s Session) *routerv1.Session {
	return &routerv1.Session{
		Id:         s.ID,
		Kind:       userKindToProto(s.Kind),
		User:       s.User,
		Address:    s.Address,
		MacAddress: s.MACAddress,
		Uptime:     convert.DurationToProto(s.Uptime),
		BytesIn:    s.BytesIn,
		BytesOut:   s.BytesOut,
		CallerId:   s.CallerID,
		Server:     s.Server,
	}
}

func listLocationsRequestToProto(*ListLocationsRequest) *routerv1.ListLocationsRequest {
	return &routerv1.ListLocationsRequest{}
}

func listLocationsResponseToProto(r *ListLocationsResponse) *routerv1.ListLocationsResponse {
	if r == nil {
		return nil
	}
	out := &routerv1.ListLocationsResponse{}
	for _, l := range r.Locations {
		out.Locations = append(out.Locations, locationToProto(l))
	}
	return out
}

func getResourcesRequestToProto(r *GetResourcesRequest) *routerv1.GetResourcesRequest {
	if r == nil {
		r = &GetResourcesRequest{}
	}
	return &routerv1.GetResourcesRequest{Location: r.Location}
}

func getResourcesResponseToProto(r *GetResourcesResponse) *routerv1.GetResourcesResponse {
	if r == nil {
		return nil
	}
	res := r.Resources
	return &routerv1.GetResourcesResponse{
		Location:         res.Location,
		Version:          res.Version,
		BoardName:        res.BoardName,
		Architecture:     res.Architecture,
		Uptime:           convert.DurationToProto(res.Uptime),
		CpuLoad:          convert.CountToProto(res.CPULoad),
		CpuCount:         convert.CountToProto(res.CPUCount),
		FreeMemoryBytes:  res.FreeMemoryBytes,
		TotalMemoryBytes: res.TotalMemoryBytes,
		FreeHddBytes:     res.FreeHDDBytes,
		TotalHddBytes:    res.TotalHDDBytes,
	}
}

func ensureProfileRequestToProto(r *EnsureProfileRequest) *routerv1.EnsureProfileRequest {
	if r == nil {
		r = &EnsureProfileRequest{}
	}
	return &routerv1.EnsureProfileRequest{Location: r.Location, Profile: profileToProto(r.Profile)}
}

func ensureProfileResponseToProto(r *EnsureProfileResponse) *routerv1.EnsureProfileResponse {
	if r == nil {
		return nil
	}
	return &routerv1.EnsureProfileResponse{Profile: profileToProto(r.Profile), Changed: r.Changed}
}

func listProfilesRequestToProto(r *ListProfilesRequest) *routerv1.ListProfilesRequest {
	if r == nil {
		r = &ListProfilesRequest{}
	}
	return &routerv1.ListProfilesRequest{Location: r.Location, Kind: userKindToProto(r.Kind)}
}

func listProfilesResponseToProto(r *ListProfilesResponse) *routerv1.ListProfilesResponse {
	if r == nil {
		return nil
	}
	out := &routerv1.ListProfilesResponse{}
	for _, p := range r.Profiles {
		out.Profiles = append(out.Profiles, profileToProto(p))
	}
	return out
}

func removeProfileRequestToProto(r *RemoveProfileRequest) *routerv1.RemoveProfileRequest {
	if r == nil {
		r = &RemoveProfileRequest{}
	}
	return &routerv1.RemoveProfileRequest{Location: r.Location, Kind: userKindToProto(r.Kind), Name: r.Name}
}

func removeProfileResponseToProto(r *RemoveProfileResponse) *routerv1.RemoveProfileResponse {
	if r == nil {
		return nil
	}
	return &routerv1.RemoveProfileResponse{Removed: r.Removed}
}

func upsertUserRequestToProto(r *UpsertUserRequest) *routerv1.UpsertUserRequest {
	if r == nil {
		r = &UpsertUserRequest{}
	}
	return &routerv1.UpsertUserRequest{Location: r.Location, User: userToProto(r.User)}
}

func upsertUserResponseToProto(r *UpsertUserResponse) *routerv1.UpsertUserResponse {
	if r == nil {
		return nil
	}
	return &routerv1.UpsertUserResponse{User: userToProto(r.User), Changed: r.Changed, Created: r.Created}
}

func getUserRequestToProto(r *GetUserRequest) *routerv1.GetUserRequest {
	if r == nil {
		r = &GetUserRequest{}
	}
	return &routerv1.GetUserRequest{User: userRefToProto(r.User)}
}

func getUserResponseToProto(r *GetUserResponse) *routerv1.GetUserResponse {
	if r == nil {
		return nil
	}
	return &routerv1.GetUserResponse{User: userToProto(r.User)}
}

func listUsersRequestToProto(r *ListUsersRequest) *routerv1.ListUsersRequest {
	if r == nil {
		r = &ListUsersRequest{}
	}
	return &routerv1.ListUsersRequest{Location: r.Location, Kind: userKindToProto(r.Kind), ManagedOnly: r.ManagedOnly}
}

func listUsersResponseToProto(r *ListUsersResponse) *routerv1.ListUsersResponse {
	if r == nil {
		return nil
	}
	out := &routerv1.ListUsersResponse{}
	for _, u := range r.Users {
		out.Users = append(out.Users, userToProto(u))
	}
	return out
}

func enableUserRequestToProto(r *EnableUserRequest) *routerv1.EnableUserRequest {
	if r == nil {
		r = &EnableUserRequest{}
	}
	return &routerv1.EnableUserRequest{User: userRefToProto(r.User)}
}

func enableUserResponseToProto(r *EnableUserResponse) *routerv1.EnableUserResponse {
	if r == nil {
		return nil
	}
	return &routerv1.EnableUserResponse{Changed: r.Changed}
}

func disableUserRequestToProto(r *DisableUserRequest) *routerv1.DisableUserRequest {
	if r == nil {
		r = &DisableUserRequest{}
	}
	return &routerv1.DisableUserRequest{User: userRefToProto(r.User), Disconnect: r.Disconnect}
}

func disableUserResponseToProto(r *DisableUserResponse) *routerv1.DisableUserResponse {
	if r == nil {
		return nil
	}
	return &routerv1.DisableUserResponse{Changed: r.Changed, Disconnected: convert.CountToProto(r.Disconnected)}
}

func removeUserRequestToProto(r *RemoveUserRequest) *routerv1.RemoveUserRequest {
	if r == nil {
		r = &RemoveUserRequest{}
	}
	return &routerv1.RemoveUserRequest{User: userRefToProto(r.User), Disconnect: r.Disconnect}
}

func removeUserResponseToProto(r *RemoveUserResponse) *routerv1.RemoveUserResponse {
	if r == nil {
		return nil
	}
	return &routerv1.RemoveUserResponse{Removed: r.Removed, Disconnected: convert.CountToProto(r.Disconnected)}
}

func isolateUserRequestToProto(r *IsolateUserRequest) *routerv1.IsolateUserRequest {
	if r == nil {
		r = &IsolateUserRequest{}
	}
	return &routerv1.IsolateUserRequest{User: userRefToProto(r.User), IsolationProfile: r.IsolationProfile, Disconnect: r.Disconnect}
}

func isolateUserResponseToProto(r *IsolateUserResponse) *routerv1.IsolateUserResponse {
	if r == nil {
		return nil
	}
	return &routerv1.IsolateUserResponse{Changed: r.Changed, Disconnected: convert.CountToProto(r.Disconnected)}
}

func listActiveSessionsRequestToProto(r *ListActiveSessionsRequest) *routerv1.ListActiveSessionsRequest {
	if r == nil {
		r = &ListActiveSessionsRequest{}
	}
	return &routerv1.ListActiveSessionsRequest{Location: r.Location, Kind: userKindToProto(r.Kind), User: r.User}
}

func listActiveSessionsResponseToProto(r *ListActiveSessionsResponse) *routerv1.ListActiveSessionsResponse {
	if r == nil {
		return nil
	}
	out := &routerv1.ListActiveSessionsResponse{}
	for _, s := range r.Sessions {
		out.Sessions = append(out.Sessions, sessionToProto(s))
	}
	return out
}

func disconnectSessionRequestToProto(r *DisconnectSessionRequest) *routerv1.DisconnectSessionRequest {
	if r == nil {
		r = &DisconnectSessionRequest{}
	}
	return &routerv1.DisconnectSessionRequest{Location: r.Location, Kind: userKindToProto(r.Kind), SessionId: r.SessionID, User: r.User}
}

func disconnectSessionResponseToProto(r *DisconnectSessionResponse) *routerv1.DisconnectSessionResponse {
	if r == nil {
		return nil
	}
	return &routerv1.DisconnectSessionResponse{Disconnected: convert.CountToProto(r.Disconnected)}
}
