package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// ClientConfig says how to talk to a gateway's HTTP API (Env.Client).
type ClientConfig struct {
	// Name is the gateway's name in errors and logs, for example "Xendit".
	Name string
	// Authorize adds the credentials to every request, for example
	// func(r *http.Request) { r.SetBasicAuth(key, "") }. Credentials are
	// never logged.
	Authorize func(r *http.Request)
	// IdempotencyHeader is the header the gateway reads an idempotency key
	// from, for example "Idempotency-Key". A Call with an IdempotencyKey
	// sends it there, and is then retried like a read. Empty: the gateway
	// takes none, and a call that changes something is never retried.
	IdempotencyHeader string
	// Credentials names the settings to check when the gateway refuses
	// them (401, 403), for example "api_key and environment".
	Credentials string
	// ErrorBody reads the gateway's error answer into a code and a message
	// for the error text (optional; JSONError reads the usual shapes).
	ErrorBody func(body []byte) (code, message string)
	// Codes maps the gateway's error codes to sentinels, for example
	// {"unsupported_currency": payment.ErrUnsupportedCurrency}; they win
	// over Classify and the defaults.
	Codes map[string]error
	// Classify maps an error answer to a sentinel, for answers the default
	// gets wrong (optional; returning nil keeps the default): 429 is
	// sdk.ErrRateLimited, 5xx sdk.ErrUnavailable, 401 and 403
	// sdk.ErrFailedPrecondition (check the credentials), 404
	// payment.ErrUnknownOrder, other statuses sdk.ErrInvalidArgument.
	Classify func(status int, code string) error
	// Attempts is the most attempts of a call that may be retried (0: 3).
	Attempts int
	// Timeout bounds one attempt, replacing Connection's timeout_seconds:
	// for settings that do not embed Connection (a plugin whose operators'
	// settings name the timeout otherwise). Zero: Connection's, else 15
	// seconds. Set Env.BaseURL in Spec.New then too.
	Timeout time.Duration
	// BaseURL is the address of this client's API host, for a gateway
	// whose API has several (the Snap API and the status API); empty:
	// Env.BaseURL. Check it with CheckBaseURL, or as the gateway's
	// settings allow.
	BaseURL string
}

// Call is one request to the gateway's API.
type Call struct {
	// Method and Path ("/v2/invoices/" + url.PathEscape(id)); the path may
	// carry a query.
	Method, Path string
	// Body is sent as JSON, or form-encoded when it is url.Values; nil
	// sends none.
	Body any
	// IdempotencyKey is sent in ClientConfig.IdempotencyHeader.
	IdempotencyKey string
	// Idempotent marks a call that is safe to repeat although its method
	// is not a read (the gateway's documentation says so).
	Idempotent bool
	// Header holds headers of this call only, for example a gateway's
	// per-request notification URL (optional; never the credentials:
	// ClientConfig.Authorize sets those).
	Header http.Header
	// Out receives the JSON of a 2xx answer (optional).
	Out any
	// Operation names the call in the plugin's metrics ("create_invoice");
	// keep it to a few fixed words, never an id. Empty: the API method
	// the SDK called ("create", "get", "get_by_order", "refund",
	// "list_methods"), or the HTTP method in lower case outside them.
	Operation string
}

// Retry policy: the wait before a retry grows from firstBackoff to
// maxBackoff, and a Retry-After is honoured up to maxRetryAfter.
const (
	firstBackoff  = 200 * time.Millisecond
	maxBackoff    = 2 * time.Second
	maxRetryAfter = 5 * time.Second
	maxBodyBytes  = 1 << 20
)

// Client calls a gateway's HTTP API: a timeout on every attempt, bounded
// retries with backoff on calls that are safe to repeat (network failures,
// 429 after its Retry-After, 5xx), the caller's deadline honoured
// throughout, and answers mapped to the SDK's sentinels. It remembers the
// last failure on the gateway's side for CheckHealth. Get one from
// Env.Client; it is safe for concurrent use.
type Client struct {
	cfg      ClientConfig
	base     string
	log      *slog.Logger
	retrying *retryablehttp.Client
	once     *retryablehttp.Client

	mu      sync.Mutex
	failure string
}

func newClient(cfg ClientConfig, base string, timeout time.Duration, log *slog.Logger, m *metrics) *Client {
	if cfg.Name == "" {
		cfg.Name = "the gateway"
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	hc := &http.Client{Timeout: timeout, Transport: newTransport()}
	mk := func(retries int) *retryablehttp.Client {
		return &retryablehttp.Client{
			HTTPClient:   hc,
			Logger:       retryLogger{log},
			RetryWaitMin: firstBackoff,
			RetryWaitMax: maxBackoff,
			RetryMax:     retries,
			CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
				if m != nil {
					m.attempt(ctx, resp, err)
				}
				return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
			},
			Backoff: func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
				// Exponential, or the answer's Retry-After, capped.
				return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), maxRetryAfter)
			},
			ErrorHandler: func(resp *http.Response, err error, n int) (*http.Response, error) {
				return resp, &gaveUp{attempts: n, err: err}
			},
		}
	}
	return &Client{cfg: cfg, base: base, log: log, retrying: mk(cfg.Attempts - 1), once: mk(0)}
}

// idlePerHost is how many idle connections to the gateway a Client keeps:
// as many as calls run at once under a burst of webhooks (each confirms
// its notification with a status query).
const idlePerHost = 64

// newTransport is a Client's connection pool: http.DefaultTransport's
// settings (proxy from the environment, dial and TLS handshake timeouts,
// HTTP/2, idle connections closed after 90 s), keeping up to idlePerHost
// idle connections to the gateway. DefaultTransport keeps 2: under 32
// webhooks at once every status query past the second opened a new
// connection, a TCP and TLS handshake with the gateway each time.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = idlePerHost
	t.MaxIdleConns = max(t.MaxIdleConns, idlePerHost)
	return t
}

// gaveUp is the end of a call whose last attempt failed.
type gaveUp struct {
	attempts int
	err      error
}

func (g *gaveUp) Error() string {
	return fmt.Sprintf("gave up after %d attempts: %v", g.attempts, g.err)
}

// BaseURL is the API's address, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// LastFailure is why the last call failed on the gateway's side
// (unreachable, 5xx, 429, refused credentials), or "" when it worked.
func (c *Client) LastFailure() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failure
}

func (c *Client) record(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.failure = ""
	case errors.Is(err, sdk.ErrUnavailable), errors.Is(err, sdk.ErrRateLimited), errors.Is(err, sdk.ErrFailedPrecondition):
		c.failure = err.Error()
	}
}

// Get is Do of a GET.
func (c *Client) Get(ctx context.Context, path string, out any) ([]byte, error) {
	return c.Do(ctx, Call{Method: http.MethodGet, Path: path, Out: out})
}

// Do sends a call and returns the raw answer of a 2xx, which it decodes
// into call.Out. Every other outcome is an error wrapping one of the SDK's
// sentinels, or the caller's context error.
func (c *Client) Do(ctx context.Context, call Call) (raw []byte, err error) {
	defer func() { c.record(err) }()
	path, _, _ := strings.Cut(call.Path, "?")
	what := call.Method + " " + path
	var body any
	contentType := ""
	switch b := call.Body.(type) {
	case nil:
	case url.Values:
		body, contentType = []byte(b.Encode()), "application/x-www-form-urlencoded"
	default:
		if body, err = json.Marshal(b); err != nil {
			return nil, fmt.Errorf("%s: encode the request: %w", what, err)
		}
		contentType = "application/json"
	}
	op := call.Operation
	if op == "" {
		op, _ = ctx.Value(operationKey{}).(string)
	}
	if op == "" {
		op = strings.ToLower(call.Method)
	}
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, operationKey{}, op), call.Method, c.base+call.Path, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for k, v := range call.Header {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	safe := call.Idempotent || call.Method == http.MethodGet || call.Method == http.MethodHead
	if call.IdempotencyKey != "" && c.cfg.IdempotencyHeader != "" {
		req.Header.Set(c.cfg.IdempotencyHeader, call.IdempotencyKey)
		safe = true
	}
	if c.cfg.Authorize != nil {
		c.cfg.Authorize(req.Request)
	}
	rc := c.once
	if safe {
		rc = c.retrying
	}
	begin := time.Now()
	resp, err := rc.Do(req)
	if resp == nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%s %s: %w", c.cfg.Name, what, ctx.Err())
	}
	var g *gaveUp
	tries := ""
	if errors.As(err, &g) && g.attempts > 1 {
		tries = fmt.Sprintf(" (gave up after %d attempts)", g.attempts)
	}
	if resp == nil {
		if g != nil {
			err = g.err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: %s did not answer within %s (%s): %v%s", sdk.ErrUnavailable, c.cfg.Name, c.retrying.HTTPClient.Timeout, what, err, tries)
		}
		return nil, fmt.Errorf("%w: %s did not answer %s: %v%s", sdk.ErrUnavailable, c.cfg.Name, what, err, tries)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s's answer to %s: %v", sdk.ErrUnavailable, c.cfg.Name, what, err)
	}
	c.log.Debug("API call", "method", call.Method, "path", path, "status", resp.StatusCode, "ms", time.Since(begin).Milliseconds())
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if call.Out != nil {
			if err := json.Unmarshal(raw, call.Out); err != nil {
				return nil, fmt.Errorf("%w: %s answered %s with JSON this plugin cannot read: %v", sdk.ErrUnavailable, c.cfg.Name, what, err)
			}
		}
		return raw, nil
	}
	return nil, c.answerError(resp.StatusCode, raw, what, tries)
}

// answerError maps an error answer to a sentinel.
func (c *Client) answerError(status int, raw []byte, what, tries string) error {
	code, msg := "", ""
	if c.cfg.ErrorBody != nil {
		code, msg = c.cfg.ErrorBody(raw)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	text := fmt.Sprintf("%s answered %s with HTTP %d", c.cfg.Name, what, status)
	if code != "" {
		text += " (" + code + ")"
	}
	text += ": " + msg + tries
	sentinel := c.cfg.Codes[code]
	if sentinel == nil && c.cfg.Classify != nil {
		sentinel = c.cfg.Classify(status, code)
	}
	switch {
	case sentinel != nil:
	case status == http.StatusTooManyRequests:
		sentinel = sdk.ErrRateLimited
	case status >= 500:
		sentinel = sdk.ErrUnavailable
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		sentinel = sdk.ErrFailedPrecondition
		text += "; check " + cmpOr(c.cfg.Credentials, "the credentials") + " in the plugin's settings"
	case status == http.StatusNotFound:
		sentinel = payment.ErrUnknownOrder
	default:
		sentinel = sdk.ErrInvalidArgument
	}
	return fmt.Errorf("%w: %s", sentinel, text)
}

// retryLogger gives retryablehttp the plugin's logger; a failed attempt is
// a warning (the call's outcome is logged, or returned, by the caller).
type retryLogger struct{ l *slog.Logger }

func (r retryLogger) Error(msg string, kv ...any) { r.l.Warn(msg, kv...) }
func (r retryLogger) Warn(msg string, kv ...any)  { r.l.Warn(msg, kv...) }
func (r retryLogger) Info(msg string, kv ...any)  { r.l.Debug(msg, kv...) }
func (r retryLogger) Debug(msg string, kv ...any) { r.l.Debug(msg, kv...) }

// JSONError returns a ClientConfig.ErrorBody for a JSON error answer,
// naming the code's and the message's fields by their dotted paths: for
// {"error": {"code": ..., "message": ...}}, JSONError("error.code",
// "error.message"); for Xendit's {"error_code": ..., "message": ...},
// JSONError("error_code", "message").
func JSONError(codePath, messagePath string) func(body []byte) (code, message string) {
	return func(body []byte) (string, string) {
		var v any
		if json.Unmarshal(body, &v) != nil {
			return "", ""
		}
		return jsonString(v, codePath), jsonString(v, messagePath)
	}
}

func jsonString(v any, path string) string {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}
