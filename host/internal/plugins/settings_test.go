package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

func TestMergeSettings(t *testing.T) {
	got, err := MergeSettings([]byte(`{"a":1,"b":{"x":1},"c":"file"}`), []byte(`{"b":{"y":2},"c":"saved","d":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"a":1,"b":{"y":2},"c":"saved","d":true}` {
		t.Errorf("MergeSettings = %s; want the saved fields to replace the file's whole", got)
	}
	if got, err := MergeSettings(nil, nil); err != nil || string(got) != `{}` {
		t.Errorf("MergeSettings(nil, nil) = %s, %v; want {}", got, err)
	}
	if _, err := MergeSettings([]byte(`{}`), []byte(`[1]`)); err == nil || !strings.Contains(err.Error(), "the saved settings are not a JSON object") {
		t.Errorf("MergeSettings with an array: %v", err)
	}
}

// TestSavedSettingsReachThePlugin: the settings saved through the admin API
// apply over the file's at launch, at every restart, and at once when they
// change (Configure again); settings the plugin refuses leave it as it was.
func TestSavedSettingsReachThePlugin(t *testing.T) {
	f := newFixture(t)
	file := filepath.Join(t.TempDir(), "settings.log")
	f.Add(tp{Name: "cfg", Behaviour: map[string]any{"settings_file": file}, Manifest: map[string]any{"config_schema": map[string]any{"type": "object"}}})
	f.cfg.Plugin["cfg"] = &config.PluginConfig{Settings: []byte(`{"from":"file","level":1}`)}
	var mu sync.Mutex
	saved := json.RawMessage(`{"level":2}`)
	f.saved = func(_ context.Context, name string) (json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		if name != "cfg" {
			return nil, nil
		}
		return saved, nil
	}
	configured := func() []string {
		raw, _ := os.ReadFile(file)
		return strings.Split(strings.TrimSpace(string(raw)), "\n")
	}

	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := configured(); len(got) != 1 || got[0] != `{"from":"file","level":2}` {
		t.Fatalf("configured at launch with %q; want the saved level over the file's settings", got)
	}

	warnings, err := m.Reconfigure(context.Background(), "cfg", json.RawMessage(`{"level":3,"extra":"x"}`))
	if err != nil || len(warnings) != 1 || warnings[0] != "configured" {
		t.Fatalf("Reconfigure: %v, warnings %q", err, warnings)
	}
	if got := configured(); len(got) != 2 || got[1] != `{"extra":"x","from":"file","level":3}` {
		t.Errorf("after Reconfigure: %q", got)
	}
	if st := status(t, m, "cfg"); st.Restarts != 0 || st.State != StateRunning {
		t.Errorf("Reconfigure restarted the plugin or changed its state: %+v", st)
	}

	_, err = m.Reconfigure(context.Background(), "cfg", json.RawMessage(`{"refuse":true}`))
	if !errors.Is(err, ErrSettingsRefused) || !strings.Contains(err.Error(), "refuse is set") {
		t.Errorf("Reconfigure with settings the plugin refuses: %v; want ErrSettingsRefused with the plugin's reason", err)
	}
	if got := configured(); len(got) != 2 {
		t.Errorf("refused settings were recorded as applied: %q", got)
	}

	// A restart reads the saved settings again.
	mu.Lock()
	saved = json.RawMessage(`{"level":4}`)
	mu.Unlock()
	if err := m.Restart("cfg"); err != nil {
		t.Fatal(err)
	}
	if got := configured(); len(got) != 3 || got[2] != `{"from":"file","level":4}` {
		t.Errorf("after a restart: %q", got)
	}

	// Not installed: nothing to tell, and no error (the settings wait).
	if _, err := m.Reconfigure(context.Background(), "not-installed", json.RawMessage(`{"a":1}`)); err != nil {
		t.Errorf("Reconfigure of a plugin that is not installed: %v", err)
	}
}

// TestSavedSettingsCheckedAgainstTheSchema: saved settings are checked as
// merged over the file's, at launch and by EffectiveSettings.
func TestSavedSettingsCheckedAgainstTheSchema(t *testing.T) {
	f := newFixture(t)
	f.AddBundled("payment-manual")
	f.cfg.Plugin["payment-manual"] = &config.PluginConfig{Settings: []byte(`{"expiry_hours": 2}`)}
	f.saved = func(context.Context, string) (json.RawMessage, error) {
		return json.RawMessage(`{"expiry_hours": 0}`), nil
	}
	m, err := f.start()
	if err == nil {
		t.Fatal("Start succeeded with saved settings that break the schema")
	}
	if st := status(t, m, "payment-manual"); !strings.Contains(st.LastError, "saved in the admin UI") || !strings.Contains(st.LastError, "/expiry_hours") {
		t.Errorf("last_error %q; want it to name the saved settings and /expiry_hours", st.LastError)
	}
	_, err = m.EffectiveSettings("payment-manual", json.RawMessage(`{"currencies":["idr"]}`))
	var se *manifest.SettingsError
	if !errors.As(err, &se) {
		t.Errorf("EffectiveSettings with a bad currency: %v; want a SettingsError", err)
	}
	eff, err := m.EffectiveSettings("payment-manual", json.RawMessage(`{"currencies":["IDR","USD"]}`))
	if err != nil || string(eff) != `{"currencies":["IDR","USD"],"expiry_hours":2}` {
		t.Errorf("EffectiveSettings = %s, %v", eff, err)
	}
}

// TestNotConfiguredWaitsForSettings: an optional plugin whose config_schema
// requires settings it does not have is "not configured": disabled, an
// info line and no error in the log, the host not failed; saving its
// settings and enabling it (what the settings page does) starts it. A
// required plugin without its settings still fails the start.
func TestNotConfiguredWaitsForSettings(t *testing.T) {
	schema := map[string]any{"type": "object", "required": []any{"key"}, "properties": map[string]any{"key": map[string]any{"type": "string"}}}
	f := newFixture(t)
	f.Add(tp{Name: "gw", Manifest: map[string]any{"required": false, "config_schema": schema}})
	var mu sync.Mutex
	var saved json.RawMessage
	f.saved = func(context.Context, string) (json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		return saved, nil
	}
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p, _ := m.Plugin("gw")
	st := p.Status()
	if st.State != StateDisabled || !st.NotConfigured || !p.NotConfigured() || !strings.Contains(st.Message, "key") || st.Error != "" {
		t.Fatalf("status of a plugin without its settings: %+v", st)
	}
	if ok, why := m.Ready(); !ok {
		t.Errorf("not ready: %v", why)
	}
	logs := f.logs.String()
	if strings.Contains(logs, "[ERROR]") || !strings.Contains(logs, "plugin not configured") {
		t.Errorf("logs:\n%s", logs)
	}
	if err := m.Enable("gw"); err == nil || !p.NotConfigured() {
		t.Errorf("enable without settings: %v; still not configured: %v", err, p.NotConfigured())
	}
	mu.Lock()
	saved = json.RawMessage(`{"key":"k1"}`)
	mu.Unlock()
	if err := m.Enable("gw"); err != nil {
		t.Fatalf("enable with settings: %v", err)
	}
	if st := p.Status(); st.State != StateRunning || st.NotConfigured {
		t.Errorf("after its settings: %+v", st)
	}

	req := newFixture(t)
	req.Add(tp{Name: "gw", Manifest: map[string]any{"required": true, "config_schema": schema}})
	if _, err := req.start(); err == nil {
		t.Error("a required plugin without its settings started")
	}
}

// TestSavedSettingsReadAheadOfALevel: the launches of one level do not each
// read their saved settings at once (the embedded database opened a
// connection for each); the level reads them one after another before, each
// plugin's first launch gets its own, and a restart reads them again.
func TestSavedSettingsReadAheadOfALevel(t *testing.T) {
	f := newFixture(t)
	names := []string{"cfg-a", "cfg-b", "cfg-c"}
	files := map[string]string{}
	for _, n := range names {
		files[n] = filepath.Join(t.TempDir(), "settings.log")
		f.Add(tp{Name: n, Behaviour: map[string]any{"settings_file": files[n]}, Manifest: map[string]any{"config_schema": map[string]any{"type": "object"}}})
	}
	var mu sync.Mutex
	var reading, most int
	reads := map[string]int{}
	level := map[string]int{"cfg-a": 1, "cfg-b": 2, "cfg-c": 3}
	f.saved = func(_ context.Context, name string) (json.RawMessage, error) {
		mu.Lock()
		reading++
		most = max(most, reading)
		reads[name]++
		l := level[name]
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // a read that takes a while: launches reading at once overlap
		mu.Lock()
		reading--
		mu.Unlock()
		return json.RawMessage(fmt.Sprintf(`{"level":%d}`, l)), nil
	}
	configured := func(name string) []string {
		raw, _ := os.ReadFile(files[name])
		return strings.Split(strings.TrimSpace(string(raw)), "\n")
	}

	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for _, n := range names {
		want := fmt.Sprintf(`{"level":%d}`, level[n])
		if got := configured(n); len(got) != 1 || got[0] != want {
			t.Errorf("%s configured with %q, want [%s]", n, got, want)
		}
	}
	mu.Lock()
	if most != 1 {
		t.Errorf("up to %d launches read their saved settings at once; want them read one after another", most)
	}
	for _, n := range names {
		if reads[n] != 1 {
			t.Errorf("%s's saved settings read %d times during the start, want once", n, reads[n])
		}
	}
	level["cfg-b"] = 7
	mu.Unlock()

	if err := m.Restart("cfg-b"); err != nil {
		t.Fatal(err)
	}
	if got := configured("cfg-b"); len(got) != 2 || got[1] != `{"level":7}` {
		t.Errorf("after a restart cfg-b was configured with %q; want the settings saved since", got)
	}
}
