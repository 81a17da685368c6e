package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

// TestStripeSettingsThroughTheAPI: the Stripe plugin's settings, whose
// webhook_secrets is a list of secrets, are saved through the API (they
// were refused with "secret field must be a string"): every secret of the
// list is encrypted at rest and redacted in answers, kept when sent back
// redacted (by position, or the whole list at once), and the plugin runs
// on them. An api_base_url with a path prefix, which could never work, is
// refused when it is saved, with the plugin's message next to the field,
// and nothing is saved.
func TestStripeSettingsThroughTheAPI(t *testing.T) {
	const (
		key     = "sk_test_51FakeKeyForMikrobillTests0123456789"
		secret1 = "whsec_TestSigningSecretNumberOne0123456789"
		secret2 = "whsec_TestSigningSecretNumberTwo0123456789"
		secret3 = "whsec_TestSigningSecretNumberThree012345678"
		path    = "/api/v1/plugin-settings/payment-stripe"
	)
	ctx := context.Background()
	cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.SQLite(t)
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-stripe")
	pm, cfg := web.StartPlugins(t, d.Dir, plugins.Deps{
		SavedSettings: func(ctx context.Context, name string) (json.RawMessage, error) {
			raw, err := db.Q().LoadPluginSettings(ctx, name, cip)
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return raw, err
		}}, func(cfg *config.Config) { cfg.Plugins.HealthInterval = time.Hour })
	p, _ := pm.Plugin("payment-stripe")
	if !p.NotConfigured() {
		t.Fatalf("Stripe without settings: %s, want not configured until its settings are saved", p.State())
	}
	s := web.New(web.Deps{Config: cfg, Metrics: metrics.New(), DB: db, Cipher: cip, Auth: catalogTestAuth{}, Plugins: pm})
	a := &catalogAPI{t: t, h: s.Handler(), db: db, cip: cip}
	loaded := func() map[string]any {
		t.Helper()
		raw, err := db.Q().LoadPluginSettings(ctx, "payment-stripe", cip)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	got := a.ok(200, rAdmin, "PUT", path, map[string]any{"secret_key": key, "webhook_secrets": []string{secret1, secret2}})
	want := map[string]any{"secret_key": "<redacted>", "webhook_secrets": []any{"<redacted>", "<redacted>"}}
	if diff := cmp.Diff(want, got["settings"]); diff != "" {
		t.Errorf("PUT answer (-want +got):\n%s", diff)
	}
	if fmt.Sprint(got["secret_fields"]) != "[secret_key webhook_secrets]" {
		t.Errorf("secret_fields %v", got["secret_fields"])
	}
	if p.State() != plugins.StateRunning {
		t.Errorf("after its settings were saved the plugin is %s: %s", p.State(), p.Status().LastError)
	}
	var stored string
	if err := db.Q().DB().QueryRow(ctx, "SELECT settings_json FROM plugin_settings WHERE plugin = ?", "payment-stripe").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "whsec_") || strings.Contains(stored, key) || strings.Count(stored, "enc:v1:") != 3 {
		t.Errorf("stored %s: want the key and both webhook secrets encrypted", stored)
	}
	shown := a.ok(200, rOperator, "GET", path, nil)
	if diff := cmp.Diff(want, shown["settings"]); diff != "" {
		t.Errorf("GET (-want +got):\n%s", diff)
	}

	// What GET shows, sent back with a change, keeps the secrets.
	back := shown["settings"].(map[string]any)
	back["mode"] = "test"
	a.ok(200, rAdmin, "PUT", path, back)
	if diff := cmp.Diff(map[string]any{"secret_key": key, "webhook_secrets": []any{secret1, secret2}, "mode": "test"}, loaded()); diff != "" {
		t.Errorf("after sending the redacted settings back (-want +got):\n%s", diff)
	}
	// Rotation: a new secret beside the redacted ones, then the whole list
	// kept at once.
	a.ok(200, rAdmin, "PUT", path, map[string]any{"secret_key": "<redacted>", "webhook_secrets": []any{"<redacted>", "<redacted>", secret3}})
	a.ok(200, rAdmin, "PUT", path, map[string]any{"secret_key": "<redacted>", "webhook_secrets": "<redacted>", "mode": "test"})
	if diff := cmp.Diff(map[string]any{"secret_key": key, "webhook_secrets": []any{secret1, secret2, secret3}, "mode": "test"}, loaded()); diff != "" {
		t.Errorf("after a rotation (-want +got):\n%s", diff)
	}
	// A placeholder beyond the stored list keeps nothing.
	a.fails(422, "validation_failed", []string{"webhook_secrets"}, rAdmin, "PUT", path,
		map[string]any{"secret_key": "<redacted>", "webhook_secrets": []any{"<redacted>", "<redacted>", "<redacted>", "<redacted>"}})

	// An API base URL with a path prefix cannot work: refused on saving,
	// next to the field, and nothing changes.
	details := a.fails(422, "settings_refused", []string{"api_base_url"}, rAdmin, "PUT", path,
		map[string]any{"secret_key": "<redacted>", "webhook_secrets": "<redacted>", "api_base_url": "https://stripe-proxy.example.net/stripe"})
	if msg := fmt.Sprint(details["api_base_url"]); !strings.Contains(msg, "api_base_url must not have a path") {
		t.Errorf("api_base_url: %q; want the plugin's reason", msg)
	}
	if _, ok := loaded()["api_base_url"]; ok || p.State() != plugins.StateRunning {
		t.Errorf("a refused api_base_url was saved, or the plugin stopped (%s)", p.State())
	}
}
