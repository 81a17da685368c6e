package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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

func TestPluginAPIIsLoopbackOnly(t *testing.T) {
	s := New(Deps{})
	h := s.localOnly(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for _, tt := range []struct {
		remote string
		status int
	}{
		{"127.0.0.1:5000", http.StatusNoContent},
		{"[::1]:5000", http.StatusNoContent},
		{"10.1.2.3:5000", http.StatusForbidden},
		{"192.168.88.10:5000", http.StatusForbidden},
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/plugins/x/restart", nil)
		req.RemoteAddr = tt.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("from %s: %d, want %d", tt.remote, rec.Code, tt.status)
		}
	}
}
