package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// Credentials of the fake merchant.
const (
	testAPIKey       = "DEV-fakeApiKey0123456789abcdefghijklmnopq"
	testPrivateKey   = "fakeP-rivat-eKey0-12345-abcde"
	testMerchantCode = "T0001"
)

// fakeTripay is Tripay's API on 127.0.0.1, answering with the documented
// request and response shapes (https://tripay.co.id/developer): it checks
// the bearer key on every call and the signature of transaction/create.
type fakeTripay struct {
	srv *httptest.Server
	now func() time.Time

	mu       sync.Mutex
	txs      map[string]*fakeTx
	seq      int
	stall    time.Duration
	calls    map[string]int   // by endpoint, e.g. "transaction/create"
	failNext map[string][]int // endpoint: HTTP statuses to answer with next
	// dropCreate hangs up on the next create: "before" creating the
	// transaction or "after" it.
	dropCreate string
	creates    []fakeCreate // bodies of accepted creates
	// skew is added to the amount of the next transactions created (a
	// Tripay that makes another amount than asked).
	skew   int64
	auths  []string // Authorization headers seen
	agents []string // User-Agent headers seen
}

type fakeChannel struct {
	Group, Code, Name, Type     string
	FeeMerchantFlat             int64
	FeeCustomerFlat             int64
	FeeCustomerPercent          float64
	MinAmount, MaxAmount        int64
	Active, PayCode, QR, PayURL bool
}

// fakeChannels are the merchant's channels. QRIS charges its fee to the
// customer (so total_amount is more than the invoice); BRIVA charges the
// merchant.
var fakeChannels = []fakeChannel{
	{Group: "Virtual Account", Code: "BRIVA", Name: "BRI Virtual Account", Type: "direct", FeeMerchantFlat: 4250, MinAmount: 10000, MaxAmount: 10000000, Active: true, PayCode: true},
	{Group: "Convenience Store", Code: "ALFAMART", Name: "Alfamart", Type: "direct", FeeMerchantFlat: 3500, MinAmount: 10000, MaxAmount: 2500000, Active: true, PayCode: true},
	{Group: "E-Wallet", Code: "QRIS", Name: "QRIS by ShopeePay", Type: "direct", FeeCustomerFlat: 750, FeeCustomerPercent: 0.7, MinAmount: 1000, MaxAmount: 5000000, Active: true, QR: true},
	{Group: "E-Wallet", Code: "OVO", Name: "OVO", Type: "redirect", FeeMerchantFlat: 0, MinAmount: 1000, MaxAmount: 10000000, Active: false, PayURL: true},
}

func channelByCode(code string) (fakeChannel, bool) {
	for _, c := range fakeChannels {
		if c.Code == code {
			return c, true
		}
	}
	return fakeChannel{}, false
}

type fakeTx struct {
	Reference, MerchantRef string
	Channel                fakeChannel
	Invoice                int64 // the amount of transaction/create
	FeeMerchant            int64
	FeeCustomer            int64
	Req                    fakeCreate
	Status                 string
	PayCode, QRString      string
	Created, Expires, Paid int64
}

func newFakeTripay(t testing.TB, now func() time.Time) *fakeTripay {
	f := &fakeTripay{now: now, txs: map[string]*fakeTx{}, calls: map[string]int{}, failNext: map[string][]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api-sandbox/transaction/create", f.handle("transaction/create", f.create))
	mux.HandleFunc("GET /api-sandbox/transaction/detail", f.handle("transaction/detail", f.detail))
	mux.HandleFunc("GET /api-sandbox/merchant/transactions", f.handle("merchant/transactions", f.transactions))
	mux.HandleFunc("GET /api-sandbox/merchant/payment-channel", f.handle("merchant/payment-channel", f.channels))
	f.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(f.srv.Close)
	return f
}

// BaseURL is the fake's API root, for the base_url setting.
func (f *fakeTripay) BaseURL() string { return f.srv.URL + "/api-sandbox/" }

// settings are valid plugin settings pointing at the fake.
func (f *fakeTripay) settings() map[string]any {
	return map[string]any{
		"api_key": testAPIKey, "private_key": testPrivateKey, "merchant_code": testMerchantCode,
		"mode": "sandbox", "base_url": f.BaseURL(), "default_method": "BRIVA",
		"default_customer_email": "billing@example.net",
	}
}

func (f *fakeTripay) setStall(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stall = d
}

func (f *fakeTripay) callCount(endpoint string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[endpoint]
}

// failWith makes the next calls to endpoint answer with these statuses.
func (f *fakeTripay) failWith(endpoint string, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[endpoint] = append(f.failNext[endpoint], statuses...)
}

func (f *fakeTripay) setDropCreate(when string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropCreate = when
}

func (f *fakeTripay) setStatus(t testing.TB, reference, status string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	tx, ok := f.txs[reference]
	if !ok {
		t.Fatalf("fake tripay: no transaction %s", reference)
	}
	tx.Status = status
	if status == "PAID" && tx.Paid == 0 {
		tx.Paid = f.now().Unix()
	}
}

func (f *fakeTripay) tx(t testing.TB, reference string) fakeTx {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	tx, ok := f.txs[reference]
	if !ok {
		t.Fatalf("fake tripay: no transaction %s", reference)
	}
	return *tx
}

func (f *fakeTripay) createBodies() []fakeCreate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCreate(nil), f.creates...)
}

func (f *fakeTripay) authHeaders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auths...)
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, status int, msg string) {
	answer(w, status, map[string]any{"success": false, "message": msg})
}

// handle wraps an endpoint: stall, injected failures, and the bearer key.
func (f *fakeTripay) handle(endpoint string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls[endpoint]++
		f.auths = append(f.auths, r.Header.Get("Authorization"))
		f.agents = append(f.agents, r.Header.Get("User-Agent"))
		stall := f.stall
		var fail int
		if q := f.failNext[endpoint]; len(q) > 0 {
			fail, f.failNext[endpoint] = q[0], q[1:]
		}
		f.mu.Unlock()
		// Read the body first: the server notices a client that hangs up
		// (and cancels r.Context()) only once the body is consumed.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if stall > 0 {
			select {
			case <-time.After(stall):
			case <-r.Context().Done():
				return
			}
		}
		if fail != 0 {
			refuse(w, fail, http.StatusText(fail))
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+testAPIKey {
			refuse(w, http.StatusUnauthorized, "Invalid API Key")
			return
		}
		h(w, r)
	}
}

// fakeCreate is the body of transaction/create as Tripay documents it.
type fakeCreate struct {
	Method        string `json:"method"`
	MerchantRef   string `json:"merchant_ref"`
	Amount        int64  `json:"amount"`
	CustomerName  string `json:"customer_name"`
	CustomerEmail string `json:"customer_email"`
	CustomerPhone string `json:"customer_phone"`
	OrderItems    []struct {
		SKU        string `json:"sku"`
		Name       string `json:"name"`
		Price      int64  `json:"price"`
		Quantity   int64  `json:"quantity"`
		ProductURL string `json:"product_url"`
		ImageURL   string `json:"image_url"`
	} `json:"order_items"`
	CallbackURL string `json:"callback_url"`
	ReturnURL   string `json:"return_url"`
	ExpiredTime int64  `json:"expired_time"`
	Signature   string `json:"signature"`
}

// fakeSign is Tripay's HMAC-SHA256 in hex, keyed with the private key.
func fakeSign(msg []byte) string {
	mac := hmac.New(sha256.New, []byte(testPrivateKey))
	mac.Write(msg)
	return hex.EncodeToString(mac.Sum(nil))
}

func (f *fakeTripay) create(w http.ResponseWriter, r *http.Request) {
	var req fakeCreate
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		refuse(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	want := fakeSign([]byte(testMerchantCode + req.MerchantRef + strconv.FormatInt(req.Amount, 10)))
	if !hmac.Equal([]byte(req.Signature), []byte(want)) {
		refuse(w, http.StatusBadRequest, "Invalid signature")
		return
	}
	ch, ok := channelByCode(req.Method)
	switch {
	case !ok || !ch.Active:
		refuse(w, http.StatusBadRequest, "Payment channel is not enabled")
		return
	case req.MerchantRef == "" || req.CustomerName == "" || req.CustomerEmail == "":
		refuse(w, http.StatusBadRequest, "The merchant_ref, customer_name and customer_email fields are required")
		return
	case req.Amount < ch.MinAmount || req.Amount > ch.MaxAmount:
		refuse(w, http.StatusBadRequest, fmt.Sprintf("Amount must be between %d and %d", ch.MinAmount, ch.MaxAmount))
		return
	case len(req.OrderItems) == 0:
		refuse(w, http.StatusBadRequest, "The order_items field is required")
		return
	}
	var sum int64
	for _, it := range req.OrderItems {
		if it.Name == "" || it.Quantity <= 0 {
			refuse(w, http.StatusBadRequest, "Each order item needs name, price and quantity")
			return
		}
		sum += it.Price * it.Quantity
	}
	if sum != req.Amount {
		refuse(w, http.StatusBadRequest, "Total price of order_items does not match the amount")
		return
	}

	f.mu.Lock()
	drop := f.dropCreate
	f.dropCreate = ""
	if drop == "before" {
		f.mu.Unlock()
		hangUp(w)
		return
	}
	f.seq++
	now := f.now().Unix()
	tx := &fakeTx{
		Reference:   fmt.Sprintf("DEV-%s%05d%s", testMerchantCode, f.seq, "ABCDE"),
		MerchantRef: req.MerchantRef, Channel: ch, Invoice: req.Amount + f.skew,
		FeeMerchant: ch.FeeMerchantFlat,
		FeeCustomer: ch.FeeCustomerFlat + int64(math.Ceil(float64(req.Amount)*ch.FeeCustomerPercent/100)),
		Req:         req, Status: "UNPAID", Created: now, Expires: now + 24*3600,
	}
	if req.ExpiredTime > 0 {
		tx.Expires = req.ExpiredTime
	}
	if ch.PayCode {
		tx.PayCode = fmt.Sprintf("5758574854%07d", f.seq)
	}
	if ch.QR {
		tx.QRString = "00020101021226660014ID.CO.SHOPEE.WWW01189360091800000000" + fmt.Sprint(f.seq)
	}
	f.txs[tx.Reference] = tx
	f.creates = append(f.creates, req)
	data := f.txJSON(tx, true)
	f.mu.Unlock()
	if drop == "after" {
		hangUp(w)
		return
	}
	answer(w, http.StatusOK, map[string]any{"success": true, "message": "", "data": data})
}

func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func (f *fakeTripay) detail(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	tx, ok := f.txs[r.URL.Query().Get("reference")]
	var data map[string]any
	if ok {
		data = f.txJSON(tx, true)
	}
	f.mu.Unlock()
	if !ok {
		refuse(w, http.StatusNotFound, "Transaction not found")
		return
	}
	answer(w, http.StatusOK, map[string]any{"success": true, "message": "", "data": data})
}

func (f *fakeTripay) transactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	var list []*fakeTx
	for _, tx := range f.txs {
		if ref := q.Get("merchant_ref"); ref != "" && tx.MerchantRef != ref {
			continue
		}
		list = append(list, tx)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Reference < list[j].Reference })
	if q.Get("sort") != "asc" {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Reference > list[j].Reference })
	}
	data := []map[string]any{}
	for _, tx := range list {
		data = append(data, f.txJSON(tx, false))
	}
	f.mu.Unlock()
	answer(w, http.StatusOK, map[string]any{
		"success": true, "message": "Success", "data": data,
		"pagination": map[string]any{"sort": "desc", "current_page": 1, "last_page": 1, "per_page": 50, "total_records": len(data)},
	})
}

func (f *fakeTripay) channels(w http.ResponseWriter, _ *http.Request) {
	data := []map[string]any{}
	for _, c := range fakeChannels {
		data = append(data, map[string]any{
			"group": c.Group, "code": c.Code, "name": c.Name, "type": c.Type,
			"fee_merchant": map[string]any{"flat": c.FeeMerchantFlat, "percent": 0},
			"fee_customer": map[string]any{"flat": c.FeeCustomerFlat, "percent": c.FeeCustomerPercent},
			"total_fee":    map[string]any{"flat": c.FeeMerchantFlat + c.FeeCustomerFlat, "percent": fmt.Sprintf("%.2f", c.FeeCustomerPercent)},
			"minimum_fee":  0, "maximum_fee": 0,
			"minimum_amount": c.MinAmount, "maximum_amount": c.MaxAmount,
			"icon_url": "https://tripay.co.id/images/payment-channel/" + strings.ToLower(c.Code) + ".png",
			"active":   c.Active,
		})
	}
	answer(w, http.StatusOK, map[string]any{"success": true, "message": "Success", "data": data})
}

// txJSON is a transaction in the shape of transaction/create and
// transaction/detail (full) or merchant/transactions (list). Tripay's amount
// is what the customer pays (invoice plus fee_customer); amount_received is
// the invoice less fee_merchant. Called with f.mu held.
func (f *fakeTripay) txJSON(tx *fakeTx, full bool) map[string]any {
	items := []map[string]any{}
	for _, it := range tx.Req.OrderItems {
		items = append(items, map[string]any{"sku": nullIfEmpty(it.SKU), "name": it.Name, "price": it.Price, "quantity": it.Quantity, "subtotal": it.Price * it.Quantity})
	}
	m := map[string]any{
		"reference": tx.Reference, "merchant_ref": tx.MerchantRef, "payment_selection_type": "static",
		"payment_method": tx.Channel.Code, "payment_name": tx.Channel.Name,
		"customer_name": tx.Req.CustomerName, "customer_email": tx.Req.CustomerEmail, "customer_phone": nullIfEmpty(tx.Req.CustomerPhone),
		"callback_url": nullIfEmpty(tx.Req.CallbackURL), "return_url": nullIfEmpty(tx.Req.ReturnURL),
		"amount": tx.Invoice + tx.FeeCustomer, "fee_merchant": tx.FeeMerchant, "fee_customer": tx.FeeCustomer,
		"total_fee": tx.FeeMerchant + tx.FeeCustomer, "amount_received": tx.Invoice - tx.FeeMerchant,
		"pay_code": nullIfEmpty(tx.PayCode), "pay_url": nil,
		"checkout_url": "https://tripay.co.id/checkout/" + tx.Reference,
		"status":       tx.Status, "order_items": items,
	}
	if tx.Channel.PayURL {
		m["pay_url"] = "https://example.invalid/ewallet/" + tx.Reference
	}
	if tx.Paid != 0 {
		m["paid_at"] = fmt.Sprint(tx.Paid) // the detail's example sends a string
	} else {
		m["paid_at"] = nil
	}
	if !full {
		m["created_at"], m["expired_at"] = tx.Created, tx.Expires
		if tx.Paid != 0 {
			m["paid_at"] = tx.Paid
		}
		return m
	}
	m["expired_time"] = tx.Expires
	m["qr_string"], m["qr_url"] = nullIfEmpty(tx.QRString), nil
	if tx.QRString != "" {
		m["qr_url"] = "https://tripay.co.id/qr/" + tx.Reference
	}
	m["instructions"] = []map[string]any{{
		"title": "Internet Banking",
		"steps": []string{
			"Login ke internet banking Bank BRI Anda",
			"Pilih menu <b>Pembayaran</b> lalu klik menu <b>BRIVA</b>",
			"Masukkan Kode Bayar (<b>" + tx.PayCode + "</b>) lalu klik <b>Kirim</b>",
			"Transaksi sukses, simpan bukti transaksi Anda",
		},
	}}
	return m
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// callbackBody is a payment_status callback about a transaction, in
// Tripay's documented field order.
type callbackBody struct {
	Reference         string  `json:"reference"`
	MerchantRef       string  `json:"merchant_ref"`
	PaymentMethod     string  `json:"payment_method"`
	PaymentMethodCode string  `json:"payment_method_code"`
	TotalAmount       int64   `json:"total_amount"`
	FeeMerchant       int64   `json:"fee_merchant"`
	FeeCustomer       int64   `json:"fee_customer"`
	TotalFee          int64   `json:"total_fee"`
	AmountReceived    int64   `json:"amount_received"`
	IsClosedPayment   int     `json:"is_closed_payment"`
	Status            string  `json:"status"`
	PaidAt            *int64  `json:"paid_at"`
	Note              *string `json:"note"`
}

// callbackFor builds the callback Tripay would send about reference with
// status.
func (f *fakeTripay) callbackFor(t testing.TB, reference, status string) callbackBody {
	t.Helper()
	tx := f.tx(t, reference)
	cb := callbackBody{
		Reference: tx.Reference, MerchantRef: tx.MerchantRef, PaymentMethod: tx.Channel.Name, PaymentMethodCode: tx.Channel.Code,
		TotalAmount: tx.Invoice + tx.FeeCustomer, FeeMerchant: tx.FeeMerchant, FeeCustomer: tx.FeeCustomer,
		TotalFee: tx.FeeMerchant + tx.FeeCustomer, AmountReceived: tx.Invoice - tx.FeeMerchant,
		IsClosedPayment: 1, Status: status,
	}
	if status == "PAID" {
		paid := f.now().Unix()
		if tx.Paid != 0 {
			paid = tx.Paid
		}
		cb.PaidAt = &paid
	}
	return cb
}

// signedRequest is the raw request Tripay sends: body signed with the
// merchant's private key.
func signedRequest(body []byte) sdk.HTTPRequest {
	return sdk.HTTPRequest{
		Method: http.MethodPost,
		Path:   "/webhooks/payment-tripay",
		Header: http.Header{
			"Content-Type":         {"application/json"},
			"User-Agent":           {"TriPay Callback"},
			"X-Callback-Event":     {EventPaymentStatus},
			"X-Callback-Signature": {fakeSign(body)},
		},
		Body:       body,
		RemoteAddr: "127.0.0.1:40000",
		ReceivedAt: time.Now(),
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
