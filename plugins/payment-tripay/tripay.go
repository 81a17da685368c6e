package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Tripay's API roots (the base_url setting replaces them).
const (
	SandboxBaseURL    = "https://tripay.co.id/api-sandbox/"
	ProductionBaseURL = "https://tripay.co.id/api/"
)

// maxResponseBytes bounds what is read of one Tripay answer.
const maxResponseBytes = 1 << 20

// RequestSignature is the signature of a closed-payment transaction request:
// the hex HMAC-SHA256 of merchant code, merchant reference and amount, keyed
// with the merchant's private key.
func RequestSignature(merchantCode, merchantRef string, amount int64, privateKey string) string {
	mac := hmac.New(sha256.New, []byte(privateKey))
	mac.Write([]byte(merchantCode + merchantRef + strconv.FormatInt(amount, 10)))
	return hex.EncodeToString(mac.Sum(nil))
}

// CallbackSignature is the X-Callback-Signature Tripay sends with a
// callback: the hex HMAC-SHA256 of the raw body, keyed with the private key.
func CallbackSignature(body []byte, privateKey string) string {
	mac := hmac.New(sha256.New, []byte(privateKey))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// validCallbackSignature compares header with the body's signature in
// constant time.
func validCallbackSignature(header string, body []byte, privateKey string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(header))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(privateKey))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// apiClient calls Tripay's HTTP API. It is immutable once built; Configure
// replaces it.
type apiClient struct {
	base         *url.URL // ends with "/"
	apiKey       string
	privateKey   string
	merchantCode string
	http         *http.Client
	// timeout bounds one attempt (connect, request, response body).
	timeout time.Duration
	// attempts is how often a safe (read-only) call is tried in all.
	attempts int
	// backoff is the first pause between attempts; it doubles, with jitter.
	backoff time.Duration
	log     func() hclog.Logger
	stats   *stats
}

// apiError is an answer from Tripay that is not a success, or a failure to
// get one. It wraps the sdk sentinel that tells the host what to do.
type apiError struct {
	op         string
	httpStatus int // 0 when no answer came
	message    string
	sentinel   error
	// retryable: the same request may succeed later and is safe to repeat
	// when it does not create anything.
	retryable bool
	// rejected: Tripay answered and refused the request; nothing happened
	// on its side.
	rejected bool
}

func (e *apiError) Error() string {
	if e.httpStatus == 0 {
		return fmt.Sprintf("tripay %s: %s", e.op, e.message)
	}
	return fmt.Sprintf("tripay %s: HTTP %d: %s", e.op, e.httpStatus, e.message)
}

func (e *apiError) Unwrap() error { return e.sentinel }

// envelope is how Tripay wraps every answer.
type envelope struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call sends one request and decodes the envelope. Read-only calls (retry
// true) are tried up to c.attempts times on network errors, timeouts, 429
// and 5xx, with exponential backoff and jitter; the caller's context bounds
// the whole and ends the waiting at once.
func (c *apiClient) call(ctx context.Context, method, op string, query url.Values, body any, retry bool) (*envelope, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("tripay %s: encode request: %w", op, err)
		}
	}
	attempts := 1
	if retry && c.attempts > 1 {
		attempts = c.attempts
	}
	pause := c.backoff
	for attempt := 1; ; attempt++ {
		env, err := c.once(ctx, method, op, query, payload)
		var ae *apiError
		if err == nil || attempt >= attempts || !errors.As(err, &ae) || !ae.retryable {
			return env, err
		}
		wait := pause/2 + rand.N(pause/2+1)
		c.log().Debug("tripay call failed, retrying", "op", op, "attempt", attempt, "wait", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("tripay %s: %w", op, ctx.Err())
		case <-t.C:
		}
		pause *= 2
	}
}

func (c *apiClient) once(ctx context.Context, method, op string, query url.Values, payload []byte) (*envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tripay %s: %w", op, err)
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base.JoinPath(op)
	u.RawQuery = query.Encode()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("tripay %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mikrobill-plugin-payment-tripay/"+Version)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	env, status, err := c.roundTrip(ctx, actx, req, op)
	c.stats.apiCall(op, err)
	c.log().Debug("tripay call", "op", op, "method", method, "http_status", status, "duration", time.Since(start).Round(time.Millisecond), "ok", err == nil)
	return env, err
}

func (c *apiClient) roundTrip(ctx, actx context.Context, req *http.Request, op string) (*envelope, int, error) {
	noAnswer := func(err error) error {
		switch {
		case ctx.Err() != nil: // the caller gave up or ran out of time
			return fmt.Errorf("tripay %s: %w", op, ctx.Err())
		case actx.Err() != nil:
			return &apiError{op: op, message: fmt.Sprintf("no answer within %s; Tripay may be slow or unreachable, retry later", c.timeout), sentinel: sdk.ErrUnavailable, retryable: true}
		default:
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL is in op already
			}
			return &apiError{op: op, message: fmt.Sprintf("cannot reach Tripay at %s: %v", c.base.Host, err), sentinel: sdk.ErrUnavailable, retryable: true}
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, noAnswer(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, resp.StatusCode, noAnswer(err)
	}

	status := resp.StatusCode
	var env envelope
	jsonErr := json.Unmarshal(raw, &env)
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return nil, status, &apiError{op: op, httpStatus: status, message: messageOr(env.Message, "access refused") +
			"; check api_key and mode (sandbox keys belong to api-sandbox, production keys to api)", sentinel: sdk.ErrFailedPrecondition, rejected: true}
	case status == http.StatusTooManyRequests:
		return nil, status, &apiError{op: op, httpStatus: status, message: messageOr(env.Message, "too many requests"), sentinel: sdk.ErrRateLimited, retryable: true}
	case status >= 500:
		return nil, status, &apiError{op: op, httpStatus: status, message: messageOr(env.Message, "server error") + "; retry later", sentinel: sdk.ErrUnavailable, retryable: true}
	case jsonErr != nil:
		return nil, status, &apiError{op: op, httpStatus: status, message: "the answer is not Tripay's JSON envelope (is base_url right?)", sentinel: sdk.ErrUnavailable}
	case status >= 300 && status < 400:
		return nil, status, &apiError{op: op, httpStatus: status, message: "redirects are not followed; check base_url", sentinel: sdk.ErrFailedPrecondition}
	case !env.Success || status >= 400:
		return &env, status, &apiError{op: op, httpStatus: status, message: messageOr(env.Message, "request refused"), sentinel: sdk.ErrInvalidArgument, rejected: true}
	}
	return &env, status, nil
}

func messageOr(msg, fallback string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return fallback
	}
	const maxLen = 200
	if len(msg) > maxLen {
		msg = strings.ToValidUTF8(msg[:maxLen], "") + "..."
	}
	return msg
}

// createRequest is the body of POST transaction/create.
type createRequest struct {
	Method        string      `json:"method"`
	MerchantRef   string      `json:"merchant_ref"`
	Amount        int64       `json:"amount"`
	CustomerName  string      `json:"customer_name"`
	CustomerEmail string      `json:"customer_email"`
	CustomerPhone string      `json:"customer_phone,omitempty"`
	OrderItems    []orderItem `json:"order_items"`
	CallbackURL   string      `json:"callback_url,omitempty"`
	ReturnURL     string      `json:"return_url,omitempty"`
	ExpiredTime   int64       `json:"expired_time,omitempty"`
	Signature     string      `json:"signature"`
}

type orderItem struct {
	SKU      string  `json:"sku,omitempty"`
	Name     string  `json:"name"`
	Price    flexInt `json:"price"`
	Quantity flexInt `json:"quantity"`
	Subtotal flexInt `json:"subtotal,omitzero"`
}

// transaction is a closed-payment transaction as transaction/create,
// transaction/detail and merchant/transactions describe it.
type transaction struct {
	Reference     string     `json:"reference"`
	MerchantRef   string     `json:"merchant_ref"`
	PaymentMethod string     `json:"payment_method"`
	PaymentName   string     `json:"payment_name"`
	Amount        flexInt    `json:"amount"`
	FeeMerchant   flexInt    `json:"fee_merchant"`
	FeeCustomer   flexInt    `json:"fee_customer"`
	TotalFee      flexInt    `json:"total_fee"`
	AmountRecv    flexInt    `json:"amount_received"`
	PayCode       flexString `json:"pay_code"`
	PayURL        flexString `json:"pay_url"`
	CheckoutURL   flexString `json:"checkout_url"`
	Status        string     `json:"status"`
	PaidAt        flexInt    `json:"paid_at"`
	ExpiredTime   flexInt    `json:"expired_time"`
	ExpiredAt     flexInt    `json:"expired_at"` // merchant/transactions
	CreatedAt     flexInt    `json:"created_at"`
	QRString      flexString `json:"qr_string"`
	Instructions  []struct {
		Title string   `json:"title"`
		Steps []string `json:"steps"`
	} `json:"instructions"`

	raw json.RawMessage
}

// invoiceAmount is the amount the merchant asked for (the amount of
// transaction/create). Tripay's "amount" on a transaction is what the
// customer pays, which includes fee_customer when the channel's fee is
// charged to the customer; amount_received is what the merchant gets, the
// invoice amount less fee_merchant. So the invoice amount is
// amount_received + fee_merchant, which equals amount - fee_customer.
func (t *transaction) invoiceAmount() int64 {
	if t.AmountRecv.set {
		return t.AmountRecv.v + t.FeeMerchant.v
	}
	return t.Amount.v - t.FeeCustomer.v
}

func (c *apiClient) createTransaction(ctx context.Context, req *createRequest) (*transaction, error) {
	req.Signature = RequestSignature(c.merchantCode, req.MerchantRef, req.Amount, c.privateKey)
	env, err := c.call(ctx, http.MethodPost, "transaction/create", nil, req, false)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.rejected && ae.sentinel == sdk.ErrInvalidArgument {
			if strings.Contains(strings.ToLower(ae.message), "signature") {
				ae.sentinel = sdk.ErrFailedPrecondition
				ae.message += "; check private_key and merchant_code"
			} else {
				ae.sentinel = payment.ErrDeclined
			}
		}
		return nil, err
	}
	return decodeTransaction("transaction/create", env.Data)
}

// transactionDetail returns the transaction with Tripay's reference; an
// unknown reference is payment.ErrUnknownOrder.
func (c *apiClient) transactionDetail(ctx context.Context, reference string) (*transaction, error) {
	env, err := c.call(ctx, http.MethodGet, "transaction/detail", url.Values{"reference": {reference}}, nil, true)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.rejected && ae.sentinel == sdk.ErrInvalidArgument {
			// The reference is the only parameter: a refusal means Tripay
			// has no such transaction for this merchant.
			return nil, fmt.Errorf("%w: Tripay has no transaction %q (%s)", payment.ErrUnknownOrder, reference, ae.message)
		}
		return nil, err
	}
	t, err := decodeTransaction("transaction/detail", env.Data)
	if err != nil {
		return nil, err
	}
	if t.Reference != reference {
		return nil, fmt.Errorf("tripay transaction/detail: asked for %q, got %q: %w", reference, t.Reference, sdk.ErrUnavailable)
	}
	return t, nil
}

// transactionsByMerchantRef lists the merchant's transactions for one
// merchant_ref, newest first.
func (c *apiClient) transactionsByMerchantRef(ctx context.Context, merchantRef string) ([]*transaction, error) {
	q := url.Values{"merchant_ref": {merchantRef}, "sort": {"desc"}, "per_page": {"50"}, "page": {"1"}}
	env, err := c.call(ctx, http.MethodGet, "merchant/transactions", q, nil, true)
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, &raws); err != nil {
			return nil, &apiError{op: "merchant/transactions", message: "data is not a list: " + err.Error(), sentinel: sdk.ErrUnavailable}
		}
	}
	var out []*transaction
	for _, r := range raws {
		t, err := decodeTransaction("merchant/transactions", r)
		if err != nil {
			return nil, err
		}
		if t.MerchantRef == merchantRef { // the filter is Tripay's; check it
			out = append(out, t)
		}
	}
	return out, nil
}

func decodeTransaction(op string, data json.RawMessage) (*transaction, error) {
	var t transaction
	if err := json.Unmarshal(data, &t); err != nil || t.Reference == "" {
		if err == nil {
			err = errors.New("no reference")
		}
		return nil, &apiError{op: op, message: "unexpected transaction data: " + err.Error(), sentinel: sdk.ErrUnavailable}
	}
	t.raw = append(json.RawMessage(nil), data...)
	return &t, nil
}

// channel is one entry of merchant/payment-channel.
type channel struct {
	Group       string  `json:"group"`
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	FeeCustomer fee     `json:"fee_customer"`
	MinAmount   flexInt `json:"minimum_amount"`
	MaxAmount   flexInt `json:"maximum_amount"`
	Active      bool    `json:"active"`
}

type fee struct {
	Flat    flexInt   `json:"flat"`
	Percent flexFloat `json:"percent"`
}

func (c *apiClient) paymentChannels(ctx context.Context) ([]channel, error) {
	env, err := c.call(ctx, http.MethodGet, "merchant/payment-channel", nil, nil, true)
	if err != nil {
		return nil, err
	}
	var out []channel
	if err := json.Unmarshal(env.Data, &out); err != nil {
		return nil, &apiError{op: "merchant/payment-channel", message: "unexpected channel data: " + err.Error(), sentinel: sdk.ErrUnavailable}
	}
	return out, nil
}

// flexInt is an integer that Tripay sends as a number, a numeric string
// ("1582856000", "150000.00") or null.
type flexInt struct {
	v   int64
	set bool
}

func (f flexInt) MarshalJSON() ([]byte, error) { return []byte(strconv.FormatInt(f.v, 10)), nil }

// IsZero lets omitzero drop unset values.
func (f flexInt) IsZero() bool { return !f.set && f.v == 0 }

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = flexInt{}
		return nil
	}
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
		if s == "" {
			*f = flexInt{}
			return nil
		}
	}
	whole, frac, _ := strings.Cut(s, ".")
	if strings.Trim(frac, "0") != "" {
		return fmt.Errorf("%s is not a whole number", s)
	}
	v, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an integer", s)
	}
	*f = flexInt{v: v, set: true}
	return nil
}

// flexString is a string that Tripay sometimes sends as a number
// (pay_code) or null.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch {
	case s == "null":
		*f = ""
	case strings.HasPrefix(s, `"`):
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = flexString(v)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("%s is neither a string nor a number", s)
		}
		*f = flexString(n)
	}
	return nil
}

// flexFloat is a number that Tripay sends as a number or a string ("0.70").
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = 0
		return nil
	}
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
	}
	if s == "" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%s is not a number", s)
	}
	*f = flexFloat(v)
	return nil
}
