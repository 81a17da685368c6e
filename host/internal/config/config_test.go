package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

// semanticJSON compares json.RawMessage values by what they mean, not by
// their bytes: key order and spacing do not matter.
var semanticJSON = cmp.Transformer("semanticJSON", func(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "invalid JSON: " + string(raw)
	}
	return v
})

// defaultPluginDir is what DefaultConfig promises: "plugins" beside the
// running executable (here, the test binary).
func defaultPluginDir(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Join(filepath.Dir(exe), "plugins")
}

func wantDefaults(t *testing.T) *config.Config {
	t.Helper()
	return &config.Config{
		Environment: "development",
		DataDir:     "data",
		LogLevel:    "info",
		Server: config.ServerConfig{
			Host:              "127.0.0.1",
			Port:              3000,
			RequestTimeout:    30 * time.Second,
			KeepAliveTimeout:  72 * time.Second,
			BodyLimit:         10485760,
			ShutdownTimeout:   30 * time.Second,
			HeartbeatInterval: 30 * time.Second, // the embedded SQLite's (no database.url)
		},
		Plugins: config.PluginsConfig{
			Dir:             defaultPluginDir(t),
			StartTimeout:    10 * time.Second,
			HealthInterval:  10 * time.Second,
			HealthTimeout:   2 * time.Second,
			MetricsTimeout:  2 * time.Second,
			StopTimeout:     5 * time.Second,
			HealthFailures:  3,
			CallWait:        5 * time.Second,
			HistoryInterval: 5 * time.Second,
			UpgradeGrace:    30 * time.Second,
			InstallWait:     30 * time.Second,
			Restart: config.RestartConfig{
				InitialBackoff: time.Second,
				MaxBackoff:     time.Minute,
				Jitter:         0.2,
				Budget:         5,
				Window:         10 * time.Minute,
				Cooldown:       5 * time.Minute,
				StableAfter:    2 * time.Minute,
			},
		},
		Plugin: map[string]*config.PluginConfig{},
		Database: config.DatabaseConfig{
			MaxConns:         10,
			ConnMaxLifetime:  time.Hour,
			StatementTimeout: 30 * time.Second,
		},
		Cache: config.CacheConfig{MaxEntries: 100000, KeyPrefix: "mikrobill:"},
		Security: config.SecurityConfig{
			SessionTTL:      24 * time.Hour,
			JWTTTL:          time.Hour,
			RateLimitMax:    100,
			RateLimitWindow: time.Minute,
		},
		Jobs: config.JobsConfig{
			Workers:             5,
			FetchCooldown:       50 * time.Millisecond,
			PollInterval:        time.Second,
			ExpiryCheckInterval: 5 * time.Minute,
			ReminderDays:        []int{7, 3, 1},
			InvoiceLeadDays:     5,
			PostpaidGraceDays:   3,
			Retention:           24 * time.Hour,
			JobTimeout:          time.Minute,
			RescueAfter:         2 * time.Minute,
		},
		Notifications: config.NotificationsConfig{Plugin: "whatsapp", MessageDelay: time.Second, MaxSessions: 5},
		Router:        config.RouterConfig{DefaultLocation: config.RouterLocation{Name: "default"}},
		Operator:      config.OperatorConfig{Language: "id"},
		Audit:         config.AuditConfig{MaxLag: 5 * time.Minute, VerifyInterval: 24 * time.Hour},
	}
}

func ptr[T any](v T) *T { return &v }

func TestDefaultConfig(t *testing.T) {
	cfg := config.DefaultConfig()
	if diff := cmp.Diff(wantDefaults(t), cfg, semanticJSON); diff != "" {
		t.Errorf("DefaultConfig() mismatch (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v, want nil", err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"Addr", cfg.Addr(), "127.0.0.1:3000"},
		{"PluginSettings", string(cfg.PluginSettings("payment-midtrans")), "{}"},
		{"PluginDataDir", cfg.PluginDataDir("audit"), filepath.Join("data", "plugins", "audit")},
	} {
		if c.got != c.want {
			t.Errorf("%s() = %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.IsProduction() {
		t.Error("IsProduction() = true for the default environment, want false")
	}
	if cfg.DebugPlugin("audit") {
		t.Error("DebugPlugin(\"audit\") = true by default, want false")
	}
	if cfg.DatabaseURL() != "" || cfg.UsesPostgres() || cfg.CacheURL() != "" || cfg.UsesRedis() {
		t.Errorf("by default: DatabaseURL %q, UsesPostgres %v, CacheURL %q, UsesRedis %v; want the embedded SQLite database and the in-memory cache",
			cfg.DatabaseURL(), cfg.UsesPostgres(), cfg.CacheURL(), cfg.UsesRedis())
	}
	if loc, ok := cfg.DefaultRouter(); ok {
		t.Errorf("DefaultRouter() = %+v, true; want none by default", loc)
	}
	if got := cfg.MissingSecrets(); len(got) != 3 {
		t.Errorf("MissingSecrets() = %v, want all three by default", got)
	}
}

// TestRuntimeDir checks where the sockets' directory may be, best first:
// the runtime directories of systemd and of the user, /dev/shm, then "run"
// in the data directory when that is short enough for unix socket paths,
// and a directory of its own under the system's temporary directory
// otherwise.
func TestRuntimeDir(t *testing.T) {
	t.Setenv("RUNTIME_DIRECTORY", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	memory := func(dirs []string) []string { // those before the data directory's fallback
		return dirs[:len(dirs)-1]
	}
	shortDir := func(t *testing.T) string { // t.TempDir is too long for a socket's path
		d, err := os.MkdirTemp("/tmp", "rd")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	long1 := "/srv/" + strings.Repeat("a", 80)
	long2 := "/srv/" + strings.Repeat("b", 80)
	tests := []struct {
		name    string
		dataDir string
		env     func(t *testing.T) (systemd, user string)
		check   func(t *testing.T, got []string, systemd, user string)
	}{
		{"short", "/srv/mb", nil, func(t *testing.T, got []string, _, _ string) {
			if last := got[len(got)-1]; last != "/srv/mb/run" {
				t.Errorf("RuntimeDirs() = %q, want /srv/mb/run last", got)
			}
			shm := slices.ContainsFunc(memory(got), func(d string) bool { return strings.HasPrefix(d, "/dev/shm/mikrobill-") })
			if _, err := os.Stat("/dev/shm"); err == nil && runtime.GOOS == "linux" && !shm {
				t.Errorf("RuntimeDirs() = %q, want a mikrobill-* directory in /dev/shm first", got)
			}
		}},
		{"relative", "data", nil, func(t *testing.T, got []string, _, _ string) {
			for _, d := range got {
				if !filepath.IsAbs(d) {
					t.Errorf("RuntimeDirs() = %q, want absolute paths", got)
				}
			}
		}},
		{"systemd's and the user's first", "/srv/mb", func(t *testing.T) (string, string) {
			return shortDir(t), shortDir(t)
		}, func(t *testing.T, got []string, systemd, user string) {
			if len(got) < 3 || filepath.Dir(got[0]) != systemd || filepath.Dir(got[1]) != user {
				t.Errorf("RuntimeDirs() = %q, want a directory in %s, then in %s", got, systemd, user)
			}
			for _, d := range got[:2] {
				if !strings.HasPrefix(filepath.Base(d), "mikrobill-") {
					t.Errorf("RuntimeDirs() = %q, want mikrobill-* directories there", got)
				}
			}
		}},
		{"several systemd runtime directories, one missing", "/srv/mb", func(t *testing.T) (string, string) {
			d := shortDir(t)
			return d + ":/run/other", "/nonexistent-runtime-dir"
		}, func(t *testing.T, got []string, systemd, _ string) {
			first, _, _ := strings.Cut(systemd, ":")
			if filepath.Dir(got[0]) != first {
				t.Errorf("RuntimeDirs() = %q, want a directory in %s first", got, first)
			}
			for _, d := range got {
				if strings.HasPrefix(d, "/nonexistent-runtime-dir") {
					t.Errorf("RuntimeDirs() = %q holds a directory in one that does not exist", got)
				}
			}
		}},
		{"too long for unix sockets", long1, nil, func(t *testing.T, got []string, _, _ string) {
			last := got[len(got)-1]
			if filepath.Dir(last) != filepath.Clean(os.TempDir()) || !strings.HasPrefix(filepath.Base(last), "mikrobill-") {
				t.Errorf("RuntimeDirs() = %q, want a mikrobill-* directory in %s last", got, os.TempDir())
			}
			other := &config.Config{DataDir: long2}
			for _, d := range other.RuntimeDirs() {
				if slices.Contains(got, d) {
					t.Errorf("two data directories share the runtime directory %q", d)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var systemd, user string
			if tt.env != nil {
				systemd, user = tt.env(t)
				t.Setenv("RUNTIME_DIRECTORY", systemd)
				t.Setenv("XDG_RUNTIME_DIR", user)
			}
			cfg := &config.Config{DataDir: tt.dataDir}
			got := cfg.RuntimeDirs()
			if cfg.RuntimeDir() != got[0] {
				t.Errorf("RuntimeDir() = %q, want the first of %q", cfg.RuntimeDir(), got)
			}
			for _, d := range got {
				if len(d) > 56 {
					t.Errorf("%q is too long for the sockets below it", d)
				}
			}
			tt.check(t, got, systemd, user)
		})
	}
}

func TestLoadWithoutFileUsesDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no mikrobill.hcl here
	cfg, err := config.Load("", nil, config.Overrides{})
	if err != nil {
		t.Fatalf("Load without a file: %v", err)
	}
	if diff := cmp.Diff(wantDefaults(t), cfg, semanticJSON); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}

// TestHeartbeatDefaultByStore holds server.heartbeat_interval's default
// to the store: 2s on PostgreSQL, where hosts watch each other's, 30s on
// the embedded SQLite, which has one host; a value set is kept on either.
func TestHeartbeatDefaultByStore(t *testing.T) {
	t.Chdir(t.TempDir()) // no mikrobill.hcl here
	const pg = "DATABASE_URL=postgres://billing@db.example.net/billing"
	tests := []struct {
		name    string
		file    string
		environ []string
		want    time.Duration
	}{
		{name: "SQLite, unset", want: config.HeartbeatSQLite},
		{name: "PostgreSQL, unset", environ: []string{pg}, want: config.HeartbeatPostgres},
		{name: "SQLite, set", file: "server {\n  heartbeat_interval = \"2s\"\n}\n", want: 2 * time.Second},
		{name: "PostgreSQL, set", file: "server {\n  heartbeat_interval = \"45s\"\n}\n", environ: []string{pg}, want: 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "mikrobill.hcl")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Load(path, tt.environ, config.Overrides{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := cfg.Server.HeartbeatInterval; got != tt.want {
				t.Errorf("server.heartbeat_interval = %s, want %s", got, tt.want)
			}
		})
	}
	if config.HeartbeatSQLite == config.HeartbeatPostgres {
		t.Errorf("the stores' heartbeat defaults are both %s: this test would not tell them apart", config.HeartbeatSQLite)
	}
}

func TestLoadFullFile(t *testing.T) {
	cfg, err := config.Load("testdata/full.hcl", nil, config.Overrides{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &config.Config{
		Environment: "production",
		DataDir:     "/var/lib/mikrobill",
		LogLevel:    "debug",
		LogJSON:     true,
		Server: config.ServerConfig{
			Host:              "0.0.0.0",
			Port:              8080,
			RequestTimeout:    45 * time.Second,
			KeepAliveTimeout:  90 * time.Second,
			BodyLimit:         1 << 20,
			ShutdownTimeout:   20 * time.Second,
			HostID:            "billing-1",
			HeartbeatInterval: 5 * time.Second,
		},
		Plugins: config.PluginsConfig{
			Dir:             "/opt/mikrobill/plugins",
			StartTimeout:    15 * time.Second,
			HealthInterval:  30 * time.Second,
			HealthTimeout:   3 * time.Second,
			MetricsTimeout:  1500 * time.Millisecond,
			StopTimeout:     7 * time.Second,
			HealthFailures:  4,
			CallWait:        3 * time.Second,
			HistoryInterval: 10 * time.Second,
			UpgradeGrace:    30 * time.Second,
			InstallWait:     30 * time.Second,
			Restart: config.RestartConfig{
				InitialBackoff: 2 * time.Second,
				MaxBackoff:     30 * time.Second,
				Jitter:         0.1,
				Budget:         8,
				Window:         15 * time.Minute,
				Cooldown:       10 * time.Minute,
				StableAfter:    5 * time.Minute,
			},
		},
		Plugin: map[string]*config.PluginConfig{
			"payment-midtrans": {
				Required:    ptr(false),
				Environment: []string{"staging", "production"},
				Settings: json.RawMessage(`{
				  "server_key": "SB-Mid-server-xxxxxxxx",
				  "environment": "sandbox",
				  "expiry_minutes": 60,
				  "fee_percent": 2.5,
				  "enabled": true,
				  "methods": ["qris", "gopay", "bank_transfer"],
				  "callbacks": {
				    "finish": "https://billing.example.net/paid",
				    "retry": {"attempts": 3, "backoff": "10s"}
				  },
				  "nothing": null
				}`),
			},
			"mikrotik": {
				Required:       ptr(true),
				StartTimeout:   30 * time.Second,
				StopTimeout:    12 * time.Second,
				CallWait:       9 * time.Second,
				HealthFailures: 6,
				Restart:        config.RestartConfig{Budget: 20, MaxBackoff: 2 * time.Minute},
				Settings: json.RawMessage(`{"locations": [
				  {"name": "office", "host": "192.168.88.1", "port": 8728, "tls": false},
				  {"name": "tower", "host": "10.10.0.1", "port": 8729, "tls": true}
				]}`),
			},
			"audit": {Disabled: true},
		},
		Database: config.DatabaseConfig{
			URL:             "postgres://mikrobill:s3cret@db.internal:5432/mikrobill?sslmode=require",
			MaxConns:        20,
			MinConns:        2,
			ConnMaxLifetime: 30 * time.Minute,
		},
		Cache: config.CacheConfig{URL: "rediss://:r3dis@cache.internal:6380/2", MaxEntries: 5000, KeyPrefix: "billing-a:"},
		Security: config.SecurityConfig{
			JWTSecret:       "jwt-0123456789abcdef0123456789abcdef",
			CookieSecret:    "cookie-0123456789abcdef0123456789abcdef",
			EncryptionKey:   "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			SessionTTL:      12 * time.Hour,
			JWTTTL:          15 * time.Minute,
			CORSOrigins:     []string{"https://billing.example.net", "http://localhost:5173"},
			RateLimitMax:    300,
			RateLimitWindow: 30 * time.Second,
			TrustedProxies:  []string{"10.0.0.0/8", "192.168.1.10", "::1"},
		},
		Jobs: config.JobsConfig{
			Workers:             4,
			FetchCooldown:       40 * time.Millisecond,
			PollInterval:        500 * time.Millisecond,
			ExpiryCheckInterval: time.Minute,
			ReminderDays:        []int{14, 7, 1, 0},
			InvoiceLeadDays:     5,
			PostpaidGraceDays:   3,
			Retention:           72 * time.Hour,
			JobTimeout:          30 * time.Second,
			RescueAfter:         45 * time.Second,
		},
		Notifications: config.NotificationsConfig{Plugin: "whatsapp", Session: "billing-number", MessageDelay: 2500 * time.Millisecond, MaxSessions: 3},
		Router: config.RouterConfig{DefaultLocation: config.RouterLocation{
			Name: "office", Host: "192.168.88.1", Port: 8729, Username: "billing", Password: "r0uter-pass", TLS: true,
		}},
		Operator: config.OperatorConfig{Name: "Net Désa", Address: "Jl. Merdeka 1\nBandung", TaxID: "01.234.567.8-901.000",
			Logo: "/etc/mikrobill/logo.png", Language: "en"},
		Audit: config.AuditConfig{MaxLag: 5 * time.Minute, VerifyInterval: 24 * time.Hour},
		Sources: config.SecretSources{
			JWTSecret: config.SourceFile, CookieSecret: config.SourceFile, EncryptionKey: config.SourceFile, RouterPassword: config.SourceFile,
		},
		File: "testdata/full.hcl",
	}
	if diff := cmp.Diff(want, cfg, semanticJSON); diff != "" {
		t.Errorf("Load(full.hcl) mismatch (-want +got):\n%s", diff)
	}
	if !cfg.IsProduction() {
		t.Error("IsProduction() = false, want true")
	}
	if !cfg.UsesPostgres() || cfg.DatabaseURL() != want.Database.URL || !cfg.UsesRedis() || cfg.CacheURL() != want.Cache.URL {
		t.Errorf("UsesPostgres %v DatabaseURL %q UsesRedis %v CacheURL %q; want the file's", cfg.UsesPostgres(), cfg.DatabaseURL(), cfg.UsesRedis(), cfg.CacheURL())
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Errorf("ResolveSecrets with every secret in the file: %v", err)
	}
	key, err := cfg.EncryptionKey()
	if err != nil || len(key) != 32 || key[31] != 0x1f {
		t.Errorf("EncryptionKey() = %x, %v; want the 32 bytes 00..1f", key, err)
	}
	pol := cfg.PolicyFor("mikrotik")
	wantPol := config.Policy{
		StartTimeout: 30 * time.Second, StopTimeout: 12 * time.Second, HealthInterval: 30 * time.Second,
		HealthTimeout: 3 * time.Second, HealthFailures: 6, CallWait: 9 * time.Second,
		Restart: config.RestartConfig{InitialBackoff: 2 * time.Second, MaxBackoff: 2 * time.Minute, Jitter: 0.1,
			Budget: 20, Window: 15 * time.Minute, Cooldown: 10 * time.Minute, StableAfter: 5 * time.Minute},
	}
	if diff := cmp.Diff(wantPol, pol); diff != "" {
		t.Errorf("PolicyFor(mikrotik) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(cfg.Plugins.Restart, cfg.PolicyFor("audit").Restart); diff != "" {
		t.Errorf("PolicyFor(audit) without overrides differs from the plugins block:\n%s", diff)
	}
	if got := string(cfg.PluginSettings("audit")); got != "{}" {
		t.Errorf("PluginSettings(audit) without config = %s, want {}", got)
	}
}

// TestLoadFileErrors checks that a mistake in the file is reported with the
// file, line and column, and the key or block at fault.
func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string // each must appear in the error
	}{
		{"unknown-top.hcl", []string{"testdata/unknown-top.hcl:3:1:", `"listen_port"`, "not expected here"}},
		{"unknown-server.hcl", []string{"testdata/unknown-server.hcl:3:3:", `"prot"`, `Did you mean "port"?`}},
		{"unknown-plugin.hcl", []string{"testdata/unknown-plugin.hcl:3:3:", `"settings"`, "not expected here"}},
		{"unknown-block.hcl", []string{"testdata/unknown-block.hcl:3:1:", `"telemetry"`, "not expected here"}},
		{"bad-duration.hcl", []string{"testdata/bad-duration.hcl:3:", "Invalid duration", "request_timeout", `"30s"`}},
		{"bad-duration-number.hcl", []string{"testdata/bad-duration-number.hcl:2:", "Invalid duration", "stop_timeout"}},
		// The duplicate is the block that starts on line 9, not its config
		// attribute two lines further down.
		{"duplicate-plugin.hcl", []string{"testdata/duplicate-plugin.hcl:9:1:", "Duplicate plugin block", `"mikrotik" is configured twice`}},
		{"duplicate-plugin-no-config.hcl", []string{"testdata/duplicate-plugin-no-config.hcl:2:1:", `"audit" is configured twice`}},
		{"config-string.hcl", []string{"testdata/config-string.hcl:2:", "config must be an object"}},
		{"config-list.hcl", []string{"testdata/config-list.hcl:3:", "config must be an object"}},
		{"syntax-error.hcl", []string{"testdata/syntax-error.hcl:1:", "no closing brace"}},
		{"wrong-type.hcl", []string{"testdata/wrong-type.hcl:2:", "a number is required"}},
		{"unknown-marketplace.hcl", []string{"testdata/unknown-marketplace.hcl:5:3:", `"key"`, "not expected here"}},
		{"duplicate-marketplace.hcl", []string{"testdata/duplicate-marketplace.hcl:6:1:", `"demo" is configured twice`}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".hcl"), func(t *testing.T) {
			_, err := config.Load(filepath.Join("testdata", tt.fixture), nil, config.Overrides{})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestLoadValidates checks that Load runs Validate and reports every
// problem at once.
func TestLoadValidates(t *testing.T) {
	_, err := config.Load("testdata/invalid-values.hcl", nil, config.Overrides{})
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	for _, w := range []string{"invalid configuration", "environment must not be empty", `log_level "loud"`, "server.port 70000"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

// TestPrecedence gives each setting at every level and checks the winner:
// flags over environment over file over defaults.
func TestPrecedence(t *testing.T) {
	const file = "testdata/precedence.hcl"
	tests := []struct {
		name string
		get  func(*config.Config) any
		def  any // DefaultConfig
		file any // precedence.hcl
		env  []string
		envV any
		flag *config.Overrides // nil: no flag for this setting
		flgV any
	}{
		{
			name: "environment", get: func(c *config.Config) any { return c.Environment },
			def: "development", file: "staging",
			env: []string{"MIKROBILL_ENV=production"}, envV: "production",
		},
		{
			name: "environment via NODE_ENV", get: func(c *config.Config) any { return c.Environment },
			def: "development", file: "staging",
			env: []string{"NODE_ENV=production"}, envV: "production",
		},
		{
			name: "data_dir", get: func(c *config.Config) any { return c.DataDir },
			def: "data", file: "/file/data",
			env: []string{"MIKROBILL_DATA_DIR=/env/data"}, envV: "/env/data",
			flag: &config.Overrides{DataDir: "/flag/data"}, flgV: "/flag/data",
		},
		{
			name: "log_level", get: func(c *config.Config) any { return c.LogLevel },
			def: "info", file: "warn",
			env: []string{"MIKROBILL_LOG_LEVEL=error"}, envV: "error",
			flag: &config.Overrides{LogLevel: "trace"}, flgV: "trace",
		},
		{
			name: "log_json", get: func(c *config.Config) any { return c.LogJSON },
			def: false, file: true,
			env: []string{"MIKROBILL_LOG_JSON=false"}, envV: false,
			flag: &config.Overrides{LogJSON: ptr(true)}, flgV: true,
		},
		{
			name: "server.host", get: func(c *config.Config) any { return c.Server.Host },
			def: "127.0.0.1", file: "10.0.0.1",
			env: []string{"HOST=10.0.0.2"}, envV: "10.0.0.2",
			flag: &config.Overrides{Listen: "10.0.0.3:5000"}, flgV: "10.0.0.3",
		},
		{
			name: "server.port", get: func(c *config.Config) any { return c.Server.Port },
			def: 3000, file: 4000,
			env: []string{"PORT=4001"}, envV: 4001,
			flag: &config.Overrides{Listen: "10.0.0.3:5000"}, flgV: 5000,
		},
		{
			name: "server.request_timeout", get: func(c *config.Config) any { return c.Server.RequestTimeout },
			def: 30 * time.Second, file: 40 * time.Second,
			env: []string{"REQUEST_TIMEOUT=50000"}, envV: 50 * time.Second,
		},
		{
			name: "server.keep_alive_timeout", get: func(c *config.Config) any { return c.Server.KeepAliveTimeout },
			def: 72 * time.Second, file: 41 * time.Second,
			env: []string{"KEEP_ALIVE_TIMEOUT=1500"}, envV: 1500 * time.Millisecond,
		},
		{
			name: "server.body_limit", get: func(c *config.Config) any { return c.Server.BodyLimit },
			def: int64(10485760), file: int64(2048),
			env: []string{"BODY_LIMIT=4096"}, envV: int64(4096),
		},
		{
			name: "database.url", get: func(c *config.Config) any { return c.Database.URL },
			def: "", file: "postgres://file@file-db:5432/file",
			env: []string{"DATABASE_URL=postgres://env@env-db/env"}, envV: "postgres://env@env-db/env",
		},
		{
			name: "database.url via the legacy DB_* variables", get: func(c *config.Config) any { return c.Database.URL },
			def: "", file: "postgres://file@file-db:5432/file",
			env: []string{"DB_HOST=env-db", "DB_NAME=env"}, envV: "postgres://env-db:5432/env?sslmode=disable",
		},
		{
			name: "cache.url", get: func(c *config.Config) any { return c.Cache.URL },
			def: "", file: "redis://file-cache:6379/0",
			env: []string{"REDIS_HOST=env-cache", "REDIS_PORT=6380"}, envV: "redis://env-cache:6380/0",
		},
		{
			name: "cache.key_prefix", get: func(c *config.Config) any { return c.Cache.KeyPrefix },
			def: "mikrobill:", file: "file:",
			env: []string{"MIKROBILL_CACHE_PREFIX=env:"}, envV: "env:",
		},
		{
			name: "security.jwt_secret", get: func(c *config.Config) any { return [2]any{c.Security.JWTSecret, c.Sources.JWTSecret} },
			def: [2]any{"", config.SourceNone}, file: [2]any{"file-jwt-secret-0123456789abcdef0", config.SourceFile},
			env: []string{"JWT_SECRET=env-jwt-secret-0123456789abcdef01"}, envV: [2]any{"env-jwt-secret-0123456789abcdef01", config.SourceEnv},
		},
		{
			name: "security.rate_limit_max", get: func(c *config.Config) any { return c.Security.RateLimitMax },
			def: 100, file: 200,
			env: []string{"RATE_LIMIT_MAX=300"}, envV: 300,
		},
		{
			name: "security.cors_origins", get: func(c *config.Config) any { return c.Security.CORSOrigins },
			def: []string(nil), file: []string{"https://file.example"},
			env: []string{"MIKROBILL_CORS_ORIGINS=https://env.example,https://other.example"}, envV: []string{"https://env.example", "https://other.example"},
		},
		{
			name: "notifications.message_delay", get: func(c *config.Config) any { return c.Notifications.MessageDelay },
			def: time.Second, file: 2 * time.Second,
			env: []string{"WHATSAPP_MESSAGE_DELAY=3000"}, envV: 3 * time.Second,
		},
		{
			name: "notifications.max_sessions", get: func(c *config.Config) any { return c.Notifications.MaxSessions },
			def: 5, file: 2,
			env: []string{"WHATSAPP_MAX_SESSIONS=7"}, envV: 7,
		},
		{
			name: "router.default_location", get: func(c *config.Config) any {
				l := c.Router.DefaultLocation
				return [5]any{l.Host, l.Port, l.Username, l.Password, c.Sources.RouterPassword}
			},
			def:  [5]any{"", 0, "", "", config.SourceNone},
			file: [5]any{"10.1.1.1", 8000, "file-user", "file-pass", config.SourceFile},
			env:  []string{"MIKROTIK_HOST=10.2.2.2", "MIKROTIK_PORT=8729", "MIKROTIK_USERNAME=env-user", "MIKROTIK_PASSWORD=env-pass"},
			envV: [5]any{"10.2.2.2", 8729, "env-user", "env-pass", config.SourceEnv},
		},
		{
			name: "plugins.dir", get: func(c *config.Config) any { return c.Plugins.Dir },
			def: defaultPluginDir(t), file: "/file/plugins",
			env: []string{"MIKROBILL_PLUGIN_DIR=/env/plugins"}, envV: "/env/plugins",
			flag: &config.Overrides{PluginDir: "/flag/plugins"}, flgV: "/flag/plugins",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type level struct {
				level string
				path  string
				env   []string
				flags config.Overrides
				want  any
			}
			levels := []level{
				{"defaults", "", nil, config.Overrides{}, tt.def},
				{"file over defaults", file, nil, config.Overrides{}, tt.file},
				{"environment over file", file, tt.env, config.Overrides{}, tt.envV},
			}
			if tt.flag != nil {
				levels = append(levels, level{"flag over environment", file, tt.env, *tt.flag, tt.flgV})
			}
			t.Chdir(t.TempDir()) // no mikrobill.hcl for the defaults level
			abs, err := filepath.Abs(filepath.Join(cwd, file))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range levels {
				path := l.path
				if path != "" {
					path = abs
				}
				cfg, err := config.Load(path, l.env, l.flags)
				if err != nil {
					t.Fatalf("%s: Load: %v", l.level, err)
				}
				if diff := cmp.Diff(l.want, tt.get(cfg)); diff != "" {
					t.Errorf("%s: mismatch (-want +got):\n%s", l.level, diff)
				}
			}
		})
	}
}

// cwd is the package directory, where testdata lives, taken before any
// test changes directory.
var cwd = func() string {
	d, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return d
}()

// TestLegacyEnvironment checks the variables of the Node.js system.
func TestLegacyEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		get     func(*config.Config) any
		want    any
	}{
		{"NODE_ENV", []string{"NODE_ENV=production"}, func(c *config.Config) any { return c.Environment }, "production"},
		{"MIKROBILL_ENV beats NODE_ENV", []string{"NODE_ENV=production", "MIKROBILL_ENV=staging"}, func(c *config.Config) any { return c.Environment }, "staging"},
		{"MIKROBILL_ENV beats NODE_ENV in any order", []string{"MIKROBILL_ENV=staging", "NODE_ENV=production"}, func(c *config.Config) any { return c.Environment }, "staging"},
		{"empty MIKROBILL_ENV falls back to NODE_ENV", []string{"MIKROBILL_ENV=", "NODE_ENV=production"}, func(c *config.Config) any { return c.Environment }, "production"},
		{"HOST", []string{"HOST=0.0.0.0"}, func(c *config.Config) any { return c.Server.Host }, "0.0.0.0"},
		{"PORT", []string{"PORT=8080"}, func(c *config.Config) any { return c.Server.Port }, 8080},
		{"REQUEST_TIMEOUT in milliseconds", []string{"REQUEST_TIMEOUT=30000"}, func(c *config.Config) any { return c.Server.RequestTimeout }, 30 * time.Second},
		{"REQUEST_TIMEOUT below a second", []string{"REQUEST_TIMEOUT=250"}, func(c *config.Config) any { return c.Server.RequestTimeout }, 250 * time.Millisecond},
		{"KEEP_ALIVE_TIMEOUT in milliseconds", []string{"KEEP_ALIVE_TIMEOUT=72000"}, func(c *config.Config) any { return c.Server.KeepAliveTimeout }, 72 * time.Second},
		{"BODY_LIMIT in bytes", []string{"BODY_LIMIT=10485760"}, func(c *config.Config) any { return c.Server.BodyLimit }, int64(10 << 20)},
		{"an empty variable is ignored", []string{"PORT="}, func(c *config.Config) any { return c.Server.Port }, 3000},
		{"the last of two settings wins", []string{"PORT=1", "PORT=2"}, func(c *config.Config) any { return c.Server.Port }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			cfg, err := config.Load("", tt.environ, config.Overrides{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, tt.get(cfg)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// legacyDotEnv is the example .env of the old system's architecture
// document (reference/legacy-plugin-architecture.md), every line of it.
var legacyDotEnv = []string{
	"NODE_ENV=development", "HOST=0.0.0.0", "PORT=3000",
	"DB_HOST=localhost", "DB_PORT=5432", "DB_NAME=mikrotik_billing", "DB_USER=postgres", "DB_PASSWORD=password",
	"REDIS_HOST=localhost", "REDIS_PORT=6379", "REDIS_PASSWORD=",
	"JWT_SECRET=your-secret-key", "COOKIE_SECRET=your-cookie-secret", "RATE_LIMIT_MAX=100",
	"MIKROTIK_HOST=192.168.1.1", "MIKROTIK_PORT=8728", "MIKROTIK_USERNAME=admin", "MIKROTIK_PASSWORD=password",
	"WHATSAPP_MAX_SESSIONS=5", "WHATSAPP_MESSAGE_DELAY=1000",
	"REQUEST_TIMEOUT=30000", "BODY_LIMIT=10485760", "KEEP_ALIVE_TIMEOUT=72000",
	"DEBUG=plugin:*",
}

// TestLegacyDotEnv loads the old system's example .env: it configures
// PostgreSQL, Redis, the secrets, the rate limit, the MikroTik default
// location and the WhatsApp settings.
func TestLegacyDotEnv(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := config.Load("", legacyDotEnv, config.Overrides{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := wantDefaults(t)
	want.Server.Host = "0.0.0.0"
	want.DebugPlugins = []string{"*"}
	want.Database.URL = "postgres://postgres:password@localhost:5432/mikrotik_billing?sslmode=disable"
	want.Server.HeartbeatInterval = config.HeartbeatPostgres // PostgreSQL's default
	want.Cache.URL = "redis://localhost:6379/0"
	want.Security.JWTSecret = "your-secret-key"
	want.Security.CookieSecret = "your-cookie-secret"
	want.Security.RateLimitMax = 100
	want.Router.DefaultLocation = config.RouterLocation{Name: "default", Host: "192.168.1.1", Port: 8728, Username: "admin", Password: "password"}
	want.Notifications.MaxSessions = 5
	want.Notifications.MessageDelay = time.Second
	want.Sources = config.SecretSources{JWTSecret: config.SourceEnv, CookieSecret: config.SourceEnv, RouterPassword: config.SourceEnv}
	if diff := cmp.Diff(want, cfg, semanticJSON); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if !cfg.UsesPostgres() || !cfg.UsesRedis() {
		t.Errorf("UsesPostgres() = %v, UsesRedis() = %v; want both true", cfg.UsesPostgres(), cfg.UsesRedis())
	}
	loc, ok := cfg.DefaultRouter()
	if diff := cmp.Diff(want.Router.DefaultLocation, loc); !ok || diff != "" {
		t.Errorf("DefaultRouter() ok=%v, mismatch (-want +got):\n%s", ok, diff)
	}

	// The example's secrets are short: accepted in development with a
	// warning each; the missing encryption key is generated.
	if w := cfg.Warnings(); len(w) != 2 || !strings.Contains(w[0], "JWT_SECRET") || !strings.Contains(w[1], "COOKIE_SECRET") {
		t.Errorf("Warnings() = %q, want one for JWT_SECRET and one for COOKIE_SECRET", w)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatalf("ResolveSecrets: %v", err)
	}
	if cfg.Security.JWTSecret != "your-secret-key" || cfg.Sources.EncryptionKey != config.SourceGenerated {
		t.Errorf("after ResolveSecrets: jwt %q, encryption key from %q; want the .env's and a generated one", cfg.Security.JWTSecret, cfg.Sources.EncryptionKey)
	}

	// In production the same secrets are refused, and the missing
	// encryption key is named.
	prod := append(slices.Clone(legacyDotEnv), "NODE_ENV=production")
	_, err = config.Check("", prod, config.Overrides{})
	for _, w := range []string{"security.jwt_secret (JWT_SECRET) is 15 characters long", "security.cookie_secret (COOKIE_SECRET) is 18 characters long",
		"openssl rand -hex 32", "security.encryption_key is not set", "MIKROBILL_ENCRYPTION_KEY"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check in production: error does not contain %q:\n%v", w, err)
		}
	}
}

// TestEnvironmentErrors checks that a bad variable is named with what it
// expects, and that every bad variable is reported at once.
func TestEnvironmentErrors(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"PORT not a number", []string{"PORT=abc"}, []string{`PORT="abc"`, "not a port number (0 to 65535)"}},
		{"PORT out of range", []string{"PORT=70000"}, []string{`PORT="70000"`, "0 to 65535"}},
		{"REQUEST_TIMEOUT negative", []string{"REQUEST_TIMEOUT=-1"}, []string{`REQUEST_TIMEOUT="-1"`, "milliseconds as a positive whole number"}},
		{"REQUEST_TIMEOUT zero", []string{"REQUEST_TIMEOUT=0"}, []string{`REQUEST_TIMEOUT="0"`, "milliseconds"}},
		{"REQUEST_TIMEOUT as a Go duration", []string{"REQUEST_TIMEOUT=30s"}, []string{`REQUEST_TIMEOUT="30s"`, "milliseconds"}},
		{"KEEP_ALIVE_TIMEOUT", []string{"KEEP_ALIVE_TIMEOUT=long"}, []string{`KEEP_ALIVE_TIMEOUT="long"`, "milliseconds as a positive whole number"}},
		{"BODY_LIMIT with a unit", []string{"BODY_LIMIT=1MB"}, []string{`BODY_LIMIT="1MB"`, "bytes as a positive whole number"}},
		{"MIKROBILL_LOG_JSON", []string{"MIKROBILL_LOG_JSON=maybe"}, []string{`MIKROBILL_LOG_JSON="maybe"`, "true or false"}},
		{"MIKROBILL_LOG_LEVEL", []string{"MIKROBILL_LOG_LEVEL=loud"}, []string{`log_level "loud"`, "trace, debug, info, warn, error"}},
		{"several at once", []string{"PORT=abc", "BODY_LIMIT=1MB", "REQUEST_TIMEOUT=-1"}, []string{`PORT="abc"`, `BODY_LIMIT="1MB"`, `REQUEST_TIMEOUT="-1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			_, err := config.Load("", tt.environ, config.Overrides{})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestDebug(t *testing.T) {
	tests := []struct {
		debug   string
		want    []string
		debugOn []string // DebugPlugin is true for these
		off     []string // and false for these
	}{
		{"plugin:*", []string{"*"}, []string{"audit", "mikrotik"}, nil},
		{"*", []string{"*"}, []string{"audit"}, nil},
		{"plugin:payment-manual,plugin:mikrotik", []string{"payment-manual", "mikrotik"}, []string{"payment-manual", "mikrotik"}, []string{"audit"}},
		{"plugin:audit plugin:mikrotik", []string{"audit", "mikrotik"}, []string{"audit", "mikrotik"}, []string{"whatsapp"}},
		{"express:*,plugin:audit", []string{"audit"}, []string{"audit"}, []string{"express", "mikrotik"}},
		{"express:*", nil, nil, []string{"audit", "express"}},
		{"fastify:*,plugin:*", []string{"*"}, []string{"audit"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.debug, func(t *testing.T) {
			t.Chdir(t.TempDir())
			cfg, err := config.Load("", []string{"DEBUG=" + tt.debug}, config.Overrides{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, cfg.DebugPlugins); diff != "" {
				t.Errorf("DebugPlugins mismatch (-want +got):\n%s", diff)
			}
			for _, n := range tt.debugOn {
				if !cfg.DebugPlugin(n) {
					t.Errorf("DebugPlugin(%q) = false, want true", n)
				}
			}
			for _, n := range tt.off {
				if cfg.DebugPlugin(n) {
					t.Errorf("DebugPlugin(%q) = true, want false", n)
				}
			}
		})
	}
}

func TestListen(t *testing.T) {
	tests := []struct {
		listen   string
		wantHost string
		wantPort int
		wantAddr string
		wantErr  string
	}{
		{listen: "127.0.0.1:8080", wantHost: "127.0.0.1", wantPort: 8080, wantAddr: "127.0.0.1:8080"},
		{listen: "localhost:3001", wantHost: "localhost", wantPort: 3001, wantAddr: "localhost:3001"},
		{listen: ":9000", wantHost: "0.0.0.0", wantPort: 9000, wantAddr: "0.0.0.0:9000"},
		{listen: "[::1]:3000", wantHost: "::1", wantPort: 3000, wantAddr: "[::1]:3000"},
		{listen: "0.0.0.0:0", wantHost: "0.0.0.0", wantPort: 0, wantAddr: "0.0.0.0:0"},
		{listen: "localhost", wantErr: `--listen "localhost": use host:port`},
		{listen: "localhost:http", wantErr: `--listen "localhost:http": the port must be a number from 0 to 65535`},
		{listen: "localhost:70000", wantErr: "the port must be a number from 0 to 65535"},
		{listen: "localhost:", wantErr: "the port must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			t.Chdir(t.TempDir())
			cfg, err := config.Load("", []string{"HOST=10.9.9.9", "PORT=1234"}, config.Overrides{Listen: tt.listen})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Server.Host != tt.wantHost || cfg.Server.Port != tt.wantPort {
				t.Errorf("host, port = %q, %d; want %q, %d", cfg.Server.Host, cfg.Server.Port, tt.wantHost, tt.wantPort)
			}
			if got := cfg.Addr(); got != tt.wantAddr {
				t.Errorf("Addr() = %q, want %q", got, tt.wantAddr)
			}
		})
	}
}

// TestAddrIPv6 checks that HOST=::1 gives an address net.Listen accepts.
func TestAddrIPv6(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := config.Load("", []string{"HOST=::1", "PORT=3000"}, config.Overrides{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.Addr(), "[::1]:3000"; got != want {
		t.Errorf("Addr() = %q, want %q", got, want)
	}
}

func TestConfigFileLocation(t *testing.T) {
	full, err := filepath.Abs("testdata/minimal.hcl")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("explicit path that does not exist", func(t *testing.T) {
		t.Chdir(t.TempDir())
		_, err := config.Load("nowhere/mikrobill.hcl", nil, config.Overrides{})
		if err == nil {
			t.Fatal("Load succeeded, want an error")
		}
		for _, w := range []string{"nowhere/mikrobill.hcl", "does not exist"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error does not contain %q: %v", w, err)
			}
		}
	})
	t.Run("MIKROBILL_CONFIG that does not exist", func(t *testing.T) {
		t.Chdir(t.TempDir())
		_, err := config.Load("", []string{"MIKROBILL_CONFIG=/no/such/mikrobill.hcl"}, config.Overrides{})
		if err == nil || !strings.Contains(err.Error(), "/no/such/mikrobill.hcl does not exist") {
			t.Fatalf("Load error = %v, want one saying /no/such/mikrobill.hcl does not exist", err)
		}
	})
	t.Run("default file absent", func(t *testing.T) {
		t.Chdir(t.TempDir())
		cfg, err := config.Load("", nil, config.Overrides{})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.File != "" || cfg.Environment != "development" {
			t.Errorf("File, Environment = %q, %q; want \"\", \"development\"", cfg.File, cfg.Environment)
		}
	})
	t.Run("default file present", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, config.DefaultFile), src, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		cfg, err := config.Load("", nil, config.Overrides{})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.File != "mikrobill.hcl" || cfg.Environment != "file-env" {
			t.Errorf("File, Environment = %q, %q; want \"mikrobill.hcl\", \"file-env\"", cfg.File, cfg.Environment)
		}
	})
	t.Run("MIKROBILL_CONFIG names the file", func(t *testing.T) {
		t.Chdir(t.TempDir())
		cfg, err := config.Load("", []string{"MIKROBILL_CONFIG=" + full}, config.Overrides{})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.File != full || cfg.Environment != "file-env" {
			t.Errorf("File, Environment = %q, %q; want %q, \"file-env\"", cfg.File, cfg.Environment, full)
		}
	})
	t.Run("MIKROBILL_CONFIG beats mikrobill.hcl in the working directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, config.DefaultFile), []byte(`environment = "cwd"`), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		cfg, err := config.Load("", []string{"MIKROBILL_CONFIG=" + full}, config.Overrides{})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Environment != "file-env" {
			t.Errorf("Environment = %q, want \"file-env\"", cfg.Environment)
		}
	})
	t.Run("explicit path beats MIKROBILL_CONFIG", func(t *testing.T) {
		t.Chdir(t.TempDir())
		cfg, err := config.Load(full, []string{"MIKROBILL_CONFIG=/no/such/mikrobill.hcl"}, config.Overrides{})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.File != full {
			t.Errorf("File = %q, want %q", cfg.File, full)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*config.Config)
		want   []string // empty: valid
	}{
		{"defaults", func(*config.Config) {}, nil},
		{"environment of its own", func(c *config.Config) { c.Environment = "staging" }, nil},
		{"log level in capitals", func(c *config.Config) { c.LogLevel = "WARN" }, nil},
		{"port 0 picks a free port", func(c *config.Config) { c.Server.Port = 0 }, nil},
		{"several problems at once", func(c *config.Config) { c.Environment = " "; c.LogLevel = "verbose" }, []string{
			"environment must not be empty", `log_level "verbose": use one of trace, debug, info, warn, error`,
		}},
		{"empty data dir", func(c *config.Config) { c.DataDir = "" }, []string{"data_dir must not be empty"}},
		{"empty host", func(c *config.Config) { c.Server.Host = "" }, []string{"server.host must not be empty"}},
		{"port out of range", func(c *config.Config) { c.Server.Port = -1 }, []string{"server.port -1: must be between 0 and 65535"}},
		{"durations", func(c *config.Config) {
			c.Server.RequestTimeout = 0
			c.Plugins.StopTimeout = -time.Second
		}, []string{"server.request_timeout must be positive, got 0s", "plugins.stop_timeout must be positive, got -1s"}},
		{"body limit", func(c *config.Config) { c.Server.BodyLimit = 0 }, []string{"server.body_limit must be positive, got 0"}},
		{"history interval too short", func(c *config.Config) { c.Plugins.HistoryInterval = 500 * time.Millisecond }, []string{"plugins.history_interval must be between 1s and 5m0s, got 500ms"}},
		{"history interval too long", func(c *config.Config) { c.Plugins.HistoryInterval = 10 * time.Minute }, []string{"plugins.history_interval must be between 1s and 5m0s, got 10m0s"}},
		{"rescue after a short job timeout", func(c *config.Config) { c.Jobs.JobTimeout, c.Jobs.RescueAfter = 5*time.Second, 10*time.Second }, nil},
		{"rescue before the job timeout", func(c *config.Config) { c.Jobs.RescueAfter = time.Minute }, []string{
			"jobs.rescue_after (1m) must be longer than jobs.job_timeout (1m), or a job still running would be started again on another host; raise jobs.rescue_after or lower jobs.job_timeout"}},
		{"plugin dir", func(c *config.Config) { c.Plugins.Dir = "" }, []string{"plugins.dir must not be empty"}},
		{"plugin settings not an object", func(c *config.Config) {
			c.Plugin["a"] = &config.PluginConfig{Settings: json.RawMessage(`[1]`)}
			c.Plugin["b"] = &config.PluginConfig{Settings: json.RawMessage(`null`)}
			c.Plugin["c"] = &config.PluginConfig{Settings: json.RawMessage(`{"ok": true}`)}
		}, []string{`plugin "a": config must be an object`, `plugin "b": config must be an object`}},
		{"plugin environment name empty", func(c *config.Config) {
			c.Plugin["audit"] = &config.PluginConfig{Environment: []string{"production", ""}}
		}, []string{`plugin "audit": environment names must not be empty`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultConfig()
			tt.change(cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(tt.want); got != want {
				t.Errorf("error has %d lines, want %d (one per problem):\n%v", got, want, err)
			}
		})
	}
}

// TestDocumentationExamples loads every HCL example in
// docs/configuration.md, so the operator's reference cannot drift from what
// the host accepts.
func TestDocumentationExamples(t *testing.T) {
	const doc = "../../../docs/configuration.md"
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatalf("read the operator's reference: %v", err)
	}
	var examples []string
	rest := string(raw)
	for {
		_, after, ok := strings.Cut(rest, "```hcl\n")
		if !ok {
			break
		}
		example, after, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatalf("%s: unterminated ```hcl block", doc)
		}
		examples = append(examples, example)
		rest = after
	}
	if len(examples) == 0 {
		t.Fatalf("%s has no ```hcl examples", doc)
	}
	for i, example := range examples {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mikrobill.hcl")
			if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := config.Load(path, nil, config.Overrides{}); err != nil {
				t.Errorf("example %d does not load: %v\n%s", i, err, example)
			}
		})
	}
}

// TestMarketplaceBlocks checks the marketplace blocks: a relative root is
// the file's folder's, and every bad block is reported at once.
func TestMarketplaceBlocks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mikrobill.hcl")
	os.WriteFile(filepath.Join(dir, "root.json"), []byte("{}"), 0o644)
	os.WriteFile(file, []byte(`marketplace "demo" {
  url  = "file:///srv/marketplace/repository"
  root = "root.json"
}
marketplace "acme" {
  url  = "ftp://plugins.example.net"
  root = "missing.json"
}
marketplace "Bad" {
  url  = "https://plugins.example.net/repository"
  root = "root.json"
}
`), 0o644)
	_, err := config.Load(file, nil, config.Overrides{})
	for _, w := range []string{
		`marketplace "Bad": a marketplace name uses lowercase letters`,
		`marketplace "acme": url "ftp://plugins.example.net" must start with https://, http:// or file://`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	os.WriteFile(file, []byte(`marketplace "demo" {
  url  = "file:///srv/marketplace/repository"
  root = "root.json"
}
`), 0o644)
	cfg, err := config.Load(file, nil, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	want := &config.MarketplaceConfig{URL: "file:///srv/marketplace/repository", Root: filepath.Join(dir, "root.json")}
	if diff := cmp.Diff(want, cfg.Marketplaces["demo"]); diff != "" {
		t.Errorf("marketplace demo (-want +got):\n%s", diff)
	}
}
