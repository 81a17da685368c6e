package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestConfigShowPluginSecretsBySchema: `config show` judges a plugin's
// settings by the rule the admin API uses (manifest.SecretFieldsOf): an
// installed plugin's secrets are those its config_schema marks, whatever
// their names; a plugin that is not installed has the fields whose names
// look secret redacted.
func TestConfigShowPluginSecretsBySchema(t *testing.T) {
	const pin, apiKey = "pin-never-printed-1234", "api-key-never-printed"
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "payment-pin", Kind: "payment", Manifest: map[string]any{
		"config_schema": map[string]any{"type": "object", "properties": map[string]any{
			"pin":  map[string]any{"type": "string", "format": "password"},
			"mode": map[string]any{"type": "string"},
		}},
	}})
	file := writeConfig(t, t.TempDir(), `
plugin "payment-pin" {
  config = { pin = "`+pin+`", mode = "live" }
}
plugin "payment-absent" {
  config = { api_key = "`+apiKey+`", mode = "test" }
}
`)
	code, stdout, stderr := runConfig(t, []string{"MIKROBILL_DATA_DIR=" + t.TempDir()}, "config", "show", "--json", "--config", file, "--plugin-dir", d.Dir)
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	if strings.Contains(stdout+stderr, pin) || strings.Contains(stdout+stderr, apiKey) {
		t.Errorf("a secret was printed:\n%s", stdout)
	}
	var got struct {
		Plugin map[string]struct {
			Config map[string]any `json:"config"`
		} `json:"plugin"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	want := map[string]map[string]any{
		"payment-pin":    {"pin": "<redacted, from file>", "mode": "live"},
		"payment-absent": {"api_key": "<redacted, from file>", "mode": "test"},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, got.Plugin[name].Config); diff != "" {
			t.Errorf("plugin %s config (-want +got):\n%s", name, diff)
		}
	}
}

// TestConfigShowRouterPasswordNotSet: a router password that is not set is
// shown as null, as every secret not set is (docs/configuration.md).
func TestConfigShowRouterPasswordNotSet(t *testing.T) {
	t.Chdir(t.TempDir())
	code, stdout, stderr := runConfig(t, []string{"MIKROBILL_DATA_DIR=" + t.TempDir(), "MIKROTIK_HOST=192.168.88.1", "MIKROTIK_USERNAME=api"}, "config", "show", "--json")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	var got struct {
		Router struct {
			DefaultLocation map[string]any `json:"default_location"`
		} `json:"router"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if pw, ok := got.Router.DefaultLocation["password"]; !ok || pw != nil {
		t.Errorf("router.default_location.password = %#v (present %v), want null", pw, ok)
	}
}
