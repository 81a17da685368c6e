package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPluginSettingsSecretByNameWithoutAManifest: settings saved before
// their plugin is installed have no manifest to name the secret fields, so
// the top-level string fields whose names look secret (pass, secret, token,
// key, credential, private, in any case, as `mikrobill config show` judges
// them) and hold text (a string, or a list of strings) are encrypted at
// rest and shown redacted; other fields, and secret-looking ones that hold
// numbers, are left as they are.
func TestPluginSettingsSecretByNameWithoutAManifest(t *testing.T) {
	a := newCatalogAPI(t, nil)
	ctx := context.Background()
	const path = "/api/v1/plugin-settings/payment-z"
	secrets := map[string]string{
		"API_Key": "k-123", "password": "p-456", "webhook_token": "t-789", "client_secret": "s-000",
		"credentials": "c-111", "private_pem": "v-222", "passphrase": "f-333",
	}
	body := map[string]any{"url": "https://gw.example", "max_tokens": 100, "keys_enabled": true, "mode": "live",
		"webhook_secrets": []string{"w-444", "w-555"}, "key_ids": []any{1, 2}}
	for k, v := range secrets {
		body[k] = v
	}
	wantSecret := []any{"API_Key", "client_secret", "credentials", "passphrase", "password", "private_pem", "webhook_secrets", "webhook_token"}
	wantShown := map[string]any{"url": "https://gw.example", "max_tokens": 100.0, "keys_enabled": true, "mode": "live",
		"webhook_secrets": []any{"<redacted>", "<redacted>"}, "key_ids": []any{1.0, 2.0}}
	for k := range secrets {
		wantShown[k] = "<redacted>"
	}

	check := func(what string, got map[string]any) {
		t.Helper()
		if diff := cmp.Diff(wantSecret, got["secret_fields"]); diff != "" {
			t.Errorf("%s: secret_fields (-want +got):\n%s", what, diff)
		}
		if diff := cmp.Diff(wantShown, got["settings"]); diff != "" {
			t.Errorf("%s: settings (-want +got):\n%s", what, diff)
		}
	}
	check("PUT", a.ok(200, rAdmin, "PUT", path, body))
	check("GET", a.ok(200, rOperator, "GET", path, nil))
	if r := a.do(rOperator, "GET", path, nil); bytes.Contains(r.Body, []byte("k-123")) || !bytes.Contains(r.Body, []byte(`"<redacted>"`)) {
		t.Errorf("GET shows a secret, or escapes the placeholder: %s", r.Body)
	}

	var stored string
	if err := a.db.Q().DB().QueryRow(ctx, "SELECT settings_json FROM plugin_settings WHERE plugin = ?", "payment-z").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	for k, v := range secrets {
		if strings.Contains(stored, v) {
			t.Errorf("%s is stored in clear: %s", k, stored)
		}
	}
	if strings.Contains(stored, "w-444") || strings.Contains(stored, "w-555") {
		t.Errorf("a secret list is stored in clear: %s", stored)
	}
	if !strings.Contains(stored, `"url":"https://gw.example"`) || !strings.Contains(stored, `"max_tokens":100`) {
		t.Errorf("stored %s: the other fields should be kept as they are", stored)
	}

	// The placeholder keeps a stored secret; the plugin gets the values.
	body["API_Key"], body["mode"] = "<redacted>", "test"
	a.ok(200, rAdmin, "PUT", path, body)
	raw, err := a.db.Q().LoadPluginSettings(ctx, "payment-z", a.cip)
	if err != nil {
		t.Fatal(err)
	}
	var loaded map[string]any
	if err := json.Unmarshal(raw, &loaded); err != nil {
		t.Fatal(err)
	}
	if loaded["API_Key"] != "k-123" || loaded["mode"] != "test" || loaded["password"] != "p-456" {
		t.Errorf("loaded %v", loaded)
	}
}
