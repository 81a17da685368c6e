package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewAPIToken(t *testing.T) {
	tok, digest, prefix, err := NewAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, TokenPrefix))
	if !strings.HasPrefix(tok, "mbt_") || err != nil || len(raw) != 32 {
		t.Errorf("token %q is not mbt_ and 32 bytes of base64url (%v)", tok, err)
	}
	sum := sha256.Sum256([]byte(tok))
	if digest != hex.EncodeToString(sum[:]) {
		t.Errorf("digest %q is not the SHA-256 hex of the token", digest)
	}
	if prefix != tok[:10] || !IsAPIToken(tok) || IsAPIToken("eyJhbGciOi") {
		t.Errorf("prefix %q of %q", prefix, tok)
	}
	other, _, _, _ := NewAPIToken()
	if other == tok {
		t.Error("two tokens are equal")
	}
	if !wellFormed(strings.TrimPrefix(tok, TokenPrefix)) || wellFormed("short") || wellFormed(strings.Repeat("!", 43)) {
		t.Error("wellFormed is wrong")
	}
}

func TestSessionCookie(t *testing.T) {
	v, digest, err := NewSessionValue()
	if err != nil || len(v) != 43 || digest != Digest(v) || len(digest) != 64 {
		t.Fatalf("NewSessionValue = %q, %q, %v", v, digest, err)
	}
	for _, secure := range []bool{false, true} {
		c := NewSessionCookie(v, 24*time.Hour, secure)
		if c.Name != "mikrobill_session" || c.Value != v || c.Path != "/" || c.MaxAge != 86400 || !c.HttpOnly ||
			c.SameSite != http.SameSiteLaxMode || c.Secure != secure {
			t.Errorf("cookie %+v", c)
		}
		line := c.String()
		for _, want := range []string{"HttpOnly", "SameSite=Lax", "Max-Age=86400", "Path=/"} {
			if !strings.Contains(line, want) {
				t.Errorf("Set-Cookie %q lacks %s", line, want)
			}
		}
		if strings.Contains(line, "Secure") != secure {
			t.Errorf("Set-Cookie %q: Secure should be %v", line, secure)
		}
		if cl := ClearSessionCookie(secure); cl.MaxAge != -1 || cl.Value != "" || cl.Name != SessionCookie {
			t.Errorf("clearing cookie %+v", cl)
		}
	}
}
