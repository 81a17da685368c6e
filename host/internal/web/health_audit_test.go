package web

// The audit trail in /health, /ready and the audit page: a backlog while
// an audit plugin is installed, a failed verification (an error naming
// the first bad event and the reason, a banner on the page), and
// audit.fail_closed turning both into "not ready". GET
// /api/v1/audit/checkpoint without an audit plugin, or with one that keeps
// no checkpoints.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// healthAudit reads /health's status and audit object.
func healthAudit(t *testing.T, s *Server, path string) (int, string, map[string]any) {
	t.Helper()
	w := get(t, s.Handler(), path, "")
	var body struct {
		Status string         `json:"status"`
		Audit  map[string]any `json:"audit"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body.Status, body.Audit
}

func TestHealthAuditTrail(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	log := &testutil.AuditLog{}
	s := matrixServerOn(t, db, testutil.Plugins{AuditSink: sdktest.Serve(t, log).Audit()})

	// Nothing waits, nothing verified: healthy, the audit object says so.
	if code, status, au := healthAudit(t, s, "/health"); code != http.StatusOK || status != healthHealthy || au["status"] != healthHealthy || au["backlog"] != float64(0) {
		t.Errorf("/health with an idle audit trail: %d %s %v", code, status, au)
	}

	// Events waiting longer than audit.max_lag: degraded, with how many
	// and since when.
	old := time.Now().Add(-time.Hour)
	for _, id := range []string{"ev-1", "ev-2", "ev-3"} {
		if _, err := db.Q().AppendAudit(ctx, &store.AuditEntry{EventID: id, OccurredAt: old, Actor: "system", Action: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	code, status, au := healthAudit(t, s, "/health/detailed")
	if code != http.StatusOK || status != healthDegraded || au["status"] != healthDegraded || au["backlog"] != float64(3) || au["behind"] != true ||
		!strings.Contains(au["message"].(string), "3 events wait for the audit plugin") || au["lag_seconds"].(float64) < 3500 {
		t.Errorf("/health/detailed with a backlog: %d %s %v", code, status, au)
	}
	if w := get(t, s.Handler(), "/ready", ""); w.Code != http.StatusOK {
		t.Errorf("/ready with a backlog, fail_closed off: %d %s", w.Code, w.Body)
	}
	s.deps.Config.Audit.FailClosed = true
	if w := get(t, s.Handler(), "/ready", ""); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "audit.fail_closed") {
		t.Errorf("/ready with a backlog, fail_closed on: %d %s", w.Code, w.Body)
	}
	s.deps.Config.Audit.FailClosed = false
	if err := db.Q().MarkAuditDelivered(ctx, []int64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}

	// A failed verification: an error naming the first bad event and the
	// reason, and a banner on the audit page.
	if err := db.Q().RecordAuditVerification(ctx, &store.AuditVerification{CheckedAt: time.Now(), OK: false, Checked: 41, FirstBadSequence: 42,
		FirstBadEventID: "8c1f2a", Reason: "chain", Message: `event 42 ("8c1f2a", plan.updated by user:1) was changed`}); err != nil {
		t.Fatal(err)
	}
	code, status, au = healthAudit(t, s, "/health")
	msg, _ := au["message"].(string)
	if code != http.StatusOK || status != healthDegraded || au["status"] != healthUnhealthy || !strings.Contains(msg, "first bad event 42 (8c1f2a)") || !strings.Contains(msg, `reason "chain"`) {
		t.Errorf("/health after a failed verification: %d %s %v", code, status, au)
	}
	page := get(t, s.Handler(), "/audit", RoleAdmin)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `id="audit-verify-failed"`) || !strings.Contains(page.Body.String(), "42 (8c1f2a)") {
		t.Errorf("the audit page after a failed verification: %d %.2000s", page.Code, page.Body)
	}
	s.deps.Config.Audit.FailClosed = true
	if code, status, _ := healthAudit(t, s, "/health"); code != http.StatusServiceUnavailable || status != healthUnhealthy {
		t.Errorf("/health after a failed verification, fail_closed on: %d %s", code, status)
	}
	if w := get(t, s.Handler(), "/ready", ""); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "failed its verification") {
		t.Errorf("/ready after a failed verification, fail_closed on: %d %s", w.Code, w.Body)
	}

	// The test's audit plugin keeps no checkpoints: 501.
	if w := get(t, s.Handler(), "/api/v1/audit/checkpoint", RoleAdmin); w.Code != http.StatusNotImplemented {
		t.Errorf("checkpoint of a sink without proofs: %d %s", w.Code, w.Body)
	}
	if w := get(t, s.Handler(), "/api/v1/audit/checkpoint?take=maybe", RoleAdmin); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("checkpoint ?take=maybe: %d %s", w.Code, w.Body)
	}
}

func TestHealthWithoutAuditPlugin(t *testing.T) {
	s := matrixServer(t)
	if _, _, au := healthAudit(t, s, "/health"); au != nil {
		t.Errorf("/health without an audit plugin shows %v", au)
	}
	if w := get(t, s.Handler(), "/api/v1/audit/checkpoint", RoleAdmin); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no_audit_plugin") {
		t.Errorf("checkpoint without an audit plugin: %d %s", w.Code, w.Body)
	}
}
