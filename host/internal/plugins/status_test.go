package plugins

import (
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// scrape returns the host's /metrics text.
func scrape(t *testing.T, m *Manager) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.deps.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// TestRestartsCounterOnMetrics: mikrobill_plugin_restarts_total, which
// docs/configuration.md names, is on /metrics for every plugin from the
// start (at 0) and counts a restart.
func TestRestartsCounterOnMetrics(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "worker"})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, m); !strings.Contains(got, `mikrobill_plugin_restarts_total{plugin="worker"} 0`) {
		t.Errorf("/metrics before any restart lacks the worker's restart counter at 0:\n%s", got)
	}
	if err := m.Restart("worker"); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, m); !strings.Contains(got, `mikrobill_plugin_restarts_total{plugin="worker"} 1`) {
		t.Errorf("/metrics after a restart lacks the worker's restart counter at 1:\n%s", got)
	}
}

// TestErrorClearsOnRecovery: a plugin's current error is shown while it is
// down and cleared once it runs again; the last error stays, with its time,
// as history.
func TestErrorClearsOnRecovery(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.Restart.InitialBackoff = 10 * time.Millisecond
	f.Add(tp{Name: "steady"})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("steady")
	if st := p.Status(); st.Error != "" || st.LastError != "" || st.LastErrorAt != nil {
		t.Errorf("a plugin that never failed: error %q, last_error %q at %v", st.Error, st.LastError, st.LastErrorAt)
	}
	pid := p.Status().PID
	before := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sdktest.WaitFor(t, 10*time.Second, "steady runs again", func() bool { st := p.Status(); return st.State == StateRunning && st.PID != pid })
	st := p.Status()
	if st.Error != "" {
		t.Errorf("error %q after the plugin recovered; want none", st.Error)
	}
	if !strings.Contains(st.LastError, "exited unexpectedly") || st.LastErrorAt == nil || st.LastErrorAt.Before(before) || st.LastErrorAt.After(time.Now()) {
		t.Errorf("last_error %q at %v; want the crash, with its time", st.LastError, st.LastErrorAt)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"last_error_at":`) || strings.Contains(string(raw), `"error":`) {
		t.Errorf("status JSON %s: want last_error_at and no current error", raw)
	}
}

// TestUnavailableCallSaysWhenTheNextAttemptIs: a call to a plugin whose
// circuit is open fails with an *UnavailableError that carries the end of
// the cool-down (what Retry-After says), and the current error explains
// the open circuit.
func TestUnavailableCallSaysWhenTheNextAttemptIs(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.Restart = config.RestartConfig{
		InitialBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Budget: 1, Window: time.Minute, Cooldown: 5 * time.Minute, StableAfter: time.Minute,
	}
	f.Add(tp{Name: "brief", Kind: "payment", Behaviour: map[string]any{"exit_after_ms": 100}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("brief")
	sdktest.WaitFor(t, 10*time.Second, "brief is failed", func() bool { return p.State() == StateFailed })
	st := p.Status()
	if st.NextAttempt == nil || !strings.Contains(st.Error, "circuit open") || st.Error != st.LastError {
		t.Fatalf("failed with an open circuit: next attempt %v, error %q, last_error %q", st.NextAttempt, st.Error, st.LastError)
	}
	gw, _ := p.Payment()
	err = createPayment(gw, "now")
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, sdk.ErrPluginUnavailable) {
		t.Fatalf("call to a plugin with an open circuit: %T %v; want an *UnavailableError wrapping ErrPluginUnavailable", err, err)
	}
	if !ue.RetryAt.Equal(*st.NextAttempt) {
		t.Errorf("RetryAt %v, want the next attempt %v", ue.RetryAt, *st.NextAttempt)
	}
	if !strings.Contains(err.Error(), "next attempt") {
		t.Errorf("error %q does not say when the next attempt is", err)
	}
}
