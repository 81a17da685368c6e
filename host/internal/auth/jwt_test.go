package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func TestJWTRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	j, err := NewJWT(testSecret, time.Hour, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := j.Issue(42, "operator", 3)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("expiry %v", exp)
	}
	c, err := j.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := c.UserID(); id != 42 || c.Role != "operator" || c.Generation == nil || *c.Generation != 3 || c.Issuer != Issuer || c.ID == "" ||
		!c.IssuedAt.Equal(now) || !c.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("claims %+v", c)
	}
	tok2, _, _ := j.Issue(42, "operator", 3)
	if c2, _ := j.Verify(tok2); c2.ID == c.ID {
		t.Error("two tokens share a jti")
	}
	if _, err := NewJWT(nil, time.Hour, nil); err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Errorf("empty secret: %v", err)
	}
}

func TestJWTRefusals(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clock := now
	j, _ := NewJWT(testSecret, time.Hour, func() time.Time { return clock })
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": Issuer, "sub": "7", "role": "admin", "gen": 0, "jti": "x", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	sign := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := sign(jwt.SigningMethodHS256, testSecret, valid())
	if _, err := j.Verify(good); err != nil {
		t.Fatalf("a valid hand-made token: %v", err)
	}
	// alg "none": header {"alg":"none","typ":"JWT"}, the same claims, no
	// signature.
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	// The key-confusion attack: HS256 signed, header claiming RS256.
	confused := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]
	with := func(k string, v any) jwt.MapClaims { c := valid(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := valid(); delete(c, k); return c }

	tests := []struct {
		name  string
		token string
		kind  error
	}{
		{"alg none", none, ErrInvalidCredentials},
		{"alg none via the library", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()), ErrInvalidCredentials},
		{"HS512 with the secret", sign(jwt.SigningMethodHS512, testSecret, valid()), ErrInvalidCredentials},
		{"HS384 with the secret", sign(jwt.SigningMethodHS384, testSecret, valid()), ErrInvalidCredentials},
		{"RS256", sign(jwt.SigningMethodRS256, rsaKey, valid()), ErrInvalidCredentials},
		{"RS256 header on an HMAC signature", confused, ErrInvalidCredentials},
		{"another secret", sign(jwt.SigningMethodHS256, []byte("another secret of thirty-two chars"), valid()), ErrInvalidCredentials},
		{"tampered claims", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"mikrobill","sub":"1","role":"admin","jti":"x","iat":1795600800,"exp":1795604400}`)) + "." + parts[2], ErrInvalidCredentials},
		{"another issuer", sign(jwt.SigningMethodHS256, testSecret, with("iss", "evil")), ErrInvalidCredentials},
		{"no exp", sign(jwt.SigningMethodHS256, testSecret, without("exp")), ErrInvalidCredentials},
		{"no sub", sign(jwt.SigningMethodHS256, testSecret, without("sub")), ErrInvalidCredentials},
		{"sub not a user id", sign(jwt.SigningMethodHS256, testSecret, with("sub", "admin")), ErrInvalidCredentials},
		{"no jti", sign(jwt.SigningMethodHS256, testSecret, without("jti")), ErrInvalidCredentials},
		{"no iat", sign(jwt.SigningMethodHS256, testSecret, without("iat")), ErrInvalidCredentials},
		{"no generation (a token of an older version)", sign(jwt.SigningMethodHS256, testSecret, without("gen")), ErrInvalidCredentials},
		{"issued in the future", sign(jwt.SigningMethodHS256, testSecret, with("iat", now.Add(time.Hour).Unix())), ErrInvalidCredentials},
		{"expired", sign(jwt.SigningMethodHS256, testSecret, with("exp", now.Add(-time.Minute).Unix())), ErrExpired},
		{"garbage", "not.a.jwt", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := j.Verify(tt.token)
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Verify = %v, want %v", err, tt.kind)
			}
			if err != nil && !strings.Contains(err.Error(), "sign in again") {
				t.Errorf("message %q does not say what to do", err)
			}
		})
	}
	clock = now.Add(2 * time.Hour)
	if _, err := j.Verify(good); !errors.Is(err, ErrExpired) {
		t.Errorf("after expiry: %v", err)
	}
}
