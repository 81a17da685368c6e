package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// API tokens and session cookies.
const (
	// TokenPrefix starts every API token, so it is recognised (and found by
	// secret scanners) wherever it leaks.
	TokenPrefix = "mbt_"
	// SessionCookie is the session cookie's name.
	SessionCookie = "mikrobill_session"

	// secretBytes is the randomness in a token or session value.
	secretBytes = 32
	// prefixChars is how many characters of a token after TokenPrefix are
	// kept, to recognise it in lists.
	prefixChars = 6
)

// secretLen is the length of a base64url secret of secretBytes.
var secretLen = base64.RawURLEncoding.EncodedLen(secretBytes)

// newSecret returns 32 random bytes as unpadded base64url.
func newSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// wellFormed reports whether s looks like newSecret's output, so garbage
// is refused without a database lookup.
func wellFormed(s string) bool {
	if len(s) != secretLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Digest is the SHA-256 of a token or session value, lowercase hex: what
// the store keeps instead of the value.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewAPIToken returns a new API token ("mbt_" and 32 random bytes in
// base64url), its digest for the store, and the prefix to show in lists.
// Show the token once; it cannot be recovered.
func NewAPIToken() (token, digest, prefix string, err error) {
	s, err := newSecret()
	if err != nil {
		return "", "", "", err
	}
	token = TokenPrefix + s
	return token, Digest(token), token[:len(TokenPrefix)+prefixChars], nil
}

// IsAPIToken reports whether a bearer credential is an API token (rather
// than a JWT).
func IsAPIToken(s string) bool { return strings.HasPrefix(s, TokenPrefix) }

// NewSessionValue returns a new session cookie value (32 random bytes in
// base64url) and its digest for the store.
func NewSessionValue() (value, digest string, err error) {
	value, err = newSecret()
	if err != nil {
		return "", "", err
	}
	return value, Digest(value), nil
}

// NewSessionCookie is the cookie that carries a session: HttpOnly,
// SameSite=Lax, Path=/, Max-Age=ttl, and Secure when the request came over
// HTTPS (directly, or through a trusted proxy that says so).
func NewSessionCookie(value string, ttl time.Duration, secure bool) *http.Cookie {
	return &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/",
		MaxAge: int(ttl / time.Second), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	}
}

// ClearSessionCookie is the cookie that removes the session cookie.
func ClearSessionCookie(secure bool) *http.Cookie {
	return &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/",
		MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	}
}
