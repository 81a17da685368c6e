package gateway

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

func TestDigests(t *testing.T) {
	// RFC 4231 test case 2, and the FIPS 180 / RFC 1321 "abc" vectors.
	data := []byte("what do ya want for nothing?")
	tests := []struct{ name, got, want string }{
		{"HMACSHA256", HMACSHA256("Jefe", data), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"HMACSHA256 in parts", HMACSHA256("Jefe", data[:4], data[4:]), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"HMACSHA512", HMACSHA512("Jefe", data), "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{"SHA512", SHA512("a", "bc"), "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{"MD5", MD5("ab", "c"), "900150983cd24fb0d6963f7d28e17f72"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestVerify(t *testing.T) {
	want := MD5("abc")
	tests := []struct {
		name, got, want string
		ok              bool
	}{
		{"equal", want, want, true},
		{"hex in upper case", strings.ToUpper(want), want, true},
		{"a token", "cb-token-123", "cb-token-123", true},
		{"a token differs in case", "CB-TOKEN-123", "cb-token-123", false},
		{"empty", "", want, false},
		{"nothing configured", "x", "", false},
		{"one byte off", want[:31] + "0", want, false},
		{"a prefix", want[:16], want, false},
	}
	for _, tt := range tests {
		err := Verify("the signature", tt.got, tt.want)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, payment.ErrInvalidSignature)) {
			t.Errorf("%s: Verify: %v; want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && tt.want != "" && strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: the refusal repeats the expected value: %v", tt.name, err)
		}
	}
}

func TestTimestampSignature(t *testing.T) {
	const secret = "whsec_test_0123456789abcdef"
	s := TimestampSignature{Header: "Example-Signature"}
	now := time.Unix(1764103200, 0)
	body := []byte(`{"id":"evt_1","type":"payment.paid"}`)
	valid := s.Sign(body, secret, now)
	other := s.Sign(body, "whsec_the-old-secret-000000", now)
	v1 := strings.Split(valid, ",")[1]
	tests := []struct {
		name, header string
		body         []byte
		want         string // "" when valid
	}{
		{"valid", valid, body, ""},
		{"rotation: any v1 may match", other + "," + v1, body, ""},
		{"an unknown scheme is skipped", valid + ",v0=abc", body, ""},
		{"missing", "", body, "header is missing"},
		{"not key=value", "garbage", body, "is not"},
		{"no timestamp", v1, body, "is not"},
		{"no v1", "t=1764103200", body, "is not"},
		{"v1 not hex", "t=1764103200,v1=zz", body, "is not"},
		{"wrong secret", other, body, "matches the body"},
		{"body changed by one byte", valid, append(bytes.Clone(body[:len(body)-1]), ' '), "matches the body"},
		{"body re-encoded", valid, []byte(`{"id": "evt_1", "type": "payment.paid"}`), "matches the body"},
		{"timestamp changed", strings.Replace(valid, "t=1764103200", "t=1764103201", 1), body, "matches the body"},
		{"too old", s.Sign(body, secret, now.Add(-6*time.Minute)), body, "from now"},
		{"from the future", s.Sign(body, secret, now.Add(6*time.Minute)), body, "from now"},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Example-Signature", tt.header)
		}
		err := s.Verify(h, tt.body, secret, now)
		if tt.want == "" && err != nil || tt.want != "" && (!errors.Is(err, payment.ErrInvalidSignature) || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Verify: %v; want %q", tt.name, err, tt.want)
		}
	}
	sha512 := TimestampSignature{Header: "X-Sig", Scheme: "v2", Hash: nil}
	if err := sha512.Verify(http.Header{"X-Sig": {sha512.Sign(body, secret, now)}}, body, secret, now); err != nil {
		t.Errorf("scheme v2: %v", err)
	}
}
