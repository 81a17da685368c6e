package sdk

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// dialLazy serves gRPC health on a unix socket and dials it as go-plugin's
// broker does (a custom dialer that knows the address, target "unused",
// grpc.Dial) with lazyDial's options. dialed receives a value at each dial.
func dialLazy(t *testing.T, dialed chan<- struct{}) healthpb.HealthClient {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		dialed <- struct{}{}
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	opts := append([]grpc.DialOption{grpc.WithContextDialer(dialer), grpc.WithTransportCredentials(insecure.NewCredentials())},
		(&lazyDial{}).options()...)
	//nolint:staticcheck // grpc.Dial, as go-plugin dials its broker connections (it connects at once).
	conn, err := grpc.Dial("unused", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// TestLazyDialConnectsAtFirstCall: no connection until the first call, one
// for it, and the calls after it (a stream among them) reuse it.
func TestLazyDialConnectsAtFirstCall(t *testing.T) {
	dialed := make(chan struct{}, 16)
	client := dialLazy(t, dialed)

	// grpc.Dial connects at once; without lazyDial the dialer runs within
	// milliseconds.
	select {
	case <-dialed:
		t.Fatal("the connection was dialed before any call")
	case <-time.After(300 * time.Millisecond):
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("call through the lazy connection: %v", err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health status %v, want SERVING", resp.GetStatus())
		}
	}
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("stream through the lazy connection: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("stream through the lazy connection: %v", err)
	}
	if n := len(dialed); n != 1 {
		t.Errorf("dialed %d times for four calls, want once", n)
	}
}

// TestLazyDialStreamFirst: a stream as the first call starts the
// connection too.
func TestLazyDialStreamFirst(t *testing.T) {
	dialed := make(chan struct{}, 16)
	client := dialLazy(t, dialed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first call a stream: %v", err)
	}
	if n := len(dialed); n != 1 {
		t.Errorf("dialed %d times, want once", n)
	}
}
