package sdk

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Plugin is the base interface every plugin implements, whatever its kind.
// Embed Base to get working defaults for everything but Describe.
//
// Kind interfaces (payment.Gateway, router.Router, notify.Notifier,
// audit.Sink) embed Plugin. A value that implements only Plugin is served as
// a plugin of kind "generic".
//
// A plugin may also implement these optional interfaces. Serve detects each
// by type assertion and adds its capability to what Describe reports:
//   - EventHandler ("events"): receive the events the manifest subscribes
//     to.
//   - HTTPHandler ("http"): serve the routes the manifest declares, under
//     /plugins/{name}/.
//   - Shutdowner ("shutdown"): clean up when the host stops the plugin.
//
// A kind may have optional interfaces of its own: payment.Refunder and
// payment.MethodLister (see payment.Gateway).
//
// Every method returns a response or an error, never neither (see "A
// response or an error" in the package doc).
type Plugin interface {
	// Describe says who the plugin is. Name, version and kind must match
	// the manifest, or the host refuses the plugin. Kind, capabilities and
	// SDK version may be left empty: the SDK fills them in.
	Describe(ctx context.Context, req *DescribeRequest) (*DescribeResponse, error)
	// Configure receives the plugin's settings (already validated by the
	// host against the manifest's config_schema; decode them with
	// DecodeConfig). It is called once after launch and again when an
	// operator changes settings. Secrets arrive here and nowhere else.
	Configure(ctx context.Context, req *ConfigureRequest) (*ConfigureResponse, error)
	// CheckHealth reports health. Keep it fast: the host calls it on an
	// interval with a timeout and restarts a plugin that does not answer.
	CheckHealth(ctx context.Context, req *CheckHealthRequest) (*CheckHealthResponse, error)
	// CollectMetrics returns the plugin's metrics in the Prometheus text
	// format; the host merges them into its /metrics with a plugin label.
	CollectMetrics(ctx context.Context, req *CollectMetricsRequest) (*CollectMetricsResponse, error)
}

// EventHandler is an optional capability ("events") of any plugin.
//
// The host calls HandleEvent once for each event whose type the manifest's
// "events" subscribe to ("invoice.paid", "invoice.*" or "*"), published by
// the host or by another plugin (never the plugin's own), while the plugin
// runs. Deliveries run concurrently, each with a deadline of 10 seconds, in
// no guaranteed order. An error is logged by the host and the event is not
// delivered again; an event published while the plugin was not running is
// not delivered later. So an event is a hint: what must not be lost goes
// through the kind's methods. Event.ID tells a repeat.
type EventHandler interface {
	HandleEvent(ctx context.Context, req *HandleEventRequest) (*HandleEventResponse, error)
}

// HTTPHandler is an optional capability ("http") of any plugin.
//
// The host calls HandleHTTP for each request to a route the manifest
// declares, served at /plugins/{name}{path}, once it has checked the
// caller against the route's "auth": Request.Principal is the caller (nil
// on public routes), and the caller's credentials are not in
// Request.Header. Request.Path is relative to /plugins/{name}.
//
// The response is written back as it is (a zero StatusCode is 200; the
// host keeps framing and cookies its own). A nil response, with a nil
// error, is 204 No Content: the one method where nil is an answer. An
// error is the host's error answer, with the status of the sentinel it
// wraps (ErrNotFound 404, ErrInvalidArgument 400, ErrPermissionDenied 403,
// ErrUnavailable 503, ...; any other error 500, its message only in the
// host's log). docs/plugin-manifest.md has the whole route contract.
type HTTPHandler interface {
	HandleHTTP(ctx context.Context, req *HandleHTTPRequest) (*HandleHTTPResponse, error)
}

// Shutdowner is an optional capability ("shutdown") of any plugin.
//
// Shutdown is called once, after the host has stopped the plugin
// gracefully and the last request has finished; it is called even when
// Configure failed or was never called, so check what exists before
// closing it. Its context ends after 10 seconds. An error is logged, and
// the process exits anyway. It is not called when the process is killed
// (the host's stop deadline passed, a crash, or the host itself died).
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Plugin kinds, as in the manifest's "kind" field. They are defined here
// only: the host's manifest validation, its plugin clients and the
// conformance kit all use these.
const (
	KindPayment = "payment"
	KindRouter  = "router"
	KindNotify  = "notify"
	KindAudit   = "audit"
	KindGeneric = "generic"
)

// Kinds lists every plugin kind, sorted.
var Kinds = []string{KindAudit, KindGeneric, KindNotify, KindPayment, KindRouter}

// Capability names reported by Describe.
const (
	CapabilityEvents   = "events"
	CapabilityHTTP     = "http"
	CapabilityShutdown = "shutdown"
)

// DescribeRequest is what the host says about itself.
type DescribeRequest struct {
	// HostVersion is the host's version (semver).
	HostVersion string
}

// DescribeResponse is the plugin's identity.
type DescribeResponse struct {
	// Name as in the manifest, for example "payment-midtrans".
	Name string
	// Version as in the manifest (semver), for example "1.2.0".
	Version string
	// Kind as in the manifest; the SDK fills it in when empty.
	Kind string
	// Capabilities the plugin implements; the SDK adds the ones it detects.
	Capabilities []string
	// SDKVersion the plugin was built with; the SDK fills it in.
	SDKVersion string
	// Description, one line for operators.
	Description string
}

// ConfigureRequest carries the plugin's settings.
type ConfigureRequest struct {
	// Settings is the JSON object the operator configured, validated against
	// the manifest's config_schema. It may hold secrets: never log it.
	Settings json.RawMessage
	// Environment is the host's environment ("development", "production", ...).
	Environment string
	// HostVersion is the host's version (semver).
	HostVersion string
	// DataDir is the plugin's private data directory (mode 0700).
	DataDir string
}

// ConfigureResponse acknowledges settings.
type ConfigureResponse struct {
	// Warnings the operator should see; they do not stop the plugin.
	Warnings []string
}

// CheckHealthRequest asks for the plugin's health.
type CheckHealthRequest struct{}

// HealthStatus is a plugin's own view of its health.
type HealthStatus string

// Health statuses.
const (
	// HealthOK: everything works.
	HealthOK HealthStatus = "ok"
	// HealthDegraded: it works in part. The host shows it and does not restart.
	HealthDegraded HealthStatus = "degraded"
	// HealthError: it does not work.
	HealthError HealthStatus = "error"
)

// CheckHealthResponse is the plugin's health.
type CheckHealthResponse struct {
	Status HealthStatus
	// Message, one line for operators.
	Message string
	// Details, structured (JSON-compatible values only).
	Details map[string]any
}

// CollectMetricsRequest asks for metrics.
type CollectMetricsRequest struct{}

// CollectMetricsResponse holds metrics in the Prometheus text format.
type CollectMetricsResponse struct {
	Text []byte
}

// Event is something that happened, published by the host or a plugin.
type Event struct {
	// ID is unique; consumers use it to drop duplicates. Publish fills it in
	// when empty.
	ID string
	// Type is dotted, for example "invoice.paid".
	Type string
	// Source is "host" or the publishing plugin's name; the host sets it.
	Source string
	// Subject is what the event is about, for example "invoice/42".
	Subject string
	// Time the event happened; Publish fills it in when zero.
	Time time.Time
	// Data is the payload as JSON.
	Data json.RawMessage
}

// HandleEventRequest delivers one event.
type HandleEventRequest struct {
	Event Event
}

// HandleEventResponse acknowledges an event.
type HandleEventResponse struct{}

// Principal is an authenticated caller on a plugin route.
type Principal struct {
	// Subject is the user's or API token's id.
	Subject string
	// Role is RoleViewer, RoleOperator or RoleAdmin.
	Role string
}

// Roles of the people and API tokens that use the host, from least to most
// privileged: a route open to a role is open to the roles above it. They
// are defined here only: the host's users, its API, and the "auth" of the
// routes a plugin declares in its manifest use these, and a plugin sees
// them in Principal.Role.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Roles lists every role, from least to most privileged.
var Roles = []string{RoleViewer, RoleOperator, RoleAdmin}

// HTTPRequest is a raw HTTP request as the host received it.
type HTTPRequest struct {
	Method string
	// Path as received, for example "/webhooks/payment-stripe".
	Path string
	// RawQuery without "?".
	RawQuery string
	Header   http.Header
	// Body exactly as received (up to the host's body limit). Verify
	// signatures over these bytes.
	Body       []byte
	RemoteAddr string
	Host       string
	ReceivedAt time.Time
	// RequestID is the host's id for the request, for correlating logs.
	RequestID string
	// Principal is the authenticated caller on routes that require
	// authentication; nil on webhooks and public routes.
	Principal *Principal
}

// HTTPResponse is written back to the client.
type HTTPResponse struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// HandleHTTPRequest is one request to a plugin route.
type HandleHTTPRequest struct {
	// Request is the request; its Path is relative to /plugins/{name}.
	Request HTTPRequest
	// Route is the manifest route pattern the request matched, for example
	// "/payments/{id}/confirm".
	Route string
	// PathParams are the values of the pattern's variables ({"id": "42"}).
	PathParams map[string]string
}

// HandleHTTPResponse is the answer to a plugin route request.
type HandleHTTPResponse struct {
	Response HTTPResponse
}
