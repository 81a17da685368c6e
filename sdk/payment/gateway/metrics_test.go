package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

func TestMetricPrefix(t *testing.T) {
	for name, want := range map[string]string{"payment-xendit": "xendit", "payment-my-pay": "my_pay", "acme.pay": "acme_pay"} {
		if got := metricPrefix("", name); got != want {
			t.Errorf("metricPrefix(%q) = %q; want %q", name, got, want)
		}
	}
	if got := metricPrefix("tp", "payment-x"); got != "tp" {
		t.Errorf("metricPrefix with Spec.MetricPrefix = %q; want tp", got)
	}
}

// TestAttemptsCounted: every attempt of a call is counted under its
// operation, retries included, with its HTTP status or why it had none.
func TestAttemptsCounted(t *testing.T) {
	ctx := context.Background()
	m := newMetrics("tp")
	a := newTestAPI(t, status(503, `{}`), status(200, `{"id":"p1"}`), status(404, `{}`), status(201, `{}`))
	c := newClient(ClientConfig{Name: "Test Pay"}, a.srv.URL, time.Second, slog.New(slog.DiscardHandler), m)
	if _, err := c.Do(ctx, Call{Method: http.MethodGet, Path: "/p/1", Operation: "get_invoice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "/p/2", nil); !errors.Is(err, payment.ErrUnknownOrder) {
		t.Fatalf("Get: %v; want ErrUnknownOrder", err)
	}
	// Without Call.Operation, the API method the SDK called names it.
	if _, err := c.Do(operation(ctx, "refund"), Call{Method: http.MethodPost, Path: "/p/1/refund", Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	dead := newClient(ClientConfig{Name: "Test Pay", Attempts: 1}, "http://127.0.0.1:1", time.Second, slog.New(slog.DiscardHandler), m)
	if _, err := dead.Do(ctx, Call{Method: http.MethodPost, Path: "/p", Operation: "create"}); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("Do on a closed port: %v; want ErrUnavailable", err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = c.Do(gone, Call{Method: http.MethodPost, Path: "/p", Operation: "create"})
	for _, w := range []struct {
		op, outcome string
		n           uint64
	}{{"get_invoice", "503", 1}, {"get_invoice", "200", 1}, {"get", "404", 1}, {"refund", "201", 1}, {"create", "unreachable", 1}, {"create", "canceled", 1}} {
		if got := m.calls.Get(w.op, w.outcome); got != w.n {
			t.Errorf("tp_api_requests_total{operation=%q,outcome=%q} = %d; want %d", w.op, w.outcome, got, w.n)
		}
	}
	var b bytes.Buffer
	m.calls.WriteText(&b)
	if !strings.Contains(b.String(), `tp_api_requests_total{operation="get_invoice",outcome="503"} 1`) {
		t.Errorf("metrics text lacks the retried attempt:\n%s", b.String())
	}
}

func TestNotificationOutcome(t *testing.T) {
	ev := &payment.Event{EventID: "e"}
	for _, tt := range []struct {
		resp *payment.WebhookResponse
		err  error
		want string
	}{
		{&payment.WebhookResponse{}, nil, "ignored"},
		{&payment.WebhookResponse{Event: ev}, nil, "accepted"},
		{&payment.WebhookResponse{Event: &payment.Event{Duplicate: true}}, nil, "duplicate"},
		{nil, fmt.Errorf("x: %w", payment.ErrInvalidSignature), "bad_signature"},
		{nil, payment.ErrMalformedPayload, "malformed"},
		{nil, payment.ErrReplay, "replay"},
		{nil, payment.ErrUnknownOrder, "unknown_order"},
		{nil, payment.ErrAmountMismatch, "amount_mismatch"},
		{nil, payment.ErrUnconfirmed, "unconfirmed"},
		{nil, fmt.Errorf("confirm: %w", sdk.ErrUnavailable), "unavailable"},
		{nil, context.DeadlineExceeded, "unavailable"},
		{nil, errors.New("disk full"), "error"},
	} {
		if got := notificationOutcome(tt.resp, tt.err); got != tt.want {
			t.Errorf("notificationOutcome(%v, %v) = %q; want %q", tt.resp, tt.err, got, tt.want)
		}
	}
}
