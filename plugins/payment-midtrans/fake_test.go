package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// fakeMidtrans stands in for Midtrans' Snap API and status API on
// 127.0.0.1, answering with the request and response shapes Midtrans
// documents (snap-docs.midtrans.com, docs.midtrans.com: "GET Status API
// Requests", "HTTP(S) Notification / Webhooks"), and builds the
// notifications Midtrans would send, signed as Midtrans signs them.
//
// As at Midtrans, a Snap transaction is unknown to the status API (404)
// until the customer picks a payment method (choose, or setStatus), and a
// second Snap request for a used order_id is refused.
type fakeMidtrans struct {
	t         testing.TB
	srv       *httptest.Server
	serverKey string

	mu     sync.Mutex
	orders map[string]*fakeOrder // by order id
	stall  time.Duration
	// fail makes the next n requests to a path prefix answer with a status
	// (after doing their work when afterWork is set: a lost answer).
	fail []fakeFailure
	// statusInBody makes the status API answer unknown orders with HTTP 200
	// and status_code "404" in the body, as Midtrans' Core API has done.
	statusInBody bool
	snapRequests []fakeSnapRequest
	statusCalls  int
}

type fakeFailure struct {
	prefix    string
	status    int
	n         int
	afterWork bool
}

// fakeOrder is one Snap transaction.
type fakeOrder struct {
	OrderID     string
	Gross       int64
	Token       string
	TxID        string
	Status      string // transaction_status; "" until a payment method is picked
	Fraud       string
	PaymentType string
	Created     time.Time
}

// fakeSnapRequest is a Snap request as the fake received it.
type fakeSnapRequest struct {
	Header http.Header
	Body   map[string]any
}

func newFakeMidtrans(t testing.TB) *fakeMidtrans {
	t.Helper()
	f := &fakeMidtrans{t: t, serverKey: "SB-Mid-server-" + randomHex(12), orders: map[string]*fakeOrder{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /snap/v1/transactions", f.snapCreate)
	mux.HandleFunc("GET /v2/{id}/status", f.status)
	srv := httptest.NewUnstartedServer(mux)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	f.srv = srv
	return f
}

// settings point the plugin at the fake.
func (f *fakeMidtrans) settings() map[string]any {
	return map[string]any{
		"server_key":      f.serverKey,
		"client_key":      "SB-Mid-client-test",
		"environment":     "sandbox",
		"base_url":        f.srv.URL,
		"api_base_url":    f.srv.URL,
		"timeout_seconds": 2,
	}
}

func (f *fakeMidtrans) setStall(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stall = d
}

// failNext makes the next n requests whose path starts with prefix answer
// status. afterWork: the request is carried out first, only its answer is
// lost.
func (f *fakeMidtrans) failNext(prefix string, status, n int, afterWork bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, fakeFailure{prefix: prefix, status: status, n: n, afterWork: afterWork})
}

// setStatus is what Midtrans does when the customer picks a method and
// pays (or not).
func (f *fakeMidtrans) setStatus(orderID, status, fraud string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		f.t.Fatalf("fake Midtrans: no order %s", orderID)
	}
	o.Status, o.Fraud = status, fraud
	if o.PaymentType == "" {
		o.PaymentType = "bank_transfer"
	}
}

// statusCallCount is how often the status API was asked.
func (f *fakeMidtrans) statusCallCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statusCalls
}

func (f *fakeMidtrans) order(orderID string) *fakeOrder {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		return nil
	}
	c := *o
	return &c
}

func (f *fakeMidtrans) lastSnapRequest() fakeSnapRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.snapRequests) == 0 {
		f.t.Fatal("fake Midtrans: no Snap request")
	}
	return f.snapRequests[len(f.snapRequests)-1]
}

func (f *fakeMidtrans) snapRequestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.snapRequests)
}

// begin waits out a stall and reports an injected failure for the request.
func (f *fakeMidtrans) begin(r *http.Request) (status int, afterWork bool) {
	f.mu.Lock()
	d := f.stall
	for i := range f.fail {
		if f.fail[i].n > 0 && strings.HasPrefix(r.URL.Path, f.fail[i].prefix) {
			f.fail[i].n--
			status, afterWork = f.fail[i].status, f.fail[i].afterWork
			break
		}
	}
	f.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	return status, afterWork
}

// authorized checks Basic base64(server_key + ":"), as Midtrans does.
func (f *fakeMidtrans) authorized(r *http.Request) bool {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.serverKey+":"))
	return r.Header.Get("Authorization") == want
}

func (f *fakeMidtrans) snapCreate(w http.ResponseWriter, r *http.Request) {
	// Read the body first: only then does the server notice a client that
	// hangs up during a stall.
	raw := readAll(r)
	failStatus, afterWork := f.begin(r)
	if failStatus != 0 && !afterWork {
		writeJSON(w, failStatus, map[string]any{"error_messages": []string{"Sorry, we encountered internal server error. We will fix this soon."}})
		return
	}
	if !f.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error_messages": []string{
			"Access denied due to unauthorized transaction, please check client or server key",
			"Visit https://snap-docs.midtrans.com/#request-headers for more details",
		}})
		return
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_messages": []string{"Content-Type and Accept must be application/json"}})
		return
	}
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_messages": []string{"Invalid JSON"}})
		return
	}
	var req struct {
		TransactionDetails struct {
			OrderID     string      `json:"order_id"`
			GrossAmount json.Number `json:"gross_amount"`
		} `json:"transaction_details"`
		ItemDetails []struct {
			Price    json.Number `json:"price"`
			Quantity json.Number `json:"quantity"`
			Name     string      `json:"name"`
		} `json:"item_details"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_messages": []string{"Invalid JSON: " + err.Error()}})
		return
	}
	f.mu.Lock()
	f.snapRequests = append(f.snapRequests, fakeSnapRequest{Header: r.Header.Clone(), Body: body})
	f.mu.Unlock()

	var problems []string
	orderID := req.TransactionDetails.OrderID
	gross, err := req.TransactionDetails.GrossAmount.Int64()
	switch {
	case orderID == "":
		problems = append(problems, "transaction_details.order_id is required")
	case err != nil:
		problems = append(problems, "transaction_details.gross_amount must be an integer")
	case gross < 1:
		problems = append(problems, "transaction_details.gross_amount must be greater than or equal to 0.01")
	}
	if len(req.ItemDetails) > 0 {
		var sum int64
		for _, it := range req.ItemDetails {
			p, _ := it.Price.Int64()
			q, _ := it.Quantity.Int64()
			sum += p * q
			if it.Name == "" {
				problems = append(problems, "item_details.name is required")
			}
		}
		if sum != gross {
			problems = append(problems, "transaction_details.gross_amount is not equal to the sum of item_details")
		}
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_messages": problems})
		return
	}
	f.mu.Lock()
	if _, used := f.orders[orderID]; used {
		f.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_messages": []string{"transaction_details.order_id sudah digunakan"}})
		return
	}
	o := &fakeOrder{OrderID: orderID, Gross: gross, Token: uuid(), TxID: uuid(), Created: time.Now()}
	f.orders[orderID] = o
	f.mu.Unlock()
	if failStatus != 0 {
		writeJSON(w, failStatus, map[string]any{"error_messages": []string{"Sorry, we encountered internal server error. We will fix this soon."}})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":        o.Token,
		"redirect_url": f.srv.URL + "/snap/v4/redirection/" + o.Token,
	})
}

// statusCode is the status_code Midtrans gives each transaction_status.
func statusCode(status string) string {
	switch status {
	case "pending":
		return "201"
	case "deny":
		return "202"
	case "expire":
		return "407"
	default:
		return "200"
	}
}

func (f *fakeMidtrans) status(w http.ResponseWriter, r *http.Request) {
	if failStatus, _ := f.begin(r); failStatus != 0 {
		writeJSON(w, failStatus, map[string]any{"status_code": strconv.Itoa(failStatus), "status_message": "Sorry. Our system is recovering from unexpected issues. Please retry."})
		return
	}
	if !f.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status_code": "401", "status_message": "Unknown Merchant server_key/id"})
		return
	}
	id := r.PathValue("id")
	f.mu.Lock()
	f.statusCalls++
	o := f.orders[id]
	if o == nil {
		for _, c := range f.orders {
			if c.TxID == id {
				o = c
			}
		}
	}
	var c fakeOrder
	if o != nil {
		c = *o
	}
	inBody := f.statusInBody
	f.mu.Unlock()
	if o == nil || c.Status == "" {
		code := http.StatusNotFound
		if inBody {
			code = http.StatusOK
		}
		writeJSON(w, code, map[string]any{"status_code": "404", "status_message": "Transaction doesn't exist."})
		return
	}
	gross := strconv.FormatInt(c.Gross, 10) + ".00"
	code := statusCode(c.Status)
	resp := map[string]any{
		"status_code":        code,
		"status_message":     "Success, transaction is found",
		"transaction_id":     c.TxID,
		"order_id":           c.OrderID,
		"merchant_id":        "G141532850",
		"gross_amount":       gross,
		"currency":           "IDR",
		"payment_type":       c.PaymentType,
		"transaction_time":   c.Created.In(time.FixedZone("WIB", 7*3600)).Format("2006-01-02 15:04:05"),
		"transaction_status": c.Status,
		"signature_key":      f.sign(c.OrderID, code, gross),
		"expiry_time":        c.Created.Add(24 * time.Hour).In(time.FixedZone("WIB", 7*3600)).Format("2006-01-02 15:04:05"),
		"va_numbers":         []map[string]string{{"bank": "bca", "va_number": "12345678901"}},
	}
	if c.Fraud != "" {
		resp["fraud_status"] = c.Fraud
	}
	if c.Status == "settlement" {
		resp["settlement_time"] = c.Created.Add(time.Minute).In(time.FixedZone("WIB", 7*3600)).Format("2006-01-02 15:04:05")
	}
	writeJSON(w, http.StatusOK, resp)
}

// sign is Midtrans' signature_key: hex SHA512 of order_id, status_code,
// gross_amount and the server key, appended as strings.
func (f *fakeMidtrans) sign(orderID, statusCode, grossAmount string) string {
	return signWith(f.serverKey, orderID, statusCode, grossAmount)
}

func signWith(key, orderID, statusCode, grossAmount string) string {
	sum := sha512.Sum512([]byte(orderID + statusCode + grossAmount + key))
	return hex.EncodeToString(sum[:])
}

// notification is a request as Midtrans sends it to the notification URL:
// POST, JSON, fields as in Midtrans' samples. gross is gross_amount as
// sent ("150000.00"); key signs it (the server key, or another to forge).
func (f *fakeMidtrans) notification(orderID, txID, status, fraud, gross, key string) sdk.HTTPRequest {
	code := statusCode(status)
	body := map[string]any{
		"transaction_time":   time.Now().In(time.FixedZone("WIB", 7*3600)).Format("2006-01-02 15:04:05"),
		"transaction_status": status,
		"transaction_id":     txID,
		"status_message":     "midtrans payment notification",
		"status_code":        code,
		"signature_key":      signWith(key, orderID, code, gross),
		"payment_type":       "bank_transfer",
		"order_id":           orderID,
		"merchant_id":        "G141532850",
		"gross_amount":       gross,
		"currency":           "IDR",
		"va_numbers":         []map[string]string{{"bank": "bca", "va_number": "12345678901"}},
	}
	if fraud != "" {
		body["fraud_status"] = fraud
	}
	if status == "settlement" {
		body["settlement_time"] = body["transaction_time"]
	}
	raw, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	return webhookRequest(raw)
}

// paidNotification is Midtrans' settlement notification for an order the
// fake has.
func (f *fakeMidtrans) paidNotification(orderID string) sdk.HTTPRequest {
	o := f.order(orderID)
	if o == nil {
		f.t.Fatalf("fake Midtrans: no order %s", orderID)
	}
	return f.notification(orderID, o.TxID, "settlement", "accept", strconv.FormatInt(o.Gross, 10)+".00", f.serverKey)
}

func webhookRequest(body []byte) sdk.HTTPRequest {
	return sdk.HTTPRequest{
		Method:     http.MethodPost,
		Path:       "/webhooks/payment-midtrans",
		Header:     http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		Body:       body,
		RemoteAddr: "103.208.23.6:41234",
		Host:       "billing.example.net",
		ReceivedAt: time.Now(),
		RequestID:  "req-" + randomHex(4),
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	raw, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

func readAll(r *http.Request) []byte {
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	return b.Bytes()
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
