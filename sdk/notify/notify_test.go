package notify

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

// fakeNotifier implements the few methods the test calls; the embedded nil
// Notifier panics on any other.
type fakeNotifier struct {
	Notifier
	connected bool
	sent      map[string]*SendResponse
}

func (f *fakeNotifier) GetSession(_ context.Context, req *GetSessionRequest) (*GetSessionResponse, error) {
	if req.SessionID != "billing" {
		return nil, fmt.Errorf("session %q: %w", req.SessionID, ErrUnknownSession)
	}
	return &GetSessionResponse{Session: fullSession}, nil
}

func (f *fakeNotifier) Send(_ context.Context, req *SendRequest) (*SendResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if !f.connected {
		return nil, fmt.Errorf("session %q: %w; pair it from the plugin's page", req.SessionID, ErrSessionNotConnected)
	}
	if first, ok := f.sent[req.IdempotencyKey]; ok {
		dup := *first
		dup.Duplicate = true
		return &dup, nil
	}
	resp := &SendResponse{MessageID: fmt.Sprintf("msg-%d", len(f.sent)+1), Status: DeliveryStatusQueued, SessionID: "billing"}
	f.sent[req.IdempotencyKey] = resp
	return resp, nil
}

func (f *fakeNotifier) GetDeliveryStatus(_ context.Context, req *GetDeliveryStatusRequest) (*GetDeliveryStatusResponse, error) {
	return nil, fmt.Errorf("message %q: %w", req.MessageID, ErrUnknownMessage)
}

// Logout answers the empty response.
func (f *fakeNotifier) Logout(context.Context, *LogoutRequest) (*LogoutResponse, error) {
	return &LogoutResponse{}, nil
}

// stubPlugin is the base client the kind client embeds.
type stubPlugin struct{ sdk.Base }

func (*stubPlugin) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "stub"}, nil
}

// serveNotifier serves impl over an in-memory gRPC connection, with the
// error mapping the SDK's interceptor does, and returns the host's client.
func serveNotifier(t *testing.T, impl Notifier) Notifier {
	t.Helper()
	kind, ok := registry.LookupKind(sdk.KindNotify)
	if !ok {
		t.Fatal("kind notify is not registered")
	}
	if !kind.Implements(impl) {
		t.Fatalf("%T does not implement Notifier", impl)
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
	return kind.NewClient(conn, &stubPlugin{}).(Notifier)
}

func TestServeOverGRPC(t *testing.T) {
	ctx := context.Background()
	fake := &fakeNotifier{connected: true, sent: map[string]*SendResponse{}}
	n := serveNotifier(t, fake)

	desc, err := n.Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || desc.Name != "stub" {
		t.Fatalf("Describe = %+v, %v; want the base plugin's answer", desc, err)
	}

	sess, err := n.GetSession(ctx, &GetSessionRequest{SessionID: "billing"})
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if diff := cmp.Diff(&GetSessionResponse{Session: fullSession}, sess); diff != "" {
		t.Errorf("GetSession (-want +got):\n%s", diff)
	}

	req := &SendRequest{To: "+6281234567890", Text: "Invoice 42 is due.", Attachments: []Attachment{fullAttachment}, IdempotencyKey: "invoice-42-1"}
	first, err := n.Send(ctx, req)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := &SendResponse{MessageID: "msg-1", Status: DeliveryStatusQueued, SessionID: "billing"}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("Send (-want +got):\n%s", diff)
	}
	again, err := n.Send(ctx, req)
	if err != nil {
		t.Fatalf("Send again: %v", err)
	}
	want.Duplicate = true
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("Send again (-want +got):\n%s", diff)
	}

	out, err := n.Logout(ctx, &LogoutRequest{SessionID: "billing"})
	if err != nil || out == nil {
		t.Fatalf("Logout = %v, %v; want an empty response", out, err)
	}
}

func TestServeOverGRPCErrors(t *testing.T) {
	ctx := context.Background()
	n := serveNotifier(t, &fakeNotifier{sent: map[string]*SendResponse{}})

	tests := []struct {
		name    string
		call    func() error
		want    []error
		notWant []error
		msg     string
	}{
		{
			name: "not connected",
			call: func() error {
				_, err := n.Send(ctx, &SendRequest{SessionID: "billing", To: "+6281234567890", Text: "hi", IdempotencyKey: "k"})
				return err
			},
			want: []error{ErrSessionNotConnected, sdk.ErrFailedPrecondition},
			msg:  "pair it from the plugin's page",
		},
		{
			name: "invalid recipient",
			call: func() error {
				_, err := n.Send(ctx, &SendRequest{To: "0812345678", Text: "hi", IdempotencyKey: "k"})
				return err
			},
			want: []error{ErrInvalidRecipient, sdk.ErrInvalidArgument},
			msg:  "is a local number",
		},
		{
			name: "unknown session",
			call: func() error {
				_, err := n.GetSession(ctx, &GetSessionRequest{SessionID: "sales"})
				return err
			},
			want:    []error{ErrUnknownSession, sdk.ErrNotFound},
			notWant: []error{ErrUnknownMessage},
			msg:     `session "sales"`,
		},
		{
			name: "unknown message",
			call: func() error {
				_, err := n.GetDeliveryStatus(ctx, &GetDeliveryStatusRequest{MessageID: "msg-9"})
				return err
			},
			want:    []error{ErrUnknownMessage, sdk.ErrNotFound},
			notWant: []error{ErrUnknownSession},
			msg:     `message "msg-9"`,
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
