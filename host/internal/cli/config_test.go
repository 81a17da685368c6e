package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

// runConfig runs the command line with the config command in the tree
// (added here until root.go adds it) and the given environment only.
func runConfig(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, environ: environ}
	root := newRoot(g)
	if c, _, err := root.Find([]string{"config"}); err != nil || c == root {
		root.AddCommand(newConfig(g))
	}
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(&errb, "mikrobill:", err)
		code = 1
		var ec exitCoder
		if asExit(err, &ec) {
			code = ec.ExitCode()
		}
	}
	return code, out.String(), errb.String()
}

// The secrets of these tests: none may ever be printed.
const (
	jwtSecret     = "jwt-secret-that-must-never-be-printed-0001"
	cookieSecret  = "cookie-secret-that-must-never-be-printed-02"
	encryptionKey = "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592"
	dbPassword    = "db-pass-never-printed"
	redisPassword = "redis-pass-never-printed"
	routerPass    = "router-pass-never-printed"
	serverKey     = "SB-Mid-server-never-printed"
	nestedPass    = "nested-pass-never-printed"
	tokenNumber   = "424242424242"
)

var neverPrinted = []string{jwtSecret, cookieSecret, encryptionKey, dbPassword, redisPassword, routerPass, serverKey, nestedPass, tokenNumber}

// writeConfig writes a mikrobill.hcl into dir.
func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "mikrobill.hcl")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const showFile = `
environment = "staging"

security {
  cookie_secret = "` + cookieSecret + `"
  cors_origins  = ["https://billing.example.net"]
}

router {
  default_location {
    host     = "192.168.88.1"
    username = "api"
    password = "` + routerPass + `"
    tls      = true
  }
}

plugin "payment-midtrans" {
  required = false
  restart {
    budget = 9
  }
  config = {
    server_key  = "` + serverKey + `"
    environment = "sandbox"
    webhook = {
      auth_token = ` + tokenNumber + `
      url        = "https://billing.example.net/hook"
      order_id   = 12345678901234567890
    }
    locations = [
      { name = "office", password = "` + nestedPass + `", apiKey = "" },
    ]
    template = "Paid: $${amount}"
  }
}
`

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	prodFile := writeConfig(t, t.TempDir(), `
environment = "production"
database {
  url = "postgres://billing:`+dbPassword+`@db:5432/billing"
}
cache {
  url = "redis://:`+redisPassword+`@cache:6379/0"
}
security {
  jwt_secret     = "`+jwtSecret+`"
  cookie_secret  = "`+cookieSecret+`"
  encryption_key = "`+encryptionKey+`"
}
`)
	badFile := writeConfig(t, t.TempDir(), "server {\n  prot = 3000\n}\n")

	tests := []struct {
		name    string
		environ []string
		args    []string
		code    int
		stdout  string   // exact
		stderr  []string // each must appear
	}{
		{
			name:    "defaults",
			environ: []string{"MIKROBILL_DATA_DIR=" + dataDir},
			stdout:  "configuration ok: no file, environment development, database sqlite, cache memory\n",
			stderr:  []string{"note: security.jwt_secret, security.cookie_secret, security.encryption_key not set", "generates them at start", filepath.Join(dataDir, "secrets.json")},
		},
		{
			name:    "the old system's .env",
			environ: append([]string{"MIKROBILL_DATA_DIR=" + dataDir}, legacyEnv...),
			stdout:  "configuration ok: no file, environment development, database postgres, cache redis\n",
			stderr:  []string{"warning: security.jwt_secret (JWT_SECRET) is 15 characters long", "production refuses it", "note: security.encryption_key not set"},
		},
		{
			name:   "production with every secret",
			args:   []string{"--config", prodFile},
			stdout: "configuration ok: " + prodFile + ", environment production, database postgres, cache redis\n",
		},
		{
			name:    "production without secrets, and a bad value",
			environ: []string{"NODE_ENV=production", "MIKROBILL_DATA_DIR=" + dataDir, "JWT_SECRET=" + jwtSecret, "DATABASE_URL=mysql://u:" + dbPassword + "@db/x"},
			code:    1,
			stderr: []string{
				"mikrobill: invalid configuration:",
				"database.url (DATABASE_URL) must start with postgres:// or postgresql://",
				"security.cookie_secret is not set, and production requires it: set COOKIE_SECRET",
				"security.encryption_key is not set, and production requires it: set MIKROBILL_ENCRYPTION_KEY",
				"openssl rand -hex 32",
			},
		},
		{
			name:   "a mistake in the file",
			args:   []string{"--config", badFile},
			code:   1,
			stderr: []string{badFile + ":2:3:", `"prot"`, `Did you mean "port"?`},
		},
		{
			name:    "a bad variable",
			environ: []string{"RATE_LIMIT_MAX=lots"},
			code:    1,
			stderr:  []string{`RATE_LIMIT_MAX="lots"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			code, stdout, stderr := runConfig(t, tt.environ, append([]string{"config", "check"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if stdout != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.stdout)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			for _, s := range neverPrinted {
				if strings.Contains(stdout+stderr, s) {
					t.Errorf("a secret was printed: %q\n%s%s", s, stdout, stderr)
				}
			}
		})
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("config check created the data directory %s (%v); it must write nothing", dataDir, err)
	}
}

// legacyEnv is the old system's example .env.
var legacyEnv = []string{
	"NODE_ENV=development", "HOST=0.0.0.0", "PORT=3000",
	"DB_HOST=localhost", "DB_PORT=5432", "DB_NAME=mikrotik_billing", "DB_USER=postgres", "DB_PASSWORD=password",
	"REDIS_HOST=localhost", "REDIS_PORT=6379", "REDIS_PASSWORD=",
	"JWT_SECRET=your-secret-key", "COOKIE_SECRET=your-cookie-secret", "RATE_LIMIT_MAX=100",
	"MIKROTIK_HOST=192.168.1.1", "MIKROTIK_PORT=8728", "MIKROTIK_USERNAME=admin", "MIKROTIK_PASSWORD=password",
	"WHATSAPP_MAX_SESSIONS=5", "WHATSAPP_MESSAGE_DELAY=1000",
	"REQUEST_TIMEOUT=30000", "BODY_LIMIT=10485760", "KEEP_ALIVE_TIMEOUT=72000",
	"DEBUG=plugin:*",
}

// showEnv sets up a file, variables and a data directory whose
// secrets.json holds a generated encryption key.
func showEnv(t *testing.T) (file string, environ []string) {
	t.Helper()
	dir := t.TempDir()
	file = writeConfig(t, dir, showFile)
	dataDir := filepath.Join(dir, "data")
	environ = []string{
		"MIKROBILL_DATA_DIR=" + dataDir,
		"JWT_SECRET=" + jwtSecret,
		"DATABASE_URL=postgres://billing:" + dbPassword + "@db:5432/billing?sslmode=require&password=" + dbPassword,
		"REDIS_HOST=cache", "REDIS_PASSWORD=" + redisPassword,
		"DEBUG=plugin:mikrotik",
	}
	// A start before: the host generated the encryption key.
	cfg, err := config.Load(file, environ, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	return file, environ
}

func TestConfigShowJSON(t *testing.T) {
	file, environ := showEnv(t)
	code, stdout, stderr := runConfig(t, environ, "config", "show", "--json", "--config", file)
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	for _, s := range neverPrinted {
		if strings.Contains(stdout+stderr, s) {
			t.Errorf("a secret was printed: %q\n%s", s, stdout)
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, `"jwt_secret": "<redacted, from env>"`) || !strings.Contains(stdout, `"order_id": 12345678901234567890`) {
		t.Errorf("the JSON escapes the redaction marks or is not indented:\n%s", stdout)
	}
	get := func(path ...any) any {
		var v any = got
		for _, p := range path {
			switch p := p.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[p]
			case int:
				l, _ := v.([]any)
				if p >= len(l) {
					return nil
				}
				v = l[p]
			}
		}
		return v
	}
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"file"}, file},
		{[]any{"environment"}, "staging"},
		{[]any{"debug_plugins"}, []any{"mikrotik"}},
		{[]any{"server", "port"}, 3000.0},
		{[]any{"server", "request_timeout"}, "30s"},
		{[]any{"plugins", "restart", "max_backoff"}, "1m"},
		{[]any{"database", "url"}, "postgres://billing:xxxxx@db:5432/billing?password=xxxxx&sslmode=require"},
		{[]any{"database", "conn_max_lifetime"}, "1h"},
		{[]any{"cache", "url"}, "redis://:xxxxx@cache:6379/0"},
		{[]any{"security", "jwt_secret"}, "<redacted, from env>"},
		{[]any{"security", "cookie_secret"}, "<redacted, from file>"},
		{[]any{"security", "encryption_key"}, "<redacted, from generated>"},
		{[]any{"security", "cors_origins"}, []any{"https://billing.example.net"}},
		{[]any{"security", "trusted_proxies"}, []any{}},
		{[]any{"jobs", "reminder_days"}, []any{7.0, 3.0, 1.0}},
		{[]any{"notifications", "plugin"}, "whatsapp"},
		{[]any{"notifications", "message_delay"}, "1s"},
		{[]any{"router", "default_location", "port"}, 8729.0},
		{[]any{"router", "default_location", "password"}, "<redacted, from file>"},
		{[]any{"plugin", "payment-midtrans", "required"}, false},
		{[]any{"plugin", "payment-midtrans", "restart"}, map[string]any{"budget": 9.0}},
		{[]any{"plugin", "payment-midtrans", "config", "server_key"}, "<redacted, from file>"},
		{[]any{"plugin", "payment-midtrans", "config", "environment"}, "sandbox"},
		{[]any{"plugin", "payment-midtrans", "config", "webhook", "auth_token"}, "<redacted, from file>"},
		{[]any{"plugin", "payment-midtrans", "config", "webhook", "url"}, "https://billing.example.net/hook"},
		{[]any{"plugin", "payment-midtrans", "config", "webhook", "order_id"}, 12345678901234567890.0},
		{[]any{"plugin", "payment-midtrans", "config", "locations", 0, "password"}, "<redacted, from file>"},
		{[]any{"plugin", "payment-midtrans", "config", "locations", 0, "name"}, "office"},
		{[]any{"plugin", "payment-midtrans", "config", "locations", 0, "apiKey"}, ""},
		{[]any{"plugin", "payment-midtrans", "config", "template"}, "Paid: ${amount}"},
	} {
		if diff := cmp.Diff(c.want, get(c.path...)); diff != "" {
			t.Errorf("%v mismatch (-want +got):\n%s", c.path, diff)
		}
	}
}

func TestConfigShowText(t *testing.T) {
	file, environ := showEnv(t)
	code, stdout, stderr := runConfig(t, environ, "config", "show", "--config", file)
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	for _, s := range neverPrinted {
		if strings.Contains(stdout+stderr, s) {
			t.Errorf("a secret was printed: %q\n%s", s, stdout)
		}
	}
	// It is HCL in the shape of the file.
	f, diags := hclparse.NewParser().ParseHCL([]byte(stdout), "show.hcl")
	if diags.HasErrors() {
		t.Fatalf("the output is not HCL: %s\n%s", diags.Error(), stdout)
	}
	if f == nil {
		t.Fatal("no file")
	}
	for _, w := range []string{
		"# Effective configuration (" + file + "); secrets are redacted.",
		`environment = "staging"`,
		"# DEBUG turns these plugins' logs to debug: mikrotik",
		`jwt_secret        = "<redacted, from env>"`,
		`encryption_key    = "<redacted, from generated>"`,
		`"postgres://billing:xxxxx@db:5432/billing?password=xxxxx&sslmode=require"`,
		`request_timeout    = "30s"`,
		`reminder_days         = [7, 3, 1]`,
		`plugin "payment-midtrans" {`,
		`server_key = "<redacted, from file>"`,
		`"Paid: $${amount}"`,
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("output does not contain %q:\n%s", w, stdout)
		}
	}
	// The redacted output loads back, but for its redacted key.
	path := filepath.Join(t.TempDir(), "shown.hcl")
	if err := os.WriteFile(path, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path, nil, config.Overrides{})
	if err == nil || !strings.Contains(err.Error(), "security.encryption_key") || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("loading the shown configuration: %v; want only the redacted encryption key refused", err)
	}
}

func TestConfigShowDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	dataDir := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := runConfig(t, []string{"MIKROBILL_DATA_DIR=" + dataDir}, "config", "show")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	for _, w := range []string{
		"# Effective configuration (no file); secrets are redacted.",
		"# empty: the embedded SQLite database, " + filepath.Join(dataDir, "mikrobill.db"),
		"# empty: the in-memory cache",
		"# not set (null): jwt_secret, cookie_secret, encryption_key; generated at start and kept in " + filepath.Join(dataDir, "secrets.json"),
		"jwt_secret        = null",
		"# no default router location",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("output does not contain %q:\n%s", w, stdout)
		}
	}
	// Without the comments the defaults load back as they are.
	path := filepath.Join(t.TempDir(), "shown.hcl")
	if err := os.WriteFile(path, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	shown, err := config.Load(path, nil, config.Overrides{})
	if err != nil {
		t.Fatalf("the shown defaults do not load: %v\n%s", err, stdout)
	}
	want := config.DefaultConfig()
	want.DataDir, want.File = dataDir, path
	if diff := cmp.Diff(want, shown, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the shown defaults load as another configuration (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("config show created the data directory (%v); it must write nothing", err)
	}

	code, stdout, _ = runConfig(t, []string{"MIKROBILL_DATA_DIR=" + dataDir, "NODE_ENV=production"}, "config", "show", "--json")
	var got struct {
		Plugin   map[string]any `json:"plugin"`
		Security map[string]any `json:"security"`
		Database map[string]any `json:"database"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != 0 {
		t.Fatalf("show --json: exit %d, %v\n%s", code, err, stdout)
	}
	if got.Plugin == nil || len(got.Plugin) != 0 || got.Security["jwt_secret"] != nil || got.Database["url"] != "" {
		t.Errorf("show --json of the defaults: plugin %v, jwt_secret %v, database url %v; want {}, null and \"\"", got.Plugin, got.Security["jwt_secret"], got.Database["url"])
	}
}

func TestConfigHelp(t *testing.T) {
	for _, args := range [][]string{{"config", "--help"}, {"config", "check", "--help"}, {"config", "show", "--help"}} {
		code, stdout, _ := runConfig(t, nil, args...)
		if code != 0 || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, "nothing") {
			t.Errorf("%v: exit %d\n%s", args, code, stdout)
		}
	}
}

// TestConfigShowPublicURL: config show prints server.public_url and says
// when it is derived from the listen address, with the webhook URL it gives
// the gateways.
func TestConfigShowPublicURL(t *testing.T) {
	dataDir := t.TempDir()
	code, stdout, stderr := runConfig(t, []string{"MIKROBILL_DATA_DIR=" + dataDir, "PORT=3456"}, "config", "show")
	if code != 0 {
		t.Fatalf("config show: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "# empty: derived from the listen address, http://127.0.0.1:3456; gateways send their webhooks to http://127.0.0.1:3456/webhooks/<plugin>") || !regexp.MustCompile(`public_url += ""`).MatchString(stdout) {
		t.Errorf("config show without public_url:\n%s", stdout)
	}
	code, stdout, stderr = runConfig(t, []string{"MIKROBILL_DATA_DIR=" + dataDir, "MIKROBILL_PUBLIC_URL=https://billing.example.net/"}, "config", "show")
	if code != 0 {
		t.Fatalf("config show: exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`public_url += "https://billing\.example\.net/"`).MatchString(stdout) || !strings.Contains(stdout, "gateways send their webhooks to https://billing.example.net/webhooks/<plugin>") || strings.Contains(stdout, "derived") {
		t.Errorf("config show with public_url:\n%s", stdout)
	}
}
