package gateway

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Signature helpers. Gateways sign notifications in a handful of ways; these
// compute the digests as lower-case hex, and Verify compares in constant
// time (the time taken does not tell where the strings differ). Verify a
// signature over the raw body exactly as received, never over re-encoded
// JSON. The digests' inputs are the gateway's documented concatenation.

// HMACSHA256 is the hex HMAC-SHA256 of the parts, keyed with key.
func HMACSHA256(key string, parts ...[]byte) string { return hexMAC(sha256.New, key, parts) }

// HMACSHA512 is the hex HMAC-SHA512 of the parts, keyed with key.
func HMACSHA512(key string, parts ...[]byte) string { return hexMAC(sha512.New, key, parts) }

// SHA512 is the hex SHA-512 digest of the parts joined (Midtrans signs
// order_id + status_code + gross_amount + server key this way).
func SHA512(parts ...string) string { return hexDigest(sha512.New(), parts) }

// MD5 is the hex MD5 digest of the parts joined, for gateways that still
// sign with it. MD5 is broken for collisions; use it only where the
// gateway leaves no choice.
func MD5(parts ...string) string { return hexDigest(md5.New(), parts) }

func hexMAC(h func() hash.Hash, key string, parts [][]byte) string {
	m := hmac.New(h, []byte(key))
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func hexDigest(h hash.Hash, parts []string) string {
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Verify compares a received signature or token with the expected one in
// constant time, ignoring the case of hex digits when both are hex. An
// empty received value is always refused. The error wraps
// payment.ErrInvalidSignature and names what, never the expected value.
func Verify(what, got, want string) error {
	if got == "" {
		return fmt.Errorf("%w: %s is missing", payment.ErrInvalidSignature, what)
	}
	if want == "" {
		return fmt.Errorf("%w: nothing to check %s against; set the secret in the plugin's settings", payment.ErrInvalidSignature, what)
	}
	if isHex(got) && isHex(want) {
		got, want = strings.ToLower(got), strings.ToLower(want)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return fmt.Errorf("%w: %s does not match; check the secret in the plugin's settings against the gateway's dashboard", payment.ErrInvalidSignature, what)
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s)%2 == 0
}

// TimestampSignature is the scheme of a header such as
//
//	Example-Signature: t=1764103503,v1=5f0c0a3e...
//
// (Stripe's, and gateways' that copied it): t is the Unix time of sending,
// each v1 the hex HMAC of t, a dot and the raw body, keyed with the webhook
// secret. While a secret is rolled the header carries one v1 per secret;
// any one matching is enough. Schemes other than Scheme are skipped.
type TimestampSignature struct {
	// Header carries the signature.
	Header string
	// Scheme names the signatures to check (0: "v1").
	Scheme string
	// Tolerance is how far t may be from now (0: 5 minutes). It bounds
	// how long a captured notification can be replayed.
	Tolerance time.Duration
	// Hash is the HMAC's hash (nil: SHA-256).
	Hash func() hash.Hash
}

func (s TimestampSignature) defaults() (scheme string, tolerance time.Duration, h func() hash.Hash) {
	scheme, tolerance, h = cmpOr(s.Scheme, "v1"), s.Tolerance, s.Hash
	if tolerance == 0 {
		tolerance = 5 * time.Minute
	}
	if h == nil {
		h = sha256.New
	}
	return scheme, tolerance, h
}

// Sign returns the header's value for body signed with secret at t: what
// the gateway sends (fakes in tests use it).
func (s TimestampSignature) Sign(body []byte, secret string, t time.Time) string {
	scheme, _, h := s.defaults()
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + "," + scheme + "=" + hexMAC(h, secret, [][]byte{[]byte(ts), {'.'}, body})
}

// Verify checks the header of a notification over its raw body, in
// constant time. Its errors wrap payment.ErrInvalidSignature and say what is
// wrong, never what was expected.
func (s TimestampSignature) Verify(h http.Header, body []byte, secret string, now time.Time) error {
	scheme, tolerance, hf := s.defaults()
	header := h.Get(s.Header)
	if header == "" {
		return fmt.Errorf("%w: the %s header is missing", payment.ErrInvalidSignature, s.Header)
	}
	bad := fmt.Errorf("%w: the %s header is not \"t=<unix seconds>,%s=<hex>\"", payment.ErrInvalidSignature, s.Header, scheme)
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return bad
		case k == "t":
			ts = v
		case k == scheme:
			if !isHex(v) {
				return bad
			}
			sigs = append(sigs, v)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return bad
	}
	want := hexMAC(hf, secret, [][]byte{[]byte(ts), {'.'}, body})
	matched := false
	for _, sig := range sigs {
		if Verify(s.Header, sig, want) == nil {
			matched = true // no early exit: the same time whichever matched
		}
	}
	if !matched {
		return fmt.Errorf("%w: no %s signature matches the body; check the webhook secret in the plugin's settings against the gateway's dashboard", payment.ErrInvalidSignature, scheme)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: the signed timestamp is %s from now, more than %s (a replay, or a clock that is off)", payment.ErrInvalidSignature, d.Round(time.Second), tolerance)
	}
	return nil
}
