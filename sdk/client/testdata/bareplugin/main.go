// Command bareplugin serves the same PluginService as benchplugin with plain
// go-plugin and its defaults (AutoMTLS when the host asks for it, default
// gRPC server): the baseline of the call and launch benchmarks.
package main

import (
	"context"
	"errors"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/wire"
)

type server struct {
	pluginv1.UnimplementedPluginServiceServer
}

func (server) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	return &pluginv1.DescribeResponse{Name: "bareplugin", Version: "1.0.0", Kind: "generic"}, nil
}

func (server) HandleHttp(_ context.Context, req *pluginv1.HandleHttpRequest) (*pluginv1.HandleHttpResponse, error) {
	return &pluginv1.HandleHttpResponse{Response: &pluginv1.HttpResponse{StatusCode: 200, Body: req.GetRequest().GetBody()}}, nil
}

type grpcPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServiceServer(s, server{})
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server side only")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{"bare": grpcPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
