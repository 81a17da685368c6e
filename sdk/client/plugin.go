package client

import (
	"context"
	"errors"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
	"github.com/mikrobill/mikrobill/sdk/internal/wire"
)

// Conn is a connection to one plugin process, as go-plugin dispenses it.
type Conn struct {
	cc         *grpc.ClientConn
	hostBroker uint32
}

// ClientConn returns the gRPC connection to the plugin.
func (c *Conn) ClientConn() *grpc.ClientConn { return c.cc }

// HostBrokerID returns the broker id of the host service offered to this
// process, 0 when none is offered.
func (c *Conn) HostBrokerID() uint32 { return c.hostBroker }

// VersionedPlugins returns the go-plugin plugin sets for one launch. host,
// when not nil, is served to the plugin over the go-plugin broker.
func VersionedPlugins(host sdk.Host) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		wire.ProtocolVersion: {wire.PluginName: &hostPlugin{host: host}},
	}
}

// Dispense returns the Conn of a started go-plugin client.
func Dispense(cp plugin.ClientProtocol) (*Conn, error) {
	raw, err := cp.Dispense(wire.PluginName)
	if err != nil {
		return nil, err
	}
	conn, ok := raw.(*Conn)
	if !ok {
		return nil, errors.New("the plugin was dispensed by something other than mikrobill's client package")
	}
	return conn, nil
}

// hostPlugin is the go-plugin plugin on the host's side.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	host sdk.Host
}

func (p *hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host side of the SDK cannot serve a plugin; plugins call sdk.Serve")
}

func (p *hostPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	conn := &Conn{cc: cc}
	if p.host != nil {
		id := broker.NextId()
		go broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(append(opts, wire.ServerOptions()...)...)
			registry.RegisterHostServer(s, p.host)
			return s
		})
		conn.hostBroker = id
	}
	return conn, nil
}
