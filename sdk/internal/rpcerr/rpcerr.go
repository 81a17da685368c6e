// Package rpcerr carries SDK sentinel errors across gRPC.
//
// A sentinel has a gRPC code and a reason. On the serving side ToStatus turns
// any error that wraps a sentinel into a status with that code and an
// errdetails.ErrorInfo{Domain: Domain, Reason: reason}; on the calling side
// FromStatus turns the status back into an error that wraps the same sentinel,
// so errors.Is works across the process boundary.
package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of mikrobill sentinel errors. Never change it.
const Domain = "mikrobill.dev/plugin"

// Sentinel is an error value that keeps its identity across gRPC.
type Sentinel struct {
	code   codes.Code
	reason string
	msg    string
	parent *Sentinel
}

var (
	mu       sync.RWMutex
	byReason = map[string]*Sentinel{}
	byCode   = map[codes.Code]*Sentinel{}
)

// New registers and returns a sentinel. reason must be unique, upper snake
// case, and never change once released. parent, when not nil, is a more
// general sentinel that errors.Is also matches (payment.ErrUnknownOrder is
// also sdk.ErrNotFound); the gRPC code is the parent's when parent is set.
func New(code codes.Code, reason, msg string, parent *Sentinel) *Sentinel {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := byReason[reason]; dup {
		panic(fmt.Sprintf("rpcerr: reason %q registered twice", reason))
	}
	if parent != nil {
		code = parent.code
	}
	s := &Sentinel{code: code, reason: reason, msg: msg, parent: parent}
	byReason[reason] = s
	return s
}

// SetDefault makes s the sentinel for statuses with code and no ErrorInfo
// (errors from gRPC itself or from code that returned a bare status).
func SetDefault(code codes.Code, s *Sentinel) {
	mu.Lock()
	defer mu.Unlock()
	byCode[code] = s
}

// Error returns the sentinel's message.
func (s *Sentinel) Error() string { return s.msg }

// Code returns the gRPC code the sentinel travels as.
func (s *Sentinel) Code() codes.Code { return s.code }

// Reason returns the sentinel's ErrorInfo reason.
func (s *Sentinel) Reason() string { return s.reason }

// Unwrap returns the parent sentinel, if any.
func (s *Sentinel) Unwrap() error {
	if s.parent == nil {
		return nil
	}
	return s.parent
}

// ToStatus converts an error returned by an implementation into a gRPC status
// error. nil stays nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	var s *Sentinel
	var remote *Error
	code, reason := codes.Unknown, ""
	switch {
	case errors.As(err, &s):
		code, reason = s.code, s.reason
	case errors.As(err, &remote):
		code = remote.code
		if remote.sentinel != nil {
			reason = remote.sentinel.reason
		}
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	default:
		if st, ok := status.FromError(err); ok {
			return st.Err()
		}
	}
	st := status.New(code, err.Error())
	if reason != "" {
		if withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{Domain: Domain, Reason: reason}); derr == nil {
			st = withInfo
		}
	}
	return st.Err()
}

// Error is an error that came back from the other side of a gRPC call.
type Error struct {
	code     codes.Code
	msg      string
	sentinel *Sentinel
}

// Error returns the message the other side sent.
func (e *Error) Error() string { return e.msg }

// Code returns the gRPC code.
func (e *Error) Code() codes.Code { return e.code }

// GRPCStatus lets status.FromError see the original status.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// Unwrap returns the sentinel and, for cancellations and deadlines, the
// matching context error, so errors.Is(err, context.Canceled) also works.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.sentinel != nil {
		errs = append(errs, e.sentinel)
	}
	switch e.code {
	case codes.Canceled:
		errs = append(errs, context.Canceled)
	case codes.DeadlineExceeded:
		errs = append(errs, context.DeadlineExceeded)
	}
	return errs
}

// FromStatus converts an error from a gRPC call into an *Error that wraps the
// matching sentinel. Errors that are not statuses are returned as they are.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	mu.RLock()
	defer mu.RUnlock()
	var s *Sentinel
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			s = byReason[info.GetReason()]
		}
	}
	if s == nil {
		s = byCode[st.Code()]
	}
	return &Error{code: st.Code(), msg: st.Message(), sentinel: s}
}
