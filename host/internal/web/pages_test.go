package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// TestPagesCSPAndCSRF: the UI's pages and static files carry the strict
// CSP (the API keeps its own), and a form post from another site is
// refused before it reaches the page, as the API's unsafe requests are.
func TestPagesCSPAndCSRF(t *testing.T) {
	h := matrixServer(t).Handler()
	for _, path := range []string{"/signin", "/static/app.css"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Security-Policy") != ui.CSP {
			t.Errorf("GET %s: %d, CSP %q; want 200 with %q", path, rec.Code, rec.Header().Get("Content-Security-Policy"), ui.CSP)
		}
		if rec.Header().Get("X-Frame-Options") != "DENY" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s lost the security headers: %v", path, rec.Header())
		}
	}
	if !strings.Contains(ui.CSP, "script-src 'self'") || !strings.Contains(ui.CSP, "style-src 'self'") || strings.Contains(ui.CSP, "unsafe") {
		t.Errorf("the pages' CSP %q allows more than the host's own files", ui.CSP)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/live", nil))
	if got := rec.Header().Get("Content-Security-Policy"); got != "default-src 'self'; frame-ancestors 'none'" {
		t.Errorf("outside the UI the CSP changed: %q", got)
	}

	form := url.Values{"username": {"ana"}, "password": {"correct horse battery"}}.Encode()
	for _, c := range []struct {
		site string
		want int
	}{{"cross-site", http.StatusForbidden}, {"same-origin", http.StatusUnauthorized}} {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", c.site)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("sign-in form posted %s: %d %s; want %d", c.site, rec.Code, rec.Body, c.want)
		}
	}
}
