package plugins

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

// TestDefaultLocationJoinsTheRouterPluginsLocations: MIKROTIK_* (the
// router.default_location) becomes an entry of the mikrotik plugin's
// locations, after the ones configured, unless one of its id is there; other
// plugins and hosts without a default router are left as they are.
func TestDefaultLocationJoinsTheRouterPluginsLocations(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Router.DefaultLocation = config.RouterLocation{Name: "default", Host: "10.0.0.1", Port: 8729, Username: "billing", Password: "pw", TLS: true}
	m := &Manager{cfg: cfg}
	def := map[string]any{"id": "default", "name": "default", "address": "10.0.0.1", "port": float64(8729), "username": "billing", "password": "pw", "tls": true}
	branch := map[string]any{"id": "branch-2", "address": "10.0.0.2", "username": "admin", "password": "x"}
	for _, tt := range []struct {
		name, plugin, in string
		want             map[string]any
	}{
		{"no settings", "mikrotik", `{}`, map[string]any{"locations": []any{def}}},
		{"after the configured ones", "mikrotik", `{"locations":[{"id":"branch-2","address":"10.0.0.2","username":"admin","password":"x"}],"command_timeout_seconds":5}`,
			map[string]any{"locations": []any{branch, def}, "command_timeout_seconds": float64(5)}},
		{"a configured id wins", "mikrotik", `{"locations":[{"id":"default","address":"10.9.9.9","username":"other","password":"y"}]}`,
			map[string]any{"locations": []any{map[string]any{"id": "default", "address": "10.9.9.9", "username": "other", "password": "y"}}}},
		{"another plugin", "payment-manual", `{"confirm_secret":"s"}`, map[string]any{"confirm_secret": "s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := m.withDefaultLocation(tt.plugin, json.RawMessage(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	t.Run("locations that are not a list", func(t *testing.T) {
		if _, err := m.withDefaultLocation("mikrotik", json.RawMessage(`{"locations":"main"}`)); err == nil {
			t.Error("no error; want one saying locations must be a list")
		}
	})
	t.Run("no default router", func(t *testing.T) {
		m := &Manager{cfg: config.DefaultConfig()}
		out, err := m.withDefaultLocation("mikrotik", json.RawMessage(`{}`))
		if err != nil || string(out) != `{}` {
			t.Errorf("%s %v; want the settings as they were", out, err)
		}
	})
}
