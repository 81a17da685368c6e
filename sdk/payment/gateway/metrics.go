package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// metrics are the counters every gateway built on this package reports in
// CollectMetrics, named after Spec.MetricPrefix:
//
//	<prefix>_api_requests_total{operation, outcome}
//	    each attempt of a call to the gateway's API: Call.Operation, and the
//	    HTTP status ("200", "503"), "unreachable" or "canceled"
//	<prefix>_notifications_total{outcome}
//	    each notification handled: accepted, duplicate, ignored (not about
//	    a payment), or why it was refused (bad_signature, malformed,
//	    unknown_order, amount_mismatch, unconfirmed, replay,
//	    not_configured, unavailable, error)
//
// They live as long as the plugin process: new settings keep counting.
type metrics struct {
	calls         *sdk.Counters
	notifications *sdk.Counters
}

func newMetrics(prefix string) *metrics {
	return &metrics{
		calls: sdk.NewCounters(prefix+"_api_requests_total",
			"Attempts at calls to the gateway's API by operation and outcome (an HTTP status, unreachable, canceled).", "operation", "outcome"),
		notifications: sdk.NewCounters(prefix+"_notifications_total",
			"Notifications from the gateway by outcome (accepted, duplicate, ignored, or why they were refused).", "outcome"),
	}
}

// metricPrefix is Spec.MetricPrefix, or the plugin's name without
// "payment-" in Prometheus' alphabet ("payment-xendit": "xendit").
func metricPrefix(spec, name string) string {
	if spec != "" {
		return spec
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, strings.TrimPrefix(name, "payment-"))
}

// attempt counts one attempt of a call: its HTTP status, or why there was
// none.
func (m *metrics) attempt(ctx context.Context, resp *http.Response, err error) {
	op, _ := ctx.Value(operationKey{}).(string)
	outcome := "unreachable"
	switch {
	case resp != nil:
		outcome = strconv.Itoa(resp.StatusCode)
	case ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		outcome = "canceled"
	}
	m.calls.Inc(op, outcome)
}

// notification counts a handled notification by its outcome.
func (m *metrics) notification(resp *payment.WebhookResponse, err error) {
	m.notifications.Inc(notificationOutcome(resp, err))
}

func notificationOutcome(resp *payment.WebhookResponse, err error) string {
	switch {
	case err == nil && resp.Event == nil:
		return "ignored"
	case err == nil && resp.Event.Duplicate:
		return "duplicate"
	case err == nil:
		return "accepted"
	}
	for _, o := range []struct {
		err  error
		name string
	}{
		{payment.ErrInvalidSignature, "bad_signature"},
		{payment.ErrMalformedPayload, "malformed"},
		{payment.ErrReplay, "replay"},
		{payment.ErrUnknownOrder, "unknown_order"},
		{payment.ErrAmountMismatch, "amount_mismatch"},
		{payment.ErrUnconfirmed, "unconfirmed"},
		{sdk.ErrUnavailable, "unavailable"},
		{sdk.ErrRateLimited, "unavailable"},
		{context.DeadlineExceeded, "unavailable"},
	} {
		if errors.Is(err, o.err) {
			return o.name
		}
	}
	return "error"
}

// operationKey carries the operation (Call.Operation, or the API method
// the SDK called) to the retry policy, which counts each attempt.
type operationKey struct{}

// operation names the API method called under ctx, for the metrics.
func operation(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, operationKey{}, name)
}

// CollectMetrics implements sdk.Plugin: the gateway's counters, in the
// Prometheus text format.
func (g *Gateway[S]) CollectMetrics(context.Context, *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	var b bytes.Buffer
	g.metrics.calls.WriteText(&b)
	g.metrics.notifications.WriteText(&b)
	return &sdk.CollectMetricsResponse{Text: b.Bytes()}, nil
}
