package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPluginSettingsSecretByNameInsideFields: without a manifest, the
// settings are judged by the rule `mikrobill config show` uses too
// (manifest.SecretFieldsOf): a field whose name looks secret is a secret at
// any depth, inside an object or in the objects of a list, and is
// encrypted at rest and shown redacted when it holds text.
func TestPluginSettingsSecretByNameInsideFields(t *testing.T) {
	a := newCatalogAPI(t, nil)
	const path = "/api/v1/plugin-settings/payment-n"
	body := map[string]any{
		"webhook":   map[string]any{"auth_token": "t-nested-1", "url": "https://gw.example/hook", "max_tokens": 5},
		"locations": []any{map[string]any{"name": "office", "password": "p-nested-2"}, map[string]any{"name": "tower", "password": "p-nested-3"}},
	}
	wantShown := map[string]any{
		"webhook":   map[string]any{"auth_token": "<redacted>", "url": "https://gw.example/hook", "max_tokens": 5.0},
		"locations": []any{map[string]any{"name": "office", "password": "<redacted>"}, map[string]any{"name": "tower", "password": "<redacted>"}},
	}
	got := a.ok(200, rAdmin, "PUT", path, body)
	if diff := cmp.Diff([]any{"locations[].password", "webhook.auth_token"}, got["secret_fields"]); diff != "" {
		t.Errorf("secret_fields (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantShown, got["settings"]); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	var stored string
	if err := a.db.Q().DB().QueryRow(context.Background(), "SELECT settings_json FROM plugin_settings WHERE plugin = ?", "payment-n").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "t-nested-1") || strings.Contains(stored, "p-nested-2") || strings.Contains(stored, "p-nested-3") {
		t.Errorf("a nested secret is stored in clear: %s", stored)
	}
}
