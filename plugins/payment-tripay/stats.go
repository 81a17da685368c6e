package main

import (
	"bytes"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// stats counts calls to Tripay and callbacks, for CollectMetrics and
// CheckHealth. It is safe for concurrent use.
type stats struct {
	mu        sync.Mutex
	api       *sdk.Counters // endpoint, outcome
	callbacks *sdk.Counters // result
	// lastOK and lastFail are the times of the last answered and the last
	// failed call; failMsg says why the last one failed.
	lastOK, lastFail time.Time
	failMsg          string
}

func newStats() *stats {
	return &stats{
		api: sdk.NewCounters("tripay_api_requests_total",
			"Attempts at Tripay API calls by endpoint and outcome (ok, an HTTP status, unreachable, canceled).", "endpoint", "outcome"),
		callbacks: sdk.NewCounters("tripay_callbacks_total", "Callbacks handled by result.", "result"),
	}
}

// apiCall records one attempt. Refusals (4xx) are answers: Tripay is up.
func (s *stats) apiCall(op string, err error) {
	outcome := "ok"
	var ae *apiError
	switch {
	case err == nil:
	case errors.As(err, &ae) && ae.httpStatus != 0:
		outcome = strconv.Itoa(ae.httpStatus)
	case errors.Is(err, sdk.ErrUnavailable):
		outcome = "unreachable"
	default:
		outcome = "canceled"
	}
	s.api.Inc(op, outcome)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	switch {
	case err == nil || (ae != nil && ae.httpStatus != 0 && ae.httpStatus < 500 && ae.httpStatus != 401 && ae.httpStatus != 403):
		s.lastOK = now
	case outcome != "canceled":
		s.lastFail, s.failMsg = now, err.Error()
	}
}

func (s *stats) callback(result string) {
	s.callbacks.Inc(result)
}

// failing reports the last failure when it is newer than the last success.
func (s *stats) failing() (time.Time, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastFail.IsZero() || s.lastFail.Before(s.lastOK) {
		return time.Time{}, "", false
	}
	return s.lastFail, s.failMsg, true
}

// text renders the counters in the Prometheus text format.
func (s *stats) text() []byte {
	var b bytes.Buffer
	s.api.WriteText(&b)
	s.callbacks.WriteText(&b)
	return b.Bytes()
}
