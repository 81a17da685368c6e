package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// env is a gateway served over the SDK's harness (real gRPC), talking to a
// fake Tripay, with a fake host (its durable store and cache).
type env struct {
	// clk is the time of the plugin, the fake host and the fake Tripay:
	// the real time, moved by Advance.
	clk  *sdktest.Clock
	fake *fakeTripay
	host *sdktest.FakeHost
	g    *gateway.Gateway[settings]
	h    *sdktest.Harness
	gw   payment.Gateway
	logs *sdktest.Buffer
}

// newEnv serves a gateway configured for the fake.
func newEnv(t *testing.T) *env {
	t.Helper()
	clk := &sdktest.Clock{}
	e := &env{clk: clk, fake: newFakeTripay(t, clk.Now), host: sdktest.NewFakeHost(), logs: &sdktest.Buffer{}}
	e.host.Now = clk.Now
	e.serve(t)
	if _, err := e.configure(e.fake.settings()); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("plugin log:\n%s", e.logs.String())
		}
	})
	return e
}

// serve starts a new gateway process on the same host (a restart).
func (e *env) serve(t *testing.T) {
	t.Helper()
	g := NewGateway()
	g.SetClock(e.clk.Now)
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Output: e.logs, Level: hclog.Trace, JSONFormat: true})
	e.g = g
	e.h = sdktest.Serve(t, g.Plugin(), sdktest.WithHost(e.host), sdktest.WithLogger(logger))
	e.gw = e.h.Payment()
}

func (e *env) configure(settings map[string]any) (*sdk.ConfigureResponse, error) {
	return e.h.Configure(context.Background(), settings)
}

func createReq(orderID, key string, amount int64, method string) *payment.CreatePaymentRequest {
	return &payment.CreatePaymentRequest{
		OrderID: orderID, Amount: payment.Money{Amount: amount, Currency: "IDR"}, Method: method, IdempotencyKey: key,
		Customer: payment.Customer{Name: "Budi", Email: "budi@example.net", Phone: "+6281234567890"},
	}
}

func (e *env) create(t *testing.T, orderID, key string, amount int64, method string) payment.Payment {
	t.Helper()
	resp, err := e.gw.CreatePayment(context.Background(), createReq(orderID, key, amount, method))
	if err != nil {
		t.Fatalf("CreatePayment(%s, %s): %v", orderID, method, err)
	}
	return resp.Payment
}

func (e *env) get(t *testing.T, id string) payment.Payment {
	t.Helper()
	resp, err := e.gw.GetPayment(context.Background(), &payment.GetPaymentRequest{ID: id})
	if err != nil {
		t.Fatalf("GetPayment(%s): %v", id, err)
	}
	return resp.Payment
}

func (e *env) webhook(req sdk.HTTPRequest) (*payment.WebhookResponse, error) {
	return e.gw.HandleWebhook(context.Background(), &payment.WebhookRequest{Request: req})
}

// callback is the signed callback Tripay sends about reference with
// status; edit, when given, changes the body before it is signed.
func (e *env) callback(t *testing.T, reference, status string, edit ...func(*callbackBody)) sdk.HTTPRequest {
	t.Helper()
	cb := e.fake.callbackFor(t, reference, status)
	for _, f := range edit {
		f(&cb)
	}
	return signedRequest(mustJSON(t, cb))
}

func wantErr(t *testing.T, err error, sentinels ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinels)
	}
	for _, s := range sentinels {
		if !errors.Is(err, s) {
			t.Fatalf("got %v, want an error matching %v", err, s)
		}
	}
}

func TestRequestSignature(t *testing.T) {
	// The example of Tripay's documentation ("Buat Signature").
	got := RequestSignature("T0001", "INV55567", 1500000, "ytf6ooi2gmlNPfpchd94jDOk8hRWOu")
	if want := "9f167eba844d1fcb369404e2bda53702e2f78f7aa12e91da6715414e65b8c86a"; got != want {
		t.Fatalf("RequestSignature = %s, want %s", got, want)
	}
}

func TestDescribe(t *testing.T) {
	e := newEnv(t)
	d, err := e.h.Plugin().Describe(context.Background(), &sdk.DescribeRequest{HostVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || d.Version != Version || d.Kind != sdk.KindPayment {
		t.Fatalf("Describe = %+v", d)
	}
	if !slices.Contains(d.Capabilities, payment.CapabilityListMethods) || slices.Contains(d.Capabilities, payment.CapabilityRefund) {
		t.Fatalf("capabilities = %v, want list_methods and no refund", d.Capabilities)
	}
}

// TestManifest checks plugin.json against the code: name, version, kind,
// and a config_schema property for every setting, secrets marked.
func TestManifest(t *testing.T) {
	raw, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name             string `json:"name"`
		Version          string `json:"version"`
		Kind             string `json:"kind"`
		Executable       string `json:"executable"`
		ProtocolVersions []int  `json:"protocol_versions"`
		Environment      string `json:"environment"`
		Required         *bool  `json:"required"`
		ConfigSchema     struct {
			Type                 string                    `json:"type"`
			AdditionalProperties bool                      `json:"additionalProperties"`
			Required             []string                  `json:"required"`
			Properties           map[string]map[string]any `json:"properties"`
		} `json:"config_schema"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != Name || m.Version != Version || m.Kind != "payment" || m.Executable != "mikrobill-plugin-"+Name ||
		!slices.Equal(m.ProtocolVersions, []int{1}) || m.Environment != "all" || m.Required == nil || *m.Required {
		t.Fatalf("manifest = %+v", m)
	}
	if m.ConfigSchema.Type != "object" || m.ConfigSchema.AdditionalProperties {
		t.Fatalf("config_schema must be a closed object")
	}
	var fields []string
	st := reflect.TypeFor[settings]()
	for i := range st.NumField() {
		fields = append(fields, strings.Split(st.Field(i).Tag.Get("json"), ",")[0])
	}
	var props []string
	for k := range m.ConfigSchema.Properties {
		props = append(props, k)
	}
	slices.Sort(fields)
	slices.Sort(props)
	if diff := cmp.Diff(fields, props); diff != "" {
		t.Fatalf("settings fields and config_schema properties differ (-fields +schema):\n%s", diff)
	}
	for _, secret := range []string{"api_key", "private_key"} {
		p := m.ConfigSchema.Properties[secret]
		if p["format"] != "password" || p["writeOnly"] != true {
			t.Errorf("%s must be marked secret (format password, writeOnly), got %v", secret, p)
		}
	}
	for _, req := range []string{"api_key", "private_key", "merchant_code"} {
		if !slices.Contains(m.ConfigSchema.Required, req) {
			t.Errorf("config_schema.required lacks %s", req)
		}
	}
	if d := m.ConfigSchema.Properties["mode"]["default"]; d != "sandbox" {
		t.Errorf("mode default = %v, want sandbox", d)
	}
}

func TestConfigure(t *testing.T) {
	e := newEnv(t)
	valid := e.fake.settings()
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range valid {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{"no api key", with("api_key", nil), "api_key is required"},
		{"empty private key", with("private_key", ""), "private_key is required"},
		{"no merchant code", with("merchant_code", nil), "merchant_code is required"},
		{"bad mode", with("mode", "live"), "mode must be"},
		{"base url not a url", with("base_url", "::not a url"), "base_url"},
		{"base url relative", with("base_url", "/api/"), "base_url"},
		{"plain http off loopback", with("base_url", "http://tripay.co.id/api/"), "https"},
		{"base url with credentials", with("base_url", "https://user:pw@tripay.co.id/api/"), "base_url"},
		{"bad default method", with("default_method", "bri va"), "default_method"},
		{"bad email", with("default_customer_email", "nobody"), "default_customer_email"},
		{"timeout too long", with("request_timeout_seconds", 600), "request_timeout_seconds"},
		{"unknown field", with("server_key", "x"), "unknown field"},
		{"wrong type", with("request_timeout_seconds", "15"), "request_timeout_seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.configure(tc.settings)
			wantErr(t, err, sdk.ErrInvalidArgument)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testAPIKey) || strings.Contains(err.Error(), testPrivateKey) {
				t.Fatalf("error repeats a secret: %v", err)
			}
		})
	}

	t.Run("warnings", func(t *testing.T) {
		resp, err := e.configure(with("default_customer_email", nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "default_customer_email") {
			t.Fatalf("warnings = %v", resp.Warnings)
		}
		prod := with("mode", "production")
		delete(prod, "base_url")
		resp, err = e.configure(prod)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "sandbox key") {
			t.Fatalf("warnings = %v", resp.Warnings)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		s := DefaultSettings()
		s.APIKey, s.PrivateKey, s.MerchantCode = "k", "p", "T1"
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := s.baseURL().String(); got != SandboxBaseURL {
			t.Fatalf("default base URL = %s", got)
		}
		s.Mode = "production"
		if got := s.baseURL().String(); got != ProductionBaseURL {
			t.Fatalf("production base URL = %s", got)
		}
		s.BaseURL = "https://proxy.example.net/tripay"
		if got := s.baseURL().String(); got != "https://proxy.example.net/tripay/" {
			t.Fatalf("override = %s", got)
		}
	})
}

// TestNotConfigured: before the host's Configure, payments are refused as a
// failed precondition, callbacks as unverifiable (there is no private key
// to check them with), and health says why (the SDK's degraded; the version
// before the SDK said error).
func TestNotConfigured(t *testing.T) {
	clk := &sdktest.Clock{}
	g := NewGateway()
	g.SetClock(clk.Now)
	h := sdktest.Serve(t, g.Plugin(), sdktest.WithLogger(hclog.NewNullLogger()))
	ctx := context.Background()
	_, err := h.Payment().CreatePayment(ctx, createReq("INV-1", "k1", 150000, ""))
	wantErr(t, err, sdk.ErrFailedPrecondition)
	_, err = h.Payment().GetPayment(ctx, &payment.GetPaymentRequest{ID: "T1"})
	wantErr(t, err, sdk.ErrFailedPrecondition)
	_, err = h.Payment().(payment.MethodLister).ListMethods(ctx, &payment.ListMethodsRequest{})
	wantErr(t, err, sdk.ErrFailedPrecondition)
	_, err = h.Payment().HandleWebhook(ctx, &payment.WebhookRequest{Request: signedRequest([]byte(`{}`))})
	wantErr(t, err, payment.ErrInvalidSignature)
	hr, err := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if err != nil || hr.Status != sdk.HealthDegraded || !strings.Contains(hr.Message, "not configured") {
		t.Fatalf("CheckHealth = %+v, %v", hr, err)
	}
}

func TestCreatePayment(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	expires := e.clk.Now().Add(6 * time.Hour).Truncate(time.Second).UTC()

	t.Run("virtual account", func(t *testing.T) {
		req := createReq("INV-VA-1", "key-va-1", 150000, "briva")
		req.ExpiresAt = expires
		req.ReturnURL = "https://isp.example.net/paid"
		req.CallbackURL = "https://isp.example.net/webhooks/payment-tripay"
		req.Items = []payment.LineItem{
			{SKU: "HS-1D", Name: "Hotspot 1 day", Quantity: 2, UnitPrice: payment.Money{Amount: 50000, Currency: "IDR"}},
			{SKU: "HS-2H", Name: "Hotspot 2 hours", Quantity: 1, UnitPrice: payment.Money{Amount: 50000, Currency: "IDR"}},
		}
		resp, err := e.gw.CreatePayment(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Payment
		tx := e.fake.tx(t, p.ID)
		want := payment.Payment{
			ID: tx.Reference, OrderID: "INV-VA-1", Status: payment.StatusPending, Amount: payment.Money{Amount: 150000, Currency: "IDR"},
			Method: "BRIVA", CheckoutURL: "https://tripay.co.id/checkout/" + tx.Reference, PayCode: tx.PayCode,
			Instructions: "Internet Banking\n1. Login ke internet banking Bank BRI Anda\n2. Pilih menu Pembayaran lalu klik menu BRIVA\n" +
				"3. Masukkan Kode Bayar (" + tx.PayCode + ") lalu klik Kirim\n4. Transaksi sukses, simpan bukti transaksi Anda",
			ExpiresAt: expires, GatewayStatus: "UNPAID",
		}
		if diff := cmp.Diff(want, p, cmpopts.IgnoreFields(payment.Payment{}, "Raw")); diff != "" {
			t.Fatalf("payment (-want +got):\n%s", diff)
		}
		if !json.Valid(p.Raw) || !bytes.Contains(p.Raw, []byte(tx.Reference)) {
			t.Fatalf("Raw = %s", p.Raw)
		}
		body := e.fake.createBodies()[0]
		if body.CustomerPhone != "081234567890" || body.CustomerName != "Budi" || body.CustomerEmail != "budi@example.net" ||
			body.ExpiredTime != expires.Unix() || body.ReturnURL != req.ReturnURL || body.CallbackURL != req.CallbackURL ||
			len(body.OrderItems) != 2 || body.OrderItems[0].SKU != "HS-1D" || body.OrderItems[0].Quantity != 2 || body.OrderItems[0].Price != 50000 {
			t.Fatalf("create body = %+v", body)
		}
	})

	t.Run("QRIS with the fee charged to the customer", func(t *testing.T) {
		p := e.create(t, "INV-QR-1", "key-qr-1", 150000, "QRIS")
		tx := e.fake.tx(t, p.ID)
		if tx.FeeCustomer == 0 {
			t.Fatal("the fake's QRIS should charge the customer a fee")
		}
		if p.Amount != (payment.Money{Amount: 150000, Currency: "IDR"}) {
			t.Fatalf("amount = %v, want the invoice amount 150000 IDR, not what the customer pays (%d)", p.Amount, 150000+tx.FeeCustomer)
		}
		if p.QRString == "" || p.QRString != tx.QRString || p.PayCode != "" || p.Method != "QRIS" {
			t.Fatalf("payment = %+v", p)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		req := &payment.CreatePaymentRequest{OrderID: "INV-DEF-1", Amount: payment.Money{Amount: 20000, Currency: "IDR"}, IdempotencyKey: "key-def-1", Description: "Voucher 2 hours"}
		resp, err := e.gw.CreatePayment(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Payment.Method != "BRIVA" {
			t.Fatalf("method = %s, want the default_method BRIVA", resp.Payment.Method)
		}
		body := e.fake.createBodies()[len(e.fake.createBodies())-1]
		if body.CustomerEmail != "billing@example.net" || body.CustomerName == "" || body.CustomerPhone != "" ||
			len(body.OrderItems) != 1 || body.OrderItems[0].Name != "Voucher 2 hours" || body.OrderItems[0].Price != 20000 || body.OrderItems[0].Quantity != 1 {
			t.Fatalf("create body = %+v", body)
		}
	})

	for _, tc := range []struct {
		name string
		req  *payment.CreatePaymentRequest
		want []error
	}{
		{"zero amount", createReq("INV-E1", "e1", 0, ""), []error{sdk.ErrInvalidArgument}},
		{"no idempotency key", createReq("INV-E2", "", 15000, ""), []error{sdk.ErrInvalidArgument}},
		{"USD", &payment.CreatePaymentRequest{OrderID: "INV-E3", Amount: payment.Money{Amount: 1000, Currency: "USD"}, IdempotencyKey: "e3"}, []error{payment.ErrUnsupportedCurrency, sdk.ErrInvalidArgument}},
		{"bad method", createReq("INV-E4", "e4", 15000, "BRI VA"), []error{sdk.ErrInvalidArgument}},
		{"below the channel's minimum", createReq("INV-E5", "e5", 5000, "BRIVA"), []error{payment.ErrDeclined}},
		{"channel not enabled", createReq("INV-E6", "e6", 15000, "OVO"), []error{payment.ErrDeclined}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.fake.callCount("transaction/create")
			_, err := e.gw.CreatePayment(ctx, tc.req)
			wantErr(t, err, tc.want...)
			if tc.want[0] != payment.ErrDeclined && e.fake.callCount("transaction/create") != before {
				t.Fatal("an invalid request reached Tripay")
			}
			if tc.req.IdempotencyKey != "" {
				if _, found, _ := e.host.StoreGet(ctx, sdkIdemKey(tc.req.IdempotencyKey)); found {
					t.Fatal("a refused create keeps its idempotency key")
				}
			}
		})
	}

	t.Run("no email anywhere", func(t *testing.T) {
		s := e.fake.settings()
		delete(s, "default_customer_email")
		if _, err := e.configure(s); err != nil {
			t.Fatal(err)
		}
		defer e.configure(e.fake.settings())
		_, err := e.gw.CreatePayment(ctx, &payment.CreatePaymentRequest{OrderID: "INV-E7", Amount: payment.Money{Amount: 15000, Currency: "IDR"}, IdempotencyKey: "e7"})
		wantErr(t, err, sdk.ErrInvalidArgument)
		if !strings.Contains(err.Error(), "default_customer_email") {
			t.Fatalf("error does not say what to do: %v", err)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		defer e.configure(e.fake.settings())
		s := e.fake.settings()
		s["private_key"] = "wrong-private-key"
		if _, err := e.configure(s); err != nil {
			t.Fatal(err)
		}
		_, err := e.gw.CreatePayment(ctx, createReq("INV-E8", "e8", 15000, "BRIVA"))
		wantErr(t, err, sdk.ErrFailedPrecondition)
		if !strings.Contains(err.Error(), "private_key") {
			t.Fatalf("error does not name the setting to check: %v", err)
		}
		s = e.fake.settings()
		s["api_key"] = "DEV-wrong"
		if _, err := e.configure(s); err != nil {
			t.Fatal(err)
		}
		_, err = e.gw.CreatePayment(ctx, createReq("INV-E9", "e9", 15000, "BRIVA"))
		wantErr(t, err, sdk.ErrFailedPrecondition)
		if !strings.Contains(err.Error(), "api_key") {
			t.Fatalf("error does not name the setting to check: %v", err)
		}
	})

	for _, auth := range e.fake.authHeaders() {
		if auth != "Bearer "+testAPIKey && auth != "Bearer DEV-wrong" {
			t.Fatalf("Authorization header %q", auth)
		}
	}
	e.fake.mu.Lock()
	defer e.fake.mu.Unlock()
	for _, ua := range e.fake.agents {
		if ua != "mikrobill-plugin-payment-tripay/"+Version {
			t.Fatalf("User-Agent header %q", ua)
		}
	}
}

func TestIdempotency(t *testing.T) {
	ctx := context.Background()

	t.Run("same key, same payment", func(t *testing.T) {
		e := newEnv(t)
		p1 := e.create(t, "INV-1", "key-1", 150000, "BRIVA")
		p2 := e.create(t, "INV-1", "key-1", 150000, "BRIVA")
		if p1.ID != p2.ID || e.fake.callCount("transaction/create") != 1 {
			t.Fatalf("ids %s, %s; creates %d", p1.ID, p2.ID, e.fake.callCount("transaction/create"))
		}
		// A restarted plugin remembers the key (it is in the host's store).
		e.serve(t)
		if _, err := e.configure(e.fake.settings()); err != nil {
			t.Fatal(err)
		}
		if p3 := e.create(t, "INV-1", "key-1", 150000, "BRIVA"); p3.ID != p1.ID || e.fake.callCount("transaction/create") != 1 {
			t.Fatalf("after a restart: id %s, creates %d", p3.ID, e.fake.callCount("transaction/create"))
		}
		_, err := e.gw.CreatePayment(ctx, createReq("INV-1", "key-1", 160000, "BRIVA"))
		wantErr(t, err, sdk.ErrInvalidArgument)
		_, err = e.gw.CreatePayment(ctx, createReq("INV-2", "key-1", 150000, "BRIVA"))
		wantErr(t, err, sdk.ErrInvalidArgument)
	})

	t.Run("concurrent calls with one key", func(t *testing.T) {
		e := newEnv(t)
		var wg sync.WaitGroup
		ids := make([]string, 8)
		errs := make([]error, 8)
		for i := range ids {
			wg.Go(func() {
				resp, err := e.gw.CreatePayment(ctx, createReq("INV-C", "key-c", 150000, "BRIVA"))
				errs[i] = err
				if err == nil {
					ids[i] = resp.Payment.ID
				}
			})
		}
		wg.Wait()
		var got string
		for i, err := range errs {
			switch {
			case err == nil && (got == "" || got == ids[i]):
				got = ids[i]
			case errors.Is(err, sdk.ErrConflict):
			default:
				t.Fatalf("call %d: id %q, error %v", i, ids[i], err)
			}
		}
		if got == "" || e.fake.callCount("transaction/create") != 1 {
			t.Fatalf("id %q, creates %d, errors %v", got, e.fake.callCount("transaction/create"), errs)
		}
	})

	t.Run("answer lost after Tripay created the transaction", func(t *testing.T) {
		e := newEnv(t)
		e.fake.setDropCreate("after")
		_, err := e.gw.CreatePayment(ctx, createReq("INV-L", "key-l", 150000, "BRIVA"))
		wantErr(t, err, sdk.ErrUnavailable)
		// The retry finds the transaction by merchant_ref and creates none.
		p := e.create(t, "INV-L", "key-l", 150000, "BRIVA")
		if e.fake.callCount("transaction/create") != 1 || e.fake.tx(t, p.ID).MerchantRef != "INV-L" {
			t.Fatalf("creates %d, payment %+v", e.fake.callCount("transaction/create"), p)
		}
		if again := e.create(t, "INV-L", "key-l", 150000, "BRIVA"); again.ID != p.ID {
			t.Fatalf("third call gave %s, want %s", again.ID, p.ID)
		}
	})

	t.Run("request lost before Tripay created anything", func(t *testing.T) {
		e := newEnv(t)
		e.fake.setDropCreate("before")
		_, err := e.gw.CreatePayment(ctx, createReq("INV-B", "key-b", 150000, "BRIVA"))
		wantErr(t, err, sdk.ErrUnavailable)
		// Tripay has nothing, but the first attempt might still be on its
		// way: the key is busy for the attempt's lease.
		_, err = e.gw.CreatePayment(ctx, createReq("INV-B", "key-b", 150000, "BRIVA"))
		wantErr(t, err, sdk.ErrConflict)
		if !strings.Contains(err.Error(), "retry in") {
			t.Fatalf("error does not say when to retry: %v", err)
		}
		e.clk.Advance(createLease + time.Second)
		p := e.create(t, "INV-B", "key-b", 150000, "BRIVA")
		if len(e.fake.createBodies()) != 1 || p.OrderID != "INV-B" {
			t.Fatalf("transactions created: %d", len(e.fake.createBodies()))
		}
		if again := e.create(t, "INV-B", "key-b", 150000, "BRIVA"); again.ID != p.ID {
			t.Fatalf("next call gave %s, want %s", again.ID, p.ID)
		}
	})

	t.Run("another key's transaction of the same order is not taken", func(t *testing.T) {
		e := newEnv(t)
		first := e.create(t, "INV-K", "key-k1", 150000, "BRIVA")
		e.fake.setDropCreate("before")
		_, err := e.gw.CreatePayment(ctx, createReq("INV-K", "key-k2", 150000, "BRIVA"))
		wantErr(t, err, sdk.ErrUnavailable)
		resp, err := e.gw.CreatePayment(ctx, createReq("INV-K", "key-k2", 150000, "BRIVA"))
		if err == nil {
			t.Fatalf("key-k2 got %s (key-k1's is %s)", resp.Payment.ID, first.ID)
		}
		wantErr(t, err, sdk.ErrConflict)
		e.clk.Advance(createLease + time.Second)
		if p := e.create(t, "INV-K", "key-k2", 150000, "BRIVA"); p.ID == first.ID {
			t.Fatalf("key-k2 took key-k1's transaction %s", p.ID)
		}
	})

	t.Run("a key freed by a refusal can be taken over again", func(t *testing.T) {
		e := newEnv(t)
		req := createReq("INV-F", "key-f", 150000, "BRIVA")
		e.fake.setDropCreate("before")
		_, err := e.gw.CreatePayment(ctx, req)
		wantErr(t, err, sdk.ErrUnavailable)
		e.clk.Advance(createLease + time.Second)
		e.fake.failWith("transaction/create", 400)
		_, err = e.gw.CreatePayment(ctx, req) // takes over, and Tripay refuses
		wantErr(t, err, payment.ErrDeclined)
		e.fake.setDropCreate("before")
		_, err = e.gw.CreatePayment(ctx, req)
		wantErr(t, err, sdk.ErrUnavailable)
		e.clk.Advance(createLease + time.Second)
		if p := e.create(t, "INV-F", "key-f", 150000, "BRIVA"); p.OrderID != "INV-F" || len(e.fake.createBodies()) != 1 {
			t.Fatalf("payment %+v, %d transactions", p, len(e.fake.createBodies()))
		}
	})

	t.Run("an old transaction of the order is not taken for a new attempt", func(t *testing.T) {
		e := newEnv(t)
		old := e.create(t, "INV-O", "key-o1", 150000, "BRIVA")
		e.fake.setStatus(t, old.ID, "EXPIRED")
		e.clk.Advance(24 * time.Hour)
		e.fake.setDropCreate("before")
		_, err := e.gw.CreatePayment(ctx, createReq("INV-O", "key-o2", 150000, "BRIVA"))
		wantErr(t, err, sdk.ErrUnavailable)
		e.clk.Advance(createLease + time.Second)
		p := e.create(t, "INV-O", "key-o2", 150000, "BRIVA")
		if p.ID == old.ID || p.Status != payment.StatusPending {
			t.Fatalf("new attempt got %+v (old %s)", p, old.ID)
		}
	})
}

// TestCreateAnswerOfAnotherAmount: a transaction Tripay made for another
// amount than asked is refused (the version before the SDK also refused
// its callbacks from its own record of the amount asked; the host refuses
// an event whose amount is not the invoice's). The outcome counts as
// unknown: the key is not released for a second transaction.
func TestCreateAnswerOfAnotherAmount(t *testing.T) {
	e := newEnv(t)
	e.fake.mu.Lock()
	e.fake.skew = 1000
	e.fake.mu.Unlock()
	_, err := e.gw.CreatePayment(context.Background(), createReq("INV-SK", "key-sk", 150000, "BRIVA"))
	wantErr(t, err, payment.ErrAmountMismatch)
	if !strings.Contains(err.Error(), "151000") {
		t.Fatalf("error does not name the amount Tripay made: %v", err)
	}
	_, err = e.gw.CreatePayment(context.Background(), createReq("INV-SK", "key-sk", 150000, "BRIVA"))
	wantErr(t, err, sdk.ErrConflict)
	if n := e.fake.callCount("transaction/create"); n != 1 {
		t.Fatalf("Tripay got %d creates; want 1", n)
	}
}

func TestGetPayment(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.create(t, "INV-G1", "key-g1", 150000, "BRIVA")

	byOrder, err := e.gw.GetPayment(ctx, &payment.GetPaymentRequest{OrderID: "INV-G1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, byOrder.Payment, cmpopts.IgnoreFields(payment.Payment{}, "Raw")); diff != "" {
		t.Fatalf("by order id (-create +get):\n%s", diff)
	}

	for _, tc := range []struct {
		tripay string
		want   payment.Status
	}{
		{"UNPAID", payment.StatusPending},
		{"PAID", payment.StatusPaid},
		{"EXPIRED", payment.StatusExpired},
		{"FAILED", payment.StatusFailed},
		{"REFUND", payment.StatusRefunded},
	} {
		t.Run(tc.tripay, func(t *testing.T) {
			e.fake.setStatus(t, p.ID, tc.tripay)
			got := e.get(t, p.ID)
			if got.Status != tc.want || got.GatewayStatus != tc.tripay || got.Amount.Amount != 150000 {
				t.Fatalf("status %s gave %+v", tc.tripay, got)
			}
			if tc.tripay == "PAID" && got.PaidAt.IsZero() {
				t.Fatal("paid without PaidAt")
			}
		})
	}

	for _, req := range []*payment.GetPaymentRequest{
		{ID: "DEV-T000199999NOPE"},
		{OrderID: "INV-NEVER"},
		{ID: p.ID, OrderID: "INV-OTHER"},
	} {
		_, err := e.gw.GetPayment(ctx, req)
		wantErr(t, err, payment.ErrUnknownOrder, sdk.ErrNotFound)
	}
	_, err = e.gw.GetPayment(ctx, &payment.GetPaymentRequest{})
	wantErr(t, err, sdk.ErrInvalidArgument)
}

func TestStatusOf(t *testing.T) {
	for in, want := range map[string]payment.Status{
		"PAID": payment.StatusPaid, "paid": payment.StatusPaid, "UNPAID": payment.StatusPending, "EXPIRED": payment.StatusExpired,
		"FAILED": payment.StatusFailed, "REFUND": payment.StatusRefunded, " Refund ": payment.StatusRefunded,
	} {
		if got, ok := statusOf(in); !ok || got != want {
			t.Errorf("statusOf(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "SETTLEMENT", "REFUNDED", "CANCELLED"} {
		if got, ok := statusOf(in); ok {
			t.Errorf("statusOf(%q) = %q, want unknown", in, got)
		}
	}
}

func TestFlexibleNumbers(t *testing.T) {
	var v struct {
		A, B, C, D, E flexInt
		S, N, Z       flexString
		P, Q          flexFloat
	}
	in := `{"A": 1582856000, "B": "1582856000", "C": null, "D": "150000.00", "E": "",
		"S": "57585748548596587", "N": 45649878666155, "Z": null, "P": "0.70", "Q": 0.7}`
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.v != 1582856000 || v.B.v != 1582856000 || v.C.set || v.D.v != 150000 || v.E.set ||
		v.S != "57585748548596587" || v.N != "45649878666155" || v.Z != "" || v.P != 0.7 || v.Q != 0.7 {
		t.Fatalf("decoded %+v", v)
	}
	for _, bad := range []string{`"1.5"`, `"abc"`, `true`, `1e3`} {
		var f flexInt
		if err := json.Unmarshal([]byte(bad), &f); err == nil {
			t.Errorf("flexInt accepted %s", bad)
		}
	}
}

func TestListMethods(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	lister, ok := e.gw.(payment.MethodLister)
	if !ok {
		t.Fatal("the payment client does not offer ListMethods")
	}
	resp, err := lister.ListMethods(ctx, &payment.ListMethodsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	idr := func(a int64) payment.Money { return payment.Money{Amount: a, Currency: "IDR"} }
	want := []payment.Method{
		{Code: "BRIVA", Name: "BRI Virtual Account", Group: "virtual_account", Active: true, FeeFlat: idr(0), MinAmount: idr(10000), MaxAmount: idr(10000000)},
		{Code: "ALFAMART", Name: "Alfamart", Group: "convenience_store", Active: true, FeeFlat: idr(0), MinAmount: idr(10000), MaxAmount: idr(2500000)},
		{Code: "QRIS", Name: "QRIS by ShopeePay", Group: "qris", Active: true, FeeFlat: idr(750), FeePercent: 0.7, MinAmount: idr(1000), MaxAmount: idr(5000000)},
		{Code: "OVO", Name: "OVO", Group: "ewallet", Active: false, FeeFlat: idr(0), MinAmount: idr(1000), MaxAmount: idr(10000000)},
	}
	if diff := cmp.Diff(want, resp.Methods); diff != "" {
		t.Fatalf("methods (-want +got):\n%s", diff)
	}

	small, err := lister.ListMethods(ctx, &payment.ListMethodsRequest{Amount: idr(5000)})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, m := range small.Methods {
		codes = append(codes, m.Code)
	}
	if !slices.Equal(codes, []string{"QRIS", "OVO"}) {
		t.Fatalf("methods for Rp 5.000: %v", codes)
	}
	_, err = lister.ListMethods(ctx, &payment.ListMethodsRequest{Amount: payment.Money{Amount: 500, Currency: "USD"}})
	wantErr(t, err, payment.ErrUnsupportedCurrency)
}

func TestRetries(t *testing.T) {
	ctx := context.Background()

	t.Run("reads are retried on 5xx", func(t *testing.T) {
		e := newEnv(t)
		p := e.create(t, "INV-R1", "key-r1", 150000, "BRIVA")
		e.fake.failWith("transaction/detail", 503, 502)
		before := e.fake.callCount("transaction/detail")
		if got := e.get(t, p.ID); got.ID != p.ID {
			t.Fatalf("got %+v", got)
		}
		if n := e.fake.callCount("transaction/detail") - before; n != 3 {
			t.Fatalf("detail calls = %d, want 3", n)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		e := newEnv(t)
		p := e.create(t, "INV-R2", "key-r2", 150000, "BRIVA")
		e.fake.failWith("transaction/detail", 500, 500, 500, 500, 500)
		before := e.fake.callCount("transaction/detail")
		_, err := e.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: p.ID})
		wantErr(t, err, sdk.ErrUnavailable)
		if n := e.fake.callCount("transaction/detail") - before; n != 3 {
			t.Fatalf("detail calls = %d, want 3", n)
		}
		hr, err := e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
		if err != nil || hr.Status != sdk.HealthDegraded || !strings.Contains(hr.Message, "HTTP 500") {
			t.Fatalf("CheckHealth after failures = %+v, %v", hr, err)
		}
		e.get(t, p.ID)
		if hr, _ := e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{}); hr.Status != sdk.HealthOK {
			t.Fatalf("CheckHealth after a success = %+v", hr)
		}
	})

	t.Run("rate limits", func(t *testing.T) {
		e := newEnv(t)
		e.fake.failWith("merchant/payment-channel", 429, 429, 429)
		_, err := e.gw.(payment.MethodLister).ListMethods(ctx, &payment.ListMethodsRequest{})
		wantErr(t, err, sdk.ErrRateLimited)
		if n := e.fake.callCount("merchant/payment-channel"); n != 3 {
			t.Fatalf("calls = %d, want 3", n)
		}
	})

	t.Run("refusals are not retried", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: "DEV-NOPE"})
		wantErr(t, err, payment.ErrUnknownOrder)
		if n := e.fake.callCount("transaction/detail"); n != 1 {
			t.Fatalf("detail calls = %d, want 1", n)
		}
	})

	t.Run("create is never retried", func(t *testing.T) {
		e := newEnv(t)
		e.fake.failWith("transaction/create", 503)
		_, err := e.gw.CreatePayment(ctx, createReq("INV-R3", "key-r3", 150000, "BRIVA"))
		wantErr(t, err, sdk.ErrUnavailable)
		if n := e.fake.callCount("transaction/create"); n != 1 {
			t.Fatalf("create calls = %d, want 1", n)
		}
		// The outcome of a 503 is unknown: the key stays taken until its
		// lease ends or Tripay shows the transaction.
		_, err = e.gw.CreatePayment(ctx, createReq("INV-R3", "key-r3", 150000, "BRIVA"))
		wantErr(t, err, sdk.ErrConflict)
	})
}

func TestTimeouts(t *testing.T) {
	ctx := context.Background()

	t.Run("each attempt is bounded", func(t *testing.T) {
		attemptTimeout = 150 * time.Millisecond
		defer func() { attemptTimeout = 0 }()
		e := newEnv(t)
		p := e.create(t, "INV-T1", "key-t1", 150000, "BRIVA")
		e.fake.setStall(5 * time.Second)
		defer e.fake.setStall(0)
		start := time.Now()
		_, err := e.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: p.ID})
		wantErr(t, err, sdk.ErrUnavailable)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("GetPayment took %s", d)
		}
		if !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Fatalf("error = %v", err)
		}
	})

	t.Run("the caller's deadline", func(t *testing.T) {
		e := newEnv(t)
		e.fake.setStall(10 * time.Second)
		defer e.fake.setStall(0)
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.gw.CreatePayment(cctx, createReq("INV-T2", "key-t2", 150000, "BRIVA"))
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want the context's", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("CreatePayment took %s", d)
		}
	})

	t.Run("cancellation ends the backoff", func(t *testing.T) {
		// Straight on the plugin, not over gRPC (whose client returns on
		// cancellation whatever the plugin does): ListMethods on a Tripay
		// that answers 503 ends when the caller gives up, not after the
		// retries' backoff.
		e := newEnv(t)
		e.fake.failWith("merchant/payment-channel", 503, 503, 503)
		lister := e.g.Plugin().(payment.MethodLister)
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := lister.ListMethods(cctx, &payment.ListMethodsRequest{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 150*time.Millisecond+100*time.Millisecond {
			t.Fatalf("ListMethods took %s after cancellation at 100ms (the first backoff is 200ms)", d)
		}
	})
}

func TestCollectMetrics(t *testing.T) {
	e := newEnv(t)
	p := e.create(t, "INV-M1", "key-m1", 150000, "BRIVA")
	e.fake.setStatus(t, p.ID, "PAID")
	if _, err := e.webhook(e.callback(t, p.ID, "PAID")); err != nil {
		t.Fatal(err)
	}
	_, _ = e.webhook(e.callback(t, p.ID, "PAID"))
	resp, err := e.h.Plugin().CollectMetrics(context.Background(), &sdk.CollectMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	text := string(resp.Text)
	// The SDK's metrics (sdk/payment/gateway): per attempt by the API
	// method the SDK called and the HTTP status, and notifications by
	// outcome.
	for _, want := range []string{
		`tripay_api_requests_total{operation="create",outcome="200"} 1`,
		`tripay_api_requests_total{operation="get",outcome="200"} 1`,
		`tripay_notifications_total{outcome="accepted"} 1`,
		`tripay_notifications_total{outcome="duplicate"} 1`,
		"# TYPE tripay_api_requests_total counter",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}

// TestNoSecretInLogs runs every path, failures included, with the plugin
// logging at trace level, and looks for the secrets and signatures in its
// log and in the errors it returns.
func TestNoSecretInLogs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var errs []error
	keep := func(_ any, err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	p := e.create(t, "INV-S1", "key-s1", 150000, "QRIS")
	e.create(t, "INV-S1", "key-s1", 150000, "QRIS")
	keep(e.gw.GetPayment(ctx, &payment.GetPaymentRequest{OrderID: "INV-S1"}))
	keep(e.gw.(payment.MethodLister).ListMethods(ctx, &payment.ListMethodsRequest{}))
	paid := e.callback(t, p.ID, "PAID")
	keep(e.webhook(paid)) // unconfirmed
	e.fake.setStatus(t, p.ID, "PAID")
	keep(e.webhook(paid))
	keep(e.webhook(e.signedEdit(t, p.ID, "PAID", func(b *callbackBody) { b.TotalAmount = 1000 }))) // a repeat with another amount
	bad := e.callback(t, p.ID, "PAID")
	bad.Header.Set(SignatureHeader, CallbackSignature(bad.Body, "not-the-key"))
	keep(e.webhook(bad))
	keep(e.webhook(signedRequest([]byte(`{"reference":`))))
	keep(e.gw.CreatePayment(ctx, createReq("INV-S2", "key-s2", 5000, "BRIVA")))
	e.fake.failWith("transaction/detail", 500, 500, 500)
	keep(e.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: p.ID}))
	wrong := e.fake.settings()
	wrong["api_key"] = "DEV-wrong-key-but-still-secret"
	keep(e.configure(wrong))
	keep(e.gw.CreatePayment(ctx, createReq("INV-S3", "key-s3", 150000, "BRIVA")))
	keep(e.configure(map[string]any{"api_key": testAPIKey, "private_key": testPrivateKey}))

	secrets := []string{testAPIKey, testPrivateKey, "DEV-wrong-key-but-still-secret", "Bearer", paid.Header.Get(SignatureHeader), bad.Header.Get(SignatureHeader)}
	for _, b := range e.fake.createBodies() {
		secrets = append(secrets, b.Signature)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "notification refused") || !strings.Contains(logs, "API call") {
		t.Fatalf("the test did not capture the plugin's log:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the secret %q", s)
		}
		for _, err := range errs {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q holds the secret %q", err, s)
			}
		}
	}
	if len(errs) < 7 {
		t.Fatalf("only %d errors: %v", len(errs), errs)
	}
}

func TestInstructionsText(t *testing.T) {
	var tx transaction
	raw := `{"reference":"T1","instructions":[{"title":"ATM &amp; Teller","steps":["Pilih <b>Transfer</b>","Masukkan <i>kode</i> &quot;123&quot;"]},{"title":"QRIS","steps":["Scan"]}]}`
	if err := json.Unmarshal([]byte(raw), &tx); err != nil {
		t.Fatal(err)
	}
	want := "ATM & Teller\n1. Pilih Transfer\n2. Masukkan kode \"123\"\n\nQRIS\n1. Scan"
	if got := instructionsText(&tx); got != want {
		t.Fatalf("instructions:\n%s\nwant:\n%s", got, want)
	}
}

func TestInvoiceAmount(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string
		want int64
	}{
		// The examples of Tripay's documentation (fees on the merchant).
		{"detail example", `{"reference":"T1","amount":1000000,"fee_merchant":1500,"fee_customer":0,"total_fee":1500,"amount_received":998500}`, 1000000},
		// The fee on the customer: amount is what the customer pays.
		{"customer fee", `{"reference":"T1","amount":151800,"fee_merchant":0,"fee_customer":1800,"total_fee":1800,"amount_received":150000}`, 150000},
		{"both", `{"reference":"T1","amount":151000,"fee_merchant":500,"fee_customer":1000,"total_fee":1500,"amount_received":149500}`, 150000},
		{"no amount_received", `{"reference":"T1","amount":"151800","fee_customer":"1800"}`, 150000},
	} {
		var tx transaction
		if err := json.Unmarshal([]byte(tc.json), &tx); err != nil {
			t.Fatal(err)
		}
		if got := tx.invoiceAmount(); got != tc.want {
			t.Errorf("%s: invoice amount %d, want %d", tc.name, got, tc.want)
		}
	}
	// The callback's example: total_amount is what the customer paid.
	cb, err := parseCallback([]byte(`{"reference":"T0001000023000XXXXX","merchant_ref":"INV123456","payment_method":"BCA Virtual Account","payment_method_code":"BCAVA","total_amount":200000,"fee_merchant":2000,"fee_customer":0,"total_fee":2000,"amount_received":198000,"is_closed_payment":1,"status":"PAID","paid_at":1608133017,"note":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if cb.invoiceAmount() != 200000 {
		t.Fatalf("callback invoice amount %d", cb.invoiceAmount())
	}
}

func TestPhoneForTripay(t *testing.T) {
	for in, want := range map[string]string{"+6281234567890": "081234567890", "081234567890": "081234567890", "+6591234567": "+6591234567", "": ""} {
		if got := phoneForTripay(in); got != want {
			t.Errorf("phoneForTripay(%q) = %q, want %q", in, got, want)
		}
	}
}
