// Package router is the contract of router plugins (kind "router"): the
// plugins that put subscribers on MikroTik routers as hotspot users and PPP
// secrets.
//
// Start with the Router interface. A plugin is a type that embeds sdk.Base
// (which holds the plugin's logger and the host's services), implements
// Router and sdk.Plugin's Describe, and is served from main with sdk.Serve:
// package sdk's example is a whole plugin, of another kind.
//
// One plugin may manage several routers; each is a Location, named by a
// stable id in every call. Users and profiles live in one of two RouterOS
// menus, chosen by UserKind: the hotspot (KindHotspot) or PPP (KindPPP).
//
// Two rules hold for every implementation. Every write is idempotent: the
// host retries, and the same request twice leaves the router as once. And a
// plugin never changes or removes an entry it did not create: it marks what
// it creates (in the entry's comment) and answers ErrNotManaged for anything
// else. Check profiles' rate limits with ValidateRateLimit before they reach
// the router.
package router

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// Router is what every router plugin implements. Every method exists since
// protocol version 1.
type Router interface {
	sdk.Plugin
	// ListLocations lists the configured routers and whether they answer.
	// A router that does not answer is listed with Reachable false and the
	// reason in Error, not reported as an error.
	ListLocations(ctx context.Context, req *ListLocationsRequest) (*ListLocationsResponse, error)
	// GetResources reports a router's system resources (/system/resource).
	GetResources(ctx context.Context, req *GetResourcesRequest) (*GetResourcesResponse, error)
	// EnsureProfile creates or updates a hotspot user profile or PPP
	// profile. Refuse a rate limit that does not parse with
	// ErrInvalidRateLimit (see ValidateRateLimit).
	EnsureProfile(ctx context.Context, req *EnsureProfileRequest) (*EnsureProfileResponse, error)
	// ListProfiles lists the profiles of one kind, managed or not.
	ListProfiles(ctx context.Context, req *ListProfilesRequest) (*ListProfilesResponse, error)
	// RemoveProfile removes a profile the plugin manages. A profile that
	// does not exist is not an error: Removed is false.
	RemoveProfile(ctx context.Context, req *RemoveProfileRequest) (*RemoveProfileResponse, error)
	// UpsertUser creates or updates a hotspot user or PPP secret.
	UpsertUser(ctx context.Context, req *UpsertUserRequest) (*UpsertUserResponse, error)
	// GetUser reads one user. A user that does not exist is sdk.ErrNotFound.
	GetUser(ctx context.Context, req *GetUserRequest) (*GetUserResponse, error)
	// ListUsers lists the users of one kind.
	ListUsers(ctx context.Context, req *ListUsersRequest) (*ListUsersResponse, error)
	// EnableUser enables a user.
	EnableUser(ctx context.Context, req *EnableUserRequest) (*EnableUserResponse, error)
	// DisableUser disables a user and, when asked, ends their sessions.
	DisableUser(ctx context.Context, req *DisableUserRequest) (*DisableUserResponse, error)
	// RemoveUser removes a user and, when asked, ends their sessions. A
	// user that does not exist is not an error: Removed is false.
	RemoveUser(ctx context.Context, req *RemoveUserRequest) (*RemoveUserResponse, error)
	// IsolateUser moves a user to an isolation profile (a walled garden
	// that shows a "please pay" page) and, when asked, ends their sessions
	// so the new profile takes effect.
	IsolateUser(ctx context.Context, req *IsolateUserRequest) (*IsolateUserResponse, error)
	// ListActiveSessions lists who is online.
	ListActiveSessions(ctx context.Context, req *ListActiveSessionsRequest) (*ListActiveSessionsResponse, error)
	// DisconnectSession ends active sessions, by session id or by user.
	DisconnectSession(ctx context.Context, req *DisconnectSessionRequest) (*DisconnectSessionResponse, error)
}

// Sentinel errors of router plugins. Each also matches a general sdk
// sentinel (shown in brackets), so the host can treat them by category.
var (
	// ErrUnknownLocation: no router is configured with this location id
	// [sdk.ErrNotFound].
	ErrUnknownLocation = rpcerr.New(codes.NotFound, "ROUTER_UNKNOWN_LOCATION", "unknown router location", sdk.ErrNotFound)
	// ErrNotManaged: the entry exists on the router but mikrobill did not
	// create it, so the plugin never changes or removes it
	// [sdk.ErrPermissionDenied].
	ErrNotManaged = rpcerr.New(codes.PermissionDenied, "ROUTER_NOT_MANAGED", "entry exists on the router but is not managed by mikrobill", sdk.ErrPermissionDenied)
	// ErrRouterUnreachable: the router's API does not answer; retry later
	// [sdk.ErrUnavailable].
	ErrRouterUnreachable = rpcerr.New(codes.Unavailable, "ROUTER_UNREACHABLE", "router unreachable", sdk.ErrUnavailable)
	// ErrInvalidRateLimit: a profile's rate limit is not RouterOS rate-limit
	// syntax [sdk.ErrInvalidArgument].
	ErrInvalidRateLimit = rpcerr.New(codes.InvalidArgument, "ROUTER_INVALID_RATE_LIMIT", "invalid rate limit", sdk.ErrInvalidArgument)
)

// UserKind is the RouterOS menu a user or profile lives in. The empty
// UserKind is unspecified.
type UserKind string

// User kinds.
const (
	// KindHotspot: /ip/hotspot/user and /ip/hotspot/user/profile.
	KindHotspot UserKind = "hotspot"
	// KindPPP: /ppp/secret and /ppp/profile (PPPoE and friends).
	KindPPP UserKind = "ppp"
)

// Location is one router.
type Location struct {
	// ID is stable and names the router in every other call, for example
	// "main" or "branch-2".
	ID string
	// Name is for people.
	Name string
	// Address is the API's host:port.
	Address string
	// Reachable reports whether the router answered.
	Reachable bool
	// RouterOSVersion is the router's RouterOS version, for example "7.16.2".
	RouterOSVersion string
	// Error says why the router is not reachable, when it is not.
	Error string
}

// ListLocationsRequest lists the configured routers.
type ListLocationsRequest struct{}

// ListLocationsResponse lists the configured routers.
type ListLocationsResponse struct {
	Locations []Location
}

// GetResourcesRequest asks for one router's resources.
type GetResourcesRequest struct {
	// Location is the router's id.
	Location string
}

// GetResourcesResponse is a router's resources.
type GetResourcesResponse struct {
	Resources Resources
}

// Resources is /system/resource of a router.
type Resources struct {
	// Location is the router's id.
	Location string
	// Version is the RouterOS version, for example "7.16.2 (stable)".
	Version string
	// BoardName is the model, for example "RB4011iGS+".
	BoardName string
	// Architecture is the CPU architecture, for example "arm64".
	Architecture string
	// Uptime is how long the router has been running.
	Uptime time.Duration
	// CPULoad is in percent, 0 to 100.
	CPULoad int
	// CPUCount is the number of CPU cores.
	CPUCount int
	// FreeMemoryBytes and TotalMemoryBytes are RAM, in bytes.
	FreeMemoryBytes  uint64
	TotalMemoryBytes uint64
	// FreeHDDBytes and TotalHDDBytes are storage, in bytes.
	FreeHDDBytes  uint64
	TotalHDDBytes uint64
}

// Profile is a hotspot user profile or a PPP profile.
type Profile struct {
	Kind UserKind
	Name string
	// RateLimit is RouterOS rate-limit syntax, for example "2M/4M"; empty
	// means no limit. See ValidateRateLimit.
	RateLimit string
	// SharedUsers (hotspot) is how many devices may use one login at once;
	// 0 is the RouterOS default.
	SharedUsers int
	// SessionTimeout and IdleTimeout; 0 is none.
	SessionTimeout time.Duration
	IdleTimeout    time.Duration
	// LocalAddress (PPP) is the local address or pool.
	LocalAddress string
	// RemoteAddress is the remote address or pool (PPP), or the address
	// pool (hotspot).
	RemoteAddress string
	// AddressList is an address list the profile's users are added to (for
	// isolation pages).
	AddressList string
	// Comment is free text; the plugin adds its marker.
	Comment string
	// Managed (output only) reports whether the plugin manages the entry.
	Managed bool
}

// EnsureProfileRequest creates or updates a profile.
type EnsureProfileRequest struct {
	// Location is the router's id.
	Location string
	Profile  Profile
}

// EnsureProfileResponse is the profile as the router now holds it.
type EnsureProfileResponse struct {
	Profile Profile
	// Changed is false when the router already held exactly this profile.
	Changed bool
}

// ListProfilesRequest lists the profiles of one kind.
type ListProfilesRequest struct {
	// Location is the router's id.
	Location string
	Kind     UserKind
}

// ListProfilesResponse lists profiles.
type ListProfilesResponse struct {
	Profiles []Profile
}

// RemoveProfileRequest removes one profile.
type RemoveProfileRequest struct {
	// Location is the router's id.
	Location string
	Kind     UserKind
	Name     string
}

// RemoveProfileResponse says whether the profile existed.
type RemoveProfileResponse struct {
	Removed bool
}

// User is a hotspot user or a PPP secret.
type User struct {
	Kind UserKind
	Name string
	// Password is write only: plugins never return it.
	Password string
	// Profile is the name of the user's profile.
	Profile string
	// LimitUptime (hotspot) is the total uptime allowed; 0 is unlimited.
	LimitUptime time.Duration
	// LimitBytesTotal (hotspot) is the total bytes allowed; 0 is unlimited.
	LimitBytesTotal uint64
	// Comment is free text; the plugin adds its marker.
	Comment  string
	Disabled bool
	// Managed (output only) reports whether the plugin manages the entry.
	Managed bool
	// Service (PPP) is "pppoe", "any", ...; empty means "any".
	Service string
	// RemoteAddress (PPP) is a static remote address.
	RemoteAddress string
	// MACAddress (hotspot) binds the login to a MAC address.
	MACAddress string
	// Server (hotspot) is the hotspot server name; empty means "all".
	Server string
}

// UserRef names one user.
type UserRef struct {
	// Location is the router's id.
	Location string
	Kind     UserKind
	Name     string
}

// UpsertUserRequest creates or updates a user.
type UpsertUserRequest struct {
	// Location is the router's id.
	Location string
	User     User
}

// UpsertUserResponse is the user as the router now holds it.
type UpsertUserResponse struct {
	User User
	// Changed is false when the router already held exactly this user.
	Changed bool
	// Created is true when the user did not exist before.
	Created bool
}

// GetUserRequest reads one user.
type GetUserRequest struct {
	User UserRef
}

// GetUserResponse is one user.
type GetUserResponse struct {
	User User
}

// ListUsersRequest lists the users of one kind.
type ListUsersRequest struct {
	// Location is the router's id.
	Location string
	Kind     UserKind
	// ManagedOnly lists only the entries the plugin manages.
	ManagedOnly bool
}

// ListUsersResponse lists users.
type ListUsersResponse struct {
	Users []User
}

// EnableUserRequest enables a user.
type EnableUserRequest struct {
	User UserRef
}

// EnableUserResponse says whether anything changed.
type EnableUserResponse struct {
	Changed bool
}

// DisableUserRequest disables a user.
type DisableUserRequest struct {
	User UserRef
	// Disconnect also ends the user's active sessions.
	Disconnect bool
}

// DisableUserResponse says what changed.
type DisableUserResponse struct {
	Changed bool
	// Disconnected is how many sessions ended.
	Disconnected int
}

// RemoveUserRequest removes a user.
type RemoveUserRequest struct {
	User UserRef
	// Disconnect also ends the user's active sessions.
	Disconnect bool
}

// RemoveUserResponse says what changed.
type RemoveUserResponse struct {
	Removed bool
	// Disconnected is how many sessions ended.
	Disconnected int
}

// IsolateUserRequest moves a user to an isolation profile.
type IsolateUserRequest struct {
	User UserRef
	// IsolationProfile is the name of the profile to move the user to.
	IsolationProfile string
	// Disconnect also ends the user's active sessions, so the new profile
	// takes effect.
	Disconnect bool
}

// IsolateUserResponse says what changed.
type IsolateUserResponse struct {
	Changed bool
	// Disconnected is how many sessions ended.
	Disconnected int
}

// Session is one active hotspot or PPP session.
type Session struct {
	// ID is the router's id for the session (".id").
	ID   string
	Kind UserKind
	// User is the user's name.
	User       string
	Address    string
	MACAddress string
	Uptime     time.Duration
	BytesIn    uint64
	BytesOut   uint64
	// CallerID (PPP) is the caller id.
	CallerID string
	// Server is the hotspot server or the PPP service.
	Server string
}

// ListActiveSessionsRequest lists sessions.
type ListActiveSessionsRequest struct {
	// Location is the router's id.
	Location string
	Kind     UserKind
	// User, optional, lists only this user's sessions.
	User string
}

// ListActiveSessionsResponse lists sessions.
type ListActiveSessionsResponse struct {
	Sessions []Session
}

// DisconnectSessionRequest ends sessions, by session id or by user.
type DisconnectSessionRequest struct {
	// Location is the router's id.
	Location string
	Kind     UserKind
	// SessionID is the router's id for one session.
	SessionID string
	// User ends all of this user's sessions.
	User string
}

// DisconnectSessionResponse says how many sessions ended.
type DisconnectSessionResponse struct {
	Disconnected int
}
