package router

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/mikrobill/mikrobill/sdk/internal/convtest"
)

var (
	fullLocation = Location{
		ID:              "main",
		Name:            "Main office",
		Address:         "10.0.0.1:8728",
		Reachable:       true,
		RouterOSVersion: "7.16.2",
		Error:           "dial tcp: i/o timeout",
	}
	fullProfile = Profile{
		Kind:           KindHotspot,
		Name:           "10M",
		RateLimit:      "5M/10M",
		SharedUsers:    2,
		SessionTimeout: 12 * time.Hour,
		IdleTimeout:    15 * time.Minute,
		LocalAddress:   "10.10.0.1",
		RemoteAddress:  "pool-10m",
		AddressList:    "isolated",
		Comment:        "mikrobill: 10M plan",
		Managed:        true,
	}
	fullUser = User{
		Kind:            KindPPP,
		Name:            "cust-0042",
		Password:        "s3cret",
		Profile:         "10M",
		LimitUptime:     30 * 24 * time.Hour,
		LimitBytesTotal: 50 << 30,
		Comment:         "mikrobill: invoice 42",
		Disabled:        true,
		Managed:         true,
		Service:         "pppoe",
		RemoteAddress:   "10.20.0.42",
		MACAddress:      "AA:BB:CC:DD:EE:FF",
		Server:          "hs-lan",
	}
	fullUserRef = UserRef{Location: "branch-2", Kind: KindHotspot, Name: "cust-0042"}
	fullSession = Session{
		ID:         "*1A",
		Kind:       KindPPP,
		User:       "cust-0042",
		Address:    "10.20.0.42",
		MACAddress: "AA:BB:CC:DD:EE:FF",
		Uptime:     3*time.Hour + 7*time.Second,
		BytesIn:    123456789,
		BytesOut:   987654321,
		CallerID:   "AA:BB:CC:DD:EE:FF",
		Server:     "pppoe-in1",
	}
)

func TestConvertRoundTrip(t *testing.T) {
	cases := []convtest.Case{
		convtest.RoundTrip("Location", fullLocation, true, locationToProto, locationFromProto),
		convtest.RoundTrip("Profile", fullProfile, true, profileToProto, profileFromProto),
		convtest.RoundTrip("Profile/ppp", Profile{Kind: KindPPP, Name: "p"}, false, profileToProto, profileFromProto),
		convtest.RoundTrip("User", fullUser, true, userToProto, userFromProto),
		convtest.RoundTrip("UserRef", fullUserRef, true, userRefToProto, userRefFromProto),
		convtest.RoundTrip("Session", fullSession, true, sessionToProto, sessionFromProto),

		convtest.RoundTrip("ListLocationsRequest", &ListLocationsRequest{}, true, listLocationsRequestToProto, listLocationsRequestFromProto),
		convtest.RoundTrip("ListLocationsResponse", &ListLocationsResponse{Locations: []Location{fullLocation, fullLocation}}, true, listLocationsResponseToProto, listLocationsResponseFromProto),
		convtest.RoundTrip("GetResourcesRequest", &GetResourcesRequest{Location: "main"}, true, getResourcesRequestToProto, getResourcesRequestFromProto),
		convtest.RoundTrip("GetResourcesResponse", &GetResourcesResponse{Resources: Resources{
			Location:         "main",
			Version:          "7.16.2 (stable)",
			BoardName:        "RB4011iGS+",
			Architecture:     "arm",
			Uptime:           49*time.Hour + 3*time.Minute,
			CPULoad:          17,
			CPUCount:         4,
			FreeMemoryBytes:  700 << 20,
			TotalMemoryBytes: 1 << 30,
			FreeHDDBytes:     400 << 20,
			TotalHDDBytes:    512 << 20,
		}}, true, getResourcesResponseToProto, getResourcesResponseFromProto),
		convtest.RoundTrip("EnsureProfileRequest", &EnsureProfileRequest{Location: "main", Profile: fullProfile}, true, ensureProfileRequestToProto, ensureProfileRequestFromProto),
		convtest.RoundTrip("EnsureProfileResponse", &EnsureProfileResponse{Profile: fullProfile, Changed: true}, true, ensureProfileResponseToProto, ensureProfileResponseFromProto),
		convtest.RoundTrip("ListProfilesRequest", &ListProfilesRequest{Location: "main", Kind: KindPPP}, true, listProfilesRequestToProto, listProfilesRequestFromProto),
		convtest.RoundTrip("ListProfilesResponse", &ListProfilesResponse{Profiles: []Profile{fullProfile, fullProfile}}, true, listProfilesResponseToProto, listProfilesResponseFromProto),
		convtest.RoundTrip("RemoveProfileRequest", &RemoveProfileRequest{Location: "main", Kind: KindHotspot, Name: "10M"}, true, removeProfileRequestToProto, removeProfileRequestFromProto),
		convtest.RoundTrip("RemoveProfileResponse", &RemoveProfileResponse{Removed: true}, true, removeProfileResponseToProto, removeProfileResponseFromProto),
		convtest.RoundTrip("UpsertUserRequest", &UpsertUserRequest{Location: "main", User: fullUser}, true, upsertUserRequestToProto, upsertUserRequestFromProto),
		convtest.RoundTrip("UpsertUserResponse", &UpsertUserResponse{User: fullUser, Changed: true, Created: true}, true, upsertUserResponseToProto, upsertUserResponseFromProto),
		convtest.RoundTrip("GetUserRequest", &GetUserRequest{User: fullUserRef}, true, getUserRequestToProto, getUserRequestFromProto),
		convtest.RoundTrip("GetUserResponse", &GetUserResponse{User: fullUser}, true, getUserResponseToProto, getUserResponseFromProto),
		convtest.RoundTrip("ListUsersRequest", &ListUsersRequest{Location: "main", Kind: KindHotspot, ManagedOnly: true}, true, listUsersRequestToProto, listUsersRequestFromProto),
		convtest.RoundTrip("ListUsersResponse", &ListUsersResponse{Users: []User{fullUser, fullUser}}, true, listUsersResponseToProto, listUsersResponseFromProto),
		convtest.RoundTrip("EnableUserRequest", &EnableUserRequest{User: fullUserRef}, true, enableUserRequestToProto, enableUserRequestFromProto),
		convtest.RoundTrip("EnableUserResponse", &EnableUserResponse{Changed: true}, true, enableUserResponseToProto, enableUserResponseFromProto),
		convtest.RoundTrip("DisableUserRequest", &DisableUserRequest{User: fullUserRef, Disconnect: true}, true, disableUserRequestToProto, disableUserRequestFromProto),
		convtest.RoundTrip("DisableUserResponse", &DisableUserResponse{Changed: true, Disconnected: 2}, true, disableUserResponseToProto, disableUserResponseFromProto),
		convtest.RoundTrip("RemoveUserRequest", &RemoveUserRequest{User: fullUserRef, Disconnect: true}, true, removeUserRequestToProto, removeUserRequestFromProto),
		convtest.RoundTrip("RemoveUserResponse", &RemoveUserResponse{Removed: true, Disconnected: 1}, true, removeUserResponseToProto, removeUserResponseFromProto),
		convtest.RoundTrip("IsolateUserRequest", &IsolateUserRequest{User: fullUserRef, IsolationProfile: "isolated", Disconnect: true}, true, isolateUserRequestToProto, isolateUserRequestFromProto),
		convtest.RoundTrip("IsolateUserResponse", &IsolateUserResponse{Changed: true, Disconnected: 3}, true, isolateUserResponseToProto, isolateUserResponseFromProto),
		convtest.RoundTrip("ListActiveSessionsRequest", &ListActiveSessionsRequest{Location: "main", Kind: KindPPP, User: "cust-0042"}, true, listActiveSessionsRequestToProto, listActiveSessionsRequestFromProto),
		convtest.RoundTrip("ListActiveSessionsResponse", &ListActiveSessionsResponse{Sessions: []Session{fullSession, fullSession}}, true, listActiveSessionsResponseToProto, listActiveSessionsResponseFromProto),
		convtest.RoundTrip("DisconnectSessionRequest", &DisconnectSessionRequest{Location: "main", Kind: KindHotspot, SessionID: "*1A", User: "cust-0042"}, true, disconnectSessionRequestToProto, disconnectSessionRequestFromProto),
		convtest.RoundTrip("DisconnectSessionResponse", &DisconnectSessionResponse{Disconnected: 4}, true, disconnectSessionResponseToProto, disconnectSessionResponseFromProto),

		// Zero values survive too (nil sub-messages, nil slices).
		convtest.RoundTrip("zero/Profile", Profile{}, false, profileToProto, profileFromProto),
		convtest.RoundTrip("zero/User", User{}, false, userToProto, userFromProto),
		convtest.RoundTrip("zero/Session", Session{}, false, sessionToProto, sessionFromProto),
		convtest.RoundTrip("zero/ListLocationsResponse", &ListLocationsResponse{}, false, listLocationsResponseToProto, listLocationsResponseFromProto),
		convtest.RoundTrip("zero/GetResourcesResponse", &GetResourcesResponse{}, false, getResourcesResponseToProto, getResourcesResponseFromProto),
		convtest.RoundTrip("zero/UpsertUserRequest", &UpsertUserRequest{}, false, upsertUserRequestToProto, upsertUserRequestFromProto),
		convtest.RoundTrip("zero/ListUsersResponse", &ListUsersResponse{}, false, listUsersResponseToProto, listUsersResponseFromProto),
	}
	convtest.Run(t, cases...)
}

func TestConvertNil(t *testing.T) {
	// A nil response converts to nil, which the SDK's server guard answers
	// with sdk.ErrInternal; a nil message converts to the zero value.
	convtest.AssertNilMessages(t, map[string]proto.Message{
		"listLocationsResponseToProto":      listLocationsResponseToProto(nil),
		"getResourcesResponseToProto":       getResourcesResponseToProto(nil),
		"ensureProfileResponseToProto":      ensureProfileResponseToProto(nil),
		"listProfilesResponseToProto":       listProfilesResponseToProto(nil),
		"removeProfileResponseToProto":      removeProfileResponseToProto(nil),
		"upsertUserResponseToProto":         upsertUserResponseToProto(nil),
		"getUserResponseToProto":            getUserResponseToProto(nil),
		"listUsersResponseToProto":          listUsersResponseToProto(nil),
		"enableUserResponseToProto":         enableUserResponseToProto(nil),
		"disableUserResponseToProto":        disableUserResponseToProto(nil),
		"removeUserResponseToProto":         removeUserResponseToProto(nil),
		"isolateUserResponseToProto":        isolateUserResponseToProto(nil),
		"listActiveSessionsResponseToProto": listActiveSessionsResponseToProto(nil),
		"disconnectSessionResponseToProto":  disconnectSessionResponseToProto(nil),
	})
	if diff := cmp.Diff(&GetResourcesResponse{}, getResourcesResponseFromProto(nil)); diff != "" {
		t.Errorf("getResourcesResponseFromProto(nil) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&GetUserRequest{}, getUserRequestFromProto(nil)); diff != "" {
		t.Errorf("getUserRequestFromProto(nil) (-want +got):\n%s", diff)
	}
}

func TestUserKindUnknown(t *testing.T) {
	// A kind the protocol does not know is sent as unspecified and read
	// back as "".
	if got := userKindFromProto(userKindToProto("wireguard")); got != "" {
		t.Errorf("unknown kind round-tripped to %q, want \"\"", got)
	}
}
