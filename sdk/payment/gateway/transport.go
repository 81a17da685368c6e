package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// Transport returns an http.RoundTripper for an HTTP client the plugin
// builds itself, for a gateway whose own Go SDK (stripe-go, say) is kept
// for its request encoding, retries and idempotency. Through it every
// attempt is counted in <prefix>_api_requests_total as the Client's are
// (the operation is the API method the SDK called: "create", "get",
// "refund"; its outcome the HTTP status, "unreachable" or "canceled"), and
// a failure on the gateway's side (no answer, 429, 5xx, refused
// credentials) is what CheckHealth reports until an attempt succeeds.
// cfg.Name and cfg.Credentials word the health message; the rest of cfg is
// the Client's and unused here. base nil is the Client's own connection
// pool (http.DefaultTransport's settings, keeping as many idle connections
// to the gateway as a burst of webhooks uses at once; DefaultTransport
// keeps two).
//
// Each attempt is bounded by attemptTimeout (0: the Connection's timeout;
// none without one). Bound attempts here rather than with
// http.Client.Timeout: the client's timeout ends an attempt as if the
// caller had given up, and the failure would not reach CheckHealth. Call
// Transport once per New, instead of Client.
func (e *Env) Transport(cfg ClientConfig, base http.RoundTripper, attemptTimeout time.Duration) http.RoundTripper {
	if base == nil {
		base = newTransport()
	}
	if cfg.Name == "" {
		cfg.Name = "the gateway"
	}
	if attemptTimeout == 0 {
		attemptTimeout = e.timeout
	}
	if attemptTimeout > 0 {
		base = bounded{base: base, timeout: attemptTimeout}
	}
	e.client = &Client{cfg: cfg, base: e.BaseURL, log: e.Log}
	return &observed{base: base, client: e.client, metrics: e.metrics}
}

// bounded ends an attempt that takes longer than timeout, its answer's
// body included.
type bounded struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (b bounded) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(r.Context(), b.timeout)
	resp, err := b.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		if ctx.Err() != nil && r.Context().Err() == nil {
			err = fmt.Errorf("no answer within %s: %v", b.timeout, err) // not the caller giving up
		}
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// observed counts and remembers each attempt made through it.
type observed struct {
	base    http.RoundTripper
	client  *Client
	metrics *metrics
}

func (o *observed) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.base.RoundTrip(r)
	ctx := r.Context()
	if op, _ := ctx.Value(operationKey{}).(string); op == "" {
		ctx = operation(ctx, strings.ToLower(r.Method))
	}
	if o.metrics != nil {
		o.metrics.attempt(ctx, resp, err)
	}
	o.client.record(o.failure(ctx, r, resp, err))
	return resp, err
}

// failure is the attempt's outcome as Client.record takes it: nil for an
// answer the gateway gave in working order, an error wrapping the sentinel
// of a failure on its side, or one that leaves the last outcome as it was
// (a refusal of the request, or the caller giving up).
func (o *observed) failure(ctx context.Context, r *http.Request, resp *http.Response, err error) error {
	name, what := o.client.cfg.Name, r.Method+" "+r.URL.Path
	switch {
	case resp == nil && ctx.Err() != nil:
		return ctx.Err()
	case resp == nil:
		return fmt.Errorf("%w: %s did not answer %s: %v", sdk.ErrUnavailable, name, what, err)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s refused the credentials (HTTP %d to %s); check %s in the plugin's settings",
			sdk.ErrFailedPrecondition, name, resp.StatusCode, what, cmpOr(o.client.cfg.Credentials, "the credentials"))
	case resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s is rate limiting requests (HTTP 429 to %s)", sdk.ErrRateLimited, name, what)
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: %s answered %s with HTTP %d", sdk.ErrUnavailable, name, what, resp.StatusCode)
	case resp.StatusCode < 400:
		return nil
	}
	return sdk.ErrInvalidArgument // the request was refused: says nothing of the gateway's health
}
