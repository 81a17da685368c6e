package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

func TestServeErrorMapsSentinels(t *testing.T) {
	s := New(Deps{})
	tests := []struct {
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{fmt.Errorf("%w: plugin \"x\" is restarting", sdk.ErrPluginUnavailable), http.StatusServiceUnavailable, "plugin_unavailable", true},
		{payment.ErrInvalidSignature, http.StatusUnauthorized, "unauthenticated", false},
		{payment.ErrUnknownOrder, http.StatusNotFound, "not_found", false},
		{payment.ErrReplay, http.StatusConflict, "already_exists", false},
		{sdk.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument", false},
		{sdk.ErrUnavailable, http.StatusServiceUnavailable, "upstream_unavailable", true},
		{fmt.Errorf("boom"), http.StatusInternalServerError, "internal", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.serveError(rec, httptest.NewRequest(http.MethodGet, "/x", nil), tt.err)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), `"code": "`+tt.code+`"`) {
				t.Errorf("%v: %d %s", tt.err, rec.Code, rec.Body.String())
			}
			if got := rec.Header().Get("Retry-After") != ""; got != tt.retryAfter {
				t.Errorf("%v: Retry-After present = %v, want %v", tt.err, got, tt.retryAfter)
			}
		})
	}
}

// TestAPIMethodNotAllowed: a known API path with another method is a 405
// naming the allowed methods, an unknown one a 404.
func TestAPIMethodNotAllowed(t *testing.T) {
	h := matrixServer(t).Handler()
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodDelete, "/api/v1/invoices", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodPut, "/api/v1/auth/login", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/api/v1/invoices/7", http.StatusMethodNotAllowed, "GET"},
		{http.MethodGet, "/api/v1/nothing", http.StatusNotFound, ""},
		{http.MethodPost, "/health", http.StatusMethodNotAllowed, ""},
	} {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		req.Header.Set("X-Test-Role", RoleAdmin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, Allow %q: %s", tt.method, tt.path, rec.Code, rec.Header().Get("Allow"), tt.status, tt.allow, rec.Body)
		}
	}
}

// TestRefusalDetails: a plugin's refusal of its settings is split into its
// problems, each under the setting it starts with; a part that names none
// goes on with the one before it, or under "settings" when it comes first.
func TestRefusalDetails(t *testing.T) {
	m := &manifest.Manifest{Name: "payment-x", ConfigSchema: json.RawMessage(`{"type": "object", "properties": {
		"base_url": {"type": "string"}, "base": {"type": "string"}, "webhook_secrets": {"type": "array"}, "mode": {"type": "string"}}}`)}
	for _, tt := range []struct {
		msg  string
		want FieldErrors
	}{
		{"invalid argument: settings: base_url: http:// is accepted only for loopback addresses; use https://",
			FieldErrors{"base_url": "base_url: http:// is accepted only for loopback addresses; use https://"}},
		{"invalid argument: webhook_secrets[1] is not a signing secret; mode must be \"test\" or \"live\"; something else",
			FieldErrors{"webhook_secrets": "webhook_secrets[1] is not a signing secret", "mode": "mode must be \"test\" or \"live\"; something else"}},
		{"cannot connect; baseline is wrong", FieldErrors{"settings": "cannot connect; baseline is wrong"}},
	} {
		err := fmt.Errorf("%w: %w", plugins.ErrSettingsRefused, errors.New(tt.msg))
		if diff := cmp.Diff(tt.want, refusalDetails(m, err)); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.msg, diff)
		}
	}
}

// TestClassifyDatabaseUnavailable: every way a database connection is lost
// (PostgreSQL's connection-exception class 08 and its 57P01-57P03
// terminations, a connection pgx closed, the store's ErrUnavailable) is a
// 503 database_unavailable with Retry-After, never a 500; a constraint the
// database refused and a network error that is not the database's are not.
func TestClassifyDatabaseUnavailable(t *testing.T) {
	s := New(Deps{})
	lost := []error{store.ErrUnavailable, fmt.Errorf("list plans: %w", pgconn.ErrConnClosed)}
	for _, code := range []string{"57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006", "08007", "08P01"} {
		lost = append(lost, fmt.Errorf("invoice 7: %w", &pgconn.PgError{Severity: "FATAL", Code: code, Message: "terminating connection"}))
	}
	for _, err := range lost {
		rec := httptest.NewRecorder()
		s.serveError(rec, httptest.NewRequest(http.MethodPost, "/webhooks/payment-x", nil), err)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"database_unavailable"`) {
			t.Errorf("%v: %d %s (Retry-After %q); want 503 database_unavailable with Retry-After", err, rec.Code, rec.Body, rec.Header().Get("Retry-After"))
		}
	}
	for _, err := range []error{
		&pgconn.PgError{Code: "23505", Message: "duplicate key"},
		&url.Error{Op: "Get", URL: "https://marketplace.example", Err: io.EOF},
	} {
		if ae := classify(err); ae.status == http.StatusServiceUnavailable {
			t.Errorf("%v is classified as the database being unavailable", err)
		}
	}
}
