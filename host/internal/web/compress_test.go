package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestNegotiateEncoding(t *testing.T) {
	for accept, want := range map[string]string{
		"":                        "",
		"identity":                "",
		"gzip":                    "gzip",
		"x-gzip":                  "gzip",
		"br":                      "br",
		"gzip, deflate, br, zstd": "br",
		"gzip;q=1.0, br;q=0.5":    "gzip",
		"br;q=0, gzip":            "gzip",
		"br;q=0, gzip;q=0":        "",
		"*":                       "br",
		"*;q=0":                   "",
		"gzip, *;q=0":             "gzip",
		"deflate":                 "",
		"BR ; Q=0.8, GZIP;q=0.8":  "br",
	} {
		if got := negotiateEncoding(accept); got != want {
			t.Errorf("negotiateEncoding(%q) = %q, want %q", accept, got, want)
		}
	}
}

func decode(t *testing.T, enc string, body []byte) string {
	t.Helper()
	var r io.Reader
	switch enc {
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	default:
		return string(body)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return string(out)
}

func TestCompress(t *testing.T) {
	big := strings.Repeat(`{"name":"Home 10M","price":150000},`, 100)
	s := New(Deps{})
	tests := []struct {
		name    string
		accept  string
		method  string
		handler http.HandlerFunc
		enc     string // expected Content-Encoding
		body    string
	}{
		{"brotli preferred", "gzip, br", http.MethodGet, writeAs("application/json", big), "br", big},
		{"gzip", "gzip", http.MethodGet, writeAs("application/json; charset=utf-8", big), "gzip", big},
		{"not accepted", "", http.MethodGet, writeAs("application/json", big), "", big},
		{"small body", "br", http.MethodGet, writeAs("application/json", `{"ok":true}`), "", `{"ok":true}`},
		{"image", "br", http.MethodGet, writeAs("image/png", big), "", big},
		{"zip", "br", http.MethodGet, writeAs("application/zip", big), "", big},
		{"sniffed HTML", "gzip", http.MethodGet, writeAs("", "<!DOCTYPE html><html>"+big), "gzip", "<!DOCTYPE html><html>" + big},
		{"already encoded", "br", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			writeAs("application/json", big)(w, r)
		}, "gzip", big},
		{"no-store carries a secret", "br", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			writeAs("application/json", big)(w, r)
		}, "", big},
		{"many small writes", "br", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			for i := 0; i < len(big); i += 100 {
				_, _ = io.WriteString(w, big[i:min(i+100, len(big))])
			}
		}, "br", big},
		{"HEAD", "br", http.MethodHead, writeAs("application/json", big), "", big}, // (the recorder keeps a HEAD body; net/http drops it)
		{"no content", "br", http.MethodGet, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/x", nil)
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			rec := httptest.NewRecorder()
			s.compress(tt.handler).ServeHTTP(rec, req)
			if got := rec.Header().Get("Content-Encoding"); got != tt.enc {
				t.Errorf("Content-Encoding = %q, want %q", got, tt.enc)
			}
			enc := tt.enc
			if tt.name == "already encoded" {
				enc = "" // passed through as it was written
			}
			if got := decode(t, enc, rec.Body.Bytes()); got != tt.body {
				t.Errorf("body (%d bytes) differs from what was written (%d bytes)", len(got), len(tt.body))
			}
			if tt.enc != "" && tt.enc != "gzip" || tt.name == "gzip" {
				if rec.Header().Get("Content-Length") != "" || rec.Body.Len() >= len(tt.body) {
					t.Errorf("compressed to %d of %d bytes, Content-Length %q", rec.Body.Len(), len(tt.body), rec.Header().Get("Content-Length"))
				}
			}
			if et := rec.Header().Get("ETag"); et != "" && tt.enc != "" && tt.name != "already encoded" && et != `W/"v1"` {
				t.Errorf("ETag of a compressed body = %q, want it weak", et)
			}
			if tt.name != "already encoded" && !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "Accept-Encoding") {
				t.Errorf("Vary = %v", rec.Header().Values("Vary"))
			}
		})
	}
}

func writeAs(ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Content-Length", itoa(int64(len(body))))
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, body)
	}
}

// TestCompressStreams: a flush sends what was written so far, compressed,
// without waiting for the body to grow.
func TestCompressStreams(t *testing.T) {
	s := New(Deps{})
	srv := httptest.NewServer(s.compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "br")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "br" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	buf := make([]byte, 11)
	if _, err := io.ReadFull(brotli.NewReader(resp.Body), buf); err != nil || string(buf) != "data: one\n\n" {
		t.Errorf("first event %q, %v", buf, err)
	}
}

// TestCompressPanic: a handler that panics after writing part of a small
// body gets a clean 500 from the recoverer, not the part.
func TestCompressPanic(t *testing.T) {
	s := New(Deps{})
	h := s.recoverer(s.compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"partial":`)
		panic("boom")
	})))
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "partial") || rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

// TestCompressFullHandler: the API's answers are compressed end to end.
func TestCompressFullHandler(t *testing.T) {
	a := newAuthAPI(t, storetest.SQLite(t), nil)
	for i := range 30 {
		a.user("user"+itoa(int64(i)), "correct horse battery", RoleViewer)
	}
	a.user("root", "correct horse battery", RoleAdmin)
	tok := a.loginJWT("root", "correct horse battery")
	r := a.do(http.MethodGet, "/api/v1/users?limit=100", nil, withBearer(tok), withHeader("Accept-Encoding", "gzip, br"))
	if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "br" || !strings.Contains(decode(t, "br", r.Body), `"user29"`) {
		t.Errorf("%d %v", r.Status, r.Header)
	}
	// The sign-in answer holds a token: never compressed.
	r = a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "root", "password": "correct horse battery"}, withHeader("Accept-Encoding", "br"))
	if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "" {
		t.Errorf("login: %d %v", r.Status, r.Header)
	}
}
