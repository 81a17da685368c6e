package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v85"
)

// Outcomes of calls to Stripe's API, for metrics and health.
const (
	outcomeOK          = "ok"
	outcomeAuth        = "auth"
	outcomeRateLimited = "rate_limited"
	outcomeUnavailable = "unavailable"
	outcomeRefused     = "refused"
	outcomeCanceled    = "canceled"
)

// stats counts calls and webhooks and keeps the last call's outcome.
type stats struct {
	mu       sync.Mutex
	calls    map[[2]string]uint64
	webhooks map[string]uint64
	last     lastCall
}

type lastCall struct {
	at      time.Time
	outcome string
	message string
}

func newStats() *stats {
	return &stats{calls: map[[2]string]uint64{}, webhooks: map[string]uint64{}}
}

// call records one API call (op is a metric label) made for a caller whose
// context is ctx: when the caller gave up, the outcome says nothing about
// Stripe.
func (s *stats) call(ctx context.Context, op string, err error) {
	outcome, msg := classify(err)
	if err != nil && ctx.Err() != nil {
		outcome, msg = outcomeCanceled, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[[2]string{op, outcome}]++
	if outcome != outcomeCanceled {
		s.last = lastCall{at: time.Now(), outcome: outcome, message: msg}
	}
}

func (s *stats) webhook(outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks[outcome]++
}

// forgetLast forgets the last call's outcome.
func (s *stats) forgetLast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = lastCall{}
}

func (s *stats) lastCall() lastCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// classify sorts an error from stripe-go; the message is for operators and
// holds no secret.
func classify(err error) (outcome, message string) {
	if err == nil {
		return outcomeOK, ""
	}
	if errors.Is(err, context.Canceled) {
		return outcomeCanceled, ""
	}
	var se *stripe.Error
	if !errors.As(err, &se) {
		return outcomeUnavailable, "Stripe's API cannot be reached or did not answer in time"
	}
	switch {
	case se.HTTPStatusCode == 401 || se.HTTPStatusCode == 403:
		return outcomeAuth, "Stripe refuses the secret key; check secret_key in the plugin's settings"
	case se.HTTPStatusCode == 429:
		return outcomeRateLimited, "Stripe is rate limiting requests"
	case se.HTTPStatusCode >= 500:
		return outcomeUnavailable, fmt.Sprintf("Stripe answered %d", se.HTTPStatusCode)
	default:
		return outcomeRefused, ""
	}
}

// prometheus renders the counters in the Prometheus text format.
func (s *stats) prometheus() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer
	b.WriteString("# HELP stripe_api_requests_total Calls to Stripe's API by operation and outcome.\n")
	b.WriteString("# TYPE stripe_api_requests_total counter\n")
	keys := make([][2]string, 0, len(s.calls))
	for k := range s.calls {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "stripe_api_requests_total{operation=%q,outcome=%q} %d\n", k[0], k[1], s.calls[k])
	}
	b.WriteString("# HELP stripe_webhooks_total Webhook events by outcome.\n")
	b.WriteString("# TYPE stripe_webhooks_total counter\n")
	outs := make([]string, 0, len(s.webhooks))
	for k := range s.webhooks {
		outs = append(outs, k)
	}
	slices.Sort(outs)
	for _, k := range outs {
		fmt.Fprintf(&b, "stripe_webhooks_total{outcome=%q} %d\n", k, s.webhooks[k])
	}
	return b.Bytes()
}
