package redact_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/redact"
)

func TestURL(t *testing.T) {
	const pw = "hunter2-secret"
	tests := []struct {
		name, raw, want string
	}{
		{"empty", "", ""},
		{"no password", "postgres://db.internal:5432/billing?sslmode=require", "postgres://db.internal:5432/billing?sslmode=require"},
		{"user without a password", "postgres://billing@db/x", "postgres://billing@db/x"},
		{"user and password", "postgres://billing:" + pw + "@db:5432/billing", "postgres://billing:xxxxx@db:5432/billing"},
		{"password only (Redis)", "rediss://:" + pw + "@cache:6380/2", "rediss://:xxxxx@cache:6380/2"},
		{"escaped password", "postgres://u:p%40ss%2F" + pw + "@db/x", "postgres://u:xxxxx@db/x"},
		{"password parameter", "postgres://db/x?password=" + pw + "&sslmode=require", "postgres://db/x?password=xxxxx&sslmode=require"},
		{"sslpassword parameter", "postgres://u@db/x?sslmode=verify-full&sslpassword=" + pw, "postgres://u@db/x?sslmode=verify-full&sslpassword=xxxxx"},
		{"both, and a repeated parameter", "postgresql://u:" + pw + "@db/x?Password=" + pw + "&password=" + pw + "&application_name=mb",
			"postgresql://u:xxxxx@db/x?Password=xxxxx&application_name=mb&password=xxxxx"},
		{"token and key parameters", "redis://cache/0?auth_token=" + pw + "&apikey=" + pw + "&db=1", "redis://cache/0?apikey=xxxxx&auth_token=xxxxx&db=1"},
		{"client secret parameter", "https://gw.example/cb?client_secret=" + pw, "https://gw.example/cb?client_secret=xxxxx"},
		{"a key=value connection string", "host=db user=billing password=" + pw, "<redacted: not a valid URL>"},
		{"opaque", "postgres:billing:" + pw + "@db", "<redacted: not a valid URL>"},
		{"not parseable", "postgres://u:" + pw + "%zz@db/x", "<redacted: not a valid URL>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact.URL(tt.raw)
			if got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("URL(%q) = %q shows the password", tt.raw, got)
			}
		})
	}
}

func TestSecretName(t *testing.T) {
	for _, name := range []string{"password", "API_Key", "webhook_token", "client_secret", "credentials", "private_pem", "passphrase", "sslpassword"} {
		if !redact.SecretName(name) {
			t.Errorf("SecretName(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"url", "mode", "environment", "username", "sslmode", "host"} {
		if redact.SecretName(name) {
			t.Errorf("SecretName(%q) = true, want false", name)
		}
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const settings = `{
  "server_key": "sk-1",
  "environment": "sandbox",
  "apiKey": "",
  "webhook": {"auth_token": 4242, "url": "https://x.example", "retry": {"attempts": 3}},
  "locations": [
    {"name": "office", "password": "p-1"},
    {"name": "tower", "password": "p-2", "tls": {"private_key": "k", "ca": "c"}},
    "not an object"
  ],
  "credentials": {"user": "u", "pass": "p"}
}`

func TestGuessSecretFields(t *testing.T) {
	got := redact.GuessSecretFields(decode(t, settings))
	want := []string{"apiKey", "credentials", "locations[].password", "locations[].tls.private_key", "server_key", "webhook.auth_token"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GuessSecretFields mismatch (-want +got):\n%s", diff)
	}
}

func TestFields(t *testing.T) {
	obj := decode(t, settings)
	redact.Fields(obj, append(redact.GuessSecretFields(obj), "webhook_secrets[]", "missing.path", "environment.not_an_object"), "<hidden>")
	want := decode(t, `{
	  "server_key": "<hidden>",
	  "environment": "sandbox",
	  "apiKey": "",
	  "webhook": {"auth_token": "<hidden>", "url": "https://x.example", "retry": {"attempts": 3}},
	  "locations": [
	    {"name": "office", "password": "<hidden>"},
	    {"name": "tower", "password": "<hidden>", "tls": {"private_key": "<hidden>", "ca": "c"}},
	    "not an object"
	  ],
	  "credentials": "<hidden>"
	}`)
	if diff := cmp.Diff(want, obj); diff != "" {
		t.Errorf("Fields mismatch (-want +got):\n%s", diff)
	}

	list := map[string]any{"webhook_secrets": []any{"w-1", "", nil, "w-2"}}
	redact.Fields(list, []string{"webhook_secrets[]"}, "<hidden>")
	if diff := cmp.Diff(map[string]any{"webhook_secrets": []any{"<hidden>", "", nil, "<hidden>"}}, list); diff != "" {
		t.Errorf("Fields on a list path mismatch (-want +got):\n%s", diff)
	}
}
