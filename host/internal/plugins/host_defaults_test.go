package plugins

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

// notifySchema declares the settings the host has defaults for, as the
// whatsapp plugin's config_schema does.
var notifySchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"message_delay_ms": map[string]any{"type": "integer", "minimum": 0},
		"max_sessions":     map[string]any{"type": "integer", "minimum": 1},
		"country":          map[string]any{"type": "string"},
	},
	"additionalProperties": false,
}

// TestLegacyWhatsAppVariablesReachTheNotifyPlugin: WHATSAPP_MESSAGE_DELAY
// (milliseconds) and WHATSAPP_MAX_SESSIONS, read into
// notifications.message_delay and notifications.max_sessions, arrive in the
// notify plugin's Configure as message_delay_ms and max_sessions; the
// plugin's own settings win, and a plugin whose config_schema does not
// declare them gets nothing.
func TestLegacyWhatsAppVariablesReachTheNotifyPlugin(t *testing.T) {
	f := newFixture(t)
	env := []string{"WHATSAPP_MESSAGE_DELAY=2500", "WHATSAPP_MAX_SESSIONS=3"}
	loaded, err := config.Load("", env, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.Notifications = loaded.Notifications
	if f.cfg.Notifications.Plugin != "whatsapp" {
		t.Fatalf("notifications.plugin = %q, want the default whatsapp", f.cfg.Notifications.Plugin)
	}
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name+".log") }
	f.Add(tp{Name: "whatsapp", Behaviour: map[string]any{"settings_file": file("whatsapp")},
		Manifest: map[string]any{"config_schema": notifySchema}})
	f.Add(tp{Name: "other", Behaviour: map[string]any{"settings_file": file("other")},
		Manifest: map[string]any{"config_schema": map[string]any{"type": "object"}}})
	f.cfg.Plugin["other"] = &config.PluginConfig{Settings: []byte(`{"x":1}`)}

	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	configured := func(name string) []map[string]any {
		t.Helper()
		raw, err := os.ReadFile(file(name))
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for line := range strings.Lines(strings.TrimSpace(string(raw))) {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	want := []map[string]any{{"message_delay_ms": float64(2500), "max_sessions": float64(3)}}
	if d := cmp.Diff(want, configured("whatsapp")); d != "" {
		t.Errorf("the notify plugin's Configure (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]map[string]any{{"x": float64(1)}}, configured("other")); d != "" {
		t.Errorf("another plugin's Configure (-want +got):\n%s", d)
	}

	// Settings saved in the admin UI win over the host's default.
	if _, err := m.Reconfigure(t.Context(), "whatsapp", json.RawMessage(`{"max_sessions":1,"country":"ID"}`)); err != nil {
		t.Fatal(err)
	}
	want = append(want, map[string]any{"message_delay_ms": float64(2500), "max_sessions": float64(1), "country": "ID"})
	if d := cmp.Diff(want, configured("whatsapp")); d != "" {
		t.Errorf("after saving max_sessions (-want +got):\n%s", d)
	}
	eff, err := m.EffectiveSettings("whatsapp", nil)
	if err != nil || string(eff) != `{"max_sessions":3,"message_delay_ms":2500}` {
		t.Errorf("EffectiveSettings = %s, %v", eff, err)
	}
}

func TestPluginDefaults(t *testing.T) {
	cfg := config.DefaultConfig()
	want := map[string]config.PluginDefault{
		"message_delay_ms": {Value: int64(1000), From: "notifications.message_delay (WHATSAPP_MESSAGE_DELAY)"},
		"max_sessions":     {Value: 5, From: "notifications.max_sessions (WHATSAPP_MAX_SESSIONS)"},
	}
	if d := cmp.Diff(want, cfg.PluginDefaults("whatsapp")); d != "" {
		t.Errorf("defaults of the default notify plugin (-want +got):\n%s", d)
	}
	if got := cfg.PluginDefaults("mikrotik"); got != nil {
		t.Errorf("mikrotik gets %v, want nothing", got)
	}
	cfg.Notifications.Plugin = "notifyfake"
	cfg.Notifications.MessageDelay = 0
	if got := cfg.PluginDefaults("notifyfake")["message_delay_ms"].Value; got != int64(0) {
		t.Errorf("message_delay 0s gives %v, want 0", got)
	}
	cfg.Notifications.MessageDelay = 1500 * time.Millisecond
	if got := cfg.PluginDefaults("notifyfake")["message_delay_ms"].Value; got != int64(1500) {
		t.Errorf("message_delay 1.5s gives %v, want 1500", got)
	}
	cfg.Notifications.Plugin = ""
	if got := cfg.PluginDefaults(""); got != nil {
		t.Errorf("no notify plugin: %v", got)
	}
}

// TestHostDefaultTheSchemaRefuses: WHATSAPP_MAX_SESSIONS above what the
// plugin's config_schema allows keeps the plugin from starting, with an
// error that names the variable and how to fix it.
func TestHostDefaultTheSchemaRefuses(t *testing.T) {
	f := newFixture(t)
	loaded, err := config.Load("", []string{"WHATSAPP_MAX_SESSIONS=50"}, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.Notifications = loaded.Notifications
	schema := map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
		"max_sessions":     map[string]any{"type": "integer", "minimum": 1, "maximum": 20},
		"message_delay_ms": map[string]any{"type": "integer", "minimum": 0},
	}}
	f.Add(tp{Name: "whatsapp", Manifest: map[string]any{"config_schema": schema}})
	m, _ := f.start()
	st := status(t, m, "whatsapp")
	for _, want := range []string{"/max_sessions", "notifications.max_sessions (WHATSAPP_MAX_SESSIONS) = 50", "PUT /api/v1/plugin-settings/whatsapp"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("the plugin's error %q lacks %q (state %s)", st.LastError, want, st.State)
		}
	}
	if st.State == StateRunning {
		t.Errorf("the plugin runs with max_sessions 50 against its schema's maximum of 20")
	}
	// Saved in the plugin's settings, a value it accepts wins; other
	// settings saved are refused as the schema's refusals are (the API
	// answers 422 with the violation).
	if _, err := m.EffectiveSettings("whatsapp", json.RawMessage(`{"max_sessions":20}`)); err != nil {
		t.Errorf("EffectiveSettings with max_sessions saved: %v", err)
	}
	var se *manifest.SettingsError
	if _, err := m.EffectiveSettings("whatsapp", json.RawMessage(`{"message_delay_ms":500}`)); !errors.As(err, &se) || se.Violations[0].Location != "/max_sessions" {
		t.Errorf("EffectiveSettings leaving max_sessions to the host: %v; want a SettingsError at /max_sessions", err)
	}
}
