package config_test

import (
	"encoding/base64"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

// TestDataEnvironment checks the data layer's variables, new and legacy.
func TestDataEnvironment(t *testing.T) {
	const hexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	tests := []struct {
		name    string
		environ []string
		get     func(*config.Config) any
		want    any
	}{
		{"DATABASE_URL", []string{"DATABASE_URL=postgresql://u:p@db/x"}, dbURL, "postgresql://u:p@db/x"},
		{"DATABASE_URL beats DB_HOST", []string{"DB_HOST=legacy", "DATABASE_URL=postgres://u:p@db/x"}, dbURL, "postgres://u:p@db/x"},
		{"DB_HOST alone", []string{"DB_HOST=db.internal"}, dbURL, "postgres://db.internal:5432/?sslmode=disable"},
		{"DB_* with a port", []string{"DB_HOST=db", "DB_PORT=6543", "DB_NAME=billing", "DB_USER=bill"}, dbURL, "postgres://bill@db:6543/billing?sslmode=disable"},
		{"DB_HOST as IPv6", []string{"DB_HOST=::1", "DB_NAME=billing"}, dbURL, "postgres://[::1]:5432/billing?sslmode=disable"},
		{"DB_* without DB_HOST are ignored", []string{"DB_USER=bill", "DB_PASSWORD=x", "DB_PORT=nonsense"}, dbURL, ""},
		{"an empty DATABASE_URL leaves DB_HOST in charge", []string{"DATABASE_URL=", "DB_HOST=db"}, dbURL, "postgres://db:5432/?sslmode=disable"},
		{"REDIS_URL", []string{"REDIS_URL=rediss://:p@cache:6380/1"}, cacheURL, "rediss://:p@cache:6380/1"},
		{"REDIS_URL beats REDIS_HOST", []string{"REDIS_HOST=legacy", "REDIS_URL=redis://cache:6379/0"}, cacheURL, "redis://cache:6379/0"},
		{"REDIS_HOST alone", []string{"REDIS_HOST=cache"}, cacheURL, "redis://cache:6379/0"},
		{"REDIS_* with a password", []string{"REDIS_HOST=cache", "REDIS_PORT=6380", "REDIS_PASSWORD=pw"}, cacheURL, "redis://:pw@cache:6380/0"},
		{"REDIS_* without REDIS_HOST are ignored", []string{"REDIS_PASSWORD=pw"}, cacheURL, ""},
		{"JWT_SECRET", []string{"JWT_SECRET=j"}, func(c *config.Config) any { return [2]any{c.Security.JWTSecret, c.Sources.JWTSecret} }, [2]any{"j", config.SourceEnv}},
		{"COOKIE_SECRET", []string{"COOKIE_SECRET=c"}, func(c *config.Config) any { return [2]any{c.Security.CookieSecret, c.Sources.CookieSecret} }, [2]any{"c", config.SourceEnv}},
		{"MIKROBILL_ENCRYPTION_KEY", []string{"MIKROBILL_ENCRYPTION_KEY=" + hexKey}, func(c *config.Config) any {
			return [2]any{c.Security.EncryptionKey, c.Sources.EncryptionKey}
		}, [2]any{hexKey, config.SourceEnv}},
		{"RATE_LIMIT_MAX", []string{"RATE_LIMIT_MAX=250"}, func(c *config.Config) any { return c.Security.RateLimitMax }, 250},
		{"MIKROBILL_CORS_ORIGINS", []string{"MIKROBILL_CORS_ORIGINS= https://a.example , http://localhost:5173,,"}, func(c *config.Config) any { return c.Security.CORSOrigins },
			[]string{"https://a.example", "http://localhost:5173"}},
		{"MIKROBILL_CORS_ORIGINS any", []string{"MIKROBILL_CORS_ORIGINS=*"}, func(c *config.Config) any { return c.Security.CORSOrigins }, []string{"*"}},
		{"WHATSAPP_MAX_SESSIONS", []string{"WHATSAPP_MAX_SESSIONS=2"}, func(c *config.Config) any { return c.Notifications.MaxSessions }, 2},
		{"WHATSAPP_MESSAGE_DELAY in milliseconds", []string{"WHATSAPP_MESSAGE_DELAY=250"}, func(c *config.Config) any { return c.Notifications.MessageDelay }, 250 * time.Millisecond},
		{"WHATSAPP_MESSAGE_DELAY zero", []string{"WHATSAPP_MESSAGE_DELAY=0"}, func(c *config.Config) any { return c.Notifications.MessageDelay }, time.Duration(0)},
		{"MIKROTIK_* without a port", []string{"MIKROTIK_HOST=10.0.0.1", "MIKROTIK_USERNAME=api"}, defaultRouter,
			config.RouterLocation{Name: "default", Host: "10.0.0.1", Port: 8728, Username: "api"}},
		{"MIKROTIK_* with a port", []string{"MIKROTIK_HOST=10.0.0.1", "MIKROTIK_PORT=18728", "MIKROTIK_USERNAME=api", "MIKROTIK_PASSWORD=pw"}, defaultRouter,
			config.RouterLocation{Name: "default", Host: "10.0.0.1", Port: 18728, Username: "api", Password: "pw"}},
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

func dbURL(c *config.Config) any    { return c.DatabaseURL() }
func cacheURL(c *config.Config) any { return c.CacheURL() }
func defaultRouter(c *config.Config) any {
	loc, ok := c.DefaultRouter()
	if !ok {
		return "no default router"
	}
	return loc
}

// TestLegacyURLEscaping checks that a user name and password with URL
// syntax in them survive the trip through the built URL.
func TestLegacyURLEscaping(t *testing.T) {
	const user, password = "bill@ing:ops", "p@ss:w/rd#1 %?&=+"
	t.Chdir(t.TempDir())
	cfg, err := config.Load("", []string{
		"DB_HOST=db", "DB_NAME=billing", "DB_USER=" + user, "DB_PASSWORD=" + password,
		"REDIS_HOST=cache", "REDIS_PASSWORD=" + password,
	}, config.Overrides{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, c := range []struct {
		url, user, host, path string
	}{
		{cfg.DatabaseURL(), user, "db:5432", "/billing"},
		{cfg.CacheURL(), "", "cache:6379", "/0"},
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatalf("the built URL does not parse: %v", err)
		}
		got, _ := u.User.Password()
		if u.User.Username() != c.user || got != password || u.Host != c.host || u.Path != c.path {
			t.Errorf("%s: user %q password %q host %q path %q; want %q %q %q %q", c.url, u.User.Username(), got, u.Host, u.Path, c.user, password, c.host, c.path)
		}
	}
	if got := cfg.DatabaseURL(); !strings.HasSuffix(got, "?sslmode=disable") {
		t.Errorf("DatabaseURL() = %q, want sslmode=disable as the old system connected", got)
	}
}

// TestDataEnvironmentErrors checks that a bad variable is named with what
// it expects, and that a URL is never repeated (it may hold a password).
func TestDataEnvironmentErrors(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"DB_PORT", []string{"DB_HOST=db", "DB_PORT=abc"}, []string{`DB_PORT="abc"`, "not a port number"}},
		{"REDIS_PORT", []string{"REDIS_HOST=cache", "REDIS_PORT=0"}, []string{`REDIS_PORT="0"`, "1 to 65535"}},
		{"MIKROTIK_PORT", []string{"MIKROTIK_HOST=r", "MIKROTIK_USERNAME=a", "MIKROTIK_PORT=99999"}, []string{`MIKROTIK_PORT="99999"`}},
		{"RATE_LIMIT_MAX", []string{"RATE_LIMIT_MAX=0"}, []string{`RATE_LIMIT_MAX="0"`, "positive whole number"}},
		{"WHATSAPP_MAX_SESSIONS", []string{"WHATSAPP_MAX_SESSIONS=many"}, []string{`WHATSAPP_MAX_SESSIONS="many"`}},
		{"WHATSAPP_MESSAGE_DELAY as a Go duration", []string{"WHATSAPP_MESSAGE_DELAY=1s"}, []string{`WHATSAPP_MESSAGE_DELAY="1s"`, "milliseconds"}},
		{"DATABASE_URL of another database", []string{"DATABASE_URL=mysql://billing:hunter2-secret@db/billing"},
			[]string{"database.url (DATABASE_URL) must start with postgres:// or postgresql://", `the scheme "mysql"`, "embedded SQLite"}},
		{"DATABASE_URL without a scheme", []string{"DATABASE_URL=db.internal:5432"}, []string{"must start with postgres://"}},
		{"DATABASE_URL with an unescaped password", []string{"DATABASE_URL=postgres://u:hunter2-secret%zz@db/x"}, []string{"not a valid URL", "percent-encode"}},
		{"REDIS_URL", []string{"REDIS_URL=memcached://:hunter2-secret@cache"}, []string{"cache.url (REDIS_URL) must start with redis:// or rediss://", "in-memory cache"}},
		{"REDIS_URL without a host", []string{"REDIS_URL=redis://:hunter2-secret@/0"}, []string{"names no host"}},
		{"REDIS_URL with a bad database", []string{"REDIS_URL=redis://cache/zero"}, []string{"database number"}},
		{"MIKROBILL_ENCRYPTION_KEY", []string{"MIKROBILL_ENCRYPTION_KEY=hunter2-secret"}, []string{"MIKROBILL_ENCRYPTION_KEY", "32 bytes", "openssl rand -hex 32"}},
		{"MIKROBILL_CORS_ORIGINS", []string{"MIKROBILL_CORS_ORIGINS=https://ok.example,billing.example.net/path"}, []string{`"billing.example.net/path" is not an origin`}},
		{"MIKROTIK_PASSWORD without a host", []string{"MIKROTIK_PASSWORD=pw"}, []string{"router.default_location has no host", "MIKROTIK_HOST"}},
		{"MIKROTIK_HOST without a user", []string{"MIKROTIK_HOST=10.0.0.1"}, []string{"MIKROTIK_USERNAME"}},
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
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error repeats a secret:\n%v", err)
			}
		})
	}
}

// TestLoadDataFileErrors checks mistakes in the new blocks, and every
// problem of the blocks' values at once.
func TestLoadDataFileErrors(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string
	}{
		{"unknown-database.hcl", []string{"testdata/unknown-database.hcl:3:3:", `"max_connections"`, "not expected here"}},
		{"unknown-router.hcl", []string{"testdata/unknown-router.hcl:4:5:", `"user"`, "not expected here"}},
		{"bad-data-durations.hcl", []string{"testdata/bad-data-durations.hcl:2:", "retention must be a duration", "testdata/bad-data-durations.hcl:6:", `message_delay must be a duration string such as "30s", "2m" or "1h30m", or "0s" for none`}},
		{"reminder-days-words.hcl", []string{"testdata/reminder-days-words.hcl:2:", "a number is required"}},
		{"zero-retention.hcl", []string{"testdata/zero-retention.hcl:2:", "retention must be a duration"}},
		{"invalid-data.hcl", []string{
			"invalid configuration",
			`database.url (DATABASE_URL) must start with postgres:// or postgresql://`,
			"database.max_conns must be at least 1, got 0",
			`cache.url (REDIS_URL) must start with redis:// or rediss://`,
			`cache.key_prefix (MIKROBILL_CACHE_PREFIX) must be 1 to 64 characters without spaces, got "my prefix"`,
			"security.encryption_key (MIKROBILL_ENCRYPTION_KEY) must be 32 bytes",
			`security.cors_origins: "billing.example.net" is not an origin`,
			`security.trusted_proxies: "10.0.0.0/33" is not an IP address or a CIDR range`,
			"jobs.workers must be at least 1, got 0",
			"jobs.poll_interval (1s) must not be shorter than jobs.fetch_cooldown (2s); raise jobs.poll_interval or lower jobs.fetch_cooldown",
			"jobs.reminder_days: 7 is listed twice",
			"jobs.reminder_days: 400 is not a number of days",
			"router.default_location has no host",
		}},
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
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error repeats a secret:\n%v", err)
			}
		})
	}
}

func TestZeroDurations(t *testing.T) {
	cfg, err := config.Load("testdata/zero-durations.hcl", nil, config.Overrides{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Database.StatementTimeout != 0 || cfg.Notifications.MessageDelay != 0 {
		t.Errorf("statement_timeout %s, message_delay %s; want both 0", cfg.Database.StatementTimeout, cfg.Notifications.MessageDelay)
	}
}

func TestValidateData(t *testing.T) {
	long := strings.Repeat("s", 32)
	tests := []struct {
		name   string
		change func(*config.Config)
		want   []string // empty: valid
	}{
		{"postgres URL", func(c *config.Config) { c.Database.URL = "postgres://u:p@db:5432/x?sslmode=require" }, nil},
		{"postgresql URL over a unix socket", func(c *config.Config) { c.Database.URL = "postgresql:///billing?host=/var/run/postgresql" }, nil},
		{"scheme in capitals", func(c *config.Config) { c.Database.URL = "POSTGRES://db/x"; c.Cache.URL = "REDIS://cache" }, nil},
		{"rediss URL", func(c *config.Config) { c.Cache.URL = "rediss://user:p@cache:6380/3" }, nil},
		{"sqlite URL", func(c *config.Config) { c.Database.URL = "sqlite:///var/lib/mikrobill/mikrobill.db" }, []string{`the scheme "sqlite"`}},
		{"min above max", func(c *config.Config) { c.Database.MinConns = 11 }, []string{"database.min_conns must be between 0 and database.max_conns (10), got 11"}},
		{"negative statement timeout", func(c *config.Config) { c.Database.StatementTimeout = -time.Second }, []string{"database.statement_timeout cannot be negative"}},
		{"cache entries", func(c *config.Config) { c.Cache.MaxEntries = 0 }, []string{"cache.max_entries must be at least 1"}},
		{"durations", func(c *config.Config) {
			c.Database.ConnMaxLifetime = 0
			c.Security.SessionTTL = 0
			c.Security.JWTTTL = -time.Minute
			c.Security.RateLimitWindow = 0
			c.Jobs.PollInterval = 0
			c.Jobs.ExpiryCheckInterval = 0
			c.Jobs.Retention = 0
			c.Notifications.MessageDelay = -time.Millisecond
		}, []string{
			"database.conn_max_lifetime must be positive", "security.session_ttl must be positive", "security.jwt_ttl must be positive, got -1m0s",
			"security.rate_limit_window must be positive", "jobs.poll_interval must be positive", "jobs.expiry_check_interval must be positive",
			"jobs.retention must be positive", "notifications.message_delay cannot be negative",
		}},
		{"fetch cool-down", func(c *config.Config) { c.Jobs.FetchCooldown = time.Microsecond }, []string{"jobs.fetch_cooldown must be between 1ms and 10s, got 1µs"}},
		{"no fetch cool-down", func(c *config.Config) { c.Jobs.FetchCooldown = 0 }, []string{"jobs.fetch_cooldown must be positive, got 0s"}},
		{"rate limit", func(c *config.Config) { c.Security.RateLimitMax = 0 }, []string{"security.rate_limit_max (RATE_LIMIT_MAX) must be at least 1"}},
		{"origins", func(c *config.Config) {
			c.Security.CORSOrigins = []string{"*", "https://ok.example", "http://localhost:5173", "https://ok.example/", "ftp://x.example", "https://a.example/app", "https://u@b.example"}
		}, []string{`"ftp://x.example" is not an origin`, `"https://a.example/app" is not an origin`, `"https://u@b.example" is not an origin`}},
		{"proxies", func(c *config.Config) {
			c.Security.TrustedProxies = []string{"10.0.0.0/8", "::1", "fd00::/8", "proxy.internal"}
		}, []string{`"proxy.internal" is not an IP address`}},
		{"short secrets outside production", func(c *config.Config) { c.Security.JWTSecret, c.Security.CookieSecret = "short", "short" }, nil},
		{"short secrets in production", func(c *config.Config) {
			c.Environment = "production"
			c.Security.JWTSecret, c.Security.CookieSecret = "short", long
		}, []string{"security.jwt_secret (JWT_SECRET) is 5 characters long; use at least 32 random characters: make one with `openssl rand -hex 32`"}},
		{"missing secrets are not Validate's business", func(c *config.Config) { c.Environment = "production" }, nil},
		{"encryption key of the wrong length", func(c *config.Config) {
			c.Security.EncryptionKey = base64.StdEncoding.EncodeToString(make([]byte, 16))
		}, []string{"is 16 bytes of base64; it must be 32 bytes"}},
		{"workers", func(c *config.Config) { c.Jobs.Workers = -1 }, []string{"jobs.workers must be at least 1, got -1"}},
		{"reminder on the day", func(c *config.Config) { c.Jobs.ReminderDays = []int{0} }, nil},
		{"no reminders", func(c *config.Config) { c.Jobs.ReminderDays = nil }, nil},
		{"negative reminder", func(c *config.Config) { c.Jobs.ReminderDays = []int{-1} }, []string{"jobs.reminder_days: -1 is not a number of days"}},
		{"sessions", func(c *config.Config) { c.Notifications.MaxSessions = 0 }, []string{"notifications.max_sessions (WHATSAPP_MAX_SESSIONS) must be at least 1"}},
		{"no notifications", func(c *config.Config) { c.Notifications.Plugin = "" }, nil},
		{"router port", func(c *config.Config) {
			c.Router.DefaultLocation = config.RouterLocation{Name: "r", Host: "r", Username: "u", Port: 70000}
		}, []string{"router.default_location.port (MIKROTIK_PORT) 70000"}},
		{"router name", func(c *config.Config) {
			c.Router.DefaultLocation = config.RouterLocation{Host: "r", Username: "u"}
		}, []string{"router.default_location.name must not be empty"}},
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

func TestDefaultRouter(t *testing.T) {
	tests := []struct {
		name string
		loc  config.RouterLocation
		want config.RouterLocation
		ok   bool
	}{
		{"none", config.RouterLocation{Name: "default"}, config.RouterLocation{}, false},
		{"plain API port", config.RouterLocation{Name: "default", Host: "r", Username: "u"}, config.RouterLocation{Name: "default", Host: "r", Port: 8728, Username: "u"}, true},
		{"TLS port", config.RouterLocation{Name: "tower", Host: "r", Username: "u", TLS: true}, config.RouterLocation{Name: "tower", Host: "r", Port: 8729, Username: "u", TLS: true}, true},
		{"port of its own", config.RouterLocation{Name: "x", Host: "r", Port: 9000, TLS: true}, config.RouterLocation{Name: "x", Host: "r", Port: 9000, TLS: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultConfig()
			cfg.Router.DefaultLocation = tt.loc
			got, ok := cfg.DefaultRouter()
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncryptionKey(t *testing.T) {
	want := make([]byte, 32)
	for i := range want {
		want[i] = byte(i + 200)
	}
	tests := []struct {
		name, key string
		wantErr   string
	}{
		{"hex", "c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7", ""},
		{"hex in capitals", "C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7", ""},
		{"base64", base64.StdEncoding.EncodeToString(want), ""},
		{"base64 without padding", base64.RawStdEncoding.EncodeToString(want), ""},
		{"base64 URL alphabet", base64.URLEncoding.EncodeToString(want), ""},
		{"with a trailing newline", base64.StdEncoding.EncodeToString(want) + "\n", ""},
		{"not set", "", "is not set"},
		{"too short", base64.StdEncoding.EncodeToString(want[:31]), "31 bytes"},
		{"a password", "correct horse battery staple", "must be 32 bytes written as 64 hex characters or as base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultConfig()
			cfg.Security.EncryptionKey = tt.key
			got, err := cfg.EncryptionKey()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EncryptionKey() error = %v, want one containing %q", err, tt.wantErr)
				}
				if tt.key != "" && strings.Contains(err.Error(), tt.key) {
					t.Errorf("the error repeats the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("EncryptionKey(): %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
