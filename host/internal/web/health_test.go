package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHealthPingsTheDatabase: the store the health checks ping is the
// database the API works on (Deps.DB), given once.
func TestHealthPingsTheDatabase(t *testing.T) {
	h := matrixServer(t).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/ready: %d %s; want 200", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health/detailed", nil))
	var got struct {
		Components map[string]component `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("/health/detailed: %d %s: %v", rec.Code, rec.Body, err)
	}
	if st := got.Components["store"]; st.Status != healthHealthy || st.Driver != "sqlite" {
		t.Errorf("/health/detailed: store %+v; want healthy, sqlite", st)
	}
}
