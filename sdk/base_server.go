package sdk

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	plugin "github.com/hashicorp/go-plugin"

	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

// baseServer serves PluginService over an implementation. Every method has
// one shape: convert in, call, convert out. The server guard (unaryGuard)
// maps errors to statuses and answers a nil response with ErrInternal.
type baseServer struct {
	pluginv1.UnimplementedPluginServiceServer
	impl   Plugin
	kind   string
	caps   []string
	rt     *runtime
	broker *plugin.GRPCBroker

	mu         sync.Mutex
	hostBroker uint32
}

func (s *baseServer) Describe(ctx context.Context, req *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	resp, err := s.impl.Describe(ctx, describeRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return describeResponseToProto(s.complete(resp)), nil
}

// complete fills in what the SDK knows about the plugin: its kind when the
// implementation left it empty, the capabilities the SDK detected, and the
// SDK's version. nil stays nil.
func (s *baseServer) complete(resp *DescribeResponse) *DescribeResponse {
	if resp == nil {
		return nil
	}
	out := *resp
	out.Capabilities = slices.Clone(resp.Capabilities)
	if out.Kind == "" {
		out.Kind = s.kind
	}
	for _, c := range s.caps {
		if !slices.Contains(out.Capabilities, c) {
			out.Capabilities = append(out.Capabilities, c)
		}
	}
	slices.Sort(out.Capabilities)
	if out.SDKVersion == "" {
		out.SDKVersion = Version
	}
	return &out
}

func (s *baseServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	if err := s.connectHost(req.GetHostServiceBrokerId()); err != nil {
		return nil, err
	}
	resp, err := s.impl.Configure(ctx, configureRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return configureResponseToProto(resp), nil
}

// connectHost takes the connection to the host service the first time
// Configure names it (and again if the host names a different one). The
// connection is made at the plugin's first call to the host (lazyDial).
func (s *baseServer) connectHost(id uint32) error {
	if id == 0 || s.broker == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hostBroker == id {
		return nil
	}
	conn, err := s.broker.DialWithOptions(id, (&lazyDial{}).options()...)
	if err != nil {
		return fmt.Errorf("%w: connect to the host service (broker id %d): %v", ErrUnavailable, id, err)
	}
	s.rt.host.set(conn)
	s.hostBroker = id
	return nil
}

func (s *baseServer) CheckHealth(ctx context.Context, req *pluginv1.CheckHealthRequest) (*pluginv1.CheckHealthResponse, error) {
	resp, err := s.impl.CheckHealth(ctx, checkHealthRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return checkHealthResponseToProto(resp)
}

func (s *baseServer) CollectMetrics(ctx context.Context, req *pluginv1.CollectMetricsRequest) (*pluginv1.CollectMetricsResponse, error) {
	resp, err := s.impl.CollectMetrics(ctx, collectMetricsRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return collectMetricsResponseToProto(resp), nil
}

func (s *baseServer) HandleEvent(ctx context.Context, req *pluginv1.HandleEventRequest) (*pluginv1.HandleEventResponse, error) {
	h, ok := s.impl.(EventHandler)
	if !ok {
		return nil, fmt.Errorf("%w: the plugin does not handle events (implement sdk.EventHandler)", ErrNotSupported)
	}
	resp, err := h.HandleEvent(ctx, handleEventRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return handleEventResponseToProto(resp), nil
}

func (s *baseServer) HandleHttp(ctx context.Context, req *pluginv1.HandleHttpRequest) (*pluginv1.HandleHttpResponse, error) {
	h, ok := s.impl.(HTTPHandler)
	if !ok {
		return nil, fmt.Errorf("%w: the plugin serves no HTTP routes (implement sdk.HTTPHandler)", ErrNotSupported)
	}
	resp, err := h.HandleHTTP(ctx, handleHTTPRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	if resp == nil {
		// The one exception to the nil-response rule (see the package
		// doc): a route with nothing to say answers 204 No Content.
		resp = &HandleHTTPResponse{Response: HTTPResponse{StatusCode: http.StatusNoContent}}
	}
	return handleHTTPResponseToProto(resp), nil
}

// baseCapabilities lists the base optional capabilities impl implements.
func baseCapabilities(impl Plugin) []string {
	var caps []string
	if _, ok := impl.(EventHandler); ok {
		caps = append(caps, CapabilityEvents)
	}
	if _, ok := impl.(HTTPHandler); ok {
		caps = append(caps, CapabilityHTTP)
	}
	if _, ok := impl.(Shutdowner); ok {
		caps = append(caps, CapabilityShutdown)
	}
	return caps
}
