package sdk

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	"github.com/mikrobill/mikrobill/sdk/internal/convtest"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

var (
	t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

	fullEvent = Event{
		ID:      "evt-1",
		Type:    "invoice.paid",
		Source:  "host",
		Subject: "invoice/42",
		Time:    t0,
		Data:    json.RawMessage(`{"invoice":42}`),
	}
	fullHTTPRequest = HTTPRequest{
		Method:     http.MethodPost,
		Path:       "/payments/42/confirm",
		RawQuery:   "a=1&b=2",
		Header:     http.Header{"Content-Type": {"application/json"}, "X-Signature": {"sha256=ab", "sha256=cd"}},
		Body:       []byte(`{"order_id":"INV-2026-0042"}`),
		RemoteAddr: "203.0.113.7:41234",
		Host:       "billing.example.com",
		ReceivedAt: t0,
		RequestID:  "req-01",
		Principal:  &Principal{Subject: "user-7", Role: "operator"},
	}
	fullHTTPResponse = HTTPResponse{
		StatusCode: http.StatusCreated,
		Header:     http.Header{"Content-Type": {"text/plain"}, "X-Echo": {"one", "two"}},
		Body:       []byte("created"),
	}
)

// withoutBroker drops the host service's broker id, which ConfigureRequest
// does not carry.
func withoutBroker(r *ConfigureRequest) *pluginv1.ConfigureRequest {
	return configureRequestToProto(r, 0)
}

// mustHealth converts a health response whose details JSON can represent.
func mustHealth(t *testing.T) func(*CheckHealthResponse) *pluginv1.CheckHealthResponse {
	return func(r *CheckHealthResponse) *pluginv1.CheckHealthResponse {
		p, err := checkHealthResponseToProto(r)
		if err != nil {
			t.Fatalf("checkHealthResponseToProto: %v", err)
		}
		return p
	}
}

func TestConvertRoundTrip(t *testing.T) {
	convtest.Run(t,
		convtest.RoundTrip("DescribeRequest", &DescribeRequest{HostVersion: "1.4.0"}, true, describeRequestToProto, describeRequestFromProto),
		convtest.RoundTrip("DescribeResponse", &DescribeResponse{
			Name:         "payment-acme",
			Version:      "1.2.0",
			Kind:         KindPayment,
			Capabilities: []string{CapabilityHTTP, "refund"},
			SDKVersion:   "0.1.0",
			Description:  "Acme Pay",
		}, true, describeResponseToProto, describeResponseFromProto),
		convtest.RoundTrip("ConfigureRequest", &ConfigureRequest{
			Settings:    json.RawMessage(`{"server_key":"secret"}`),
			Environment: "production",
			HostVersion: "1.4.0",
			DataDir:     "/var/lib/mikrobill/plugins/payment-acme",
		}, true, withoutBroker, configureRequestFromProto),
		convtest.RoundTrip("ConfigureResponse", &ConfigureResponse{Warnings: []string{"sandbox mode"}}, true, configureResponseToProto, configureResponseFromProto),
		convtest.RoundTrip("CheckHealthRequest", &CheckHealthRequest{}, true, checkHealthRequestToProto, checkHealthRequestFromProto),
		convtest.RoundTrip("CheckHealthResponse", &CheckHealthResponse{
			Status:  HealthDegraded,
			Message: "one of two routers is unreachable",
			Details: map[string]any{"reachable": 1.0, "routers": []any{"main", "branch-2"}},
		}, true, mustHealth(t), checkHealthResponseFromProto),
		convtest.RoundTrip("CollectMetricsRequest", &CollectMetricsRequest{}, true, collectMetricsRequestToProto, collectMetricsRequestFromProto),
		convtest.RoundTrip("CollectMetricsResponse", &CollectMetricsResponse{Text: []byte("acme_calls_total 3\n")}, true, collectMetricsResponseToProto, collectMetricsResponseFromProto),
		convtest.RoundTrip("HandleEventRequest", &HandleEventRequest{Event: fullEvent}, true, handleEventRequestToProto, handleEventRequestFromProto),
		convtest.RoundTrip("HandleEventResponse", &HandleEventResponse{}, true, handleEventResponseToProto, handleEventResponseFromProto),
		convtest.RoundTrip("HTTPRequest", fullHTTPRequest, true, httpRequestToProto, httpRequestFromProto),
		convtest.RoundTrip("HTTPResponse", fullHTTPResponse, true, httpResponseToProto, httpResponseFromProto),
		convtest.RoundTrip("HandleHTTPRequest", &HandleHTTPRequest{
			Request:    fullHTTPRequest,
			Route:      "/payments/{id}/confirm",
			PathParams: map[string]string{"id": "42"},
		}, true, handleHTTPRequestToProto, handleHTTPRequestFromProto),
		convtest.RoundTrip("HandleHTTPResponse", &HandleHTTPResponse{Response: fullHTTPResponse}, true, handleHTTPResponseToProto, handleHTTPResponseFromProto),

		// Zero values survive too (nil sub-messages, nil slices and maps).
		convtest.RoundTrip("zero/DescribeResponse", &DescribeResponse{}, false, describeResponseToProto, describeResponseFromProto),
		convtest.RoundTrip("zero/CheckHealthResponse", &CheckHealthResponse{Status: HealthError}, false, mustHealth(t), checkHealthResponseFromProto),
		convtest.RoundTrip("zero/HTTPRequest", HTTPRequest{}, false, httpRequestToProto, httpRequestFromProto),
		convtest.RoundTrip("zero/HTTPResponse", HTTPResponse{}, false, httpResponseToProto, httpResponseFromProto),
		convtest.RoundTrip("zero/HandleEventRequest", &HandleEventRequest{}, false, handleEventRequestToProto, handleEventRequestFromProto),
	)
}

func TestConvertNil(t *testing.T) {
	// A nil response converts to nil, which the server guard answers with
	// ErrInternal.
	health, err := checkHealthResponseToProto(nil)
	if err != nil {
		t.Fatalf("checkHealthResponseToProto(nil): %v", err)
	}
	convtest.AssertNilMessages(t, map[string]proto.Message{
		"describeResponseToProto":       describeResponseToProto(nil),
		"configureResponseToProto":      configureResponseToProto(nil),
		"checkHealthResponseToProto":    health,
		"collectMetricsResponseToProto": collectMetricsResponseToProto(nil),
		"handleEventResponseToProto":    handleEventResponseToProto(nil),
		"handleHTTPResponseToProto":     handleHTTPResponseToProto(nil),
	})
}

func TestHealthStatusRoundTrip(t *testing.T) {
	for _, s := range []HealthStatus{HealthOK, HealthDegraded, HealthError} {
		if got := healthStatusFromProto(healthStatusToProto(s)); got != s {
			t.Errorf("health status %q came back as %q", s, got)
		}
	}
	// A status the protocol does not know is sent as unspecified and read
	// back as an error: a plugin must say it is well.
	if got := healthStatusFromProto(healthStatusToProto("fine")); got != HealthError {
		t.Errorf("unknown health status came back as %q, want %q", got, HealthError)
	}
}

func TestCheckHealthDetailsJSONCannotHold(t *testing.T) {
	if _, err := checkHealthResponseToProto(&CheckHealthResponse{Status: HealthOK, Details: map[string]any{"ch": make(chan int)}}); err == nil {
		t.Error("checkHealthResponseToProto with a channel in Details: want an error")
	}
}

// The kind packages convert HTTP requests and responses with the pair this
// package installs (payment's webhooks).
func TestHTTPPairInstalled(t *testing.T) {
	pair := convert.HTTP[HTTPRequest, HTTPResponse]()
	convtest.Run(t,
		convtest.RoundTrip("HTTPRequest", fullHTTPRequest, true, pair.RequestToProto, pair.RequestFromProto),
		convtest.RoundTrip("HTTPResponse", fullHTTPResponse, true, pair.ResponseToProto, pair.ResponseFromProto),
	)
}

// TestHTTPRequestNotUTF8: HTTP lets a client put bytes that are not UTF-8
// in header values, the path and the query; gRPC refuses to send such a
// string ("string field contains invalid UTF-8"), which failed the whole
// webhook call (found by payment-manual's FuzzHandleWebhook, seed
// 850af31874f21696). The request reaches the plugin with U+FFFD in their
// place; text that is UTF-8 arrives as it was.
func TestHTTPRequestNotUTF8(t *testing.T) {
	in := HTTPRequest{
		Method: "POST", Path: "/webhooks/payment-manual/\x90", RawQuery: "a=\xff", Host: "h\xc3",
		Header: http.Header{"X-Mikrobill-Signature": {"\x90"}, "X-Name\xfe": {"é ok"}},
		Body:   []byte("\x90 bodies are bytes"),
	}
	msg := httpRequestToProto(in)
	if _, err := proto.Marshal(msg); err != nil {
		t.Fatalf("the request does not go over gRPC: %v", err)
	}
	handle := handleHTTPRequestToProto(&HandleHTTPRequest{Request: in, Route: "/payments/{id}", PathParams: map[string]string{"id": "\x90"}})
	if _, err := proto.Marshal(handle); err != nil || handle.PathParams["id"] != "\uFFFD" {
		t.Fatalf("a plugin route's request: %v, path parameters %q", err, handle.PathParams)
	}
	got := httpRequestFromProto(msg)
	want := HTTPRequest{
		Method: "POST", Path: "/webhooks/payment-manual/\uFFFD", RawQuery: "a=\uFFFD", Host: "h\uFFFD",
		Header: http.Header{"X-Mikrobill-Signature": {"\uFFFD"}, "X-Name\uFFFD": {"é ok"}},
		Body:   in.Body,
	}
	if got.Method != want.Method || got.Path != want.Path || got.RawQuery != want.RawQuery || got.Host != want.Host ||
		string(got.Body) != string(want.Body) || got.Header.Get("X-Mikrobill-Signature") != "\uFFFD" || got.Header.Get("X-Name\uFFFD") != "é ok" {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
