package sdk

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
)

// lazyDial holds a gRPC connection back until its first call: the plugin's
// connection to the host service is dialed when the plugin first uses a
// host service, not when Configure names it. A plugin that never calls the
// host (most gateways until their first payment) then costs neither side a
// TLS handshake or an HTTP/2 connection while every plugin starts.
//
// It is the connection's resolver: go-plugin dials its broker connections
// through a custom dialer that already knows the address, under a target
// of the default "passthrough" scheme, so this resolver answers that scheme
// and gives gRPC the target as its one address once a call starts (its
// interceptors). Until then gRPC has no address and makes no connection.
type lazyDial struct {
	mu      sync.Mutex
	started bool
	cc      resolver.ClientConn // of the latest Build; gRPC builds again after idling
	target  resolver.Target
}

// options are the dial options that make a connection lazy.
func (l *lazyDial) options() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithResolvers(l),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			l.start()
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			l.start()
			return streamer(ctx, desc, cc, method, opts...)
		}),
	}
}

// Build is resolver.Builder's: it keeps the connection to give the address
// to at the first call, or gives it at once when a call has started (gRPC
// builds the resolver again when the connection leaves idle).
func (l *lazyDial) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cc, l.target = cc, target
	if l.started {
		l.update()
	}
	return l, nil
}

// Scheme is the scheme go-plugin's broker connections are dialed with.
func (l *lazyDial) Scheme() string { return "passthrough" }

// ResolveNow is resolver.Resolver's: the address never changes.
func (l *lazyDial) ResolveNow(resolver.ResolveNowOptions) {}

// Close is resolver.Resolver's: there is nothing to stop.
func (l *lazyDial) Close() {}

// start gives gRPC the address, once.
func (l *lazyDial) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return
	}
	l.started = true
	if l.cc != nil {
		l.update()
	}
}

// update tells gRPC the target's address (as passthrough would); l.mu is
// held.
func (l *lazyDial) update() {
	_ = l.cc.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: l.target.Endpoint()}}})
}
