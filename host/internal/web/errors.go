package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
)

// apiError is an error with an HTTP status and a stable code.
type apiError struct {
	status  int
	code    string
	message string
	details any
}

func (e *apiError) Error() string { return e.message }

// errorBody is the API's one error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details any    `json:"details,omitempty"`
	} `json:"error"`
}

// retryAfterSeconds is what a client is told to wait on a 503 when nothing
// better is known (a plugin restarting now, the database).
const retryAfterSeconds = 5

// retryAfter is the Retry-After of a 503 for err, in seconds: the time to
// the supervisor's next attempt to start a plugin that is not running (an
// open circuit waits minutes), else retryAfterSeconds.
func retryAfter(err error, now time.Time) int {
	var ue *plugins.UnavailableError
	if errors.As(err, &ue) && ue.RetryAt.After(now) {
		return int(math.Ceil(ue.RetryAt.Sub(now).Seconds()))
	}
	return retryAfterSeconds
}

// serveError writes err as the API's error shape with the status its kind
// calls for.
func (s *Server) serveError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = classify(err)
	}
	if ae.status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(err, time.Now())))
	}
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Details = ae.code, ae.message, ae.details
	writeJSON(w, ae.status, body)
}

// classify maps the store's and the SDK's sentinel errors (also those that
// came back from a plugin) to statuses. A database that is unavailable is
// a 503 (with Retry-After, from serveError), never a 500.
func classify(err error) *apiError {
	msg := err.Error()
	switch {
	case store.IsUnavailable(err):
		// The store retried what it safely could; the details are logged.
		return &apiError{http.StatusServiceUnavailable, "database_unavailable", "the database is unavailable (restarting, or the connection to it was lost); try again shortly", nil}
	case errors.Is(err, store.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", msg, nil}
	case errors.Is(err, store.ErrConflict):
		return &apiError{http.StatusConflict, "conflict", msg, nil}
	case errors.Is(err, store.ErrReferenced):
		return &apiError{http.StatusConflict, "in_use", msg, nil}
	case errors.Is(err, store.ErrInvalid):
		return &apiError{http.StatusBadRequest, "invalid", msg, nil}
	case errors.Is(err, sdk.ErrPluginUnavailable):
		return &apiError{http.StatusServiceUnavailable, "plugin_unavailable", msg, nil}
	case errors.Is(err, sdk.ErrUnavailable):
		return &apiError{http.StatusServiceUnavailable, "upstream_unavailable", msg, nil}
	case errors.Is(err, sdk.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", msg, nil}
	case errors.Is(err, sdk.ErrInvalidArgument):
		return &apiError{http.StatusBadRequest, "invalid_argument", msg, nil}
	case errors.Is(err, sdk.ErrUnauthenticated):
		return &apiError{http.StatusUnauthorized, "unauthenticated", msg, nil}
	case errors.Is(err, sdk.ErrPermissionDenied):
		return &apiError{http.StatusForbidden, "permission_denied", msg, nil}
	case errors.Is(err, sdk.ErrAlreadyExists):
		return &apiError{http.StatusConflict, "already_exists", msg, nil}
	case errors.Is(err, sdk.ErrConflict):
		return &apiError{http.StatusConflict, "conflict", msg, nil}
	case errors.Is(err, sdk.ErrFailedPrecondition):
		return &apiError{http.StatusUnprocessableEntity, "failed_precondition", msg, nil}
	case errors.Is(err, sdk.ErrRateLimited):
		return &apiError{http.StatusTooManyRequests, "rate_limited", msg, nil}
	case errors.Is(err, sdk.ErrNotSupported):
		return &apiError{http.StatusNotImplemented, "not_supported", msg, nil}
	case errors.Is(err, pluginstall.ErrBusy):
		return &apiError{http.StatusConflict, "busy", msg, nil}
	case errors.Is(err, pluginstall.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", msg, nil}
	case errors.Is(err, pluginstall.ErrRefused):
		return &apiError{http.StatusUnprocessableEntity, "refused", msg, nil}
	case errors.Is(err, pluginstall.ErrState):
		return &apiError{http.StatusConflict, "conflict", msg, nil}
	case errors.Is(err, sdk.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return &apiError{http.StatusGatewayTimeout, "timeout", msg, nil}
	default:
		return &apiError{http.StatusInternalServerError, "internal", "internal error; the host's log has the details", nil}
	}
}

// refusal answers a refusal the store worded for people (*store.FieldError)
// with its words: a value in use (a name taken) is 409 conflict, a record
// that is not there 404 not_found, anything else 422 validation_failed;
// details name the field. Other errors are returned as they are.
func refusal(err error) error {
	var fe *store.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	var details any // nil, not a nil map, so that "details" is left out
	if fe.Field != "" {
		details = FieldErrors{fe.Field: fe.Message}
	}
	switch {
	case errors.Is(fe.Kind, store.ErrConflict):
		return &apiError{http.StatusConflict, "conflict", fe.Message, details}
	case errors.Is(fe.Kind, store.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", fe.Message, details}
	default:
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", fe.Message, details}
	}
}
