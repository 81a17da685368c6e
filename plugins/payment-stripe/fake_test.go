package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials the tests configure; the fake accepts only testKey.
const (
	testKey     = "sk_test_51FakeKeyForMikrobillTests0123456789"
	testSecret  = "whsec_TestSigningSecretNumberOne0123456789"
	testSecret2 = "whsec_TestSigningSecretNumberTwo0123456789"
)

// fakeStripe is Stripe's API as far as the plugin uses it, on 127.0.0.1:
// form-encoded requests with a bearer key, JSON answers in Stripe's
// documented shapes (checkout.session, refund, and error objects
// {"error": {"type", "code", "param", "message"}}), Idempotency-Key replay,
// and the event objects and Stripe-Signature headers its webhooks carry.
type fakeStripe struct {
	t   testing.TB
	srv *httptest.Server
	// key is the API key it accepts.
	key string

	mu       sync.Mutex
	seq      int
	sessions map[string]*fakeSession
	// paidEvents is the id of the last paid event made about a session.
	paidEvents map[string]string
	// idem maps an Idempotency-Key to the request it came with and the
	// answer, as Stripe keeps them for 24 hours.
	idem     map[string]idemEntry
	requests []fakeRequest
	// failures are status codes to answer the next requests with, in order.
	failures []int
	stall    time.Duration
	now      func() time.Time
}

type idemEntry struct {
	path, form string
	status     int
	body       []byte
}

// fakeRequest is a request the fake received.
type fakeRequest struct {
	Method, Path   string
	Form           url.Values
	Header         http.Header
	IdempotencyKey string
}

// fakeSession is a Checkout Session in the fake.
type fakeSession struct {
	ID, OrderID, Currency   string
	Amount                  int64
	Status, PaymentStatus   string
	Created, ExpiresAt      int64
	SuccessURL, CancelURL   string
	CustomerEmail           string
	Metadata                map[string]string
	PaymentMethodTypes      []string
	PaymentIntent, PIStatus string
	ChargeID                string
	ChargeCreated           int64
	AmountRefunded          int64
	Livemode                bool
	LineItems               []fakeLineItem
}

type fakeLineItem struct {
	Name     string
	Amount   int64
	Quantity int64
}

func newFakeStripe(t testing.TB) *fakeStripe {
	f := &fakeStripe{
		t: t, key: testKey, sessions: map[string]*fakeSession{}, paidEvents: map[string]string{}, idem: map[string]idemEntry{}, now: time.Now,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the fake's base URL (the plugin's api_base_url).
func (f *fakeStripe) URL() string { return f.srv.URL }

// settings are valid settings pointing at the fake.
func (f *fakeStripe) settings() map[string]any {
	return map[string]any{
		"secret_key":          testKey,
		"webhook_secrets":     []string{testSecret},
		"api_base_url":        f.URL(),
		"timeout_seconds":     5,
		"max_network_retries": 1,
	}
}

func (f *fakeStripe) setStall(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stall = d
}

// setKey changes the API key the fake accepts.
func (f *fakeStripe) setKey(k string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key = k
}

// dropConnection as a failure closes the connection without an answer.
const dropConnection = -1

// failNext makes the next requests fail with these status codes (or
// dropConnection).
func (f *fakeStripe) failNext(codes ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, codes...)
}

// received returns the requests so far.
func (f *fakeStripe) received() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeStripe) sessionCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

func (f *fakeStripe) update(id string, fn func(s *fakeSession)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[id]
	if s == nil {
		f.t.Fatalf("fake Stripe: no session %s", id)
	}
	fn(s)
}

// setPaid completes a session paid (by card).
func (f *fakeStripe) setPaid(id string) {
	f.update(id, func(s *fakeSession) {
		s.Status, s.PaymentStatus = "complete", "paid"
		s.PaymentIntent, s.PIStatus = "pi_"+strings.TrimPrefix(s.ID, "cs_test_"), "succeeded"
		s.ChargeID, s.ChargeCreated = "ch_"+strings.TrimPrefix(s.ID, "cs_test_"), f.now().Unix()
	})
}

// setProcessing completes a session with an async method still processing.
func (f *fakeStripe) setProcessing(id string) {
	f.update(id, func(s *fakeSession) {
		s.Status, s.PaymentStatus = "complete", "unpaid"
		s.PaymentIntent, s.PIStatus = "pi_"+strings.TrimPrefix(s.ID, "cs_test_"), "processing"
	})
}

// setAsyncFailed fails the async payment of a completed session.
func (f *fakeStripe) setAsyncFailed(id string) {
	f.update(id, func(s *fakeSession) {
		s.Status, s.PaymentStatus = "complete", "unpaid"
		s.PaymentIntent, s.PIStatus = "pi_"+strings.TrimPrefix(s.ID, "cs_test_"), "requires_payment_method"
	})
}

func (f *fakeStripe) setExpired(id string) {
	f.update(id, func(s *fakeSession) { s.Status = "expired" })
}

// URL is the hosted page's address while the session is open.
func (s *fakeSession) URL() string {
	if s.Status != "open" {
		return ""
	}
	return "https://checkout.stripe.com/c/pay/" + s.ID
}

// object is the session as Stripe's API shows it; expand names what to
// expand ("payment_intent", "payment_intent.latest_charge").
func (s *fakeSession) object(expand []string) map[string]any {
	nullable := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	meta := map[string]string{}
	for k, v := range s.Metadata {
		meta[k] = v
	}
	var pi any = nullable(s.PaymentIntent)
	if s.PaymentIntent != "" && (slices.Contains(expand, "payment_intent") || slices.Contains(expand, "payment_intent.latest_charge")) {
		var charge any = nullable(s.ChargeID)
		if s.ChargeID != "" && slices.Contains(expand, "payment_intent.latest_charge") {
			charge = map[string]any{
				"id": s.ChargeID, "object": "charge", "amount": s.Amount, "amount_refunded": s.AmountRefunded,
				"created": s.ChargeCreated, "currency": s.Currency, "paid": true, "status": "succeeded",
				"refunded": s.AmountRefunded == s.Amount, "payment_intent": s.PaymentIntent, "livemode": s.Livemode,
			}
		}
		pi = map[string]any{
			"id": s.PaymentIntent, "object": "payment_intent", "amount": s.Amount, "currency": s.Currency,
			"status": s.PIStatus, "latest_charge": charge, "livemode": s.Livemode, "metadata": meta,
		}
	}
	return map[string]any{
		"id":                   s.ID,
		"object":               "checkout.session",
		"amount_subtotal":      s.Amount,
		"amount_total":         s.Amount,
		"cancel_url":           nullable(s.CancelURL),
		"client_reference_id":  nullable(s.OrderID),
		"created":              s.Created,
		"currency":             s.Currency,
		"customer":             nil,
		"customer_email":       nullable(s.CustomerEmail),
		"expires_at":           s.ExpiresAt,
		"livemode":             s.Livemode,
		"metadata":             meta,
		"mode":                 "payment",
		"payment_intent":       pi,
		"payment_method_types": s.PaymentMethodTypes,
		"payment_status":       s.PaymentStatus,
		"status":               s.Status,
		"success_url":          s.SuccessURL,
		"ui_mode":              "hosted",
		"url":                  nullable(s.URL()),
	}
}

// stripeError is Stripe's error object.
func stripeError(typ, code, param, msg string) map[string]any {
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	return map[string]any{"error": e}
}

func writeJSON(w http.ResponseWriter, status int, v any) []byte {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake"+strconv.Itoa(int(time.Now().UnixNano()%1e6)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return body
}

func (f *fakeStripe) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	form := r.Form
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeJSON(w, http.StatusBadRequest, stripeError("invalid_request_error", "", "", "expected a form-encoded body, got "+r.Header.Get("Content-Type")))
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Form: form, Header: r.Header.Clone(),
		IdempotencyKey: r.Header.Get("Idempotency-Key")})
	stall, apiKey := f.stall, f.key
	var fail int
	if len(f.failures) > 0 {
		fail, f.failures = f.failures[0], f.failures[1:]
	}
	f.mu.Unlock()

	if stall > 0 {
		select {
		case <-time.After(stall):
		case <-r.Context().Done():
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+apiKey {
		writeJSON(w, http.StatusUnauthorized, stripeError("invalid_request_error", "", "",
			"Invalid API Key provided: sk_test_****"+last4(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))))
		return
	}
	if r.Header.Get("Stripe-Version") == "" {
		writeJSON(w, http.StatusBadRequest, stripeError("invalid_request_error", "", "", "no Stripe-Version header"))
		return
	}
	if fail == dropConnection {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	if fail != 0 {
		writeJSON(w, fail, stripeError("api_error", "", "", fmt.Sprintf("fake failure %d", fail)))
		return
	}

	// Idempotency-Key: the same key with the same parameters gets the first
	// answer again; with other parameters, an idempotency_error.
	key := r.Header.Get("Idempotency-Key")
	if r.Method == http.MethodPost && key != "" {
		f.mu.Lock()
		prev, seen := f.idem[key]
		f.mu.Unlock()
		if seen {
			if prev.path != r.URL.Path || prev.form != form.Encode() {
				writeJSON(w, http.StatusBadRequest, stripeError("idempotency_error", "", "",
					"Keys for idempotent requests can only be used with the same parameters they were first used with."))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.status)
			_, _ = w.Write(prev.body)
			return
		}
	}
	rec := httptest.NewRecorder()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions":
		f.createSession(rec, form)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/checkout/sessions/"):
		f.retrieveSession(rec, strings.TrimPrefix(r.URL.Path, "/v1/checkout/sessions/"), listParam(form, "expand"))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refunds":
		f.createRefund(rec, form)
	default:
		writeJSON(rec, http.StatusNotFound, stripeError("invalid_request_error", "", "", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+")"))
	}
	if r.Method == http.MethodPost && key != "" {
		f.mu.Lock()
		f.idem[key] = idemEntry{path: r.URL.Path, form: form.Encode(), status: rec.Code, body: rec.Body.Bytes()}
		f.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// listParam is a list parameter in Stripe's form encoding, indexed
// (expand[0]=a&expand[1]=b) or not (expand[]=a&expand[]=b).
func listParam(form url.Values, name string) []string {
	out := form[name+"[]"]
	for i := 0; form.Has(fmt.Sprintf("%s[%d]", name, i)); i++ {
		out = append(out, form.Get(fmt.Sprintf("%s[%d]", name, i)))
	}
	return out
}

func last4(s string) string {
	if len(s) < 4 {
		return s
	}
	return s[len(s)-4:]
}

func (f *fakeStripe) createSession(w http.ResponseWriter, form url.Values) {
	bad := func(param, msg string) {
		writeJSON(w, http.StatusBadRequest, stripeError("invalid_request_error", "parameter_invalid", param, msg))
	}
	if form.Get("mode") != "payment" {
		bad("mode", "mode must be payment here")
		return
	}
	if form.Get("success_url") == "" {
		bad("success_url", "success_url is required")
		return
	}
	var items []fakeLineItem
	var total int64
	currency := ""
	for i := 0; ; i++ {
		p := fmt.Sprintf("line_items[%d]", i)
		if form.Get(p+"[quantity]") == "" && form.Get(p+"[price_data][currency]") == "" {
			break
		}
		cur := form.Get(p + "[price_data][currency]")
		if cur == "" || cur != strings.ToLower(cur) {
			bad(p+"[price_data][currency]", "currency must be a lower-case ISO code")
			return
		}
		if cur == "xxx" {
			bad(p+"[price_data][currency]", "Invalid currency: xxx")
			return
		}
		if currency != "" && cur != currency {
			bad(p+"[price_data][currency]", "all line items must have the same currency")
			return
		}
		currency = cur
		ua, err1 := strconv.ParseInt(form.Get(p+"[price_data][unit_amount]"), 10, 64)
		q, err2 := strconv.ParseInt(form.Get(p+"[quantity]"), 10, 64)
		name := form.Get(p + "[price_data][product_data][name]")
		if err1 != nil || err2 != nil || ua < 0 || q < 1 || name == "" {
			bad(p, "line item needs price_data[unit_amount], price_data[product_data][name] and quantity")
			return
		}
		items = append(items, fakeLineItem{Name: name, Amount: ua, Quantity: q})
		total += ua * q
	}
	if len(items) == 0 {
		bad("line_items", "line_items is required in payment mode")
		return
	}
	if currency == "usd" && total < 50 {
		writeJSON(w, http.StatusBadRequest, stripeError("invalid_request_error", "amount_too_small", "line_items",
			"The Checkout Session's total amount due must add up to at least $0.50 usd"))
		return
	}
	now := f.now().Unix()
	expires := now + 24*3600
	if v := form.Get("expires_at"); v != "" {
		e, err := strconv.ParseInt(v, 10, 64)
		if err != nil || e < now+30*60 || e > now+24*3600 {
			bad("expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.")
			return
		}
		expires = e
	}
	meta := map[string]string{}
	for k, v := range form {
		if strings.HasPrefix(k, "metadata[") {
			meta[strings.TrimSuffix(strings.TrimPrefix(k, "metadata["), "]")] = v[0]
		}
	}
	pmt := listParam(form, "payment_method_types")
	if len(pmt) == 0 {
		pmt = []string{"card"}
	}
	f.mu.Lock()
	f.seq++
	s := &fakeSession{
		ID: fmt.Sprintf("cs_test_a1%08dFAKE", f.seq), OrderID: form.Get("client_reference_id"), Currency: currency, Amount: total,
		Status: "open", PaymentStatus: "unpaid", Created: now, ExpiresAt: expires,
		SuccessURL: form.Get("success_url"), CancelURL: form.Get("cancel_url"), CustomerEmail: form.Get("customer_email"),
		Metadata: meta, PaymentMethodTypes: pmt, LineItems: items, Livemode: strings.HasPrefix(f.key, "sk_live_"),
	}
	f.sessions[s.ID] = s
	obj := s.object(nil)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

func (f *fakeStripe) retrieveSession(w http.ResponseWriter, id string, expand []string) {
	f.mu.Lock()
	s := f.sessions[id]
	var obj map[string]any
	if s != nil {
		obj = s.object(expand)
	}
	f.mu.Unlock()
	if s == nil {
		writeJSON(w, http.StatusNotFound, stripeError("invalid_request_error", "resource_missing", "session", "No such checkout.session: '"+id+"'"))
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (f *fakeStripe) createRefund(w http.ResponseWriter, form url.Values) {
	pi := form.Get("payment_intent")
	f.mu.Lock()
	defer f.mu.Unlock()
	var s *fakeSession
	for _, c := range f.sessions {
		if c.PaymentIntent == pi && pi != "" {
			s = c
		}
	}
	if s == nil {
		writeJSON(w, http.StatusNotFound, stripeError("invalid_request_error", "resource_missing", "payment_intent", "No such payment_intent: '"+pi+"'"))
		return
	}
	amount := s.Amount - s.AmountRefunded
	if v := form.Get("amount"); v != "" {
		amount, _ = strconv.ParseInt(v, 10, 64)
	}
	if s.AmountRefunded == s.Amount {
		writeJSON(w, http.StatusBadRequest, stripeError("invalid_request_error", "charge_already_refunded", "", "Charge "+s.ChargeID+" has already been refunded."))
		return
	}
	if amount <= 0 || amount > s.Amount-s.AmountRefunded {
		writeJSON(w, http.StatusBadRequest, stripeError("invalid_request_error", "amount_too_large", "amount", "Refund amount is greater than unrefunded amount on charge"))
		return
	}
	s.AmountRefunded += amount
	f.seq++
	meta := map[string]string{}
	for k, v := range form {
		if strings.HasPrefix(k, "metadata[") {
			meta[strings.TrimSuffix(strings.TrimPrefix(k, "metadata["), "]")] = v[0]
		}
	}
	var reason any
	if v := form.Get("reason"); v != "" {
		reason = v
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": fmt.Sprintf("re_fake%08d", f.seq), "object": "refund", "amount": amount, "currency": s.Currency,
		"charge": s.ChargeID, "created": f.now().Unix(), "metadata": meta, "payment_intent": s.PaymentIntent,
		"reason": reason, "status": "succeeded",
	})
}

// event is a Stripe event about session id of type typ, as its webhook
// body; edit changes the session object inside before it is encoded.
func (f *fakeStripe) event(typ, id string, edit func(obj map[string]any)) []byte {
	f.mu.Lock()
	s := f.sessions[id]
	var obj map[string]any
	if s != nil {
		obj = s.object(nil)
	}
	f.seq++
	evID := fmt.Sprintf("evt_1Fake%08d", f.seq)
	f.mu.Unlock()
	if obj == nil {
		// An order Stripe never had: the shape of a real one.
		obj = (&fakeSession{ID: id, OrderID: "INV-NEVER", Currency: "idr", Amount: 15000000, Status: "complete",
			PaymentStatus: "paid", Created: f.now().Unix(), ExpiresAt: f.now().Unix() + 3600, Metadata: map[string]string{"order_id": "INV-NEVER"},
			PaymentMethodTypes: []string{"card"}, PaymentIntent: "pi_never", SuccessURL: "https://example.net/ok"}).object(nil)
	}
	if edit != nil {
		edit(obj)
	}
	body, err := json.Marshal(map[string]any{
		"id": evID, "object": "event", "api_version": "2026-03-25.dahlia", "created": f.now().Unix(),
		"data": map[string]any{"object": obj}, "livemode": obj["livemode"], "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "type": typ,
	})
	if err != nil {
		f.t.Fatalf("fake Stripe: event: %v", err)
	}
	return body
}

// paidEvent is checkout.session.completed as Stripe sends it once a card
// payment went through.
func (f *fakeStripe) paidEvent(id string) []byte {
	body := f.event(eventCompleted, id, func(obj map[string]any) {
		obj["status"], obj["payment_status"], obj["url"] = "complete", "paid", nil
	})
	var ev struct{ ID string }
	_ = json.Unmarshal(body, &ev)
	f.mu.Lock()
	f.paidEvents[id] = ev.ID
	f.mu.Unlock()
	return body
}

// withEventID is an event body with another id.
func withEventID(t testing.TB, body []byte, id string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	ev["id"] = id
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sign is the Stripe-Signature header for body: t and one v1 per secret.
func sign(body []byte, at time.Time, secrets ...string) string {
	parts := []string{"t=" + strconv.FormatInt(at.Unix(), 10)}
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		fmt.Fprintf(mac, "%d.", at.Unix())
		mac.Write(body)
		parts = append(parts, "v1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(parts, ",")
}

// stallContext is a helper to make sure tests never hang on the fake.
func stallContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
