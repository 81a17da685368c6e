package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Setting is one setting of the host, declared once in the table below:
// its key in mikrobill.hcl, the environment variables that set it, its
// default, how its values are read and checked, and whether it is a
// secret. DefaultConfig, Load (the file and the environment), Validate,
// `mikrobill config show` and the redaction of secrets all read this one
// table, and a test holds docs/configuration.md to it.
//
// To add a setting: add its field (documented, with its default) to Config
// or one of its blocks, add its line to the table, and its row to
// docs/configuration.md (TestDocumentedSettings says what is missing).
type Setting struct {
	// Key is the setting's path in mikrobill.hcl, its blocks and its name
	// joined by dots: "log_level", "server.request_timeout". It is empty
	// for DEBUG, which has no place in the file.
	Key string
	// Env are the environment variables that set it, the old system's
	// names among them, in the order they are read: the first that is set
	// and not empty wins. A setting built from several variables (the
	// legacy DB_* make database.url) lists them all.
	Env []string
	// Secret marks a value that is never shown or logged: `config show`
	// prints where it came from ("<redacted, from env>"), or, for a URL,
	// the URL with its passwords hidden (redact.URL).
	Secret bool
	// DocDefault is the default as docs/configuration.md writes it when
	// that is not the value itself ("none", "plugins beside the mikrobill
	// executable").
	DocDefault string

	v value
}

// Settings returns the host's settings, in the order of mikrobill.hcl.
func Settings() []*Setting { return slices.Clone(settings) }

// Show returns the setting's value in cfg as `config show` prints it: a
// secret as where it came from ("<redacted, from file>"), or null when it is
// not set; a URL that may hold passwords with them hidden.
func (s *Setting) Show(cfg *Config) cty.Value {
	if s.Secret {
		return s.v.redacted(cfg)
	}
	return s.v.show(cfg)
}

// named is the setting's key with its first variable, for errors about
// settings an operator usually sets through that variable.
func (s *Setting) named() string { return s.Key + " (" + s.Env[0] + ")" }

// leaf is the last part of the key: the attribute's name in its block.
func (s *Setting) leaf() string { return s.Key[strings.LastIndex(s.Key, ".")+1:] }

// settingByKey returns the declaration of a key; it panics on a key that
// is not declared, a mistake in the code.
func settingByKey(key string) *Setting {
	for _, s := range settings {
		if s.Key == key {
			return s
		}
	}
	panic("config: no setting " + key)
}

func vars(names ...string) []string { return names }

// The host's settings, in the order of mikrobill.hcl and `config show`.
var settings = []*Setting{
	{Key: "environment", Env: vars("MIKROBILL_ENV", "NODE_ENV"), v: text(func(c *Config) *string { return &c.Environment }, EnvDevelopment).
		check(notBlank("development, production, or a name of your own"))},
	{Key: "data_dir", Env: vars("MIKROBILL_DATA_DIR"), v: text(func(c *Config) *string { return &c.DataDir }, "data").check(notEmpty(""))},
	{Key: "log_level", Env: vars("MIKROBILL_LOG_LEVEL"), v: text(func(c *Config) *string { return &c.LogLevel }, "info").check(oneOf(logLevels))},
	{Key: "log_json", Env: vars("MIKROBILL_LOG_JSON"), v: boolean(func(c *Config) *bool { return &c.LogJSON }, false).env(asBool)},
	{Env: vars("DEBUG"), v: list(func(c *Config) *[]string { return &c.DebugPlugins }, nil).env(asDebug)},

	{Key: "server.host", Env: vars("HOST"), v: text(func(c *Config) *string { return &c.Server.Host }, "127.0.0.1").
		check(notEmpty("use 0.0.0.0 to listen everywhere"))},
	{Key: "server.port", Env: vars("PORT"), v: integer(func(c *Config) *int { return &c.Server.Port }, 3000).env(asPort(0)).check(portNumber)},
	{Key: "server.request_timeout", Env: vars("REQUEST_TIMEOUT"), v: duration(func(c *Config) *time.Duration { return &c.Server.RequestTimeout }, 30*time.Second).env(asMillis(false))},
	{Key: "server.keep_alive_timeout", Env: vars("KEEP_ALIVE_TIMEOUT"), v: duration(func(c *Config) *time.Duration { return &c.Server.KeepAliveTimeout }, 72*time.Second).env(asMillis(false))},
	{Key: "server.body_limit", Env: vars("BODY_LIMIT"), v: integer(func(c *Config) *int64 { return &c.Server.BodyLimit }, 10<<20).env(asCount[int64]("bytes")).check(positive)},
	{Key: "server.shutdown_timeout", v: duration(func(c *Config) *time.Duration { return &c.Server.ShutdownTimeout }, 30*time.Second)},
	{Key: "server.public_url", Env: vars("MIKROBILL_PUBLIC_URL"), DocDefault: "`http://HOST:PORT`", v: text(func(c *Config) *string { return &c.Server.PublicURL }, "").check(publicURL)},
	{Key: "server.host_id", Env: vars("MIKROBILL_HOST_ID"), DocDefault: "kept in `<data_dir>/host-id`", v: text(func(c *Config) *string { return &c.Server.HostID }, "").check(hostID)},
	{Key: "server.heartbeat_interval", DocDefault: "`\"2s\"` on PostgreSQL, `\"30s\"` on the embedded SQLite",
		v: duration(func(c *Config) *time.Duration { return &c.Server.HeartbeatInterval }, 0).
			check(durationBetween(100*time.Millisecond, time.Minute))},

	{Key: "plugins.dir", Env: vars("MIKROBILL_PLUGIN_DIR"), DocDefault: "`plugins` beside the `mikrobill` executable",
		v: text(func(c *Config) *string { return &c.Plugins.Dir }, "").defaultFrom(defaultPluginDir).check(notEmpty(""))},
	{Key: "plugins.start_timeout", v: duration(func(c *Config) *time.Duration { return &c.Plugins.StartTimeout }, 10*time.Second)},
	{Key: "plugins.health_interval", v: duration(func(c *Config) *time.Duration { return &c.Plugins.HealthInterval }, 10*time.Second)},
	{Key: "plugins.health_timeout", v: duration(func(c *Config) *time.Duration { return &c.Plugins.HealthTimeout }, 2*time.Second)},
	{Key: "plugins.metrics_timeout", v: duration(func(c *Config) *time.Duration { return &c.Plugins.MetricsTimeout }, 2*time.Second)},
	{Key: "plugins.stop_timeout", v: duration(func(c *Config) *time.Duration { return &c.Plugins.StopTimeout }, 5*time.Second)},
	{Key: "plugins.health_failures", v: integer(func(c *Config) *int { return &c.Plugins.HealthFailures }, 3).check(atLeast(1))},
	{Key: "plugins.call_wait", v: duration(func(c *Config) *time.Duration { return &c.Plugins.CallWait }, 5*time.Second)},
	{Key: "plugins.history_interval", v: duration(func(c *Config) *time.Duration { return &c.Plugins.HistoryInterval }, 5*time.Second).
		check(durationBetween(time.Second, 5*time.Minute))},
	{Key: "plugins.upgrade_grace", v: duration(func(c *Config) *time.Duration { return &c.Plugins.UpgradeGrace }, 30*time.Second).
		check(durationBetween(time.Second, 10*time.Minute))},
	{Key: "plugins.install_wait", v: duration(func(c *Config) *time.Duration { return &c.Plugins.InstallWait }, 30*time.Second)},
	{Key: "plugins.restart.initial_backoff", v: duration(func(c *Config) *time.Duration { return &c.Plugins.Restart.InitialBackoff }, time.Second)},
	{Key: "plugins.restart.max_backoff", v: duration(func(c *Config) *time.Duration { return &c.Plugins.Restart.MaxBackoff }, time.Minute).check(notBelowInitialBackoff)},
	{Key: "plugins.restart.jitter", v: fraction(func(c *Config) *float64 { return &c.Plugins.Restart.Jitter }, 0.2)},
	{Key: "plugins.restart.budget", v: integer(func(c *Config) *int { return &c.Plugins.Restart.Budget }, 5).check(atLeast(1))},
	{Key: "plugins.restart.window", v: duration(func(c *Config) *time.Duration { return &c.Plugins.Restart.Window }, 10*time.Minute)},
	{Key: "plugins.restart.cooldown", v: duration(func(c *Config) *time.Duration { return &c.Plugins.Restart.Cooldown }, 5*time.Minute)},
	{Key: "plugins.restart.stable_after", v: duration(func(c *Config) *time.Duration { return &c.Plugins.Restart.StableAfter }, 2*time.Minute)},

	{Key: "database.url", Env: vars("DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"), Secret: true,
		v: urlText(func(c *Config) *string { return &c.Database.URL }).envFrom(postgresEnv).check(postgresURLRule)},
	{Key: "database.max_conns", v: integer(func(c *Config) *int { return &c.Database.MaxConns }, 10).check(atLeast(1))},
	{Key: "database.min_conns", v: integer(func(c *Config) *int { return &c.Database.MinConns }, 0).check(notAboveMaxConns)},
	{Key: "database.conn_max_lifetime", v: duration(func(c *Config) *time.Duration { return &c.Database.ConnMaxLifetime }, time.Hour)},
	{Key: "database.statement_timeout", v: durationOrNone(func(c *Config) *time.Duration { return &c.Database.StatementTimeout }, 30*time.Second)},

	{Key: "cache.url", Env: vars("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"), Secret: true,
		v: urlText(func(c *Config) *string { return &c.Cache.URL }).envFrom(redisEnv).check(redisURLRule)},
	{Key: "cache.max_entries", v: integer(func(c *Config) *int { return &c.Cache.MaxEntries }, 100_000).check(atLeast(1))},
	{Key: "cache.key_prefix", Env: vars("MIKROBILL_CACHE_PREFIX"), v: text(func(c *Config) *string { return &c.Cache.KeyPrefix }, "mikrobill:").check(keyPrefix)},

	{Key: "security.jwt_secret", Env: vars("JWT_SECRET"), Secret: true, DocDefault: "none",
		v: secretText(func(c *Config) *string { return &c.Security.JWTSecret }, func(c *Config) *SecretSource { return &c.Sources.JWTSecret }).check(longInProduction)},
	{Key: "security.cookie_secret", Env: vars("COOKIE_SECRET"), Secret: true, DocDefault: "none",
		v: secretText(func(c *Config) *string { return &c.Security.CookieSecret }, func(c *Config) *SecretSource { return &c.Sources.CookieSecret }).check(longInProduction)},
	{Key: "security.encryption_key", Env: vars("MIKROBILL_ENCRYPTION_KEY"), Secret: true, DocDefault: "none",
		v: secretText(func(c *Config) *string { return &c.Security.EncryptionKey }, func(c *Config) *SecretSource { return &c.Sources.EncryptionKey }).check(encryptionKey)},
	{Key: "security.session_ttl", v: duration(func(c *Config) *time.Duration { return &c.Security.SessionTTL }, 24*time.Hour)},
	{Key: "security.jwt_ttl", v: duration(func(c *Config) *time.Duration { return &c.Security.JWTTTL }, time.Hour)},
	{Key: "security.cors_origins", Env: vars("MIKROBILL_CORS_ORIGINS"), v: list(func(c *Config) *[]string { return &c.Security.CORSOrigins }, nil).env(asList).check(each(checkOrigin))},
	{Key: "security.rate_limit_max", Env: vars("RATE_LIMIT_MAX"), v: integer(func(c *Config) *int { return &c.Security.RateLimitMax }, 100).
		env(asCount[int]("requests per window (security.rate_limit_window, 1 minute by default)")).check(rateLimit)},
	{Key: "security.rate_limit_window", v: duration(func(c *Config) *time.Duration { return &c.Security.RateLimitWindow }, time.Minute)},
	{Key: "security.trusted_proxies", v: list(func(c *Config) *[]string { return &c.Security.TrustedProxies }, nil).check(each(checkProxy))},

	{Key: "jobs.workers", v: integer(func(c *Config) *int { return &c.Jobs.Workers }, 5).check(atLeast(1))},
	{Key: "jobs.fetch_cooldown", v: duration(func(c *Config) *time.Duration { return &c.Jobs.FetchCooldown }, 50*time.Millisecond).
		check(durationBetween(time.Millisecond, 10*time.Second))},
	{Key: "jobs.poll_interval", v: duration(func(c *Config) *time.Duration { return &c.Jobs.PollInterval }, time.Second).check(notBelowFetchCooldown)},
	{Key: "jobs.expiry_check_interval", v: duration(func(c *Config) *time.Duration { return &c.Jobs.ExpiryCheckInterval }, 5*time.Minute)},
	{Key: "jobs.reminder_days", v: numbers(func(c *Config) *[]int { return &c.Jobs.ReminderDays }, []int{7, 3, 1}).check(reminderDays)},
	{Key: "jobs.invoice_lead_days", v: integer(func(c *Config) *int { return &c.Jobs.InvoiceLeadDays }, 5).check(daysBetween(0, 28))},
	{Key: "jobs.postpaid_grace_days", v: integer(func(c *Config) *int { return &c.Jobs.PostpaidGraceDays }, 3).check(daysBetween(0, 60))},
	{Key: "jobs.retention", v: duration(func(c *Config) *time.Duration { return &c.Jobs.Retention }, 24*time.Hour)},
	{Key: "jobs.job_timeout", v: duration(func(c *Config) *time.Duration { return &c.Jobs.JobTimeout }, time.Minute).check(durationBetween(time.Second, 24*time.Hour))},
	{Key: "jobs.rescue_after", v: duration(func(c *Config) *time.Duration { return &c.Jobs.RescueAfter }, 2*time.Minute).check(longerThanJobTimeout)},

	{Key: "notifications.plugin", v: text(func(c *Config) *string { return &c.Notifications.Plugin }, "whatsapp")},
	{Key: "notifications.session", v: text(func(c *Config) *string { return &c.Notifications.Session }, "")},
	{Key: "notifications.message_delay", Env: vars("WHATSAPP_MESSAGE_DELAY"), v: durationOrNone(func(c *Config) *time.Duration { return &c.Notifications.MessageDelay }, time.Second).env(asMillis(true))},
	{Key: "notifications.max_sessions", Env: vars("WHATSAPP_MAX_SESSIONS"), v: integer(func(c *Config) *int { return &c.Notifications.MaxSessions }, 5).
		env(asCount[int]("sessions")).check(atLeastNamed(1))},

	// Who runs this billing (invoices, receipts, messages): every
	// operator.* setting here, in one block.
	{Key: "operator.name", v: text(func(c *Config) *string { return &c.Operator.Name }, "").check(textUpTo(100))},
	{Key: "operator.address", v: text(func(c *Config) *string { return &c.Operator.Address }, "")},
	{Key: "operator.tax_id", v: text(func(c *Config) *string { return &c.Operator.TaxID }, "")},
	{Key: "operator.logo", v: text(func(c *Config) *string { return &c.Operator.Logo }, "").check(logoFile)},
	{Key: "operator.language", v: text(func(c *Config) *string { return &c.Operator.Language }, "id").check(oneOf([]string{"id", "en"}))},
	{Key: "audit.max_lag", v: duration(func(c *Config) *time.Duration { return &c.Audit.MaxLag }, 5*time.Minute)},
	{Key: "audit.fail_closed", v: boolean(func(c *Config) *bool { return &c.Audit.FailClosed }, false)},
	{Key: "audit.verify_interval", v: duration(func(c *Config) *time.Duration { return &c.Audit.VerifyInterval }, 24*time.Hour).check(durationBetween(time.Minute, 31*24*time.Hour))},
	{Key: "hotspot.login_url", v: text(func(c *Config) *string { return &c.Hotspot.LoginURL }, "").check(hotspotLoginURL)},

	{Key: "router.default_location.name", v: text(func(c *Config) *string { return &c.Router.DefaultLocation.Name }, "default").check(routerName)},
	{Key: "router.default_location.host", Env: vars("MIKROTIK_HOST"), v: text(func(c *Config) *string { return &c.Router.DefaultLocation.Host }, "").check(routerHost)},
	{Key: "router.default_location.port", Env: vars("MIKROTIK_PORT"), v: integer(func(c *Config) *int { return &c.Router.DefaultLocation.Port }, 0).env(asPort(1)).check(routerPort)},
	{Key: "router.default_location.username", Env: vars("MIKROTIK_USERNAME"), v: text(func(c *Config) *string { return &c.Router.DefaultLocation.Username }, "").check(routerUsername)},
	{Key: "router.default_location.password", Env: vars("MIKROTIK_PASSWORD"), Secret: true,
		v: secretText(func(c *Config) *string { return &c.Router.DefaultLocation.Password }, func(c *Config) *SecretSource { return &c.Sources.RouterPassword })},
	{Key: "router.default_location.tls", v: boolean(func(c *Config) *bool { return &c.Router.DefaultLocation.TLS }, false)},
}

// override is a setting of the plugins block that a plugin block may
// override, and where the plugin's value goes.
type override struct {
	s  *Setting
	at any // *T, T the setting's type
}

// overrides ties the plugins block's settings that a plugin block may
// override to their fields in pc (zero: not overridden), in the order
// `config show` prints them.
func (pc *PluginConfig) overrides() []override {
	r := &pc.Restart
	return []override{
		{settingByKey("plugins.start_timeout"), &pc.StartTimeout},
		{settingByKey("plugins.stop_timeout"), &pc.StopTimeout},
		{settingByKey("plugins.call_wait"), &pc.CallWait},
		{settingByKey("plugins.health_failures"), &pc.HealthFailures},
		{settingByKey("plugins.restart.initial_backoff"), &r.InitialBackoff},
		{settingByKey("plugins.restart.max_backoff"), &r.MaxBackoff},
		{settingByKey("plugins.restart.window"), &r.Window},
		{settingByKey("plugins.restart.cooldown"), &r.Cooldown},
		{settingByKey("plugins.restart.stable_after"), &r.StableAfter},
		{settingByKey("plugins.restart.jitter"), &r.Jitter},
		{settingByKey("plugins.restart.budget"), &r.Budget},
	}
}

// Override is a setting of the plugins block that a plugin block sets.
type Override struct {
	// Key is relative to the plugin block: "start_timeout",
	// "restart.budget".
	Key string
	// Value is as the file writes it.
	Value cty.Value
}

// Overrides returns the plugins block's settings that this plugin block
// overrides (those not zero).
func (pc *PluginConfig) Overrides() []Override {
	var out []Override
	for _, o := range pc.overrides() {
		if !isZero(o.at) {
			out = append(out, Override{Key: strings.TrimPrefix(o.s.Key, "plugins."), Value: o.s.v.showAt(o.at)})
		}
	}
	return out
}

// The environment variables that say which files to read rather than set
// a setting.
const (
	envConfigFile = "MIKROBILL_CONFIG"
	envEnvFile    = "MIKROBILL_ENV_FILE"
)

var logLevels = []string{"trace", "debug", "info", "warn", "error"}

// The rules of the settings. Each reports one problem a line; c is there
// for the rules that compare a value with another setting's.

func notBlank(hint string) rule[string] {
	return func(_ *Config, s *Setting, v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("%s must not be empty (%s)", s.Key, hint)
		}
		return nil
	}
}

func notEmpty(hint string) rule[string] {
	return func(_ *Config, s *Setting, v string) error {
		switch {
		case v != "":
			return nil
		case hint != "":
			return fmt.Errorf("%s must not be empty (%s)", s.Key, hint)
		}
		return fmt.Errorf("%s must not be empty", s.Key)
	}
}

// logoFile accepts no logo, or a PNG or JPEG file's path (read when a
// PDF is made: host/internal/pdf names a file it cannot read).
func logoFile(_ *Config, s *Setting, v string) error {
	if v == "" {
		return nil
	}
	switch strings.ToLower(filepath.Ext(v)) {
	case ".png", ".jpg", ".jpeg":
	default:
		return fmt.Errorf("%s %q: the logo must be a PNG or JPEG file (.png, .jpg or .jpeg)", s.Key, v)
	}
	return nil
}

func oneOf(values []string) rule[string] {
	return func(_ *Config, s *Setting, v string) error {
		if !slices.Contains(values, strings.ToLower(v)) {
			return fmt.Errorf("%s %q: use one of %s", s.Key, v, strings.Join(values, ", "))
		}
		return nil
	}
}

func atLeast(n int) rule[int] {
	return func(_ *Config, s *Setting, v int) error {
		if v < n {
			return fmt.Errorf("%s must be at least %d, got %d", s.Key, n, v)
		}
		return nil
	}
}

func atLeastNamed(n int) rule[int] {
	return func(_ *Config, s *Setting, v int) error {
		if v < n {
			return fmt.Errorf("%s must be at least %d, got %d", s.named(), n, v)
		}
		return nil
	}
}

// notBelowFetchCooldown holds jobs.poll_interval at or above
// jobs.fetch_cooldown: the queue never looks for jobs more often than the
// cool-down lets it fetch them.
func notBelowFetchCooldown(c *Config, s *Setting, v time.Duration) error {
	if v > 0 && v < c.Jobs.FetchCooldown { // a duration not above zero is refused as such
		return fmt.Errorf("%s (%s) must not be shorter than jobs.fetch_cooldown (%s); raise %s or lower jobs.fetch_cooldown",
			s.Key, FormatDuration(v), FormatDuration(c.Jobs.FetchCooldown), s.Key)
	}
	return nil
}

// longerThanJobTimeout holds jobs.rescue_after above jobs.job_timeout: a
// job rescued while its run may still go on would run twice at once.
func longerThanJobTimeout(c *Config, s *Setting, v time.Duration) error {
	if v <= c.Jobs.JobTimeout {
		return fmt.Errorf("%s (%s) must be longer than jobs.job_timeout (%s), or a job still running would be started again on another host; raise %s or lower jobs.job_timeout",
			s.Key, FormatDuration(v), FormatDuration(c.Jobs.JobTimeout), s.Key)
	}
	return nil
}

// durationBetween holds a duration setting between lo and hi. A duration
// not above zero is left to the field's own check (duration), which
// refuses it already: one error for it, not two.
func durationBetween(lo, hi time.Duration) rule[time.Duration] {
	return func(_ *Config, s *Setting, v time.Duration) error {
		if v > 0 && (v < lo || v > hi) {
			return fmt.Errorf("%s must be between %s and %s, got %s", s.Key, lo, hi, v)
		}
		return nil
	}
}

func positive(_ *Config, s *Setting, v int64) error {
	if v <= 0 {
		return fmt.Errorf("%s must be positive, got %d", s.Key, v)
	}
	return nil
}

func portNumber(_ *Config, s *Setting, v int) error {
	if v < 0 || v > 65535 {
		return fmt.Errorf("%s %d: must be between 0 and 65535", s.Key, v)
	}
	return nil
}

// each applies check to every item of a list, one problem per item.
func each(check func(string) error) rule[[]string] {
	return func(_ *Config, _ *Setting, v []string) error {
		var errs []error
		for _, item := range v {
			errs = append(errs, check(item))
		}
		return errors.Join(errs...)
	}
}

func publicURL(_ *Config, s *Setting, v string) error {
	if v == "" {
		return nil
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: write the address customers and gateways reach the host at, for example https://billing.example.net", s.Key, v)
	}
	return nil
}

// textUpTo refuses text longer than n characters.
func textUpTo(n int) func(*Config, *Setting, string) error {
	return func(_ *Config, s *Setting, v string) error {
		if len([]rune(v)) > n {
			return fmt.Errorf("%s is %d characters long; write at most %d", s.Key, len([]rune(v)), n)
		}
		return nil
	}
}

func hotspotLoginURL(_ *Config, s *Setting, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(strings.ReplaceAll(v, "{location}", "main"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return fmt.Errorf("%s %q: write the hotspot's login page as phones reach it, without a query, for example http://wifi.example.net/login (\"{location}\" stands for the location's name)", s.Key, v)
	}
	return nil
}

func notBelowInitialBackoff(c *Config, s *Setting, v time.Duration) error {
	if v < c.Plugins.Restart.InitialBackoff {
		return fmt.Errorf("%s (%s) must be at least plugins.restart.initial_backoff (%s)", s.Key, v, c.Plugins.Restart.InitialBackoff)
	}
	return nil
}

func postgresURLRule(_ *Config, s *Setting, v string) error {
	return checkURL(v, s.named(), []string{"postgres", "postgresql"},
		"postgres://user:password@host:5432/name", "leave it empty to use the embedded SQLite database in data_dir", false)
}

func redisURLRule(_ *Config, s *Setting, v string) error {
	return checkURL(v, s.named(), []string{"redis", "rediss"},
		"redis://:password@host:6379/0", "leave it empty to use the in-memory cache", true)
}

func notAboveMaxConns(c *Config, s *Setting, v int) error {
	if v < 0 || v > max(c.Database.MaxConns, 0) {
		return fmt.Errorf("%s must be between 0 and database.max_conns (%d), got %d", s.Key, c.Database.MaxConns, v)
	}
	return nil
}

func keyPrefix(_ *Config, s *Setting, v string) error {
	if v == "" || len(v) > 64 || strings.ContainsAny(v, " \t\r\n") {
		return fmt.Errorf("%s must be 1 to 64 characters without spaces, got %q; the default is %q", s.named(), v, s.v.defaultValue().AsString())
	}
	return nil
}

// longInProduction refuses a JWT or cookie secret shorter than
// MinSecretLen in production (elsewhere Warnings reports it).
func longInProduction(c *Config, s *Setting, v string) error {
	if !c.IsProduction() {
		return nil
	}
	return checkSecretLen(s.Key, s.Env[0], v)
}

func encryptionKey(_ *Config, _ *Setting, v string) error {
	if v == "" {
		return nil
	}
	_, err := decodeKey(v)
	return err
}

func rateLimit(_ *Config, s *Setting, v int) error {
	if v < 1 {
		return fmt.Errorf("%s must be at least 1 request per window, got %d", s.named(), v)
	}
	return nil
}

func checkProxy(p string) error {
	if _, err := netip.ParsePrefix(p); err == nil {
		return nil
	}
	if _, err := netip.ParseAddr(p); err == nil {
		return nil
	}
	return fmt.Errorf("security.trusted_proxies: %q is not an IP address or a CIDR range such as 10.0.0.0/8", p)
}

func daysBetween(lo, hi int) rule[int] {
	return func(_ *Config, s *Setting, v int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%s must be a number of days from %d to %d, got %d", s.Key, lo, hi, v)
		}
		return nil
	}
}

func reminderDays(_ *Config, s *Setting, days []int) error {
	var errs []error
	seen := map[int]bool{}
	for _, d := range days {
		switch {
		case d < 0 || d > 365:
			errs = append(errs, fmt.Errorf("%s: %d is not a number of days from 0 (the day of expiry) to 365", s.Key, d))
		case seen[d]:
			errs = append(errs, fmt.Errorf("%s: %d is listed twice", s.Key, d))
		}
		seen[d] = true
	}
	return errors.Join(errs...)
}

func routerName(c *Config, s *Setting, v string) error {
	if c.Router.DefaultLocation.Host != "" && strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s must not be empty", s.Key)
	}
	return nil
}

// routerHost refuses the default location's other keys without a host, so
// that a forgotten MIKROTIK_HOST does not go unnoticed.
func routerHost(c *Config, _ *Setting, v string) error {
	r := c.Router.DefaultLocation
	if v == "" && (r.Username != "" || r.Password != "" || r.Port != 0 || r.TLS) {
		return errors.New("router.default_location has no host: set host (MIKROTIK_HOST) to the router's address, or remove the block (and the MIKROTIK_* variables)")
	}
	return nil
}

func routerPort(_ *Config, s *Setting, v int) error {
	if v < 0 || v > 65535 {
		return fmt.Errorf("%s %d: must be between 1 and 65535, or 0 for the default (%d, %d with tls)", s.named(), v, RouterPort, RouterTLSPort)
	}
	return nil
}

func routerUsername(c *Config, s *Setting, v string) error {
	if c.Router.DefaultLocation.Host != "" && v == "" {
		return fmt.Errorf("%s must be set when a host is, for example \"admin\"", s.named())
	}
	return nil
}

// The readers of environment variables. Each gets a variable's value and
// the setting's default (for its example), and says what it expects when
// the value is wrong; the error names the variable.

func asText(v, _ string) (string, error) { return v, nil }

func asBool(v string, _ bool) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("use true or false")
	}
	return b, nil
}

// asPort reads a port number from min to 65535.
func asPort(min int) func(string, int) (int, error) {
	return func(v string, _ int) (int, error) {
		p, err := strconv.Atoi(v)
		if err != nil || p < min || p > 65535 {
			return p, fmt.Errorf("not a port number (%d to 65535)", min)
		}
		return p, nil
	}
}

// asMillis reads the old system's durations: whole milliseconds, positive
// (or, with zero, 0 or more).
func asMillis(zero bool) func(string, time.Duration) (time.Duration, error) {
	return func(v string, def time.Duration) (time.Duration, error) {
		ms, err := strconv.ParseInt(v, 10, 64)
		switch {
		case zero && (err != nil || ms < 0):
			return 0, fmt.Errorf("milliseconds as a whole number, 0 or more, for example %d", def.Milliseconds())
		case !zero && (err != nil || ms <= 0):
			return 0, fmt.Errorf("milliseconds as a positive whole number, for example %d", def.Milliseconds())
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
}

// asCount reads a positive whole number of units.
func asCount[T int | int64](unit string) func(string, T) (T, error) {
	return func(v string, def T) (T, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || int64(T(n)) != n {
			return 0, fmt.Errorf("%s as a positive whole number, for example %d", unit, def)
		}
		return T(n), nil
	}
}

// asList reads a comma-separated list, spaces and empty items left out.
func asList(v string, _ []string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out, nil
}

// asDebug reads the legacy DEBUG variable (the npm "debug" package's
// syntax): comma or space separated namespaces, "*" wildcards.
func asDebug(v string, _ []string) ([]string, error) {
	var out []string
	for _, ns := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		switch {
		case ns == "*" || ns == "plugin:*" || ns == "plugin*" || ns == "plugins:*":
			return []string{"*"}, nil
		case strings.HasPrefix(ns, "plugin:"):
			out = append(out, strings.TrimPrefix(ns, "plugin:"))
		}
	}
	return out, nil
}

// postgresEnv reads DATABASE_URL or, when it is not set and DB_HOST is,
// builds the URL the old system's DB_* variables describe.
func postgresEnv(get lookup) (string, bool, error) {
	if v, ok := get("DATABASE_URL"); ok {
		return v, true, nil
	}
	host, ok := get("DB_HOST")
	if !ok {
		return "", false, nil
	}
	port, err := legacyPort(get, "DB_PORT", "5432")
	name, _ := get("DB_NAME")
	user, _ := get("DB_USER")
	password, _ := get("DB_PASSWORD")
	return postgresURL(host, port, name, user, password), true, err
}

// redisEnv reads REDIS_URL or, when it is not set and REDIS_HOST is,
// builds the URL the old system's REDIS_* variables describe.
func redisEnv(get lookup) (string, bool, error) {
	if v, ok := get("REDIS_URL"); ok {
		return v, true, nil
	}
	host, ok := get("REDIS_HOST")
	if !ok {
		return "", false, nil
	}
	port, err := legacyPort(get, "REDIS_PORT", "6379")
	password, _ := get("REDIS_PASSWORD")
	return redisURL(host, port, password), true, err
}

func legacyPort(get lookup, name, def string) (string, error) {
	v, ok := get(name)
	if !ok {
		return def, nil
	}
	if _, err := asPort(1)(v, 0); err != nil {
		return v, fmt.Errorf("%s=%q: %w", name, v, err)
	}
	return v, nil
}

var hostIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckHostID says what is wrong with a host id (server.host_id).
func CheckHostID(id string) error {
	if !hostIDPattern.MatchString(id) {
		return fmt.Errorf("host id %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

// hostID checks server.host_id when it is set.
func hostID(_ *Config, s *Setting, v string) error {
	if v == "" {
		return nil
	}
	if err := CheckHostID(v); err != nil {
		return fmt.Errorf("%s: %w; or leave it out, and the host keeps an id of its own in <data_dir>/host-id", s.Key, err)
	}
	return nil
}
