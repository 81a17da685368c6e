package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHTMXRefusalsAreFragments: a page's refusal or error asked for by htmx
// (HX-Request) is a short fragment with the translated message, with the
// error status (so htmx and static/alerts.js see the failure); the same
// request from a plain form gets the whole error page.
func TestHTMXRefusalsAreFragments(t *testing.T) {
	h := matrixServer(t).Handler()
	cases := []struct {
		name, method, path, role, lang string
		hx                             bool
		status                         int
		want                           string
	}{
		{"a viewer's disable, by htmx", http.MethodPost, "/plugin/payment-x/disable", RoleViewer, "en", true, http.StatusForbidden, "Your role may not do this."},
		{"in Indonesian", http.MethodPost, "/plugin/payment-x/disable", RoleViewer, "id", true, http.StatusForbidden, "Peran Anda tidak boleh melakukan ini."},
		{"an unknown plugin's restart, by htmx", http.MethodPost, "/plugin/nowhere/restart", RoleOperator, "en", true, http.StatusNotFound, "There is nothing here."},
		{"a viewer's disable, by a form", http.MethodPost, "/plugin/payment-x/disable", RoleViewer, "en", false, http.StatusForbidden, "Your role may not do this."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader("back=plugin"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Test-Role", c.role)
			req.Header.Set("Accept-Language", c.lang)
			if c.hx {
				req.Header.Set("HX-Request", "true")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			body := w.Body.String()
			if w.Code != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("%d, want %d with %q:\n%.1500s", w.Code, c.status, c.want, body)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q; want HTML", ct)
			}
			page := strings.Contains(body, "<html")
			if c.hx && (page || !strings.Contains(body, "data-message")) {
				t.Errorf("htmx got the whole page, or no message element:\n%s", body)
			}
			if !c.hx && (!page || !strings.Contains(body, `id="flash"`)) {
				t.Errorf("a form got no whole page with the alert region:\n%.1500s", body)
			}
		})
	}
}
