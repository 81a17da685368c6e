package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// sentinels are package sdk's sentinel errors by name.
var sentinels = []struct {
	name string
	err  error
	code codes.Code
}{
	{"ErrNotFound", sdk.ErrNotFound, codes.NotFound},
	{"ErrInvalidArgument", sdk.ErrInvalidArgument, codes.InvalidArgument},
	{"ErrAlreadyExists", sdk.ErrAlreadyExists, codes.AlreadyExists},
	{"ErrUnauthenticated", sdk.ErrUnauthenticated, codes.Unauthenticated},
	{"ErrPermissionDenied", sdk.ErrPermissionDenied, codes.PermissionDenied},
	{"ErrFailedPrecondition", sdk.ErrFailedPrecondition, codes.FailedPrecondition},
	{"ErrConflict", sdk.ErrConflict, codes.Aborted},
	{"ErrRateLimited", sdk.ErrRateLimited, codes.ResourceExhausted},
	{"ErrNotSupported", sdk.ErrNotSupported, codes.Unimplemented},
	{"ErrUnavailable", sdk.ErrUnavailable, codes.Unavailable},
	{"ErrPluginUnavailable", sdk.ErrPluginUnavailable, codes.Unavailable},
	{"ErrDeadlineExceeded", sdk.ErrDeadlineExceeded, codes.DeadlineExceeded},
	{"ErrCanceled", sdk.ErrCanceled, codes.Canceled},
	{"ErrInternal", sdk.ErrInternal, codes.Internal},
}

// overTheWire sends err from a plugin method to the host, as the SDK does.
func overTheWire(err error) error {
	st := status.Convert(rpcerr.ToStatus(err))
	return rpcerr.FromStatus(status.FromProto(st.Proto()).Err())
}

// matching lists the names of the sdk sentinels err matches.
func matching(err error) []string {
	var names []string
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			names = append(names, s.name)
		}
	}
	return names
}

func TestSentinelsRoundTrip(t *testing.T) {
	for _, s := range sentinels {
		t.Run(s.name, func(t *testing.T) {
			in := fmt.Errorf("charge card: %w", s.err)
			got := overTheWire(in)
			if got.Error() != in.Error() {
				t.Errorf("message = %q, want %q", got.Error(), in.Error())
			}
			if st, _ := status.FromError(got); st.Code() != s.code {
				t.Errorf("code = %v, want %v", st.Code(), s.code)
			}
			// Exactly its own sentinel: ErrUnavailable and
			// ErrPluginUnavailable share a code but not a reason.
			if diff := cmp.Diff([]string{s.name}, matching(got)); diff != "" {
				t.Errorf("sentinels matched (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultSentinels(t *testing.T) {
	// Errors without a sentinel, as package sdk's init maps them.
	tests := []struct {
		name string
		err  error
		want string // the sdk sentinel it must match, and only it
		// alsoIs are further errors it must match.
		alsoIs []error
	}{
		{name: "plain error", err: errors.New("disk full"), want: "ErrInternal"},
		{name: "wrapped plain error", err: fmt.Errorf("save: %w", errors.New("disk full")), want: "ErrInternal"},
		{name: "context canceled", err: context.Canceled, want: "ErrCanceled", alsoIs: []error{context.Canceled}},
		{name: "wrapped context canceled", err: fmt.Errorf("query: %w", context.Canceled), want: "ErrCanceled", alsoIs: []error{context.Canceled}},
		{name: "deadline exceeded", err: context.DeadlineExceeded, want: "ErrDeadlineExceeded", alsoIs: []error{context.DeadlineExceeded}},
		{name: "wrapped deadline exceeded", err: fmt.Errorf("dial: %w", context.DeadlineExceeded), want: "ErrDeadlineExceeded", alsoIs: []error{context.DeadlineExceeded}},

		// Bare statuses: from gRPC itself, or code that returned one.
		{name: "bare NotFound", err: status.Error(codes.NotFound, "m"), want: "ErrNotFound"},
		{name: "bare InvalidArgument", err: status.Error(codes.InvalidArgument, "m"), want: "ErrInvalidArgument"},
		{name: "bare OutOfRange", err: status.Error(codes.OutOfRange, "m"), want: "ErrInvalidArgument"},
		{name: "bare AlreadyExists", err: status.Error(codes.AlreadyExists, "m"), want: "ErrAlreadyExists"},
		{name: "bare Unauthenticated", err: status.Error(codes.Unauthenticated, "m"), want: "ErrUnauthenticated"},
		{name: "bare PermissionDenied", err: status.Error(codes.PermissionDenied, "m"), want: "ErrPermissionDenied"},
		{name: "bare FailedPrecondition", err: status.Error(codes.FailedPrecondition, "m"), want: "ErrFailedPrecondition"},
		{name: "bare Aborted", err: status.Error(codes.Aborted, "m"), want: "ErrConflict"},
		{name: "bare ResourceExhausted", err: status.Error(codes.ResourceExhausted, "m"), want: "ErrRateLimited"},
		{name: "bare Unimplemented", err: status.Error(codes.Unimplemented, "m"), want: "ErrNotSupported"},
		// A connection that is gone: the plugin, not what it depends on.
		{name: "bare Unavailable", err: status.Error(codes.Unavailable, "m"), want: "ErrPluginUnavailable"},
		{name: "bare DeadlineExceeded", err: status.Error(codes.DeadlineExceeded, "m"), want: "ErrDeadlineExceeded", alsoIs: []error{context.DeadlineExceeded}},
		{name: "bare Canceled", err: status.Error(codes.Canceled, "m"), want: "ErrCanceled", alsoIs: []error{context.Canceled}},
		{name: "bare Internal", err: status.Error(codes.Internal, "m"), want: "ErrInternal"},
		{name: "bare Unknown", err: status.Error(codes.Unknown, "m"), want: "ErrInternal"},
		{name: "bare DataLoss", err: status.Error(codes.DataLoss, "m"), want: "ErrInternal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := overTheWire(tt.err)
			if diff := cmp.Diff([]string{tt.want}, matching(got)); diff != "" {
				t.Errorf("sentinels matched (-want +got):\n%s", diff)
			}
			for _, e := range tt.alsoIs {
				if !errors.Is(got, e) {
					t.Errorf("errors.Is(%v, %v) = false, want true", got, e)
				}
			}
			wantMsg := tt.err.Error()
			if st, ok := status.FromError(tt.err); ok {
				wantMsg = st.Message()
			}
			if got.Error() != wantMsg {
				t.Errorf("message = %q, want %q", got.Error(), wantMsg)
			}
		})
	}
}
