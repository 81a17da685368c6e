package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestCompressNegotiates(t *testing.T) {
	big := strings.Repeat(`{"name":"Home 10M","price":150000},`, 100)
	h := New(Deps{}).compress(writeAs("application/json", big))
	for accept, want := range map[string]string{
		"":                          "",
		"identity":                  "",
		"gzip":                      "gzip",
		"br":                        "", // no brotli: zstd takes its place
		"gzip, deflate, br, zstd":   "zstd",
		"gzip;q=1.0, zstd;q=0.5":    "gzip",
		"zstd;q=0, gzip":            "gzip",
		"zstd;q=0, gzip;q=0":        "",
		"*":                         "zstd",
		"*;q=0":                     "",
		"gzip, *;q=0":               "gzip",
		"deflate":                   "",
		"ZSTD ; Q=0.8, GZIP;q=0.8":  "zstd",
		"gzip;q=0.5, zstd;q=0.8, *": "zstd",
	} {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set("Accept-Encoding", accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Encoding"); got != want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", accept, got, want)
		}
		if got := decode(t, want, rec.Body.Bytes()); got != big {
			t.Errorf("Accept-Encoding %q: the body does not decode to what was written", accept)
		}
	}
}

func decode(t *testing.T, enc string, body []byte) string {
	t.Helper()
	var r io.Reader
	switch enc {
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
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
		{"zstd preferred", "gzip, br, zstd", http.MethodGet, writeAs("application/json", big), "zstd", big},
		{"gzip", "gzip", http.MethodGet, writeAs("application/json; charset=utf-8", big), "gzip", big},
		{"not accepted", "", http.MethodGet, writeAs("application/json", big), "", big},
		{"small body", "zstd", http.MethodGet, writeAs("application/json", `{"ok":true}`), "", `{"ok":true}`},
		{"image", "zstd", http.MethodGet, writeAs("image/png", big), "", big},
		{"zip", "zstd", http.MethodGet, writeAs("application/zip", big), "", big},
		{"sniffed HTML", "gzip", http.MethodGet, writeAs("", "<!DOCTYPE html><html>"+big), "gzip", "<!DOCTYPE html><html>" + big},
		{"already encoded", "zstd", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			writeAs("application/json", big)(w, r)
		}, "gzip", big},
		{"no-store carries a secret", "zstd", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			writeAs("application/json", big)(w, r)
		}, "", big},
		{"many small writes", "zstd", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			for i := 0; i < len(big); i += 100 {
				_, _ = io.WriteString(w, big[i:min(i+100, len(big))])
			}
		}, "zstd", big},
		{"HEAD", "zstd", http.MethodHead, writeAs("application/json", big), "", big}, // (the recorder keeps a HEAD body; net/http drops it)
		{"no content", "zstd", http.MethodGet, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, "", ""},
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
			if et := rec.Header().Get("ETag"); et != "" && tt.enc != "" && tt.name != "already encoded" && et != `"v1-`+tt.enc+`"` {
				t.Errorf("ETag of a compressed body = %q, want one of its own", et)
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
	for _, enc := range []string{"zstd", "gzip"} {
		req.Header.Set("Accept-Encoding", enc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Content-Encoding") != enc {
			t.Fatalf("Content-Encoding %q, want %q", resp.Header.Get("Content-Encoding"), enc)
		}
		var r io.Reader
		if enc == "zstd" {
			zr, err := zstd.NewReader(resp.Body, zstd.WithDecoderConcurrency(1))
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			r = zr
		} else if r, err = gzip.NewReader(resp.Body); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 11)
		if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "data: one\n\n" {
			t.Errorf("%s: first event %q, %v", enc, buf, err)
		}
		resp.Body.Close()
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
	r := a.do(http.MethodGet, "/api/v1/users?limit=100", nil, withBearer(tok), withHeader("Accept-Encoding", "gzip, br, zstd"))
	if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "zstd" || !strings.Contains(decode(t, "zstd", r.Body), `"user29"`) {
		t.Errorf("%d %v", r.Status, r.Header)
	}
	// The sign-in answer holds a token: never compressed.
	r = a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "root", "password": "correct horse battery"}, withHeader("Accept-Encoding", "gzip, zstd"))
	if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "" {
		t.Errorf("login: %d %v", r.Status, r.Header)
	}
}

// TestCompressRevalidates: a compressed static file's ETag is its own, and
// a browser that sends it back gets 304, as for the uncompressed file.
func TestCompressRevalidates(t *testing.T) {
	h := matrixServer(t).Handler()
	for _, enc := range []string{"zstd", "gzip", ""} {
		req := httptest.NewRequest(http.MethodGet, "/static/app.css", nil)
		req.Header.Set("Accept-Encoding", enc)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		etag := rec.Header().Get("ETag")
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != enc || etag == "" {
			t.Fatalf("%q: %d, Content-Encoding %q, ETag %q", enc, rec.Code, rec.Header().Get("Content-Encoding"), etag)
		}
		if enc != "" && !strings.HasSuffix(etag, "-"+enc+`"`) {
			t.Errorf("%s: ETag %s is the uncompressed file's", enc, etag)
		}
		req = httptest.NewRequest(http.MethodGet, "/static/app.css", nil)
		req.Header.Set("Accept-Encoding", enc)
		req.Header.Set("If-None-Match", etag)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("%q: revalidating with %s: %d, %d bytes; want 304", enc, etag, rec.Code, rec.Body.Len())
		}
	}
}
