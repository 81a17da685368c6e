// Package client is the host's side of the plugin protocol. The mikrobill host
// uses it, and so do the SDK's test harness and conformance kit.
//
// Start launches a plugin executable the way the host does (go-plugin over
// gRPC, one-time mutual TLS, a scrubbed environment, a private socket
// directory, a process group that dies with the host) and returns a Process.
// NewPlugin, NewPayment, NewRouter, NewNotifier and NewAudit turn any gRPC
// connection to a plugin into the same Go interfaces plugin authors
// implement; errors come back as the SDK's sentinel errors.
//
// Plugin authors do not need this package: they call sdk.Serve.
package client

import (
	"fmt"
	"strings"

	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
	"github.com/mikrobill/mikrobill/sdk/internal/wire"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// Plugin is the base client: every plugin answers these, and the optional
// ones answer sdk.ErrNotSupported when the plugin lacks the capability.
type Plugin interface {
	sdk.Plugin
	sdk.EventHandler
	sdk.HTTPHandler
}

// ProtocolVersions are the plugin protocol versions this host side speaks,
// newest first.
var ProtocolVersions = []int{wire.ProtocolVersion}

// HostBroker returns the go-plugin broker id on which the host serves the host
// service to the plugin process currently behind a connection (0 for none).
// Configure sends it to the plugin.
type HostBroker func() uint32

// NewPlugin returns the base client over cc.
func NewPlugin(cc grpc.ClientConnInterface, hostBroker HostBroker) Plugin {
	return registry.NewBaseClient(cc, hostBroker).(Plugin)
}

// NewKind returns the client of a plugin kind over cc: a payment.Gateway,
// router.Router, notify.Notifier or audit.Sink, or the base Plugin for
// "generic".
func NewKind(kind string, cc grpc.ClientConnInterface, hostBroker HostBroker) (any, error) {
	base := NewPlugin(cc, hostBroker)
	if kind == sdk.KindGeneric {
		return base, nil
	}
	k, ok := registry.LookupKind(kind)
	if !ok {
		return nil, fmt.Errorf("unknown plugin kind %q: this host knows %s", kind, strings.Join(sdk.Kinds, ", "))
	}
	return k.NewClient(cc, base), nil
}

// NewPayment returns a payment gateway client over cc.
func NewPayment(cc grpc.ClientConnInterface, hostBroker HostBroker) payment.Gateway {
	k, _ := NewKind(sdk.KindPayment, cc, hostBroker)
	return k.(payment.Gateway)
}

// NewRouter returns a router client over cc.
func NewRouter(cc grpc.ClientConnInterface, hostBroker HostBroker) router.Router {
	k, _ := NewKind(sdk.KindRouter, cc, hostBroker)
	return k.(router.Router)
}

// NewNotifier returns a notification client over cc.
func NewNotifier(cc grpc.ClientConnInterface, hostBroker HostBroker) notify.Notifier {
	k, _ := NewKind(sdk.KindNotify, cc, hostBroker)
	return k.(notify.Notifier)
}

// NewAudit returns an audit sink client over cc.
func NewAudit(cc grpc.ClientConnInterface, hostBroker HostBroker) audit.Sink {
	k, _ := NewKind(sdk.KindAudit, cc, hostBroker)
	return k.(audit.Sink)
}
