package web_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

// TestRetryAfterIsTheNextAttempt: a webhook for a payment plugin whose
// circuit is open for five minutes answers 503 with a Retry-After of the
// time left to the supervisor's next attempt, not a fixed 5 seconds.
func TestRetryAfterIsTheNextAttempt(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "payment-brief", Kind: "payment", Behaviour: map[string]any{"exit_after_ms": 100}})
	pm, cfg := web.StartPlugins(t, d.Dir, plugins.Deps{}, func(cfg *config.Config) {
		cfg.Plugins.HealthInterval = time.Hour
		cfg.Plugins.Restart = config.RestartConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
			Budget: 1, Window: time.Minute, Cooldown: 5 * time.Minute, StableAfter: time.Minute}
	})
	p, _ := pm.Plugin("payment-brief")
	deadline := time.Now().Add(20 * time.Second)
	for p.State() != plugins.StateFailed {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin did not fail with an open circuit: %+v", p.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	db := storetest.SQLite(t)
	s := web.New(web.Deps{Config: cfg, Metrics: metrics.New(), DB: db, Plugins: pm,
		Billing: billing.New(db, nil, billing.FromManager(pm), billing.Config{}, nil)})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks/payment-brief", strings.NewReader(`{}`)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("webhook to a plugin with an open circuit: %d %s", rec.Code, rec.Body)
	}
	secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || secs < 200 || secs > 300 {
		t.Errorf("Retry-After %q; want the time to the next attempt, up to 300 seconds (the cool-down)", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), "next attempt") {
		t.Errorf("answer %s does not say when the next attempt is", rec.Body)
	}
}
