package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
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

// memorySink is a small in-memory Sink that chains events with ChainHash.
type memorySink struct {
	stubPlugin
	events []Event
	broken bool
}

var _ Sink = (*memorySink)(nil)

func (s *memorySink) head() string {
	if len(s.events) == 0 {
		return ""
	}
	return s.events[len(s.events)-1].Hash
}

func (s *memorySink) Append(_ context.Context, req *AppendRequest) (*AppendResponse, error) {
	if s.broken {
		return nil, fmt.Errorf("append after sequence %d: %w", len(s.events), ErrChainBroken)
	}
	for i := range req.Events {
		if err := req.Events[i].Validate(); err != nil {
			return nil, err
		}
	}
	resp := &AppendResponse{}
	for _, e := range req.Events {
		if s.seen(e.ID) {
			resp.Duplicates++
			continue
		}
		e.Sequence = uint64(len(s.events) + 1)
		e.PrevHash = s.head()
		e.Hash = ChainHash(e.PrevHash, e)
		s.events = append(s.events, e)
		resp.Appended++
	}
	resp.LastSequence = uint64(len(s.events))
	resp.HeadHash = s.head()
	return resp, nil
}

func (s *memorySink) seen(id string) bool {
	for _, e := range s.events {
		if e.ID == id {
			return true
		}
	}
	return false
}

// Query pages by sequence; the token is the index of the next event.
func (s *memorySink) Query(_ context.Context, req *QueryRequest) (*QueryResponse, error) {
	start := 0
	if req.PageToken != "" {
		n, err := strconv.Atoi(req.PageToken)
		if err != nil || n < 0 || n > len(s.events) {
			return nil, fmt.Errorf("page token %q: %w", req.PageToken, ErrInvalidPageToken)
		}
		start = n
	}
	var out QueryResponse
	for i := start; i < len(s.events); i++ {
		if req.PageSize > 0 && len(out.Events) == req.PageSize {
			out.NextPageToken = strconv.Itoa(i)
			break
		}
		if req.Actor == "" || s.events[i].Actor == req.Actor {
			out.Events = append(out.Events, s.events[i])
		}
	}
	return &out, nil
}

func (s *memorySink) Verify(context.Context, *VerifyRequest) (*VerifyResponse, error) {
	prev := ""
	for i, e := range s.events {
		if e.PrevHash != prev || ChainHash(prev, e) != e.Hash {
			return &VerifyResponse{Checked: uint64(i + 1), FirstBadSequence: e.Sequence, Message: "hash does not match", HeadHash: s.head()}, nil
		}
		prev = e.Hash
	}
	return &VerifyResponse{OK: true, Checked: uint64(len(s.events)), HeadHash: s.head()}, nil
}

// stubPlugin is the base client the kind client embeds, and the base of
// memorySink.
type stubPlugin struct{ sdk.Base }

func (*stubPlugin) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "stub"}, nil
}

func kindAudit(t *testing.T) registry.Kind {
	t.Helper()
	kind, ok := registry.LookupKind(sdk.KindAudit)
	if !ok {
		t.Fatal("kind audit is not registered")
	}
	return kind
}

// serveSink serves impl over an in-memory gRPC connection, with the error
// mapping the SDK's interceptor does, and returns the host's client.
func serveSink(t *testing.T, impl Sink) Sink {
	t.Helper()
	kind := kindAudit(t)
	if !kind.Implements(impl) {
		t.Fatalf("%T does not implement Sink", impl)
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
	return kind.NewClient(conn, &stubPlugin{}).(Sink)
}

func TestServeOverGRPC(t *testing.T) {
	ctx := context.Background()
	sink := &memorySink{}
	s := serveSink(t, sink)

	desc, err := s.Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || desc.Name != "stub" {
		t.Fatalf("Describe = %+v, %v; want the base plugin's answer", desc, err)
	}

	first := fullEvent
	first.Sequence, first.Hash, first.PrevHash = 0, "", ""
	second := Event{ID: "evt-2", Actor: "system", Action: "plugin.restart"}
	app, err := s.Append(ctx, &AppendRequest{Events: []Event{first, second, first}})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if diff := cmp.Diff(&AppendResponse{Appended: 2, Duplicates: 1, LastSequence: 2, HeadHash: goldenSecond}, app); diff != "" {
		t.Errorf("Append (-want +got):\n%s", diff)
	}

	page, err := s.Query(ctx, &QueryRequest{PageSize: 1})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	wantFirst := first
	wantFirst.Sequence, wantFirst.Hash = 1, goldenFirst
	if diff := cmp.Diff(&QueryResponse{Events: []Event{wantFirst}, NextPageToken: "1"}, page); diff != "" {
		t.Errorf("Query (-want +got):\n%s", diff)
	}

	ver, err := s.Verify(ctx, &VerifyRequest{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(&VerifyResponse{OK: true, Checked: 2, HeadHash: goldenSecond}, ver); diff != "" {
		t.Errorf("Verify (-want +got):\n%s", diff)
	}

	sink.events[0].Actor = "someone-else"
	ver, err = s.Verify(ctx, &VerifyRequest{})
	if err != nil {
		t.Fatalf("Verify after tampering: %v", err)
	}
	if ver.OK || ver.FirstBadSequence != 1 {
		t.Errorf("Verify after tampering = %+v, want OK false at sequence 1", ver)
	}
}

func TestServeOverGRPCErrors(t *testing.T) {
	ctx := context.Background()
	sink := &memorySink{}
	s := serveSink(t, sink)

	tests := []struct {
		name    string
		call    func() error
		want    []error
		notWant []error
		msg     string
	}{
		{
			name: "invalid event",
			call: func() error {
				_, err := s.Append(ctx, &AppendRequest{Events: []Event{{ID: "e", Action: "x"}}})
				return err
			},
			want:    []error{sdk.ErrInvalidArgument},
			notWant: []error{ErrInvalidPageToken},
			msg:     "actor is required",
		},
		{
			name: "invalid page token",
			call: func() error {
				_, err := s.Query(ctx, &QueryRequest{PageToken: "garbage"})
				return err
			},
			want: []error{ErrInvalidPageToken, sdk.ErrInvalidArgument},
			msg:  `page token "garbage"`,
		},
		{
			name: "chain broken",
			call: func() error {
				sink.broken = true
				defer func() { sink.broken = false }()
				_, err := s.Append(ctx, &AppendRequest{Events: []Event{{ID: "e", Actor: "system", Action: "x"}}})
				return err
			},
			want: []error{ErrChainBroken, sdk.ErrFailedPrecondition},
			msg:  "append after sequence",
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
