package main

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// stats counts calls to Midtrans and notifications, for CollectMetrics and
// CheckHealth. It is safe for concurrent use.
type stats struct {
	mu            sync.Mutex
	api           *sdk.Counters // api, outcome
	notifications *sdk.Counters // result
	// lastOK and lastFail are when Midtrans last answered and when a call
	// last failed to get an answer; failMsg says why.
	lastOK, lastFail time.Time
	failMsg          string
}

func newStats() *stats {
	return &stats{
		api: sdk.NewCounters("midtrans_api_requests_total",
			"Attempts at calls to Midtrans by API (snap_create, status) and outcome (an HTTP status, unreachable, canceled).", "api", "outcome"),
		notifications: sdk.NewCounters("midtrans_notifications_total",
			"Notifications from Midtrans by result (handled, or why they were refused).", "result"),
	}
}

// apiCall records one attempt: its HTTP status, or "unreachable", or
// "canceled" when the caller gave up. Any answer below 500 (except 401 and
// 403: a bad key) shows Midtrans is up and the plugin can talk to it.
func (s *stats) apiCall(op string, res attemptResult, err error, canceled bool) {
	outcome := strconv.Itoa(res.status)
	switch {
	case canceled:
		outcome = "canceled"
	case err != nil && res.status == 0:
		outcome = "unreachable"
	}
	s.api.Inc(op, outcome)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	switch {
	case canceled:
	case err == nil && res.status < 500 && res.status != 401 && res.status != 403:
		s.lastOK = now
	case err != nil:
		s.lastFail, s.failMsg = now, op+": "+describeTransportError(err, 0)
	default:
		s.lastFail, s.failMsg = now, fmt.Sprintf("%s: Midtrans answered HTTP %d", op, res.status)
	}
}

func (s *stats) notification(result string) {
	s.notifications.Inc(result)
}

// failing reports the last failure when it is newer than the last answer.
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
	s.notifications.WriteText(&b)
	return b.Bytes()
}
