package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/midtrans/midtrans-go"
	"github.com/midtrans/midtrans-go/coreapi"
	"github.com/midtrans/midtrans-go/snap"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// How the plugin talks to Midtrans.
//
// The official midtrans-go SDK builds the requests (snap.Request and
// friends), the URLs (/snap/v1/transactions, /v2/{id}/status) and reads the
// responses (snap.Response, coreapi.TransactionStatusResponse). Its own HTTP
// client is not used, for three reasons found in v1.3.8:
//
//   - It has no base URL setting: the hosts come from a private map keyed
//     by midtrans.EnvironmentType, so it cannot be pointed at a proxy or a
//     test server.
//   - It drops the context: HttpClientImplementation.Call calls
//     req.WithContext and discards the result, and CheckTransaction passes
//     no options at all, so a cancelled call keeps waiting (up to the SDK's
//     global 80 s timeout).
//   - Its default logger in the sandbox environment logs at debug level to
//     stdout, including the Authorization header, which carries the server
//     key (and stdout is reserved for the go-plugin handshake).
//
// The SDK's clients take any midtrans.HttpClient, so sdkCall below is the
// plugin's own: it rebases the SDK's URL onto the configured base URL,
// honours the context, bounds every attempt with a timeout, retries what is
// safe to retry, and logs no header and no body.

// maxResponseBytes bounds what is read of a Midtrans response.
const maxResponseBytes = 1 << 20

// apiClient calls Midtrans' Snap API and its status API (Core API).
type apiClient struct {
	hc *http.Client
	// env is the environment handed to the SDK's clients; sdkSnap and
	// sdkCore are the base URLs the SDK builds for it, which sdkCall
	// replaces by snapBase and coreBase.
	env                midtrans.EnvironmentType
	sdkSnap, sdkCore   string
	snapBase, coreBase string
	serverKey          string
	// timeout bounds one attempt; retries is how many more attempts a
	// retryable failure gets.
	timeout time.Duration
	retries int
	log     hclog.Logger
	stats   *stats
}

func newAPIClient(cfg *settings, log hclog.Logger, st *stats) *apiClient {
	env := cfg.sdkEnv()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = cfg.timeout()
	tr.MaxIdleConnsPerHost = 4
	return &apiClient{
		hc: &http.Client{
			Transport: tr,
			// Midtrans' APIs do not redirect; following one would send the
			// server key somewhere nobody configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		env:       env,
		sdkSnap:   env.SnapURL(),
		sdkCore:   env.BaseUrl(),
		snapBase:  cfg.snapBaseURL(),
		coreBase:  cfg.coreBaseURL(),
		serverKey: cfg.ServerKey,
		timeout:   cfg.timeout(),
		retries:   cfg.maxRetries(),
		log:       log.Named("midtrans"),
		stats:     st,
	}
}

// createSnap creates a Snap transaction. idemKey goes out as the
// Idempotency-Key header (at most 36 characters), which Midtrans' payment
// API honours.
//
// Retrying a create is safe because Midtrans ties a transaction to its
// order_id and never makes two for one order: if a first attempt did reach
// Midtrans and only its answer was lost, the retry gets a token for the same
// order or the "order_id already used" refusal, which CreatePayment resolves
// with the status API. No retry can charge a customer twice.
func (a *apiClient) createSnap(ctx context.Context, req *snap.Request, idemKey string, notifyURL string) (*snap.Response, []byte, error) {
	call := &sdkCall{ctx: ctx, api: a, op: opSnap}
	opts := &midtrans.ConfigOptions{}
	opts.SetPaymentIdempotencyKey(idemKey)
	if notifyURL != "" {
		opts.SetPaymentOverrideNotification(notifyURL)
	}
	c := snap.Client{ServerKey: a.serverKey, Env: a.env, HttpClient: call, Options: opts}
	resp, merr := c.CreateTransaction(req)
	if merr != nil {
		return nil, nil, a.callError(ctx, opSnap, req.TransactionDetails.OrderID, merr)
	}
	if resp.Token == "" || resp.RedirectURL == "" {
		return nil, nil, fmt.Errorf("%w: Midtrans answered the Snap request for order %s without a token or redirect_url", sdk.ErrUnavailable, req.TransactionDetails.OrderID)
	}
	return resp, call.body, nil
}

// status asks the status API (GET /v2/{id}/status) about an order id or a
// Midtrans transaction id. An id Midtrans does not know is
// payment.ErrUnknownOrder; note that a Snap transaction is unknown there
// until the customer picks a payment method.
func (a *apiClient) status(ctx context.Context, id string) (*coreapi.TransactionStatusResponse, []byte, error) {
	call := &sdkCall{ctx: ctx, api: a, op: opStatus}
	c := coreapi.Client{ServerKey: a.serverKey, Env: a.env, HttpClient: call, Options: &midtrans.ConfigOptions{}}
	// The SDK puts the id into the path as it is; escape it so an id with
	// "/", "?" or "#" cannot reach another endpoint.
	resp, merr := c.CheckTransaction(url.PathEscape(id))
	if merr != nil {
		return nil, nil, a.callError(ctx, opStatus, id, merr)
	}
	return resp, call.body, nil
}

// callError turns the SDK's error into one wrapping the sdk's sentinels.
// The caller's cancellation wins, so the host sees context.Canceled or
// context.DeadlineExceeded and not an upstream failure.
func (a *apiClient) callError(ctx context.Context, op, id string, merr *midtrans.Error) error {
	what := op + " " + id
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: gave up waiting for Midtrans: %w", what, err)
	}
	msg := merr.Message
	switch code := merr.StatusCode; {
	case code == 0:
		return fmt.Errorf("%w: %s: %s", sdk.ErrUnavailable, what, msg)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w: %s: Midtrans refused the server key (%d: %s); check server_key, and that environment matches it (sandbox keys start with SB-Mid-server-)",
			sdk.ErrFailedPrecondition, what, code, msg)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s: Midtrans has no such transaction (%s)", payment.ErrUnknownOrder, what, msg)
	case code == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s: Midtrans is rate limiting this merchant; retry later", sdk.ErrRateLimited, what)
	case op == opSnap && isDuplicateOrder(code, merr):
		return &duplicateOrderError{orderID: id, msg: msg}
	case code >= 400 && code < 500:
		return fmt.Errorf("%w: %s: Midtrans refused the request (%d: %s)", sdk.ErrInvalidArgument, what, code, msg)
	default:
		return fmt.Errorf("%w: %s: Midtrans failed (%d: %s); retry later", sdk.ErrUnavailable, what, code, msg)
	}
}

// duplicateOrderError is Snap's refusal of an order_id it has seen before.
type duplicateOrderError struct{ orderID, msg string }

func (e *duplicateOrderError) Error() string {
	return fmt.Sprintf("create Snap transaction %s: Midtrans already has this order_id (%s)", e.orderID, e.msg)
}

func (e *duplicateOrderError) Unwrap() error { return sdk.ErrAlreadyExists }

// isDuplicateOrder recognises Snap's "order_id already used" answer:
// 400 {"error_messages":["transaction_details.order_id sudah digunakan"]},
// in Indonesian or in English, or Core API's 406 "order_id has been paid
// and utilized".
func isDuplicateOrder(code int, merr *midtrans.Error) bool {
	if code == http.StatusNotAcceptable {
		return true
	}
	if code != http.StatusBadRequest && code != http.StatusConflict {
		return false
	}
	m := strings.ToLower(merr.Message)
	return strings.Contains(m, "order_id") &&
		(strings.Contains(m, "sudah digunakan") || strings.Contains(m, "already been taken") ||
			strings.Contains(m, "already used") || strings.Contains(m, "utilized"))
}

// Operations, as they appear in errors, logs and metrics.
const (
	opSnap   = "snap_create"
	opStatus = "status"
)

// sdkCall is the midtrans.HttpClient for one SDK call, bound to its
// context. body is the last successful response body, as received.
type sdkCall struct {
	ctx  context.Context
	api  *apiClient
	op   string
	body []byte
}

var _ midtrans.HttpClient = (*sdkCall)(nil)

// attemptResult is one HTTP exchange with Midtrans.
type attemptResult struct {
	status     int
	body       []byte
	retryAfter time.Duration
}

// Call implements midtrans.HttpClient: the SDK hands it the method, its URL
// for the environment, the server key, the options, the JSON body and where
// to decode the answer.
func (c *sdkCall) Call(method, rawURL string, apiKey *string, options *midtrans.ConfigOptions, body io.Reader, result any) *midtrans.Error {
	a := c.api
	target, err := a.rebase(rawURL)
	if err != nil {
		return &midtrans.Error{Message: err.Error(), RawError: err}
	}
	var payload []byte
	if body != nil {
		if payload, err = io.ReadAll(body); err != nil {
			return &midtrans.Error{Message: "read the request body: " + err.Error(), RawError: err}
		}
	}
	key := ""
	if apiKey != nil {
		key = *apiKey
	}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		res, err := c.attempt(method, target, key, options, payload)
		a.stats.apiCall(c.op, res, err, c.ctx.Err() != nil)
		if c.ctx.Err() != nil {
			return &midtrans.Error{Message: "canceled", RawError: c.ctx.Err()}
		}
		var merr *midtrans.Error
		retryable := false
		switch {
		case err != nil:
			merr = &midtrans.Error{Message: describeTransportError(err, a.timeout), RawError: err}
			retryable = true
		default:
			merr = responseError(res)
			retryable = merr != nil && retryableStatus(merr.StatusCode)
		}
		a.log.Debug("midtrans call", "op", c.op, "method", method, "path", pathOf(target), "attempt", attempt+1,
			"status", res.status, "duration", time.Since(start).Round(time.Millisecond), "error", errString(merr))
		if merr == nil {
			c.body = res.body
			if result != nil {
				if err := json.Unmarshal(res.body, result); err != nil {
					return &midtrans.Error{Message: "Midtrans answered with a body that is not the expected JSON: " + err.Error(), StatusCode: res.status, RawError: err}
				}
			}
			return nil
		}
		if !retryable || attempt >= a.retries {
			return merr
		}
		wait := backoff(attempt, res.retryAfter)
		if dl, ok := c.ctx.Deadline(); ok && time.Until(dl) < wait {
			return merr // no time left for another attempt
		}
		a.log.Warn("midtrans call failed, retrying", "op", c.op, "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "error", merr.Message)
		t := time.NewTimer(wait)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return &midtrans.Error{Message: "canceled", RawError: c.ctx.Err()}
		case <-t.C:
		}
	}
}

// attempt makes one HTTP exchange, bounded by the per-attempt timeout.
func (c *sdkCall) attempt(method, target, key string, options *midtrans.ConfigOptions, payload []byte) (attemptResult, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.api.timeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return attemptResult{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mikrobill-plugin-"+Name+"/"+Version)
	if key != "" {
		req.SetBasicAuth(key, "")
	}
	if options != nil {
		if options.PaymentIdempotencyKey != nil {
			req.Header.Set("Idempotency-Key", *options.PaymentIdempotencyKey)
		}
		if options.PaymentOverrideNotification != nil {
			req.Header.Set("X-Override-Notification", *options.PaymentOverrideNotification)
		}
		if options.PaymentAppendNotification != nil {
			req.Header.Set("X-Append-Notification", *options.PaymentAppendNotification)
		}
	}
	resp, err := c.api.hc.Do(req)
	if err != nil {
		return attemptResult{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return attemptResult{status: resp.StatusCode}, fmt.Errorf("read Midtrans' answer: %w", err)
	}
	return attemptResult{status: resp.StatusCode, body: raw, retryAfter: retryAfter(resp.Header)}, nil
}

// rebase moves a URL the SDK built for its environment onto the configured
// base URL. A URL on any other host is refused.
func (a *apiClient) rebase(sdkURL string) (string, error) {
	switch {
	case strings.HasPrefix(sdkURL, a.sdkSnap+"/"):
		return a.snapBase + strings.TrimPrefix(sdkURL, a.sdkSnap), nil
	case strings.HasPrefix(sdkURL, a.sdkCore+"/"):
		return a.coreBase + strings.TrimPrefix(sdkURL, a.sdkCore), nil
	default:
		return "", fmt.Errorf("the midtrans SDK asked for %s, which is neither its Snap nor its Core API URL", pathOf(sdkURL))
	}
}

// responseError reads Midtrans' answer: an HTTP error status, or a
// status_code of 400 and above in the body (the Core API also reports errors
// that way; 407 is an expired transaction, not an error). nil means success.
func responseError(res attemptResult) *midtrans.Error {
	var b struct {
		StatusCode    any      `json:"status_code"`
		StatusMessage string   `json:"status_message"`
		ErrorMessages []string `json:"error_messages"`
	}
	_ = json.Unmarshal(res.body, &b)
	msg := strings.Join(b.ErrorMessages, "; ")
	if msg == "" {
		msg = b.StatusMessage
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	code := res.status
	if code < 400 {
		bodyCode := 0
		switch v := b.StatusCode.(type) {
		case string:
			bodyCode, _ = strconv.Atoi(v)
		case float64:
			bodyCode = int(v)
		}
		if bodyCode < 400 || bodyCode == 407 {
			return nil
		}
		code = bodyCode
	}
	if msg == "" {
		msg = http.StatusText(code)
	}
	return &midtrans.Error{Message: msg, StatusCode: code}
}

// retryableStatus: Midtrans was busy or failed without saying the request
// was wrong.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff is the wait before retry number attempt+1: 250 ms doubling, with
// jitter, at most 4 s; a Retry-After from Midtrans counts, up to 10 s.
func backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := 250 * time.Millisecond << attempt
	if d > 4*time.Second {
		d = 4 * time.Second
	}
	d = d/2 + rand.N(d/2+1)
	if retryAfter > d {
		d = min(retryAfter, 10*time.Second)
	}
	return d
}

func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

func describeTransportError(err error, timeout time.Duration) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		if timeout <= 0 {
			return "Midtrans did not answer in time"
		}
		return fmt.Sprintf("Midtrans did not answer within %s", timeout)
	}
	return "cannot reach Midtrans: " + err.Error()
}

// pathOf returns a URL without scheme and host, for logs.
func pathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.EscapedPath()
}

func errString(e *midtrans.Error) string {
	if e == nil {
		return ""
	}
	return e.Message
}
