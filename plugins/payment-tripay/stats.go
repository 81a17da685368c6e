package main

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// stats counts calls to Tripay and callbacks, for CollectMetrics and
// CheckHealth. It is safe for concurrent use.
type stats struct {
	mu        sync.Mutex
	api       map[[2]string]uint64 // {op, outcome}
	callbacks map[string]uint64    // result
	// lastOK and lastFail are the times of the last answered and the last
	// failed call; failMsg says why the last one failed.
	lastOK, lastFail time.Time
	failMsg          string
}

func newStats() *stats {
	return &stats{api: map[[2]string]uint64{}, callbacks: map[string]uint64{}}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.api[[2]string{op, outcome}]++
	now := time.Now()
	switch {
	case err == nil || (ae != nil && ae.httpStatus != 0 && ae.httpStatus < 500 && ae.httpStatus != 401 && ae.httpStatus != 403):
		s.lastOK = now
	case outcome != "canceled":
		s.lastFail, s.failMsg = now, err.Error()
	}
}

func (s *stats) callback(result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbacks[result]++
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
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer
	b.WriteString("# HELP tripay_api_requests_total Attempts at Tripay API calls by endpoint and outcome (ok, an HTTP status, unreachable, canceled).\n")
	b.WriteString("# TYPE tripay_api_requests_total counter\n")
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
		fmt.Fprintf(&b, "tripay_api_requests_total{endpoint=%q,outcome=%q} %d\n", k[0], k[1], s.api[k])
	}
	b.WriteString("# HELP tripay_callbacks_total Callbacks handled by result.\n")
	b.WriteString("# TYPE tripay_callbacks_total counter\n")
	results := make([]string, 0, len(s.callbacks))
	for r := range s.callbacks {
		results = append(results, r)
	}
	slices.Sort(results)
	for _, r := range results {
		fmt.Fprintf(&b, "tripay_callbacks_total{result=%q} %d\n", r, s.callbacks[r])
	}
	return b.Bytes()
}
