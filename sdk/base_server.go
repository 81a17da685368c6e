package sdk

import (
	"context"
	"fmt"
	"slices"
	"sync"

	plugin "github.com/hashicorp/go-plugin"

	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

// baseServer serves PluginService over an implementation. Every method has
// one shape: convert in, call, convert out. Errors are mapped to statuses by
// the server interceptor.
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
	if resp == nil {
		resp = &DescribeResponse{}
	}
	out := *resp
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
	return describeResponseToProto(&out), nil
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

// connectHost dials the host service the first time Configure names it (and
// again if the host names a different one).
func (s *baseServer) connectHost(id uint32) error {
	if id == 0 || s.broker == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hostBroker == id {
		return nil
	}
	conn, err := s.broker.Dial(id)
	if err != nil {
		return fmt.Errorf("%w: connect to the host service (broker id %d): %v", ErrUnavailable, id, err)
	}
	s.rt.host.set(conn)
	s.hostBroker = id
	return nil
}

func (s *baseServer) CheckHealth(ctx context.Context, _ *pluginv1.CheckHealthRequest) (*pluginv1.CheckHealthResponse, error) {
	resp, err := s.impl.CheckHealth(ctx, &CheckHealthRequest{})
	if err != nil {
		return nil, err
	}
	return checkHealthResponseToProto(resp)
}

func (s *baseServer) CollectMetrics(ctx context.Context, _ *pluginv1.CollectMetricsRequest) (*pluginv1.CollectMetricsResponse, error) {
	resp, err := s.impl.CollectMetrics(ctx, &CollectMetricsRequest{})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return &pluginv1.CollectMetricsResponse{}, nil
	}
	return &pluginv1.CollectMetricsResponse{PrometheusText: resp.Text}, nil
}

func (s *baseServer) HandleEvent(ctx context.Context, req *pluginv1.HandleEventRequest) (*pluginv1.HandleEventResponse, error) {
	h, ok := s.impl.(EventHandler)
	if !ok {
		return nil, fmt.Errorf("%w: the plugin does not handle events (implement sdk.EventHandler)", ErrNotSupported)
	}
	if _, err := h.HandleEvent(ctx, &HandleEventRequest{Event: eventFromProto(req.GetEvent())}); err != nil {
		return nil, err
	}
	return &pluginv1.HandleEventResponse{}, nil
}

func (s *baseServer) HandleHttp(ctx context.Context, req *pluginv1.HandleHttpRequest) (*pluginv1.HandleHttpResponse, error) {
	h, ok := s.impl.(HTTPHandler)
	if !ok {
		return nil, fmt.Errorf("%w: the plugin serves no HTTP routes (implement sdk.HTTPHandler)", ErrNotSupported)
	}
	resp, err := h.HandleHTTP(ctx, &HandleHTTPRequest{
		Request:    httpRequestFromProto(req.GetRequest()),
		Route:      req.GetRoute(),
		PathParams: req.GetPathParams(),
	})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		resp = &HandleHTTPResponse{Response: HTTPResponse{StatusCode: 204}}
	}
	return &pluginv1.HandleHttpResponse{Response: httpResponseToProto(resp.Response)}, nil
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
