package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// fakeRouter implements the few methods the test calls; the embedded nil
// Router panics on any other.
type fakeRouter struct {
	Router
	users map[string]User
}

func (f *fakeRouter) ListLocations(context.Context, *ListLocationsRequest) (*ListLocationsResponse, error) {
	return &ListLocationsResponse{Locations: []Location{fullLocation}}, nil
}

func (f *fakeRouter) GetResources(_ context.Context, req *GetResourcesRequest) (*GetResourcesResponse, error) {
	switch req.Location {
	case "main":
		return &GetResourcesResponse{Resources: Resources{Location: "main", CPULoad: 12}}, nil
	case "branch-2":
		return nil, fmt.Errorf("connect to branch-2 (10.2.0.1:8728): %w", ErrRouterUnreachable)
	default:
		return nil, fmt.Errorf("location %q: %w", req.Location, ErrUnknownLocation)
	}
}

func (f *fakeRouter) UpsertUser(_ context.Context, req *UpsertUserRequest) (*UpsertUserResponse, error) {
	u := req.User
	u.Password = ""
	u.Managed = true
	f.users[u.Name] = u
	return &UpsertUserResponse{User: u, Changed: true, Created: true}, nil
}

func (f *fakeRouter) GetUser(_ context.Context, req *GetUserRequest) (*GetUserResponse, error) {
	u, ok := f.users[req.User.Name]
	if !ok {
		return nil, fmt.Errorf("user %q: %w", req.User.Name, sdk.ErrNotFound)
	}
	return &GetUserResponse{User: u}, nil
}

func (f *fakeRouter) DisableUser(_ context.Context, req *DisableUserRequest) (*DisableUserResponse, error) {
	u, ok := f.users[req.User.Name]
	if !ok || !u.Managed {
		return nil, fmt.Errorf("disable user %q: %w", req.User.Name, ErrNotManaged)
	}
	return &DisableUserResponse{Changed: true}, nil
}

// DisconnectSession finds nothing to end: an empty response.
func (f *fakeRouter) DisconnectSession(context.Context, *DisconnectSessionRequest) (*DisconnectSessionResponse, error) {
	return &DisconnectSessionResponse{}, nil
}

// stubPlugin is the base client the kind client embeds.
type stubPlugin struct{ sdk.Base }

func (*stubPlugin) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "stub"}, nil
}

// serveRouter serves impl over an in-memory gRPC connection, with the
// error mapping the SDK's interceptor does, and returns the host's client.
func serveRouter(t *testing.T, impl Router) Router {
	t.Helper()
	kind, ok := registry.LookupKind(sdk.KindRouter)
	if !ok {
		t.Fatal("kind router is not registered")
	}
	if !kind.Implements(impl) {
		t.Fatalf("%T does not implement Router", impl)
	}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		return resp, rpcerr.ToStatus(err)
	}))
	kind.RegisterServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return kind.NewClient(conn, &stubPlugin{}).(Router)
}

func TestServeOverGRPC(t *testing.T) {
	ctx := context.Background()
	r := serveRouter(t, &fakeRouter{users: map[string]User{"walk-in": {Kind: KindHotspot, Name: "walk-in"}}})

	desc, err := r.Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || desc.Name != "stub" {
		t.Fatalf("Describe = %+v, %v; want the base plugin's answer", desc, err)
	}

	locs, err := r.ListLocations(ctx, &ListLocationsRequest{})
	if err != nil {
		t.Fatalf("ListLocations: %v", err)
	}
	if diff := cmp.Diff(&ListLocationsResponse{Locations: []Location{fullLocation}}, locs); diff != "" {
		t.Errorf("ListLocations (-want +got):\n%s", diff)
	}

	up, err := r.UpsertUser(ctx, &UpsertUserRequest{Location: "main", User: fullUser})
	if err != nil {
		t.Fatalf("UpsertUser: %v", err)
	}
	want := fullUser
	want.Password = ""
	if diff := cmp.Diff(&UpsertUserResponse{User: want, Changed: true, Created: true}, up); diff != "" {
		t.Errorf("UpsertUser (-want +got):\n%s", diff)
	}

	got, err := r.GetUser(ctx, &GetUserRequest{User: UserRef{Location: "main", Kind: KindPPP, Name: fullUser.Name}})
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if diff := cmp.Diff(&GetUserResponse{User: want}, got); diff != "" {
		t.Errorf("GetUser (-want +got):\n%s", diff)
	}

	dis, err := r.DisconnectSession(ctx, &DisconnectSessionRequest{Location: "main", User: "nobody"})
	if err != nil {
		t.Fatalf("DisconnectSession: %v", err)
	}
	if diff := cmp.Diff(&DisconnectSessionResponse{}, dis); diff != "" {
		t.Errorf("DisconnectSession (-want +got):\n%s", diff)
	}
}

func TestServeOverGRPCErrors(t *testing.T) {
	ctx := context.Background()
	r := serveRouter(t, &fakeRouter{users: map[string]User{"walk-in": {Kind: KindHotspot, Name: "walk-in"}}})

	tests := []struct {
		name    string
		call    func() error
		want    []error
		notWant []error
		msg     string
	}{
		{
			name: "not managed",
			call: func() error {
				_, err := r.DisableUser(ctx, &DisableUserRequest{User: UserRef{Location: "main", Kind: KindHotspot, Name: "walk-in"}})
				return err
			},
			want: []error{ErrNotManaged, sdk.ErrPermissionDenied},
			msg:  `disable user "walk-in"`,
		},
		{
			name: "unknown location",
			call: func() error {
				_, err := r.GetResources(ctx, &GetResourcesRequest{Location: "mars"})
				return err
			},
			want:    []error{ErrUnknownLocation, sdk.ErrNotFound},
			notWant: []error{ErrNotManaged},
			msg:     `location "mars"`,
		},
		{
			name: "router unreachable is not the plugin",
			call: func() error {
				_, err := r.GetResources(ctx, &GetResourcesRequest{Location: "branch-2"})
				return err
			},
			want:    []error{ErrRouterUnreachable, sdk.ErrUnavailable},
			notWant: []error{sdk.ErrPluginUnavailable},
			msg:     "connect to branch-2",
		},
		{
			name: "plain not found",
			call: func() error {
				_, err := r.GetUser(ctx, &GetUserRequest{User: UserRef{Location: "main", Name: "ghost"}})
				return err
			},
			want:    []error{sdk.ErrNotFound},
			notWant: []error{ErrUnknownLocation},
			msg:     `user "ghost"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("got nil error")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(%v, %v) = false, want true", err, w)
				}
			}
			for _, w := range tt.notWant {
				if errors.Is(err, w) {
					t.Errorf("errors.Is(%v, %v) = true, want false", err, w)
				}
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not keep the plugin's message %q", err, tt.msg)
			}
		})
	}
}
