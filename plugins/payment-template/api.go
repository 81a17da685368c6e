package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// REPLACE: this file is the client of Example Pay's HTTP API (README.md).
// Swap the paths, the JSON shapes and the error format for your gateway's;
// keep the rest: a timeout on every attempt, a bounded number of retries
// that only repeat what is safe to repeat, the caller's context honoured
// everywhere, and errors mapped to the SDK's sentinels so the host answers
// operators and gateways with the right status.

// Retry policy. Creating a payment is safe to retry because every attempt
// carries the same Idempotency-Key; reading is always safe.
const (
	maxAttempts   = 3
	firstBackoff  = 200 * time.Millisecond
	maxRetryAfter = 5 * time.Second
	maxBodyBytes  = 1 << 20
)

// apiPayment is Example Pay's payment object.
type apiPayment struct {
	ID          string    `json:"id"`
	OrderID     string    `json:"order_id"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	Description string    `json:"description,omitempty"`
	CheckoutURL string    `json:"checkout_url,omitempty"`
	Method      string    `json:"method,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	PaidAt      time.Time `json:"paid_at,omitzero"`
}

// apiCreatePayment is the body of POST /v1/payments.
type apiCreatePayment struct {
	OrderID     string    `json:"order_id"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Description string    `json:"description,omitempty"`
	ReturnURL   string    `json:"return_url,omitempty"`
	CallbackURL string    `json:"callback_url,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// apiList is the answer of GET /v1/payments?order_id=...
type apiList struct {
	Data []apiPayment `json:"data"`
}

// apiErrorBody is Example Pay's error shape.
type apiErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiClient calls Example Pay. It holds the API key; never log it, nor the
// Authorization header.
type apiClient struct {
	base    string // without a trailing slash
	apiKey  string
	timeout time.Duration // per attempt
	http    *http.Client
	log     hclog.Logger

	mu      sync.Mutex
	failure string // why the last call failed on Example Pay's side; "" after a success
}

// lastFailure is why the last call to Example Pay failed, or "" when it
// worked: what CheckHealth reports, without calling the API itself.
func (c *apiClient) lastFailure() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failure
}

// record remembers how a call ended. Only failures that say something about
// Example Pay or the plugin's credentials count; a refused request or an
// impatient caller does not.
func (c *apiClient) record(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.failure = ""
	case errors.Is(err, sdk.ErrUnavailable), errors.Is(err, sdk.ErrRateLimited), errors.Is(err, sdk.ErrFailedPrecondition):
		c.failure = err.Error()
	}
}

func (c *apiClient) createPayment(ctx context.Context, body apiCreatePayment, idempotencyKey string) (*apiPayment, []byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, nil, err
	}
	var p apiPayment
	got, err := c.do(ctx, http.MethodPost, "/v1/payments", raw, idempotencyKey, &p)
	return &p, got, err
}

func (c *apiClient) getPayment(ctx context.Context, id string) (*apiPayment, []byte, error) {
	var p apiPayment
	got, err := c.do(ctx, http.MethodGet, "/v1/payments/"+url.PathEscape(id), nil, "", &p)
	return &p, got, err
}

// latestForOrder returns the newest payment of an order.
func (c *apiClient) latestForOrder(ctx context.Context, orderID string) (*apiPayment, []byte, error) {
	var list apiList
	if _, err := c.do(ctx, http.MethodGet, "/v1/payments?order_id="+url.QueryEscape(orderID), nil, "", &list); err != nil {
		return nil, nil, err
	}
	if len(list.Data) == 0 {
		return nil, nil, fmt.Errorf("%w: Example Pay has no payment for order %q", payment.ErrUnknownOrder, orderID)
	}
	p := list.Data[0] // newest first
	raw, err := json.Marshal(p)
	return &p, raw, err
}

// do sends one API request, retrying network failures, 429 and 5xx up to
// maxAttempts times, and decodes a 2xx answer into out. It returns the raw
// answer.
func (c *apiClient) do(ctx context.Context, method, path string, body []byte, idempotencyKey string, out any) (raw []byte, err error) {
	defer func() { c.record(err) }()
	var lastErr error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		raw, wait, err := c.attempt(ctx, method, path, body, idempotencyKey)
		if err == nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return nil, fmt.Errorf("%w: Example Pay answered %s %s with JSON this plugin cannot read: %v", sdk.ErrUnavailable, method, path, err)
			}
			return raw, nil
		}
		if wait < 0 || ctx.Err() != nil {
			return nil, err // not worth retrying, or the caller gave up
		}
		lastErr = err
		if attempt == maxAttempts {
			break
		}
		if wait == 0 {
			// Exponential backoff with jitter: 200ms, 400ms, ... +-25%.
			wait = firstBackoff << (attempt - 1)
			wait += time.Duration(rand.Int64N(int64(wait)/2)) - wait/4
		}
		c.log.Warn("Example Pay call failed; retrying", "method", method, "path", pathOnly(path), "attempt", attempt, "wait", wait, "error", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, fmt.Errorf("%s %s: %w", method, pathOnly(path), ctx.Err())
		}
	}
	return nil, fmt.Errorf("%w (gave up after %d attempts)", lastErr, maxAttempts)
}

// attempt sends the request once. wait is how long to wait before a retry
// (0: the default backoff), or negative when retrying cannot help.
func (c *apiClient) attempt(ctx context.Context, method, path string, body []byte, idempotencyKey string) (raw []byte, wait time.Duration, err error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, c.base+path, rd)
	if err != nil {
		return nil, -1, err
	}
	// REPLACE: your gateway's authentication (Basic auth, a signed request,
	// ...).
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mikrobill-plugin-"+Name+"/"+Version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	begin := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, -1, fmt.Errorf("%s %s: %w", method, pathOnly(path), ctx.Err())
		}
		// A network failure, or this attempt's timeout.
		return nil, 0, fmt.Errorf("%w: Example Pay did not answer %s %s: %v", sdk.ErrUnavailable, method, pathOnly(path), err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: reading Example Pay's answer to %s %s: %v", sdk.ErrUnavailable, method, pathOnly(path), err)
	}
	c.log.Debug("Example Pay call", "method", method, "path", pathOnly(path), "status", resp.StatusCode, "ms", time.Since(begin).Milliseconds())
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return raw, 0, nil
	}

	// REPLACE: your gateway's error format and codes.
	var e apiErrorBody
	_ = json.Unmarshal(raw, &e)
	msg := e.Error.Message
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	what := fmt.Sprintf("Example Pay answered %s %s with HTTP %d (%s): %s", method, pathOnly(path), resp.StatusCode, e.Error.Code, msg)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("%w: %s", sdk.ErrRateLimited, what)
	case resp.StatusCode >= 500:
		return nil, retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("%w: %s", sdk.ErrUnavailable, what)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, -1, fmt.Errorf("%w: %s; check api_key and environment in the plugin's settings", sdk.ErrFailedPrecondition, what)
	case resp.StatusCode == http.StatusNotFound:
		return nil, -1, fmt.Errorf("%w: %s", payment.ErrUnknownOrder, what)
	case e.Error.Code == "unsupported_currency":
		return nil, -1, fmt.Errorf("%w: %s", payment.ErrUnsupportedCurrency, what)
	case resp.StatusCode == http.StatusConflict:
		// idempotency_mismatch: the key was used for another request.
		return nil, -1, fmt.Errorf("%w: %s; a different payment needs a new idempotency key", sdk.ErrInvalidArgument, what)
	default:
		return nil, -1, fmt.Errorf("%w: %s", sdk.ErrInvalidArgument, what)
	}
}

// retryAfter reads a Retry-After header in seconds, capped; 0 when absent.
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(v)
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, maxRetryAfter)
}

// pathOnly drops the query from log lines and errors.
func pathOnly(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}
