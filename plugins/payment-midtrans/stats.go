package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stats counts calls to Midtrans and notifications, for CollectMetrics and
// CheckHealth. It is safe for concurrent use.
type stats struct {
	mu            sync.Mutex
	api           map[[2]string]uint64 // {op, outcome}
	notifications map[string]uint64    // result
	// lastOK and lastFail are when Midtrans last answered and when a call
	// last failed to get an answer; failMsg says why.
	lastOK, lastFail time.Time
	failMsg          string
}

func newStats() *stats {
	return &stats{api: map[[2]string]uint64{}, notifications: map[string]uint64{}}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.api[[2]string{op, outcome}]++
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifications[result]++
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
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer
	b.WriteString("# HELP midtrans_api_requests_total Attempts at calls to Midtrans by API (snap_create, status) and outcome (an HTTP status, unreachable, canceled).\n")
	b.WriteString("# TYPE midtrans_api_requests_total counter\n")
	keys := make([][2]string, 0, len(s.api))
	for k := range s.api {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "midtrans_api_requests_total{api=%q,outcome=%q} %d\n", k[0], k[1], s.api[k])
	}
	b.WriteString("# HELP midtrans_notifications_total Notifications from Midtrans by result (handled, or why they were refused).\n")
	b.WriteString("# TYPE midtrans_notifications_total counter\n")
	results := make([]string, 0, len(s.notifications))
	for r := range s.notifications {
		results = append(results, r)
	}
	slices.Sort(results)
	for _, r := range results {
		fmt.Fprintf(&b, "midtrans_notifications_total{result=%q} %d\n", r, s.notifications[r])
	}
	return b.Bytes()
}
