// Package toypay is a small payment gateway plugin and a fake of its HTTP
// API: the conformance kit's reference gateway. The kit's own tests run it
// with one flaw at a time to show that each check catches its flaw; plugins
// in other languages that implement the same API (examples/node-gateway)
// run the whole kit against its Fake. Not a gateway to install. The API
// is JSON over HTTP with a bearer key; notifications are signed with
// HMAC-SHA256 over the raw body (header X-Toy-Signature, hex):
//
//	POST /v1/payments        {"order_id","amount","currency"} + Idempotency-Key -> 201 payment
//	GET  /v1/payments/{id}   -> 200 payment, or 404
//	GET  /v1/payments?order_id=... -> 200 the order's latest payment, or 404
//	payment: {"id","order_id","amount","currency","status": "unpaid"|"paid"|"failed"|"cancelled"|"expired"}
//	notification: {"event_id","payment_id","order_id","amount","currency","status"}
//
// A Gateway with a Flaw breaks one rule, for the tests that check that the
// kit catches it.
package toypay

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
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Flaw is one rule a broken gateway breaks; "" is none.
type Flaw string

const (
	// TrustsNotification reports paid from a signed notification without
	// asking the status API.
	TrustsNotification Flaw = "trusts-notification"
	// AcceptsReplays has no replay guard: it reports every notification
	// afresh, also one whose event id was used for another payment.
	AcceptsReplays Flaw = "accepts-replays"
	// ReplayIsError answers a repeat about the same payment with
	// payment.ErrReplay, as gateways built before Event.Duplicate did.
	ReplayIsError Flaw = "replay-is-error"
	// KeysEventOnly remembers event ids without their payment: an id
	// reused for another payment comes back as a duplicate.
	KeysEventOnly Flaw = "keys-event-only"
	// IgnoresDeadline calls the API without the call's context.
	IgnoresDeadline Flaw = "ignores-deadline"
	// SkipsSignature does not verify signatures.
	SkipsSignature Flaw = "skips-signature"
	// IgnoresAmount does not compare the notified amount.
	IgnoresAmount Flaw = "ignores-amount"
	// NoIdempotency makes a new payment for a key seen before.
	NoIdempotency Flaw = "no-idempotency"
	// UnknownIsInternal answers an unknown payment with a plain error.
	UnknownIsInternal Flaw = "unknown-is-internal"
	// AcceptsAnySettings validates no settings.
	AcceptsAnySettings Flaw = "accepts-any-settings"
	// BurnsEventEarly records a notification before it knows the payment
	// is paid and refuses its repeat with payment.ErrReplay.
	BurnsEventEarly Flaw = "burns-event-early"
	// PaidOnCreate answers a new payment as paid.
	PaidOnCreate Flaw = "paid-on-create"
	// UnconfirmedIsPrecondition refuses a paid notification the status API
	// does not back with sdk.ErrFailedPrecondition (the host's 422), not
	// payment.ErrUnconfirmed.
	UnconfirmedIsPrecondition Flaw = "unconfirmed-is-precondition"
	// AcceptsUnsigned verifies a signature only when one is sent.
	AcceptsUnsigned Flaw = "accepts-unsigned"
	// UnknownWordIsPaid counts a status word it does not know as paid.
	UnknownWordIsPaid Flaw = "unknown-word-is-paid"
	// HealthCallsAPI asks the API from CheckHealth.
	HealthCallsAPI Flaw = "health-calls-api"
	// ConcurrentFirsts reports every copy of a notification as a first
	// delivery when copies arrive at once (its record's answer ignored).
	ConcurrentFirsts Flaw = "concurrent-firsts"
	// MemoryReplays keeps its replay records in the process's memory,
	// lost at a restart.
	MemoryReplays Flaw = "memory-replays"
)

// memoryRecords are MemoryReplays' replay records.
var memoryRecords = sdktest.NewFakeHost()

// Name and Version of the plugin, as in testdata/toypay/plugin.json.
const (
	Name    = "payment-toypay"
	Version = "1.0.0"
)

// Gateway is the plugin.
type Gateway struct {
	sdk.Base
	// Flaw is the rule it breaks.
	Flaw Flaw

	mu  sync.RWMutex
	cfg toySettings
	hc  *http.Client
}

var _ payment.Gateway = (*Gateway)(nil)

type toySettings struct {
	BaseURL       string `json:"base_url"`
	APIKey        string `json:"api_key"`
	WebhookSecret string `json:"webhook_secret"`
}

// Describe implements sdk.Plugin.
func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: Name, Version: Version}, nil
}

// Configure implements sdk.Plugin.
func (g *Gateway) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	unknownWordIsPaid = g.Flaw == UnknownWordIsPaid
	var cfg toySettings
	if err := sdk.DecodeConfig(req.Settings, &cfg); err != nil {
		return nil, err
	}
	if g.Flaw != AcceptsAnySettings {
		var problems []string
		if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, "base_url must be an http(s) URL")
		}
		if cfg.APIKey == "" {
			problems = append(problems, "api_key is required")
		}
		if len(cfg.WebhookSecret) < 16 {
			problems = append(problems, "webhook_secret must be at least 16 characters")
		}
		if len(problems) > 0 {
			return nil, fmt.Errorf("%w: %s", sdk.ErrInvalidArgument, strings.Join(problems, "; "))
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cfg = cfg
	g.hc = &http.Client{Timeout: 30 * time.Second}
	return &sdk.ConfigureResponse{}, nil
}

func (g *Gateway) settings() (toySettings, *http.Client, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.hc == nil {
		return toySettings{}, nil, fmt.Errorf("%w: not configured", sdk.ErrFailedPrecondition)
	}
	return g.cfg, g.hc, nil
}

// CheckHealth implements sdk.Plugin.
func (g *Gateway) CheckHealth(ctx context.Context, _ *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	if _, _, err := g.settings(); err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: err.Error()}, nil
	}
	if g.Flaw == HealthCallsAPI {
		var p toyPayment
		_ = g.call(ctx, http.MethodGet, "/v1/payments/health", "", nil, &p)
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "ready"}, nil
}

// toyPayment is a payment as the API shows it.
type toyPayment struct {
	ID       string `json:"id"`
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
}

// toyStatuses are toypay's status words; any other counts as pending.
var toyStatuses = map[string]payment.Status{
	"unpaid": payment.StatusPending, "paid": payment.StatusPaid, "failed": payment.StatusFailed,
	"cancelled": payment.StatusCancelled, "expired": payment.StatusExpired,
}

// unknownWordIsPaid is the UnknownWordIsPaid flaw, set by the gateway that
// has it (the tests run one gateway per process).
var unknownWordIsPaid bool

// currencies toypay takes.
var currencies = []string{"IDR", "USD"}

func (p toyPayment) toPayment() payment.Payment {
	st, ok := toyStatuses[p.Status]
	if !ok {
		st = payment.StatusPending
		if unknownWordIsPaid {
			st = payment.StatusPaid
		}
	}
	return payment.Payment{ID: p.ID, OrderID: p.OrderID, Status: st, Amount: payment.Money{Amount: p.Amount, Currency: p.Currency}, GatewayStatus: p.Status}
}

// call does one API request and decodes a 2xx answer into out.
func (g *Gateway) call(ctx context.Context, method, path, key string, body any, out any) error {
	cfg, hc, err := g.settings()
	if err != nil {
		return err
	}
	if g.Flaw == IgnoresDeadline {
		ctx = context.Background()
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(cfg.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("%w: toypay API: %v", sdk.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		if g.Flaw == UnknownIsInternal {
			return errors.New("toypay API answered 404")
		}
		return fmt.Errorf("%w: toypay has no payment at %s", payment.ErrUnknownOrder, path)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%w: toypay API answered %d", sdk.ErrUnavailable, resp.StatusCode)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("toypay API answered unreadable JSON: %w", err)
	}
	return nil
}

// CreatePayment implements payment.Gateway.
func (g *Gateway) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if !slices.Contains(currencies, req.Amount.Currency) {
		return nil, fmt.Errorf("%w: toypay takes %s, not %s", payment.ErrUnsupportedCurrency, strings.Join(currencies, ", "), req.Amount.Currency)
	}
	key := req.IdempotencyKey
	if g.Flaw == NoIdempotency {
		key = ""
	}
	var p toyPayment
	body := map[string]any{"order_id": req.OrderID, "amount": req.Amount.Amount, "currency": req.Amount.Currency}
	if err := g.call(ctx, http.MethodPost, "/v1/payments", key, body, &p); err != nil {
		return nil, err
	}
	out := p.toPayment()
	if g.Flaw == PaidOnCreate {
		out.Status = payment.StatusPaid
	}
	return &payment.CreatePaymentResponse{Payment: out}, nil
}

// GetPayment implements payment.Gateway.
func (g *Gateway) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	path := "/v1/payments/" + url.PathEscape(req.ID)
	switch {
	case req.ID != "":
	case req.OrderID != "":
		path = "/v1/payments?order_id=" + url.QueryEscape(req.OrderID)
	default:
		return nil, fmt.Errorf("%w: give the payment's id or its order id", sdk.ErrInvalidArgument)
	}
	var p toyPayment
	if err := g.call(ctx, http.MethodGet, path, "", nil, &p); err != nil {
		return nil, err
	}
	return &payment.GetPaymentResponse{Payment: p.toPayment()}, nil
}

type toyNotification struct {
	EventID   string `json:"event_id"`
	PaymentID string `json:"payment_id"`
	OrderID   string `json:"order_id"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Status    string `json:"status"`
}

func toySign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// HandleWebhook implements payment.Gateway.
func (g *Gateway) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	cfg, _, err := g.settings()
	if err != nil {
		return nil, err
	}
	body := req.Request.Body
	if g.Flaw != SkipsSignature && (g.Flaw != AcceptsUnsigned || req.Request.Header.Get("X-Toy-Signature") != "") {
		got, err := hex.DecodeString(req.Request.Header.Get("X-Toy-Signature"))
		want, _ := hex.DecodeString(toySign(body, cfg.WebhookSecret))
		if err != nil || !hmac.Equal(got, want) {
			return nil, fmt.Errorf("%w: X-Toy-Signature does not match the body", payment.ErrInvalidSignature)
		}
	}
	var n toyNotification
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil || n.EventID == "" || n.PaymentID == "" {
		return nil, fmt.Errorf("%w: not a toypay notification", payment.ErrMalformedPayload)
	}
	// The replay record: "event:<id>" names the payment the notification
	// was about, in the durable store.
	replays := payment.ReplayRecords{Host: g.Host(), Prefix: "event:", TTL: replayTTL}
	if g.Flaw == MemoryReplays {
		replays.Host = memoryRecords
	}
	notified := payment.Money{Amount: n.Amount, Currency: n.Currency}
	ev := &payment.Event{EventID: n.EventID, PaymentID: n.PaymentID, OrderID: n.OrderID, Amount: notified, GatewayStatus: n.Status, Raw: body}
	if g.Flaw == KeysEventOnly {
		// Asks only whether the id was seen, not for which payment.
		if _, seen, err := g.Host().StoreGet(ctx, "event:"+n.EventID); err != nil {
			return nil, err
		} else if seen {
			return g.repeat(ev, n)
		}
	} else if g.Flaw != AcceptsReplays {
		if dup, err := replays.Check(ctx, n.EventID, n.PaymentID); err != nil {
			return nil, err
		} else if dup {
			return g.repeat(ev, n)
		}
	}
	if g.Flaw == ConcurrentFirsts {
		// Widen the flaw's window, so that copies sent at once all look
		// before any records, however the machine schedules them (a
		// loaded CI machine ran them one after another, and the flaw hid).
		time.Sleep(time.Second)
	}
	if g.Flaw == BurnsEventEarly {
		if _, err := replays.Record(ctx, n.EventID, n.PaymentID); err != nil {
			return nil, err
		}
	}
	if g.Flaw == TrustsNotification {
		if n.Status == "paid" {
			ev.Status, ev.Confirmed = payment.StatusPaid, true // it claims so
		}
	} else {
		resp, err := g.GetPayment(ctx, &payment.GetPaymentRequest{ID: n.PaymentID})
		if err != nil {
			return nil, err
		}
		p := resp.Payment
		if g.Flaw != IgnoresAmount && notified != p.Amount {
			return nil, fmt.Errorf("%w: notified %s, payment %s is %s", payment.ErrAmountMismatch, notified, p.ID, p.Amount)
		}
		ev.Status, ev.OrderID, ev.Amount, ev.Confirmed, ev.GatewayStatus = p.Status, p.OrderID, p.Amount, true, p.GatewayStatus
		if g.Flaw == UnconfirmedIsPrecondition && n.Status == "paid" && p.Status != payment.StatusPaid {
			return nil, fmt.Errorf("%w: notification %s says paid, the status API says %s", sdk.ErrFailedPrecondition, n.EventID, p.GatewayStatus)
		}
	}
	if ev.Status == payment.StatusPaid && g.Flaw != AcceptsReplays && g.Flaw != BurnsEventEarly {
		dup, err := replays.Record(ctx, n.EventID, n.PaymentID)
		if err != nil {
			return nil, err
		}
		ev.Duplicate = dup && g.Flaw != ConcurrentFirsts // a concurrent delivery recorded it first
	}
	return &payment.WebhookResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK}, Event: ev}, nil
}

// replayTTL is how long a replay record is kept: longer than toypay resends.
const replayTTL = 30 * 24 * time.Hour

// repeat answers a notification recorded before for its payment: the event
// again, marked Duplicate, without asking the status API (that is the work
// the record saves; the host confirms).
func (g *Gateway) repeat(ev *payment.Event, n toyNotification) (*payment.WebhookResponse, error) {
	if g.Flaw == ReplayIsError || g.Flaw == BurnsEventEarly {
		return nil, fmt.Errorf("%w: notification %s", payment.ErrReplay, n.EventID)
	}
	if n.Status == "paid" {
		ev.Status = payment.StatusPaid
	}
	ev.Duplicate = true
	return &payment.WebhookResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK}, Event: ev}, nil
}

// Fake is toypay's API on 127.0.0.1 and the notifications it sends.
type Fake struct {
	srv    *httptest.Server
	apiKey string
	secret string

	mu       sync.Mutex
	payments map[string]*toyPayment // by id
	byKey    map[string]string      // idempotency key -> id
	seq      int
	stall    time.Duration
	changed  chan struct{} // closed and replaced when stall changes
	closed   chan struct{}
}

var (
	_ paymenttest.Fake        = (*Fake)(nil)
	_ paymenttest.EventReuser = (*Fake)(nil)
)

// NewFake serves the API until the test ends.
func NewFake(t testing.TB) *Fake {
	f := &Fake{
		apiKey: "toy-api-key", secret: "toy-webhook-secret-0123456789",
		payments: map[string]*toyPayment{}, byKey: map[string]string{},
		changed: make(chan struct{}), closed: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payments", f.create)
	mux.HandleFunc("GET /v1/payments/{id}", f.get)
	mux.HandleFunc("GET /v1/payments", f.byOrder)
	f.srv = httptest.NewServer(f.auth(mux))
	t.Cleanup(func() {
		close(f.closed) // ends stalled requests, or Close would wait for them
		f.srv.Close()
	})
	return f
}

func (f *Fake) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		d, changed := f.stall, f.changed
		f.mu.Unlock()
		if d > 0 {
			select {
			case <-time.After(d):
			case <-changed:
			case <-r.Context().Done():
				return
			case <-f.closed:
				return
			}
		}
		if r.Header.Get("Authorization") != "Bearer "+f.apiKey {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OrderID  string `json:"order_id"`
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.OrderID == "" || in.Amount <= 0 {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	if id, ok := f.byKey[key]; ok && key != "" {
		writeJSON(w, http.StatusOK, f.payments[id])
		return
	}
	f.seq++
	p := &toyPayment{ID: fmt.Sprintf("toy_%d", f.seq), OrderID: in.OrderID, Amount: in.Amount, Currency: in.Currency, Status: "unpaid"}
	f.payments[p.ID] = p
	if key != "" {
		f.byKey[key] = p.ID
	}
	writeJSON(w, http.StatusCreated, p)
}

func (f *Fake) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.payments[r.PathValue("id")]
	if !ok {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (f *Fake) byOrder(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var latest *toyPayment
	for _, p := range f.payments {
		if p.OrderID == r.URL.Query().Get("order_id") && (latest == nil || p.ID > latest.ID) {
			latest = p
		}
	}
	if latest == nil {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, latest)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Settings implements paymenttest.Fake.
func (f *Fake) Settings() map[string]any {
	return map[string]any{"base_url": f.srv.URL, "api_key": f.apiKey, "webhook_secret": f.secret}
}

// InvalidSettings implements paymenttest.Fake.
func (f *Fake) InvalidSettings() map[string]any {
	return map[string]any{"base_url": "ftp://nowhere", "webhook_secret": "short"}
}

// Amount implements paymenttest.Fake.
func (f *Fake) Amount() payment.Money { return payment.Money{Amount: 150000, Currency: "IDR"} }

// SetPaid implements paymenttest.Fake.
func (f *Fake) SetPaid(t testing.TB, p payment.Payment) { f.setStatus(t, p, "paid") }

func (f *Fake) setStatus(t testing.TB, p payment.Payment, word string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tp, ok := f.payments[p.ID]
	if !ok {
		t.Fatalf("Fake: toypay has no payment %q", p.ID)
	}
	tp.Status = word
}

// Kinds implements paymenttest.Kinds: toypay builds every kind.
func (f *Fake) Kinds() []paymenttest.Kind { return paymenttest.AllKinds() }

// statusWords are the status words of the kinds that set one.
var statusWords = map[paymenttest.Kind]string{
	paymenttest.Failed: "failed", paymenttest.Cancelled: "cancelled", paymenttest.Expired: "expired", paymenttest.UnknownStatus: "chargeback_reversed",
}

// Notification implements paymenttest.Fake.
func (f *Fake) Notification(t testing.TB, p payment.Payment, k paymenttest.Kind) sdk.HTTPRequest {
	n := toyNotification{EventID: "evt_" + k.String() + "_" + p.ID, PaymentID: p.ID, OrderID: p.OrderID, Amount: p.Amount.Amount, Currency: p.Amount.Currency, Status: "paid"}
	switch k {
	case paymenttest.WrongAmount:
		n.Amount++
	case paymenttest.UnknownOrder:
		n.PaymentID, n.OrderID = "toy_never_made", "order-never-made"
	case paymenttest.Failed, paymenttest.Cancelled, paymenttest.Expired, paymenttest.UnknownStatus:
		n.Status = statusWords[k]
		f.setStatus(t, p, n.Status)
	}
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if k == paymenttest.Malformed {
		body = body[:len(body)/2]
	}
	sig := toySign(body, f.secret)
	header := http.Header{"Content-Type": {"application/json"}, "X-Toy-Signature": {sig}}
	switch k {
	case paymenttest.BadSignature:
		header.Set("X-Toy-Signature", toySign(body, "not-the-secret-at-all"))
	case paymenttest.Unsigned:
		header.Del("X-Toy-Signature")
	case paymenttest.EmptySignature:
		header.Set("X-Toy-Signature", "")
	case paymenttest.TamperedAmount:
		n.Amount++
		if body, err = json.Marshal(n); err != nil {
			t.Fatal(err)
		}
	}
	return sdk.HTTPRequest{
		Method: http.MethodPost, Path: "/webhooks/payment-toypay", RemoteAddr: "127.0.0.1:5555", Host: "billing.example.com",
		Header:     header,
		Body:       body,
		ReceivedAt: time.Now(),
	}
}

// ReusedEvent implements paymenttest.EventReuser: second's paid
// notification with the event id of first's.
func (f *Fake) ReusedEvent(t testing.TB, first, second payment.Payment) sdk.HTTPRequest {
	req := f.Notification(t, second, paymenttest.Paid)
	var n toyNotification
	if err := json.Unmarshal(req.Body, &n); err != nil {
		t.Fatal(err)
	}
	n.EventID = "evt_" + paymenttest.Paid.String() + "_" + first.ID
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = body
	req.Header.Set("X-Toy-Signature", toySign(body, f.secret))
	return req
}

// Stall implements paymenttest.Fake.
func (f *Fake) Stall(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stall = d
	close(f.changed)
	f.changed = make(chan struct{})
}
