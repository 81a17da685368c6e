package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// katKey and the signatures below were computed outside Go
// (python3 hashlib.sha512), as a known-answer check of the formula.
const (
	katKey       = "SB-Mid-server-TEST-KEY"
	katSignature = "551ba0a1ce8f4eb42c627a904046d7596696c8961b076b487a083170e737a97f4419da9bac5b20a24205d45504be108bf245b9b5ecc856347eac93915567736f"
	// katSignatureNoDecimals signs gross_amount "10000" instead of "10000.00".
	katSignatureNoDecimals = "8113dce9d579b0518ffb322f54c013c27fe309793412b2a696958439c6cffeca83d549b60928e569388c5a513e3c34eaf59d1d96ae4f582d59dc3d13b9334c5b"
)

func TestSignatureVerification(t *testing.T) {
	tests := []struct {
		name string
		body string
		key  string
		want bool
	}{
		{
			name: "as sent, gross_amount with decimals",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":"10000.00","signature_key":"` + katSignature + `"}`,
			key:  katKey, want: true,
		},
		{
			name: "upper-case hex",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":"10000.00","signature_key":"` + strings.ToUpper(katSignature) + `"}`,
			key:  katKey, want: true,
		},
		{
			name: "gross_amount sent as a JSON number keeps its literal text",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":10000.00,"signature_key":"` + katSignature + `"}`,
			key:  katKey, want: true,
		},
		{
			name: "gross_amount sent without decimals is signed without them",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":"10000","signature_key":"` + katSignatureNoDecimals + `"}`,
			key:  katKey, want: true,
		},
		{
			name: "gross_amount reformatted: the signature over 10000.00 does not fit 10000",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":"10000","signature_key":"` + katSignature + `"}`,
			key:  katKey, want: false,
		},
		{
			name: "tampered gross_amount",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":"1000.00","signature_key":"` + katSignature + `"}`,
			key:  katKey, want: false,
		},
		{
			name: "tampered order_id",
			body: `{"order_id":"Postman-1578568852","status_code":"200","gross_amount":"10000.00","signature_key":"` + katSignature + `"}`,
			key:  katKey, want: false,
		},
		{
			name: "tampered status_code",
			body: `{"order_id":"Postman-1578568851","status_code":"201","gross_amount":"10000.00","signature_key":"` + katSignature + `"}`,
			key:  katKey, want: false,
		},
		{
			name: "another merchant's key",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":"10000.00","signature_key":"` + katSignature + `"}`,
			key:  katKey + "x", want: false,
		},
		{
			name: "signature cut short",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":"10000.00","signature_key":"` + katSignature[:64] + `"}`,
			key:  katKey, want: false,
		},
		{
			name: "signature not hex",
			body: `{"order_id":"Postman-1578568851","status_code":"200","gross_amount":"10000.00","signature_key":"` + strings.Repeat("zz", 64) + `"}`,
			key:  katKey, want: false,
		},
		{
			name: "escaped characters are compared unescaped",
			body: `{"order_id":"Postman\u002d1578568851","status_code":"200","gross_amount":"10000.00","signature_key":"` + katSignature + `"}`,
			key:  katKey, want: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := readSignedFields([]byte(tt.body))
			if err != nil {
				t.Fatalf("readSignedFields: %v", err)
			}
			if got := f.verify(tt.key); got != tt.want {
				t.Errorf("verify = %v, want %v (fields %+v)", got, tt.want, f)
			}
		})
	}
}

func TestReadSignedFieldsRefusesWhatIsNotANotification(t *testing.T) {
	for _, body := range []string{
		``,
		`null`,
		`[]`,
		`"order_id"`,
		`{"order_id":"A","status_code":`,
		`{"order_id":{"x":1},"status_code":"200","gross_amount":"1.00","signature_key":"ab"}`,
		`{"order_id":"A","status_code":"200","gross_amount":true,"signature_key":"ab"}`,
		`<xml/>`,
	} {
		if _, err := readSignedFields([]byte(body)); err == nil {
			t.Errorf("readSignedFields(%q) = nil error, want one", body)
		}
	}
}

func TestMapStatus(t *testing.T) {
	tests := []struct {
		tx, fraud string
		want      payment.Status
	}{
		{"settlement", "", payment.StatusPaid},
		{"settlement", "accept", payment.StatusPaid},
		{"settlement", "challenge", payment.StatusPending},
		{"settlement", "deny", payment.StatusFailed},
		{"capture", "accept", payment.StatusPaid},
		{"capture", "challenge", payment.StatusPending},
		{"capture", "deny", payment.StatusFailed},
		{"capture", "", payment.StatusPending},
		{"pending", "", payment.StatusPending},
		{"pending", "accept", payment.StatusPending},
		{"authorize", "accept", payment.StatusPending},
		{"deny", "deny", payment.StatusFailed},
		{"deny", "", payment.StatusFailed},
		{"failure", "", payment.StatusFailed},
		{"cancel", "accept", payment.StatusCancelled},
		{"expire", "", payment.StatusExpired},
		{"refund", "accept", payment.StatusRefunded},
		{"partial_refund", "accept", payment.StatusPaid},
		{"SETTLEMENT", "ACCEPT", payment.StatusPaid},
		{"something_new", "accept", payment.StatusPending},
		{"", "", payment.StatusPending},
	}
	for _, tt := range tests {
		if got := mapStatus(tt.tx, tt.fraud); got != tt.want {
			t.Errorf("mapStatus(%q, %q) = %s, want %s", tt.tx, tt.fraud, got, tt.want)
		}
	}
}

func TestParseRupiah(t *testing.T) {
	tests := []struct {
		in         string
		want       int64
		fractional bool
		bad        bool
	}{
		{in: "150000.00", want: 150000},
		{in: "150000", want: 150000},
		{in: "150000.0", want: 150000},
		{in: "0.00", want: 0},
		{in: "150000.50", fractional: true},
		{in: "150000.01", fractional: true},
		{in: "", bad: true},
		{in: "-1.00", bad: true},
		{in: "1e5", bad: true},
		{in: "150.000,00", bad: true},
		{in: "150000.", bad: true},
		{in: ".00", bad: true},
		{in: "99999999999999999999.00", bad: true},
	}
	for _, tt := range tests {
		got, err := parseRupiah(tt.in)
		switch {
		case tt.fractional:
			if !errors.Is(err, errFractionalRupiah) {
				t.Errorf("parseRupiah(%q) error = %v, want errFractionalRupiah", tt.in, err)
			}
		case tt.bad:
			if err == nil || errors.Is(err, errFractionalRupiah) {
				t.Errorf("parseRupiah(%q) = %d, %v; want a parse error", tt.in, got, err)
			}
		case err != nil || got != tt.want:
			t.Errorf("parseRupiah(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	if got := formatRupiah(150000); got != "150000.00" {
		t.Errorf("formatRupiah = %q", got)
	}
}

func TestParseMidtransTime(t *testing.T) {
	got := parseMidtransTime("2020-01-09 18:27:19")
	want := time.Date(2020, 1, 9, 11, 27, 19, 0, time.UTC)
	if !got.Equal(want) {
		t.Errorf("parseMidtransTime = %s, want %s (Midtrans' times are WIB, UTC+7)", got, want)
	}
	if !parseMidtransTime("").IsZero() || !parseMidtransTime("09/01/2020").IsZero() {
		t.Error("unreadable times must be zero")
	}
}

func TestSnapExpiry(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	exp, at := snapExpiry(now, now.Add(90*time.Minute+time.Second), 0)
	if exp == nil || exp.Unit != "minute" || exp.Duration != 91 || exp.StartTime != "2026-03-01 17:00:00 +0700" {
		t.Errorf("snapExpiry = %+v", exp)
	}
	if !at.Equal(now.Add(91 * time.Minute)) {
		t.Errorf("expires at %s", at)
	}
	if exp, at := snapExpiry(now, time.Time{}, 0); exp != nil || !at.Equal(now.Add(24*time.Hour)) {
		t.Errorf("no expiry asked: %+v, %s; want Midtrans' default of 24 h", exp, at)
	}
	if exp, _ := snapExpiry(now, time.Time{}, 45); exp == nil || exp.Duration != 45 {
		t.Errorf("expiry_minutes 45: %+v", exp)
	}
}

func TestSnapRequestShape(t *testing.T) {
	req := &payment.CreatePaymentRequest{
		OrderID:   "INV-2026-0001",
		Amount:    payment.Money{Amount: 150000, Currency: "IDR"},
		Customer:  payment.Customer{Name: "Budi Susanto", Email: "budi@example.com", Phone: "+6281234567890"},
		Items:     []payment.LineItem{{SKU: "PLAN-10M", Name: "Hotspot 10 Mbps, 30 days", Quantity: 1, UnitPrice: payment.Money{Amount: 150000, Currency: "IDR"}}},
		ReturnURL: "https://billing.example.net/paid",
		Method:    "qris",
		Metadata:  map[string]string{"customer": "42"},
	}
	raw, err := json.Marshal(snapRequest(req, nil))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"transaction_details": map[string]any{"order_id": "INV-2026-0001", "gross_amount": 150000.0},
		"item_details":        []any{map[string]any{"id": "PLAN-10M", "name": "Hotspot 10 Mbps, 30 days", "price": 150000.0, "quantity": 1.0}},
		"customer_details":    map[string]any{"first_name": "Budi Susanto", "email": "budi@example.com", "phone": "+6281234567890"},
		"callbacks":           map[string]any{"finish": "https://billing.example.net/paid"},
		"enabled_payments":    []any{"qris"},
		"metadata":            map[string]any{"customer": "42"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Snap request (-want +got):\n%s", d)
	}
}

func TestManifestMatchesTheCode(t *testing.T) {
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
			AdditionalProperties bool                      `json:"additionalProperties"`
			Properties           map[string]map[string]any `json:"properties"`
		} `json:"config_schema"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.Name != Name || m.Version != Version || m.Kind != "payment" || m.Executable != "mikrobill-plugin-"+Name {
		t.Errorf("plugin.json says %s %s %s %s; the code is %s %s", m.Name, m.Version, m.Kind, m.Executable, Name, Version)
	}
	if d := cmp.Diff([]int{1}, m.ProtocolVersions); d != "" || m.Environment != "all" || m.Required == nil || *m.Required {
		t.Errorf("protocol_versions %v, environment %q, required %v", m.ProtocolVersions, m.Environment, m.Required)
	}
	if m.ConfigSchema.AdditionalProperties {
		t.Error("config_schema must refuse unknown settings")
	}
	sk := m.ConfigSchema.Properties["server_key"]
	if sk["format"] != "password" || sk["writeOnly"] != true {
		t.Errorf("server_key must be marked secret (format password, writeOnly): %v", sk)
	}
	// Every setting the code reads is in the schema, and the other way round.
	tags := jsonTags(settings{})
	for _, tag := range tags {
		if _, ok := m.ConfigSchema.Properties[tag]; !ok {
			t.Errorf("setting %q is missing from config_schema", tag)
		}
	}
	if len(tags) != len(m.ConfigSchema.Properties) {
		t.Errorf("config_schema has %d properties, the settings struct %d", len(m.ConfigSchema.Properties), len(tags))
	}
}

func jsonTags(v any) []string {
	var tags []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		tags = append(tags, name)
	}
	return tags
}

// TestMidtransURLs: the Snap API and the status API are on two hosts, per
// environment, each replaced by its own setting; health shows both.
func TestMidtransURLs(t *testing.T) {
	tests := []struct {
		settings     map[string]any
		snap, status string
	}{
		{settings: map[string]any{"environment": "sandbox"}, snap: "https://app.sandbox.midtrans.com", status: "https://api.sandbox.midtrans.com"},
		{settings: map[string]any{"environment": "production"}, snap: "https://app.midtrans.com", status: "https://api.midtrans.com"},
		{settings: map[string]any{"environment": "production", "base_url": "https://proxy.example.net/snap-proxy/", "api_base_url": "http://127.0.0.1:9000"},
			snap: "https://proxy.example.net/snap-proxy", status: "http://127.0.0.1:9000"},
	}
	for _, tt := range tests {
		h := sdktest.Serve(t, NewGateway())
		tt.settings["server_key"] = "Mid-server-abc"
		if _, err := h.Configure(context.Background(), tt.settings); err != nil {
			t.Fatalf("Configure(%v): %v", tt.settings, err)
		}
		health, err := h.Plugin().CheckHealth(context.Background(), &sdk.CheckHealthRequest{})
		if err != nil || health.Details["snap_base_url"] != tt.snap || health.Details["api_base_url"] != tt.status {
			t.Errorf("%v: health %+v, %v; want Snap at %s, the status API at %s", tt.settings, health, err, tt.snap, tt.status)
		}
	}
}
