package router

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

// convCase is one round trip: Go -> proto -> wire -> proto -> Go.
type convCase struct {
	name string
	run  func(t *testing.T)
}

// roundTrip builds a case that converts in to proto, marshals and unmarshals
// it, converts it back and expects in again. With full set, it first checks
// that every field of in is set, so a field added to a type but not to its
// converters (or to the fixture) fails the test.
func roundTrip[G any, P proto.Message](name string, in G, full bool, to func(G) P, from func(P) G) convCase {
	return convCase{name: name, run: func(t *testing.T) {
		if full {
			assertAllSet(t, reflect.ValueOf(in), "in")
		}
		b, err := proto.Marshal(to(in))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		p := to(in).ProtoReflect().New().Interface().(P)
		if err := proto.Unmarshal(b, p); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if diff := cmp.Diff(in, from(p)); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
	}}
}

// assertAllSet fails for every exported field under v that holds its zero
// value, and for empty slices and maps.
func assertAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil; set every field in the fixture", path)
			return
		}
		assertAllSet(t, v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.IsZero() {
				t.Errorf("%s.%s is the zero value; set every field in the fixture", path, f.Name)
				continue
			}
			assertAllSet(t, fv, path+"."+f.Name)
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			t.Errorf("%s is empty; set every field in the fixture", path)
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			for i := range v.Len() {
				assertAllSet(t, v.Index(i), path)
			}
		}
	}
}

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
	cases := []convCase{
		roundTrip("Location", fullLocation, true, locationToProto, locationFromProto),
		roundTrip("Profile", fullProfile, true, profileToProto, profileFromProto),
		roundTrip("Profile/ppp", Profile{Kind: KindPPP, Name: "p"}, false, profileToProto, profileFromProto),
		roundTrip("User", fullUser, true, userToProto, userFromProto),
		roundTrip("UserRef", fullUserRef, true, userRefToProto, userRefFromProto),
		roundTrip("Session", fullSession, true, sessionToProto, sessionFromProto),

		roundTrip("ListLocationsRequest", &ListLocationsRequest{}, true, listLocationsRequestToProto, listLocationsRequestFromProto),
		roundTrip("ListLocationsResponse", &ListLocationsResponse{Locations: []Location{fullLocation, fullLocation}}, true, listLocationsResponseToProto, listLocationsResponseFromProto),
		roundTrip("GetResourcesRequest", &GetResourcesRequest{Location: "main"}, true, getResourcesRequestToProto, getResourcesRequestFromProto),
		roundTrip("GetResourcesResponse", &GetResourcesResponse{Resources: Resources{
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
		roundTrip("EnsureProfileRequest", &EnsureProfileRequest{Location: "main", Profile: fullProfile}, true, ensureProfileRequestToProto, ensureProfileRequestFromProto),
		roundTrip("EnsureProfileResponse", &EnsureProfileResponse{Profile: fullProfile, Changed: true}, true, ensureProfileResponseToProto, ensureProfileResponseFromProto),
		roundTrip("ListProfilesRequest", &ListProfilesRequest{Location: "main", Kind: KindPPP}, true, listProfilesRequestToProto, listProfilesRequestFromProto),
		roundTrip("ListProfilesResponse", &ListProfilesResponse{Profiles: []Profile{fullProfile, fullProfile}}, true, listProfilesResponseToProto, listProfilesResponseFromProto),
		roundTrip("RemoveProfileRequest", &RemoveProfileRequest{Location: "main", Kind: KindHotspot, Name: "10M"}, true, removeProfileRequestToProto, removeProfileRequestFromProto),
		roundTrip("RemoveProfileResponse", &RemoveProfileResponse{Removed: true}, true, removeProfileResponseToProto, removeProfileResponseFromProto),
		roundTrip("UpsertUserRequest", &UpsertUserRequest{Location: "main", User: fullUser}, true, upsertUserRequestToProto, upsertUserRequestFromProto),
		roundTrip("UpsertUserResponse", &UpsertUserResponse{User: fullUser, Changed: true, Created: true}, true, upsertUserResponseToProto, upsertUserResponseFromProto),
		roundTrip("GetUserRequest", &GetUserRequest{User: fullUserRef}, true, getUserRequestToProto, getUserRequestFromProto),
		roundTrip("GetUserResponse", &GetUserResponse{User: fullUser}, true, getUserResponseToProto, getUserResponseFromProto),
		roundTrip("ListUsersRequest", &ListUsersRequest{Location: "main", Kind: KindHotspot, ManagedOnly: true}, true, listUsersRequestToProto, listUsersRequestFromProto),
		roundTrip("ListUsersResponse", &ListUsersResponse{Users: []User{fullUser, fullUser}}, true, listUsersResponseToProto, listUsersResponseFromProto),
		roundTrip("EnableUserRequest", &EnableUserRequest{User: fullUserRef}, true, enableUserRequestToProto, enableUserRequestFromProto),
		roundTrip("EnableUserResponse", &EnableUserResponse{Changed: true}, true, enableUserResponseToProto, enableUserResponseFromProto),
		roundTrip("DisableUserRequest", &DisableUserRequest{User: fullUserRef, Disconnect: true}, true, disableUserRequestToProto, disableUserRequestFromProto),
		roundTrip("DisableUserResponse", &DisableUserResponse{Changed: true, Disconnected: 2}, true, disableUserResponseToProto, disableUserResponseFromProto),
		roundTrip("RemoveUserRequest", &RemoveUserRequest{User: fullUserRef, Disconnect: true}, true, removeUserRequestToProto, removeUserRequestFromProto),
		roundTrip("RemoveUserResponse", &RemoveUserResponse{Removed: true, Disconnected: 1}, true, removeUserResponseToProto, removeUserResponseFromProto),
		roundTrip("IsolateUserRequest", &IsolateUserRequest{User: fullUserRef, IsolationProfile: "isolated", Disconnect: true}, true, isolateUserRequestToProto, isolateUserRequestFromProto),
		roundTrip("IsolateUserResponse", &IsolateUserResponse{Changed: true, Disconnected: 3}, true, isolateUserResponseToProto, isolateUserResponseFromProto),
		roundTrip("ListActiveSessionsRequest", &ListActiveSessionsRequest{Location: "main", Kind: KindPPP, User: "cust-0042"}, true, listActiveSessionsRequestToProto, listActiveSessionsRequestFromProto),
		roundTrip("ListActiveSessionsResponse", &ListActiveSessionsResponse{Sessions: []Session{fullSession, fullSession}}, true, listActiveSessionsResponseToProto, listActiveSessionsResponseFromProto),
		roundTrip("DisconnectSessionRequest", &DisconnectSessionRequest{Location: "main", Kind: KindHotspot, SessionID: "*1A", User: "cust-0042"}, true, disconnectSessionRequestToProto, disconnectSessionRequestFromProto),
		roundTrip("DisconnectSessionResponse", &DisconnectSessionResponse{Disconnected: 4}, true, disconnectSessionResponseToProto, disconnectSessionResponseFromProto),

		// Zero values survive too (nil sub-messages, nil slices).
		roundTrip("zero/Profile", Profile{}, false, profileToProto, profileFromProto),
		roundTrip("zero/User", User{}, false, userToProto, userFromProto),
		roundTrip("zero/Session", Session{}, false, sessionToProto, sessionFromProto),
		roundTrip("zero/ListLocationsResponse", &ListLocationsResponse{}, false, listLocationsResponseToProto, listLocationsResponseFromProto),
		roundTrip("zero/GetResourcesResponse", &GetResourcesResponse{}, false, getResourcesResponseToProto, getResourcesResponseFromProto),
		roundTrip("zero/UpsertUserRequest", &UpsertUserRequest{}, false, upsertUserRequestToProto, upsertUserRequestFromProto),
		roundTrip("zero/ListUsersResponse", &ListUsersResponse{}, false, listUsersResponseToProto, listUsersResponseFromProto),
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

func TestConvertNil(t *testing.T) {
	// A nil response from an implementation becomes an empty message, and a
	// nil message becomes the zero value.
	if got := upsertUserResponseToProto(nil); !proto.Equal(got, upsertUserResponseToProto(&UpsertUserResponse{})) {
		t.Errorf("upsertUserResponseToProto(nil) = %v, want the zero response", got)
	}
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

func TestCountClamp(t *testing.T) {
	tests := []struct {
		in   int
		want uint32
	}{
		{-1, 0},
		{0, 0},
		{7, 7},
		{math.MaxInt32, math.MaxInt32},
	}
	for _, tt := range tests {
		if got := u32(tt.in); got != tt.want {
			t.Errorf("u32(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
