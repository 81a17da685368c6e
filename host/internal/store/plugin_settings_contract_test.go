package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestPluginSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		cip := testCipher(t)
		if _, err := q.LoadPluginSettings(ctx, "payment-midtrans", cip); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("no settings yet: %v, want ErrNotFound", err)
		}

		in := json.RawMessage(`{"server_key": "SB-Mid-server-xyz", "client_key": "", "sandbox": true, "expiry_minutes": 60, "webhook_secret": null}`)
		secrets := []string{"server_key", "client_key", "webhook_secret", "absent"}
		if err := q.SavePluginSettings(ctx, "payment-midtrans", in, secrets, "admin", cip); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := q.DB().QueryRow(ctx, "SELECT settings_json FROM plugin_settings WHERE plugin = ?", "payment-midtrans").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, "SB-Mid-server-xyz") || !strings.Contains(stored, `"server_key":"enc:v1:`) || !strings.Contains(stored, `"sandbox":true`) {
			t.Errorf("stored settings %s: the secret is in clear or the rest changed", stored)
		}
		out, err := q.LoadPluginSettings(ctx, "payment-midtrans", cip)
		if err != nil {
			t.Fatal(err)
		}
		var want, got map[string]any
		_ = json.Unmarshal(in, &want)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("LoadPluginSettings (-saved +loaded):\n%s", diff)
		}
		ps, err := q.GetPluginSettings(ctx, "payment-midtrans", cip)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"server_key"}, ps.Encrypted); diff != "" || ps.UpdatedBy != "admin" || ps.UpdatedAt.IsZero() {
			t.Errorf("GetPluginSettings = %+v (encrypted -want +got:\n%s)", ps, diff)
		}

		// Saving again replaces the settings.
		if err := q.SavePluginSettings(ctx, "payment-midtrans", json.RawMessage(`{"server_key":"k2"}`), secrets, "ops", cip); err != nil {
			t.Fatal(err)
		}
		if out, err := q.LoadPluginSettings(ctx, "payment-midtrans", cip); err != nil || string(out) != `{"server_key":"k2"}` {
			t.Errorf("after a second save: %s, %v", out, err)
		}
		// Empty settings count as {}; settings without secrets need no key.
		if err := q.SavePluginSettings(ctx, "audit", nil, nil, "admin", nil); err != nil {
			t.Fatal(err)
		}
		if out, err := q.LoadPluginSettings(ctx, "audit", nil); err != nil || string(out) != `{}` {
			t.Errorf("empty settings: %s, %v", out, err)
		}

		// Another key cannot read them, and no key cannot either.
		other, _ := store.NewCipher(make([]byte, 32))
		if _, err := q.LoadPluginSettings(ctx, "payment-midtrans", other); !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("another key: %v, want ErrDecrypt", err)
		}
		if _, err := q.LoadPluginSettings(ctx, "payment-midtrans", nil); err == nil {
			t.Error("encrypted settings loaded without a key")
		}

		for _, tt := range []struct {
			plugin   string
			settings string
			secrets  []string
			cip      *store.Cipher
			want     error
		}{
			{"x", `[1, 2]`, nil, cip, store.ErrInvalid},
			{"x", `"text"`, nil, cip, store.ErrInvalid},
			{"x", `{"a":`, nil, cip, store.ErrInvalid},
			{"x", `{"pin": 1234}`, []string{"pin"}, cip, store.ErrInvalid},
			{"", `{}`, nil, cip, store.ErrInvalid},
		} {
			if err := q.SavePluginSettings(ctx, tt.plugin, json.RawMessage(tt.settings), tt.secrets, "admin", tt.cip); !errors.Is(err, tt.want) {
				t.Errorf("SavePluginSettings(%q, %s): %v, want %v", tt.plugin, tt.settings, err, tt.want)
			}
		}
		if err := q.SavePluginSettings(ctx, "x", json.RawMessage(`{"key":"v"}`), []string{"key"}, "admin", nil); err == nil {
			t.Error("a secret was saved without a key")
		}
		if _, err := q.GetPluginSettings(ctx, "x", cip); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refused settings were stored: %v", err)
		}

		if err := q.DeletePluginSettings(ctx, "audit"); err != nil {
			t.Fatal(err)
		}
		if err := q.DeletePluginSettings(ctx, "audit"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v, want ErrNotFound", err)
		}
	})
}

// TestPluginSettingsNestedSecrets: secrets inside objects and in the items
// of lists ("locations[].password") are encrypted at rest and come back
// decrypted, with their paths listed; the rest keeps its values and digits.
func TestPluginSettingsNestedSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		cip := testCipher(t)
		in := json.RawMessage(`{"locations":[{"id":"main","password":"pw-main-1","port":8728},{"id":"b","password":""},{"id":"c"}],` +
			`"tls":{"key":"tls-key-2","ca":"shown"},"timeout":12345678901234567890}`)
		if err := q.SavePluginSettings(ctx, "mikrotik", in, []string{"locations[].password", "tls.key", "absent.x"}, "admin", cip); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := q.DB().QueryRow(ctx, "SELECT settings_json FROM plugin_settings WHERE plugin = ?", "mikrotik").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, "pw-main-1") || strings.Contains(stored, "tls-key-2") || !strings.Contains(stored, `"ca":"shown"`) {
			t.Errorf("stored %s: a secret is in clear, or the rest changed", stored)
		}
		ps, err := q.GetPluginSettings(ctx, "mikrotik", cip)
		if err != nil {
			t.Fatal(err)
		}
		var got, want any
		_ = json.Unmarshal(ps.Settings, &got)
		_ = json.Unmarshal(in, &want)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("read back (-saved +read):\n%s", d)
		}
		if !strings.Contains(string(ps.Settings), "12345678901234567890") {
			t.Errorf("a large number lost digits: %s", ps.Settings)
		}
		if d := cmp.Diff([]string{"locations[].password", "tls.key"}, ps.Encrypted); d != "" {
			t.Errorf("Encrypted (-want +got):\n%s", d)
		}
		bad := json.RawMessage(`{"locations":[{"id":"main","password":42}]}`)
		if err := q.SavePluginSettings(ctx, "mikrotik", bad, []string{"locations[].password"}, "admin", cip); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("a secret that is not a string: %v, want ErrInvalid", err)
		}
	})
}

// TestPluginSettingsListAndObjectSecrets: a secret setting may be a list
// of strings (Stripe's webhook_secrets) or an object of strings: each
// string is encrypted at rest on its own and comes back decrypted; a path
// inside another ("webhook_secrets[]" beside "webhook_secrets") encrypts
// nothing twice; a number in a secret list is refused.
func TestPluginSettingsListAndObjectSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		cip := testCipher(t)
		in := json.RawMessage(`{"webhook_secrets":["whsec_one_0123456789","whsec_two_0123456789",""],` +
			`"pair":{"cert":"cert-text","key":"key-text","nested":["deep-text"]},"mode":"test"}`)
		secrets := []string{"webhook_secrets", "webhook_secrets[]", "pair"}
		if err := q.SavePluginSettings(ctx, "payment-stripe", in, secrets, "admin", cip); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := q.DB().QueryRow(ctx, "SELECT settings_json FROM plugin_settings WHERE plugin = ?", "payment-stripe").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		for _, clear := range []string{"whsec_one", "whsec_two", "cert-text", "key-text", "deep-text"} {
			if strings.Contains(stored, clear) {
				t.Errorf("stored %s: %s is in clear", stored, clear)
			}
		}
		if n := strings.Count(stored, "enc:v1:"); n != 5 || !strings.Contains(stored, `"mode":"test"`) {
			t.Errorf("stored %s: %d encrypted values, want 5 (the empty one stays empty), and the rest as it was", stored, n)
		}
		ps, err := q.GetPluginSettings(ctx, "payment-stripe", cip)
		if err != nil {
			t.Fatal(err)
		}
		var got, want any
		_ = json.Unmarshal(ps.Settings, &got)
		_ = json.Unmarshal(in, &want)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("read back (-saved +read):\n%s", d)
		}
		if d := cmp.Diff([]string{"pair.cert", "pair.key", "pair.nested[]", "webhook_secrets[]"}, ps.Encrypted); d != "" {
			t.Errorf("Encrypted (-want +got):\n%s", d)
		}
		if d := cmp.Diff([]string{"pair", "webhook_secrets"}, store.OutermostSecretPaths(append(ps.Encrypted, secrets...))); d != "" {
			t.Errorf("OutermostSecretPaths (-want +got):\n%s", d)
		}
		bad := json.RawMessage(`{"webhook_secrets":["whsec_one_0123456789", 42]}`)
		if err := q.SavePluginSettings(ctx, "payment-stripe", bad, secrets, "admin", cip); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "must hold text") {
			t.Errorf("a number in a secret list: %v, want ErrInvalid", err)
		}
	})
}
