package sdk

import (
	"context"

	"google.golang.org/grpc"

	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// baseClient is the host's side of PluginService: the same Go interface the
// author implements, over gRPC.
type baseClient struct {
	c pluginv1.PluginServiceClient
	// hostBroker returns the broker id of the host service for the plugin
	// process currently behind c (zero for none).
	hostBroker func() uint32
}

var (
	_ Plugin       = (*baseClient)(nil)
	_ EventHandler = (*baseClient)(nil)
	_ HTTPHandler  = (*baseClient)(nil)
)

func init() {
	registry.NewBaseClient = func(cc grpc.ClientConnInterface, hostBroker func() uint32) any {
		if hostBroker == nil {
			hostBroker = func() uint32 { return 0 }
		}
		return &baseClient{c: pluginv1.NewPluginServiceClient(cc), hostBroker: hostBroker}
	}
}

func (c *baseClient) Describe(ctx context.Context, req *DescribeRequest) (*DescribeResponse, error) {
	resp, err := c.c.Describe(ctx, describeRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return describeResponseFromProto(resp), nil
}

func (c *baseClient) Configure(ctx context.Context, req *ConfigureRequest) (*ConfigureResponse, error) {
	resp, err := c.c.Configure(ctx, configureRequestToProto(req, c.hostBroker()))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return configureResponseFromProto(resp), nil
}

func (c *baseClient) CheckHealth(ctx context.Context, req *CheckHealthRequest) (*CheckHealthResponse, error) {
	resp, err := c.c.CheckHealth(ctx, checkHealthRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return checkHealthResponseFromProto(resp), nil
}

func (c *baseClient) CollectMetrics(ctx context.Context, req *CollectMetricsRequest) (*CollectMetricsResponse, error) {
	resp, err := c.c.CollectMetrics(ctx, collectMetricsRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return collectMetricsResponseFromProto(resp), nil
}

func (c *baseClient) HandleEvent(ctx context.Context, req *HandleEventRequest) (*HandleEventResponse, error) {
	resp, err := c.c.HandleEvent(ctx, handleEventRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return handleEventResponseFromProto(resp), nil
}

func (c *baseClient) HandleHTTP(ctx context.Context, req *HandleHTTPRequest) (*HandleHTTPResponse, error) {
	resp, err := c.c.HandleHttp(ctx, handleHTTPRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return handleHTTPResponseFromProto(resp), nil
}
