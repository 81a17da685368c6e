package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/mikrobill/mikrobill/sdk"
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
	calls    *sdk.Counters // operation, outcome
	webhooks *sdk.Counters // outcome
	last     lastCall
}

type lastCall struct {
	at      time.Time
	outcome string
	message string
}

func newStats() *stats {
	return &stats{
		calls:    sdk.NewCounters("stripe_api_requests_total", "Calls to Stripe's API by operation and outcome.", "operation", "outcome"),
		webhooks: sdk.NewCounters("stripe_webhooks_total", "Webhook events by outcome.", "outcome"),
	}
}

// call records one API call (op is a metric label) made for a caller whose
// context is ctx: when the caller gave up, the outcome says nothing about
// Stripe.
func (s *stats) call(ctx context.Context, op string, err error) {
	outcome, msg := classify(err)
	if err != nil && ctx.Err() != nil {
		outcome, msg = outcomeCanceled, ""
	}
	s.calls.Inc(op, outcome)
	s.mu.Lock()
	defer s.mu.Unlock()
	if outcome != outcomeCanceled {
		s.last = lastCall{at: time.Now(), outcome: outcome, message: msg}
	}
}

func (s *stats) webhook(outcome string) {
	s.webhooks.Inc(outcome)
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
	var b bytes.Buffer
	s.calls.WriteText(&b)
	s.webhooks.WriteText(&b)
	return b.Bytes()
}
