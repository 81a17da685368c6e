package main

import (
	"bytes"
	"crypto/rand"
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

// A fake of Xendit's Invoices API on 127.0.0.1, answering with the shapes
// Xendit documents (https://developers.xendit.co/api-reference/#invoices),
// and the callbacks Xendit sends.

const (
	fakeSecretKey     = "xnd_development_0123456789abcdefghij"
	fakeCallbackToken = "cbtoken_0123456789abcdef"
)

type fakeXendit struct {
	srv *httptest.Server

	mu       sync.Mutex
	invoices map[string]*invoice // by id
	order    []string            // ids, oldest first
	stall    time.Duration
	failNext []int
	requests []fakeRequest
}

type fakeRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

func newFakeXendit(t testing.TB) *fakeXendit {
	t.Helper()
	f := &fakeXendit{invoices: map[string]*invoice{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/invoices", f.create)
	mux.HandleFunc("GET /v2/invoices/{id}", f.get)
	mux.HandleFunc("GET /v2/invoices", f.list)
	f.srv = httptest.NewServer(f.guard(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeXendit) settings() map[string]any {
	return map[string]any{"secret_key": fakeSecretKey, "callback_token": fakeCallbackToken, "base_url": f.srv.URL, "timeout_seconds": 2}
}

// guard records the request (reading its body first, so a stalled answer
// still sees the client give up), answers queued failures, stalls, and
// checks Basic auth as Xendit does.
func (f *fakeXendit) guard(next http.Handler) http.Handler {
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
		if fail != 0 {
			fakeError(w, fail, "SERVER_ERROR", "try again later")
			return
		}
		if user, pass, ok := r.BasicAuth(); !ok || user != fakeSecretKey || pass != "" {
			fakeError(w, http.StatusUnauthorized, "INVALID_API_KEY", "API key is invalid")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (f *fakeXendit) create(w http.ResponseWriter, r *http.Request) {
	var in createInvoice
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.ExternalID == "" || in.Amount == "" {
		fakeError(w, http.StatusBadRequest, "API_VALIDATION_ERROR", "external_id and amount are required")
		return
	}
	if in.Currency != "IDR" && in.Currency != "PHP" {
		fakeError(w, http.StatusBadRequest, "UNSUPPORTED_CURRENCY", "the currency "+in.Currency+" is not activated")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Millisecond)
	id := randomHex(12)
	inv := &invoice{ID: id, ExternalID: in.ExternalID, Status: "PENDING", Amount: in.Amount, Currency: in.Currency,
		InvoiceURL: "https://checkout-staging.xendit.co/web/" + id, Created: now, Updated: now,
		ExpiryDate: now.Add(time.Duration(in.InvoiceDuration) * time.Second)}
	f.invoices[id] = inv
	f.order = append(f.order, id)
	fakeJSON(w, http.StatusOK, inv)
}

func (f *fakeXendit) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invoices[r.PathValue("id")]
	if !ok {
		fakeError(w, http.StatusNotFound, "INVOICE_NOT_FOUND_ERROR", "Could not find invoice by id")
		return
	}
	fakeJSON(w, http.StatusOK, inv)
}

func (f *fakeXendit) list(w http.ResponseWriter, r *http.Request) {
	ext := r.URL.Query().Get("external_id")
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []invoice{}
	for _, id := range f.order {
		if inv := f.invoices[id]; ext == "" || inv.ExternalID == ext {
			out = append(out, *inv)
		}
	}
	fakeJSON(w, http.StatusOK, out)
}

// setStatus changes an invoice's status as if the customer had paid, or it
// had expired.
func (f *fakeXendit) setStatus(t testing.TB, id, status string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invoices[id]
	if !ok {
		t.Fatalf("fake Xendit: no invoice %q", id)
	}
	inv.Status, inv.Updated = status, time.Now().UTC().Truncate(time.Millisecond)
	if status == "PAID" || status == "SETTLED" {
		inv.PaidAt, inv.PaymentMethod, inv.PaymentChannel = inv.Updated, "QR_CODE", "QRIS"
	}
}

func (f *fakeXendit) setStall(d time.Duration) {
	f.mu.Lock()
	f.stall = d
	f.mu.Unlock()
}

func (f *fakeXendit) failWith(statuses ...int) {
	f.mu.Lock()
	f.failNext = append(f.failNext, statuses...)
	f.mu.Unlock()
}

func (f *fakeXendit) received() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// record is the fake's invoice behind a payment.
func (f *fakeXendit) record(t testing.TB, p payment.Payment) invoice {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invoices[p.ID]
	if !ok {
		t.Fatalf("fake Xendit: no invoice %q", p.ID)
	}
	return *inv
}

// callback is the invoice callback Xendit posts, with a token.
func callback(inv invoice, token string) sdk.HTTPRequest {
	body, err := json.Marshal(map[string]any{
		"id": inv.ID, "external_id": inv.ExternalID, "user_id": "5781d19b2e2385880609791c", "status": inv.Status,
		"merchant_name": "Xendit", "amount": inv.Amount, "paid_amount": inv.Amount, "currency": inv.Currency,
		"created": inv.Created, "updated": inv.Updated, "paid_at": inv.PaidAt, "payment_method": inv.PaymentMethod,
		"payment_channel": inv.PaymentChannel, "payer_email": "customer@example.net", "description": "Home 10M",
	})
	if err != nil {
		panic(err)
	}
	return rawCallback(body, token)
}

func rawCallback(body []byte, token string) sdk.HTTPRequest {
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"Xendit"}}
	if token != "" {
		h.Set(CallbackTokenHeader, token)
	}
	return sdk.HTTPRequest{Method: http.MethodPost, Path: "/webhooks/" + Name, Header: h, Body: body, RemoteAddr: "127.0.0.1:40000", ReceivedAt: time.Now()}
}

func fakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fakeError(w http.ResponseWriter, status int, code, msg string) {
	fakeJSON(w, status, map[string]string{"error_code": code, "message": msg})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// createInvoice is the body of POST /v2/invoices, as Xendit documents it:
// the fake has its own types, so that a field the plugin names wrongly is
// caught here.
type createInvoice struct {
	ExternalID         string      `json:"external_id"`
	Amount             json.Number `json:"amount"`
	Currency           string      `json:"currency"`
	PayerEmail         string      `json:"payer_email,omitempty"`
	Description        string      `json:"description,omitempty"`
	SuccessRedirectURL string      `json:"success_redirect_url,omitempty"`
	FailureRedirectURL string      `json:"failure_redirect_url,omitempty"`
	InvoiceDuration    int64       `json:"invoice_duration,omitempty"` // seconds
}

// invoice is Xendit's invoice object, and the body of an invoice callback
// (which has the same fields, paid_at and payment_channel once paid).
type invoice struct {
	ID             string      `json:"id"`
	ExternalID     string      `json:"external_id"`
	Status         string      `json:"status"`
	Amount         json.Number `json:"amount"`
	Currency       string      `json:"currency"`
	InvoiceURL     string      `json:"invoice_url,omitempty"`
	PaymentMethod  string      `json:"payment_method,omitempty"`
	PaymentChannel string      `json:"payment_channel,omitempty"`
	Created        time.Time   `json:"created,omitzero"`
	Updated        time.Time   `json:"updated,omitzero"`
	ExpiryDate     time.Time   `json:"expiry_date,omitzero"`
	PaidAt         time.Time   `json:"paid_at,omitzero"`
}
