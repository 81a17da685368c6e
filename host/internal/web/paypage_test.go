package web

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPayPageRenderFailure: a pay page whose template fails half way is a
// clean 500 error answer, with none of the half-rendered page and none of
// the page's headers.
func TestPayPageRenderFailure(t *testing.T) {
	h := matrixServer(t).Handler()
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pay/INV-2026-000001?k=not-the-digest", nil))
		return rec
	}
	// The real template first: an unknown link is the page's 404.
	if rec := get(); rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("unknown link: %d %q %s; want the 404 page", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}

	real := payPageTmpl
	t.Cleanup(func() { payPageTmpl = real })
	payPageTmpl = template.Must(template.New("pay").Parse(`<p>half a page</p>{{.NoSuchField}}`))
	rec := get()
	body := rec.Body.String()
	if rec.Code != http.StatusInternalServerError || !strings.Contains(body, `"code": "internal"`) {
		t.Errorf("render failure: %d %s; want 500 internal", rec.Code, body)
	}
	if strings.Contains(body, "half a page") {
		t.Errorf("the half-rendered page was sent: %s", body)
	}
	if ct, csp := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Security-Policy"); ct != "application/json; charset=utf-8" || csp == payPageCSP {
		t.Errorf("render failure sent the page's headers: Content-Type %q, Content-Security-Policy %q", ct, csp)
	}
}
