package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

func TestSettingsDefaults(t *testing.T) {
	t.Parallel()
	s := DefaultSettings()
	raw := `{"locations":[{"id":"main","address":"192.168.88.1","password":"x"},{"id":"tower","name":"Tower","address":"10.0.0.1","tls":true,"cert_sha256":"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"}]}`
	if err := sdk.DecodeConfig(json.RawMessage(raw), &s); err != nil {
		t.Fatal(err)
	}
	s.normalize()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := settings{
		CommandTimeoutSeconds: 10, DialTimeoutSeconds: 5,
		Locations: []locationSettings{
			{ID: "main", Name: "main", Address: "192.168.88.1", Port: 8728, Username: "admin", Password: "x"},
			{ID: "tower", Name: "Tower", Address: "10.0.0.1", Port: 8729, TLS: true, Username: "admin",
				CertSHA256: "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"},
		},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

func TestSettingsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		settings string
		want     []string
	}{
		{"unknown field", `{"locations":[{"id":"main","address":"1.2.3.4","host":"x"}]}`, []string{`unknown field "host"`}},
		{"bad id", `{"locations":[{"id":"Main Office","address":"1.2.3.4"}]}`, []string{`got "Main Office"`}},
		{"duplicate id", `{"locations":[{"id":"a","address":"1.2.3.4"},{"id":"a","address":"1.2.3.5"}]}`, []string{"used twice"}},
		{"no address", `{"locations":[{"id":"a"}]}`, []string{"address is required"}},
		{"address with port", `{"locations":[{"id":"a","address":"1.2.3.4:8728"}]}`, []string{`must not include a port`}},
		{"bad port", `{"locations":[{"id":"a","address":"1.2.3.4","port":70000}]}`, []string{"port must be 1 to 65535"}},
		{"tls option without tls", `{"locations":[{"id":"a","address":"1.2.3.4","cert_sha256":"00"}]}`, []string{"cert_sha256 is set but tls is false"}},
		{"bad pin", `{"locations":[{"id":"a","address":"1.2.3.4","tls":true,"cert_sha256":"abc"}]}`, []string{"cert_sha256 must be 64 hex digits"}},
		{"bad CA", `{"locations":[{"id":"a","address":"1.2.3.4","tls":true,"ca_pem":"not a pem"}]}`, []string{"ca_pem holds no PEM certificate"}},
		{"timeouts", `{"command_timeout_seconds":0,"dial_timeout_seconds":100}`, []string{"command_timeout_seconds must be 1 to 300", "dial_timeout_seconds must be 1 to 60"}},
		{"wrong type", `{"locations":{}}`, []string{`field "locations"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, _ := newPlugin(t)
			_, err := p.Configure(context.Background(), &sdk.ConfigureRequest{Settings: json.RawMessage(tc.settings)})
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Fatalf("Configure = %v, want ErrInvalidArgument", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigureWarnings(t *testing.T) {
	t.Parallel()
	p, _ := newPlugin(t)
	resp := configure(t, p, map[string]any{"locations": []any{
		map[string]any{"id": "a", "address": "192.168.88.1"},
		map[string]any{"id": "b", "address": "router.example.net", "tls": true},
		map[string]any{"id": "c", "address": "127.0.0.1"},
	}})
	if len(resp.Warnings) != 2 || !strings.Contains(resp.Warnings[0], `"a": tls is off`) || !strings.Contains(resp.Warnings[1], `"b": tls with neither`) {
		t.Errorf("warnings = %q", resp.Warnings)
	}
}

// Configure applies at once: a changed location reconnects, a removed one
// is closed, an unchanged one keeps its connection.
func TestConfigureLive(t *testing.T) {
	t.Parallel()
	a := routertest.Start(t, routertest.Options{Password: "pw-a"})
	b := routertest.Start(t, routertest.Options{Password: "pw-b2"})
	p, _ := newPlugin(t)
	configure(t, p, map[string]any{"locations": []any{loc("a", a, "pw-a"), loc("b", b, "pw-b1")}})
	ctx := ctxT(t)
	if _, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "a", User: alice}); err != nil {
		t.Fatal(err)
	}
	_, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "b", User: alice})
	wantErr(t, "UpsertUser with the wrong password", err, router.ErrRouterUnreachable)

	// The operator fixes b's password and renames a.
	la := loc("a", a, "pw-a")
	la["name"] = "Main office"
	configure(t, p, map[string]any{"locations": []any{la, loc("b", b, "pw-b2")}})
	if _, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "b", User: alice}); err != nil {
		t.Fatalf("UpsertUser after the fix: %v", err)
	}
	if _, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "a", User: alice}); err != nil {
		t.Fatal(err)
	}
	if a.Logins() != 1 {
		t.Errorf("a: %d logins, want 1 (a renamed location keeps its connection)", a.Logins())
	}
	locs := must[*router.ListLocationsResponse](t, "ListLocations")(p.ListLocations(ctx, &router.ListLocationsRequest{}))
	if locs.Locations[0].Name != "Main office" {
		t.Errorf("locations = %+v", locs.Locations)
	}

	// b goes away.
	configure(t, p, map[string]any{"locations": []any{la}})
	_, err = p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "b", User: alice})
	wantErr(t, "UpsertUser on a removed location", err, router.ErrUnknownLocation)
	if !strings.Contains(err.Error(), "configured locations are a") {
		t.Errorf("error = %q", err)
	}
	deadline := contextDeadline(t)
	for b.Connections() != 0 {
		if deadline() {
			t.Fatalf("b still has %d connections after it was removed", b.Connections())
		}
	}
}

func TestPluginJSON(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name, Version, Kind, Executable string
		ConfigSchema                    struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"config_schema"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != Name || m.Version != Version || m.Kind != sdk.KindRouter || m.Executable != "mikrobill-plugin-"+Name {
		t.Errorf("plugin.json = %+v; want name %s version %s kind router", m, Name, Version)
	}
	// Every settings field is in the schema, and the schema has no other.
	var loc struct {
		Items struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"items"`
	}
	if err := json.Unmarshal(m.ConfigSchema.Properties["locations"], &loc); err != nil {
		t.Fatal(err)
	}
	check := func(what string, v any, props map[string]json.RawMessage) {
		raw, _ := json.Marshal(v)
		var fields map[string]any
		_ = json.Unmarshal(raw, &fields)
		if len(fields) != len(props) {
			t.Errorf("%s: %d fields, %d schema properties", what, len(fields), len(props))
		}
		for f := range fields {
			if _, ok := props[f]; !ok {
				t.Errorf("%s: field %q is not in config_schema", what, f)
			}
		}
	}
	check("settings", settings{}, m.ConfigSchema.Properties)
	check("location", locationSettings{}, loc.Items.Properties)
	var pw struct {
		Format    string `json:"format"`
		WriteOnly bool   `json:"writeOnly"`
	}
	_ = json.Unmarshal(loc.Items.Properties["password"], &pw)
	if pw.Format != "password" || !pw.WriteOnly {
		t.Errorf("password schema = %+v, want format password and writeOnly", pw)
	}
}
