package sdk

import (
	"google.golang.org/grpc/codes"

	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// Sentinel errors. Return them (wrapped with %w and context, if you like) from
// any method, and the host sees an error for which errors.Is matches the same
// sentinel: they cross the process boundary as gRPC status codes with an
// ErrorInfo reason. Kind packages add their own (payment.ErrInvalidSignature,
// ...), each of which also matches one of these.
//
// Errors that wrap none of them reach the host as plain errors with their
// message, treated like ErrInternal.
var (
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = rpcerr.New(codes.NotFound, "NOT_FOUND", "not found", nil)
	// ErrInvalidArgument: the request is wrong; retrying it will not help.
	ErrInvalidArgument = rpcerr.New(codes.InvalidArgument, "INVALID_ARGUMENT", "invalid argument", nil)
	// ErrAlreadyExists: the thing to create exists already.
	ErrAlreadyExists = rpcerr.New(codes.AlreadyExists, "ALREADY_EXISTS", "already exists", nil)
	// ErrUnauthenticated: credentials or a signature did not check out.
	ErrUnauthenticated = rpcerr.New(codes.Unauthenticated, "UNAUTHENTICATED", "unauthenticated", nil)
	// ErrPermissionDenied: the caller may not do this.
	ErrPermissionDenied = rpcerr.New(codes.PermissionDenied, "PERMISSION_DENIED", "permission denied", nil)
	// ErrFailedPrecondition: the system is not in a state that allows this
	// (not configured yet, session not paired, ...).
	ErrFailedPrecondition = rpcerr.New(codes.FailedPrecondition, "FAILED_PRECONDITION", "failed precondition", nil)
	// ErrConflict: a concurrent change got there first; retry from the start.
	ErrConflict = rpcerr.New(codes.Aborted, "CONFLICT", "conflict", nil)
	// ErrRateLimited: too many requests; retry later.
	ErrRateLimited = rpcerr.New(codes.ResourceExhausted, "RATE_LIMITED", "rate limited", nil)
	// ErrNotSupported: the plugin does not implement this optional method.
	ErrNotSupported = rpcerr.New(codes.Unimplemented, "NOT_SUPPORTED", "not supported by this plugin", nil)
	// ErrUnavailable: something the plugin depends on (a router, a gateway's
	// API, WhatsApp) cannot be reached right now; retry later.
	ErrUnavailable = rpcerr.New(codes.Unavailable, "UNAVAILABLE", "upstream unavailable", nil)
	// ErrPluginUnavailable: the plugin process itself cannot be reached (it
	// is restarting, stopped or failed). The host's client adapters return it;
	// the HTTP layer answers 503 with Retry-After.
	ErrPluginUnavailable = rpcerr.New(codes.Unavailable, "PLUGIN_UNAVAILABLE", "plugin unavailable", nil)
	// ErrDeadlineExceeded: the call ran out of time. It also matches
	// context.DeadlineExceeded.
	ErrDeadlineExceeded = rpcerr.New(codes.DeadlineExceeded, "DEADLINE_EXCEEDED", "deadline exceeded", nil)
	// ErrCanceled: the caller gave up. It also matches context.Canceled.
	ErrCanceled = rpcerr.New(codes.Canceled, "CANCELED", "canceled", nil)
	// ErrInternal: a bug or an unexpected failure, including a recovered panic.
	ErrInternal = rpcerr.New(codes.Internal, "INTERNAL", "internal error", nil)
)

func init() {
	// Statuses without an ErrorInfo come from gRPC itself or from code that
	// returned a bare status. Unavailable without a reason means the
	// connection to the plugin is gone.
	for code, s := range map[codes.Code]*rpcerr.Sentinel{
		codes.NotFound:           ErrNotFound,
		codes.InvalidArgument:    ErrInvalidArgument,
		codes.OutOfRange:         ErrInvalidArgument,
		codes.AlreadyExists:      ErrAlreadyExists,
		codes.Unauthenticated:    ErrUnauthenticated,
		codes.PermissionDenied:   ErrPermissionDenied,
		codes.FailedPrecondition: ErrFailedPrecondition,
		codes.Aborted:            ErrConflict,
		codes.ResourceExhausted:  ErrRateLimited,
		codes.Unimplemented:      ErrNotSupported,
		codes.Unavailable:        ErrPluginUnavailable,
		codes.DeadlineExceeded:   ErrDeadlineExceeded,
		codes.Canceled:           ErrCanceled,
		codes.Internal:           ErrInternal,
		codes.Unknown:            ErrInternal,
		codes.DataLoss:           ErrInternal,
	} {
		rpcerr.SetDefault(code, s)
	}
}
