package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// REPLACE: a fake of your gateway's HTTP API. It answers with the shapes
// the gateway documents (README.md specifies Example Pay's) on 127.0.0.1,
// and builds the notifications the gateway would send. Fake the gateway at
// its HTTP boundary only; never fake the plugin's own code.

const (
	fakeAPIKey        = "ek_test_0123456789abcdef"
	fakeWebhookSecret = "whsec_test_0123456789abcdef"
)

// fakeExamplePay is Example Pay's API on a loopback port.
type fakeExamplePay struct {
	srv *httptest.Server

	mu       sync.Mutex
	payments map[string]*apiPayment // by id
	order    []string               // ids, oldest first
	keys     map[string]fakeKeyUse  // Idempotency-Key -> first use
	stall    time.Duration
	failNext []int // statuses to answer the next requests with
	requests []fakeRequest
	now      func() time.Time
}

type fakeKeyUse struct {
	paymentID string
	bodySum   [32]byte
}

// fakeRequest is a request the fake received.
type fakeRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

func newFakeExamplePay(t testing.TB) *fakeExamplePay {
	t.Helper()
	f := &fakeExamplePay{payments: map[string]*apiPayment{}, keys: map[string]fakeKeyUse{}, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payments", f.create)
	mux.HandleFunc("GET /v1/payments/{id}", f.get)
	mux.HandleFunc("GET /v1/payments", f.list)
	f.srv = httptest.NewServer(f.guard(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the fake's base URL (the base_url setting).
func (f *fakeExamplePay) URL() string { return f.srv.URL }

// settings are valid settings pointing at the fake.
func (f *fakeExamplePay) settings() map[string]any {
	return map[string]any{"api_key": fakeAPIKey, "webhook_secret": fakeWebhookSecret, "base_url": f.srv.URL, "timeout_seconds": 2}
}

// guard records the request, answers queued failures, stalls, and checks
// the API key, as the real API does before anything else.
func (f *fakeExamplePay) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		stall := f.stall
		fail := 0
		if len(f.failNext) > 0 {
			fail, f.failNext = f.failNext[0], f.failNext[1:]
		}
		f.mu.Unlock()
		if stall > 0 {
			select {
			case <-time.After(stall):
			case <-r.Context().Done():
				return
			}
		}
		if fail == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			fakeError(w, fail, "rate_limited", "too many requests")
			return
		}
		if fail != 0 {
			fakeError(w, fail, "unavailable", "try again later")
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+fakeAPIKey {
			fakeError(w, http.StatusUnauthorized, "unauthorized", "invalid API key")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (f *fakeExamplePay) create(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var in apiCreatePayment
	if err := json.Unmarshal(raw, &in); err != nil {
		fakeError(w, http.StatusBadRequest, "invalid_request", "the body is not JSON")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	switch {
	case key == "":
		fakeError(w, http.StatusBadRequest, "idempotency_key_required", "the Idempotency-Key header is required")
		return
	case in.OrderID == "" || in.Amount <= 0:
		fakeError(w, http.StatusBadRequest, "invalid_request", "order_id and a positive amount are required")
		return
	case !slices.Contains([]string{"IDR", "SGD", "USD"}, in.Currency):
		fakeError(w, http.StatusBadRequest, "unsupported_currency", "currency "+in.Currency+" is not supported")
		return
	}
	sum := sha256.Sum256(raw)
	f.mu.Lock()
	defer f.mu.Unlock()
	if use, seen := f.keys[key]; seen {
		if use.bodySum != sum {
			fakeError(w, http.StatusConflict, "idempotency_mismatch", "this Idempotency-Key was used with another request")
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		fakeJSON(w, http.StatusOK, f.payments[use.paymentID])
		return
	}
	now := f.now().UTC().Truncate(time.Millisecond)
	id := "pay_" + randomHex(8)
	p := &apiPayment{ID: id, OrderID: in.OrderID, Amount: in.Amount, Currency: in.Currency, Status: "pending",
		Description: in.Description, CheckoutURL: f.srv.URL + "/checkout/" + id, CreatedAt: now, ExpiresAt: in.ExpiresAt}
	if p.ExpiresAt.IsZero() {
		p.ExpiresAt = now.Add(time.Hour)
	}
	f.payments[id] = p
	f.order = append(f.order, id)
	f.keys[key] = fakeKeyUse{paymentID: id, bodySum: sum}
	fakeJSON(w, http.StatusCreated, p)
}

func (f *fakeExamplePay) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.payments[r.PathValue("id")]
	if !ok {
		fakeError(w, http.StatusNotFound, "not_found", "no such payment")
		return
	}
	f.expire(p)
	fakeJSON(w, http.StatusOK, p)
}

func (f *fakeExamplePay) list(w http.ResponseWriter, r *http.Request) {
	orderID := r.URL.Query().Get("order_id")
	if orderID == "" {
		fakeError(w, http.StatusBadRequest, "invalid_request", "order_id is required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := apiList{Data: []apiPayment{}}
	for _, id := range slices.Backward(f.order) {
		if p := f.payments[id]; p.OrderID == orderID {
			f.expire(p)
			out.Data = append(out.Data, *p)
		}
	}
	fakeJSON(w, http.StatusOK, out)
}

func (f *fakeExamplePay) expire(p *apiPayment) {
	if p.Status == "pending" && f.now().After(p.ExpiresAt) {
		p.Status = "expired"
	}
}

// setStatus changes a payment's status as if the customer had acted.
func (f *fakeExamplePay) setStatus(t testing.TB, id, status string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.payments[id]
	if !ok {
		t.Fatalf("fake Example Pay: no payment %q", id)
	}
	p.Status = status
	if status == "paid" {
		p.PaidAt = f.now().UTC().Truncate(time.Millisecond)
		p.Method = "qris"
	}
}

// setStall makes every answer wait d (0: answer at once).
func (f *fakeExamplePay) setStall(d time.Duration) {
	f.mu.Lock()
	f.stall = d
	f.mu.Unlock()
}

// failWith answers the next requests with these HTTP statuses.
func (f *fakeExamplePay) failWith(statuses ...int) {
	f.mu.Lock()
	f.failNext = append(f.failNext, statuses...)
	f.mu.Unlock()
}

// received returns the requests received so far.
func (f *fakeExamplePay) received() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// notification builds the webhook Example Pay sends: the event's JSON,
// signed with secret.
func (f *fakeExamplePay) notification(eventID, eventType string, data apiPayment, secret string) sdk.HTTPRequest {
	return f.notificationAt(f.now(), eventID, eventType, data, secret)
}

// notificationAt is a notification sent at a given time.
func (f *fakeExamplePay) notificationAt(at time.Time, eventID, eventType string, data apiPayment, secret string) sdk.HTTPRequest {
	body, err := json.Marshal(notification{ID: eventID, Type: eventType, CreatedAt: at.UTC().Truncate(time.Second), Data: data})
	if err != nil {
		panic(err)
	}
	return f.signedAt(at, body, secret)
}

// signed is a webhook request with body, signed with secret now.
func (f *fakeExamplePay) signed(body []byte, secret string) sdk.HTTPRequest {
	return f.signedAt(f.now(), body, secret)
}

func (f *fakeExamplePay) signedAt(at time.Time, body []byte, secret string) sdk.HTTPRequest {
	return sdk.HTTPRequest{
		Method: http.MethodPost,
		Path:   "/webhooks/" + Name,
		Header: http.Header{
			"Content-Type":   {"application/json"},
			"User-Agent":     {"ExamplePay-Webhooks/1.0"},
			signature.Header: {signature.Sign(body, secret, at)},
		},
		Body:       body,
		RemoteAddr: "127.0.0.1:40000",
		ReceivedAt: at,
	}
}

// record returns the fake's record of a payment made through the plugin.
func (f *fakeExamplePay) record(t testing.TB, p payment.Payment) apiPayment {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	got, ok := f.payments[p.ID]
	if !ok {
		t.Fatalf("fake Example Pay: no payment %q", p.ID)
	}
	return *got
}

func fakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fakeError(w http.ResponseWriter, status int, code, msg string) {
	var e apiErrorBody
	e.Error.Code, e.Error.Message = code, msg
	fakeJSON(w, status, e)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// apiCreatePayment is the body of POST /v1/payments, as the fake reads it.
type apiCreatePayment struct {
	OrderID     string    `json:"order_id"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Description string    `json:"description,omitempty"`
	ReturnURL   string    `json:"return_url,omitempty"`
	CallbackURL string    `json:"callback_url,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// apiErrorBody is Example Pay's error answer.
type apiErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiPayment is Example Pay's payment object, and the body of POST
// /v1/payments (the fields the API sets are left out there). The fake has
// its own types, so that a field the plugin names wrongly is caught here.
type apiPayment struct {
	ID          string    `json:"id,omitempty"`
	OrderID     string    `json:"order_id"`
	Amount      int64     `json:"amount"` // minor units, as payment.Money
	Currency    string    `json:"currency"`
	Status      string    `json:"status,omitempty"`
	Description string    `json:"description,omitempty"`
	CheckoutURL string    `json:"checkout_url,omitempty"`
	Method      string    `json:"method,omitempty"`
	ReturnURL   string    `json:"return_url,omitempty"`
	CallbackURL string    `json:"callback_url,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	PaidAt      time.Time `json:"paid_at,omitzero"`
}

// apiList is the answer of GET /v1/payments?order_id=...
type apiList struct {
	Data []apiPayment `json:"data"`
}

// notification is the body Example Pay posts to the webhook URL.
type notification struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	CreatedAt time.Time  `json:"created_at"`
	Data      apiPayment `json:"data"`
}
