package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinels of this test binary. Package sdk registers the real ones; the
// reasons here are unique to the test.
var (
	errTestNotFound = New(codes.NotFound, "TEST_NOT_FOUND", "not found", nil)
	errTestInvalid  = New(codes.InvalidArgument, "TEST_INVALID", "invalid argument", nil)
	errTestInternal = New(codes.Internal, "TEST_INTERNAL", "internal error", nil)
	errTestCanceled = New(codes.Canceled, "TEST_CANCELED", "canceled", nil)
	errTestDeadline = New(codes.DeadlineExceeded, "TEST_DEADLINE", "deadline exceeded", nil)
	// errTestUnknownOrder has a parent, so it travels with the parent's
	// code whatever code it was given.
	errTestUnknownOrder = New(codes.Unavailable, "TEST_UNKNOWN_ORDER", "unknown order", errTestNotFound)
	// errTestGrandchild has a chain of two parents.
	errTestGrandchild = New(codes.OK, "TEST_GRANDCHILD", "grandchild", errTestUnknownOrder)
)

func init() {
	// Package sdk maps bare statuses to its sentinels in its init; this test
	// maps a few to its own.
	SetDefault(codes.NotFound, errTestNotFound)
	SetDefault(codes.InvalidArgument, errTestInvalid)
	SetDefault(codes.Internal, errTestInternal)
	SetDefault(codes.Unknown, errTestInternal)
	SetDefault(codes.Canceled, errTestCanceled)
	SetDefault(codes.DeadlineExceeded, errTestDeadline)
}

// allSentinels are checked for matches that must not happen.
var allSentinels = []*Sentinel{errTestNotFound, errTestInvalid, errTestInternal, errTestCanceled, errTestDeadline, errTestUnknownOrder, errTestGrandchild}

// roundTrip sends err the way the SDK does: the serving side's ToStatus, the
// wire, and the calling side's FromStatus.
func roundTrip(t *testing.T, err error) error {
	t.Helper()
	st := ToStatus(err)
	if st == nil {
		t.Fatalf("ToStatus(%v) = nil", err)
	}
	// Across the wire only the status proto travels.
	p := status.Convert(st).Proto()
	return FromStatus(status.FromProto(p).Err())
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		// wantIs must all match after the round trip; every other test
		// sentinel must not.
		wantIs []error
		// wantNotIs must not match.
		wantNotIs []error
		// wantMsg is the message after the round trip; empty means
		// err.Error().
		wantMsg string
	}{
		{
			name:     "sentinel",
			err:      errTestNotFound,
			wantCode: codes.NotFound,
			wantIs:   []error{errTestNotFound},
		},
		{
			name:     "wrapped sentinel",
			err:      fmt.Errorf("load invoice 42: %w", errTestInvalid),
			wantCode: codes.InvalidArgument,
			wantIs:   []error{errTestInvalid},
		},
		{
			name:     "sentinel wrapped twice",
			err:      fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", errTestInvalid)),
			wantCode: codes.InvalidArgument,
			wantIs:   []error{errTestInvalid},
		},
		{
			name:     "sentinel with parent",
			err:      errTestUnknownOrder,
			wantCode: codes.NotFound, // the parent's, not the Unavailable it was given
			wantIs:   []error{errTestUnknownOrder, errTestNotFound},
		},
		{
			name:     "wrapped sentinel with parent",
			err:      fmt.Errorf("%w: no payment for order INV-7", errTestUnknownOrder),
			wantCode: codes.NotFound,
			wantIs:   []error{errTestUnknownOrder, errTestNotFound},
		},
		{
			name:     "sentinel with two ancestors",
			err:      fmt.Errorf("deep: %w", errTestGrandchild),
			wantCode: codes.NotFound,
			wantIs:   []error{errTestGrandchild, errTestUnknownOrder, errTestNotFound},
		},
		{
			name:      "context canceled",
			err:       context.Canceled,
			wantCode:  codes.Canceled,
			wantIs:    []error{context.Canceled, errTestCanceled},
			wantNotIs: []error{context.DeadlineExceeded},
		},
		{
			name:      "wrapped context canceled",
			err:       fmt.Errorf("query gateway: %w", context.Canceled),
			wantCode:  codes.Canceled,
			wantIs:    []error{context.Canceled, errTestCanceled},
			wantNotIs: []error{context.DeadlineExceeded},
		},
		{
			name:      "deadline exceeded",
			err:       context.DeadlineExceeded,
			wantCode:  codes.DeadlineExceeded,
			wantIs:    []error{context.DeadlineExceeded, errTestDeadline},
			wantNotIs: []error{context.Canceled},
		},
		{
			name:      "wrapped deadline exceeded",
			err:       fmt.Errorf("dial router: %w", context.DeadlineExceeded),
			wantCode:  codes.DeadlineExceeded,
			wantIs:    []error{context.DeadlineExceeded, errTestDeadline},
			wantNotIs: []error{context.Canceled},
		},
		{
			name:      "sentinel wins over a context error",
			err:       fmt.Errorf("%w: gave up: %w", errTestInvalid, context.Canceled),
			wantCode:  codes.InvalidArgument,
			wantIs:    []error{errTestInvalid},
			wantNotIs: []error{context.Canceled},
		},
		{
			name:     "plain error",
			err:      errors.New("disk full"),
			wantCode: codes.Unknown,
			wantIs:   []error{errTestInternal}, // the default for Unknown
		},
		{
			name:     "bare status passes through",
			err:      status.Error(codes.InvalidArgument, "bad request"),
			wantCode: codes.InvalidArgument,
			wantMsg:  "bad request",
			wantIs:   []error{errTestInvalid},
		},
		{
			name:      "bare status without a default",
			err:       status.Error(codes.ResourceExhausted, "slow down"),
			wantCode:  codes.ResourceExhausted,
			wantMsg:   "slow down",
			wantNotIs: []error{context.Canceled, context.DeadlineExceeded},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, tt.err)
			var re *Error
			if !errors.As(got, &re) {
				t.Fatalf("FromStatus returned %T (%v), want *rpcerr.Error", got, got)
			}
			if re.Code() != tt.wantCode {
				t.Errorf("Code() = %v, want %v", re.Code(), tt.wantCode)
			}
			wantMsg := tt.wantMsg
			if wantMsg == "" {
				wantMsg = tt.err.Error()
			}
			if got.Error() != wantMsg {
				t.Errorf("message = %q, want %q", got.Error(), wantMsg)
			}
			if st, ok := status.FromError(got); !ok || st.Code() != tt.wantCode || st.Message() != wantMsg {
				t.Errorf("status.FromError = %v, %v; want code %v and the original message", st, ok, tt.wantCode)
			}
			for _, want := range tt.wantIs {
				if !errors.Is(got, want) {
					t.Errorf("errors.Is(%v, %v) = false, want true", got, want)
				}
			}
			for _, s := range allSentinels {
				if !containsErr(tt.wantIs, s) && errors.Is(got, s) {
					t.Errorf("errors.Is(%v, %s) = true, want false", got, s.Reason())
				}
			}
			for _, notWant := range tt.wantNotIs {
				if errors.Is(got, notWant) {
					t.Errorf("errors.Is(%v, %v) = true, want false", got, notWant)
				}
			}
		})
	}
}

func containsErr(errs []error, target error) bool {
	for _, e := range errs {
		if e == target {
			return true
		}
	}
	return false
}

func TestToStatusDetails(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string // "" means no ErrorInfo
	}{
		{name: "sentinel", err: errTestInvalid, wantCode: codes.InvalidArgument, wantReason: "TEST_INVALID"},
		{name: "child carries its own reason", err: fmt.Errorf("x: %w", errTestUnknownOrder), wantCode: codes.NotFound, wantReason: "TEST_UNKNOWN_ORDER"},
		{name: "plain error", err: errors.New("boom"), wantCode: codes.Unknown},
		{name: "context canceled", err: context.Canceled, wantCode: codes.Canceled},
		{name: "deadline", err: context.DeadlineExceeded, wantCode: codes.DeadlineExceeded},
		// An error that came back from a call and is returned again keeps
		// its sentinel: a plugin passing on the host's error.
		{name: "relayed remote error", err: roundTrip(t, errTestUnknownOrder), wantCode: codes.NotFound, wantReason: "TEST_UNKNOWN_ORDER"},
		{name: "relayed default", err: roundTrip(t, status.Error(codes.NotFound, "gone")), wantCode: codes.NotFound, wantReason: "TEST_NOT_FOUND"},
		{name: "relayed remote error without sentinel", err: roundTrip(t, status.Error(codes.ResourceExhausted, "slow")), wantCode: codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(ToStatus(tt.err))
			if st.Code() != tt.wantCode {
				t.Errorf("code = %v, want %v", st.Code(), tt.wantCode)
			}
			if st.Message() != tt.err.Error() {
				t.Errorf("message = %q, want %q", st.Message(), tt.err.Error())
			}
			var got []*errdetails.ErrorInfo
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					got = append(got, info)
				}
			}
			var want []*errdetails.ErrorInfo
			if tt.wantReason != "" {
				want = []*errdetails.ErrorInfo{{Domain: Domain, Reason: tt.wantReason}}
			}
			if len(got) != len(want) {
				t.Fatalf("ErrorInfo details = %v, want %v", got, want)
			}
			for i := range got {
				if got[i].GetDomain() != want[i].GetDomain() || got[i].GetReason() != want[i].GetReason() {
					t.Errorf("ErrorInfo[%d] = %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestFromStatusBare(t *testing.T) {
	// Statuses from gRPC itself, or from other code, carry no ErrorInfo (or
	// one from another domain, or with a reason this side does not know):
	// they map to the default sentinel of their code.
	withInfo := func(code codes.Code, domain, reason string) error {
		st, err := status.New(code, "msg").WithDetails(&errdetails.ErrorInfo{Domain: domain, Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	tests := []struct {
		name string
		err  error
		want *Sentinel // nil: no sentinel
	}{
		{name: "not found", err: status.Error(codes.NotFound, "msg"), want: errTestNotFound},
		{name: "invalid argument", err: status.Error(codes.InvalidArgument, "msg"), want: errTestInvalid},
		{name: "internal", err: status.Error(codes.Internal, "msg"), want: errTestInternal},
		{name: "unknown", err: status.Error(codes.Unknown, "msg"), want: errTestInternal},
		{name: "no default for the code", err: status.Error(codes.PermissionDenied, "msg")},
		{name: "foreign domain", err: withInfo(codes.NotFound, "googleapis.com", "TEST_UNKNOWN_ORDER"), want: errTestNotFound},
		{name: "unknown reason", err: withInfo(codes.InvalidArgument, Domain, "FROM_A_NEWER_SDK"), want: errTestInvalid},
		{name: "known reason", err: withInfo(codes.NotFound, Domain, "TEST_UNKNOWN_ORDER"), want: errTestUnknownOrder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromStatus(tt.err)
			var re *Error
			if !errors.As(got, &re) {
				t.Fatalf("FromStatus = %T, want *rpcerr.Error", got)
			}
			if re.sentinel != tt.want {
				t.Errorf("sentinel = %v, want %v", re.sentinel, tt.want)
			}
			if got.Error() != "msg" {
				t.Errorf("message = %q, want %q", got.Error(), "msg")
			}
			if tt.want == nil {
				for _, s := range allSentinels {
					if errors.Is(got, s) {
						t.Errorf("errors.Is(%v, %s) = true, want false", got, s.Reason())
					}
				}
			}
		})
	}
}

func TestNilAndNonStatus(t *testing.T) {
	if err := ToStatus(nil); err != nil {
		t.Errorf("ToStatus(nil) = %v, want nil", err)
	}
	if err := FromStatus(nil); err != nil {
		t.Errorf("FromStatus(nil) = %v, want nil", err)
	}
}

func TestSentinelAccessors(t *testing.T) {
	type info struct {
		Error  string
		Code   codes.Code
		Reason string
		Parent error
	}
	got := []info{
		{errTestNotFound.Error(), errTestNotFound.Code(), errTestNotFound.Reason(), errTestNotFound.Unwrap()},
		{errTestUnknownOrder.Error(), errTestUnknownOrder.Code(), errTestUnknownOrder.Reason(), errTestUnknownOrder.Unwrap()},
	}
	want := []info{
		{"not found", codes.NotFound, "TEST_NOT_FOUND", nil},
		{"unknown order", codes.NotFound, "TEST_UNKNOWN_ORDER", errTestNotFound},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("accessors (-want +got):\n%s", diff)
	}
}

func TestNewDuplicateReasonPanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("New with a reason registered before did not panic")
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, `"TEST_NOT_FOUND" registered twice`) {
			t.Errorf("panic = %q, want it to name the reason", msg)
		}
	}()
	New(codes.NotFound, "TEST_NOT_FOUND", "again", nil)
}
