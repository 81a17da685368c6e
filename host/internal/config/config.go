// Package config loads the host's configuration: an HCL file (mikrobill.hcl),
// then environment variables (including the legacy names of the Node.js
// system, so an operator's old .env keeps working), then command-line flags.
//
// Precedence, highest first: flags, environment, file, defaults
// (DefaultConfig). Unknown keys and bad values are errors that name the file,
// line and key, or the variable.
//
// Start with Config (every field documented with its default), Load and
// Validate. Each setting is declared once, in the table of settings.go
// (Setting): its key in the file, its variables, its default, how it is
// read and checked, whether it is secret. DefaultConfig, Load, Validate and
// `mikrobill config show` all work from that table; to add a setting, add
// its field and its line there, and its row to docs/configuration.md.
//
// Secrets (JWT and cookie secrets, the encryption key) are settled in a
// separate step, ResolveSecrets, which the host calls at start: in
// production they must be configured, in development missing ones are
// generated and kept in <data_dir>/secrets.json. Load never writes anything,
// so `mikrobill config check` can run Check (Load plus CheckSecrets) safely.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Environments the host knows by name. Any other non-empty name is allowed
// too (for example "staging") and matched literally against manifests.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Config is the host's whole configuration.
type Config struct {
	// Environment selects which plugins load (a manifest's "environment")
	// and how strict the host is. HCL: environment; env: MIKROBILL_ENV,
	// then NODE_ENV. Default "development".
	Environment string
	// DataDir holds the embedded database, generated secrets and each
	// plugin's private data directory. HCL: data_dir; env:
	// MIKROBILL_DATA_DIR. Default "data" (relative to the working directory).
	DataDir string
	// LogLevel is trace, debug, info, warn or error. HCL: log_level; env:
	// MIKROBILL_LOG_LEVEL. Default "info".
	LogLevel string
	// LogJSON logs JSON lines instead of text. HCL: log_json; env:
	// MIKROBILL_LOG_JSON. Default false.
	LogJSON bool
	// DebugPlugins turns plugin loggers to debug: "*" for all, or plugin
	// names. Env: the legacy DEBUG, for example DEBUG=plugin:* or
	// DEBUG=plugin:payment-manual,plugin:mikrotik. Default none.
	DebugPlugins []string

	// Server is the HTTP server.
	Server ServerConfig
	// Plugins is how plugins are found and run.
	Plugins PluginsConfig
	// Plugin holds per-plugin settings, by plugin name.
	Plugin map[string]*PluginConfig
	// Marketplaces are the plugin marketplaces this host trusts, by name,
	// beside those added with `mikrobill marketplace add` (kept in the
	// data directory). HCL block: marketplace "<name>". Default none
	// (nil).
	Marketplaces map[string]*MarketplaceConfig

	// Database is the host's database. HCL block: database.
	Database DatabaseConfig
	// Cache is the host's cache. HCL block: cache.
	Cache CacheConfig
	// Security holds the secrets and the HTTP security settings. HCL
	// block: security.
	Security SecurityConfig
	// Jobs is the background job queue (River). HCL block: jobs.
	Jobs JobsConfig
	// Notifications says how customers are notified. HCL block:
	// notifications.
	Notifications NotificationsConfig
	// Router holds router settings. HCL block: router.
	Router RouterConfig
	// Operator is who runs this billing: the name, address, tax number
	// and logo on invoices, receipts, voucher sheets and the hotspot
	// login page, and their language. HCL block:
	// operator.
	Operator OperatorConfig
	// Hotspot says where customers log in to the hotspot. HCL block:
	// hotspot.
	Hotspot HotspotConfig
	// Audit is how the host hands its audit trail to the audit plugin and
	// checks the plugin's log. HCL block: audit.
	Audit AuditConfig

	// Sources says where each secret came from, for `config show`. Load
	// sets it for secrets given in the file or the environment;
	// ResolveSecrets and CheckSecrets for secrets kept in secrets.json.
	Sources SecretSources

	// File is the configuration file that was read, if any.
	File string
	// EnvFile is the dotenv file that was read, if any (.env in the working
	// directory, --env-file or MIKROBILL_ENV_FILE).
	EnvFile string
}

// DatabaseConfig is the host's database. HCL block: database.
type DatabaseConfig struct {
	// URL is a PostgreSQL URL, postgres://user:password@host:5432/name
	// (postgresql:// too). Empty means the embedded SQLite file
	// (mikrobill.db) in DataDir. HCL: url; env: DATABASE_URL, or the legacy
	// DB_HOST, DB_PORT (default 5432), DB_NAME, DB_USER and DB_PASSWORD
	// when DB_HOST is set and DATABASE_URL is not. Default "".
	URL string
	// MaxConns is the largest number of open PostgreSQL connections. HCL:
	// max_conns. Default 10.
	MaxConns int
	// MinConns is how many PostgreSQL connections are kept open even when
	// idle. HCL: min_conns. Default 0.
	MinConns int
	// ConnMaxLifetime is how long a PostgreSQL connection is used before it
	// is closed and replaced. HCL: conn_max_lifetime. Default 1h.
	ConnMaxLifetime time.Duration
	// StatementTimeout is the longest one SQL statement may run before the
	// database cancels it; zero means no limit. HCL: statement_timeout.
	// Default 30s.
	StatementTimeout time.Duration
}

// CacheConfig is the host's cache. HCL block: cache.
type CacheConfig struct {
	// URL is a Redis URL, redis://:password@host:6379/0 (rediss:// for
	// TLS). Empty means the in-memory cache. HCL: url; env: REDIS_URL, or
	// the legacy REDIS_HOST, REDIS_PORT (default 6379) and REDIS_PASSWORD
	// when REDIS_HOST is set and REDIS_URL is not. Default "".
	URL string
	// MaxEntries bounds the in-memory cache (which also stands in while
	// Redis is unreachable); the least recently used keys go first. HCL:
	// max_entries. Default 100000.
	MaxEntries int
	// KeyPrefix starts every Redis key of this host: the cache, the
	// plugins' key-value stores and the shared rate limits. Hosts of one
	// installation use the same prefix; installations sharing one Redis use
	// different ones. HCL: key_prefix; env: MIKROBILL_CACHE_PREFIX. Default
	// "mikrobill:".
	KeyPrefix string
}

// SecurityConfig holds the secrets and the HTTP security settings. HCL
// block: security.
type SecurityConfig struct {
	// JWTSecret signs the API's bearer tokens; at least 32 characters.
	// HCL: jwt_secret; env: JWT_SECRET. Default: none (see ResolveSecrets).
	JWTSecret string
	// CookieSecret signs session and CSRF cookies; at least 32 characters.
	// HCL: cookie_secret; env: COOKIE_SECRET. Default: none (see
	// ResolveSecrets).
	CookieSecret string
	// EncryptionKey encrypts secrets at rest (plugin settings, router
	// passwords): 32 bytes written as 64 hex characters or base64. Losing
	// it makes those secrets unreadable. HCL: encryption_key; env:
	// MIKROBILL_ENCRYPTION_KEY. Default: none (see ResolveSecrets).
	EncryptionKey string
	// SessionTTL is how long an admin UI session lasts. HCL: session_ttl.
	// Default 24h.
	SessionTTL time.Duration
	// JWTTTL is how long a bearer token is valid. HCL: jwt_ttl. Default 1h.
	JWTTTL time.Duration
	// CORSOrigins are the origins allowed to call the API from a browser
	// ("https://billing.example.net", or "*" for any). HCL: cors_origins;
	// env: MIKROBILL_CORS_ORIGINS, comma separated. Default none: no
	// cross-origin calls.
	CORSOrigins []string
	// RateLimitMax is how many requests one client may make per
	// RateLimitWindow. HCL: rate_limit_max; env: RATE_LIMIT_MAX. Default 100.
	RateLimitMax int
	// RateLimitWindow is the rate limit's window. HCL: rate_limit_window.
	// Default 1m.
	RateLimitWindow time.Duration
	// TrustedProxies are the addresses or CIDR ranges (10.0.0.0/8) of
	// reverse proxies whose X-Forwarded-For is believed when telling who a
	// client is. HCL: trusted_proxies. Default none.
	TrustedProxies []string
}

// JobsConfig is the background job queue (River, on the host's database).
// HCL block: jobs.
type JobsConfig struct {
	// Workers is how many jobs run at once in this host. HCL: workers.
	// Default 5.
	Workers int
	// FetchCooldown is the least time between two fetches of available
	// jobs; each takes up to the free workers' worth. HCL: fetch_cooldown.
	// Default 50ms.
	FetchCooldown time.Duration
	// PollInterval is how often the queue is polled for new jobs when no
	// notification arrives. HCL: poll_interval. Default 1s.
	PollInterval time.Duration
	// ExpiryCheckInterval is how often expired subscriptions and vouchers
	// are looked for. HCL: expiry_check_interval. Default 5m.
	ExpiryCheckInterval time.Duration
	// ReminderDays are the days before expiry on which a customer is
	// reminded (0: on the day). HCL: reminder_days. Default [7, 3, 1].
	ReminderDays []int
	// InvoiceLeadDays is how many days before a postpaid period ends its
	// next period's invoice is made (and sent with its payment link). HCL:
	// invoice_lead_days. Default 5.
	InvoiceLeadDays int
	// PostpaidGraceDays is how many days after a postpaid period ends an
	// unpaid customer keeps the service before being isolated on the
	// router. HCL: postpaid_grace_days. Default 3.
	PostpaidGraceDays int
	// Retention is how long completed jobs are kept. HCL: retention.
	// Default 24h.
	Retention time.Duration
	// JobTimeout bounds one run of a job; a run that takes longer is
	// cancelled and retried. HCL: job_timeout. Default 1m.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before it is taken
	// as stranded (its host died mid-run) and run again; longer than
	// JobTimeout. HCL: rescue_after. Default 2m.
	RescueAfter time.Duration
}

// NotificationsConfig says how customers are notified. HCL block:
// notifications.
type NotificationsConfig struct {
	// Plugin is the notify plugin that sends messages; empty sends none.
	// HCL: plugin. Default "whatsapp".
	Plugin string
	// Session is the plugin's sender session (a paired WhatsApp number);
	// empty means any connected session. HCL: session. Default "".
	Session string
	// MessageDelay is the pause between two messages from one session;
	// zero means none. HCL: message_delay; env: WHATSAPP_MESSAGE_DELAY in
	// milliseconds. Default 1s.
	MessageDelay time.Duration
	// MaxSessions is how many sender sessions may be paired. HCL:
	// max_sessions; env: WHATSAPP_MAX_SESSIONS. Default 5.
	MaxSessions int
}

// OperatorConfig is who runs this billing, as invoices and receipts (the
// PDFs of host/internal/pdf) and messages name them. HCL block: operator.
// (Every operator.* setting lives in this one block.)
type OperatorConfig struct {
	// Name is the business's name (at most 100 characters), on invoices,
	// receipts, voucher sheets and the hotspot login page. HCL: name.
	// Default "".
	Name string
	// Address is its postal address; new lines are kept. HCL: address.
	// Default "".
	Address string
	// TaxID is its tax number (NPWP in Indonesia). HCL: tax_id. Default "".
	TaxID string
	// Logo is a PNG or JPEG file printed on invoices and receipts. HCL:
	// logo. Default "" (none).
	Logo string
	// Language writes amounts and dates on invoices, receipts and
	// messages: "id" (Rp 5.000) or "en" (IDR 5,000). HCL: language.
	// Default "id".
	Language string
}

// AuditConfig is how the host hands its audit trail to the audit plugin
// and checks the plugin's log. HCL block: audit. With an audit plugin
// installed, the host's audit_log is the durable queue of the events still
// to deliver (docs/ARCHITECTURE.md, The audit trail).
type AuditConfig struct {
	// MaxLag is how old the oldest undelivered event may be before the
	// audit trail counts as behind: /health is then degraded (or, with
	// FailClosed, unhealthy). HCL: max_lag. Default 5 minutes.
	MaxLag time.Duration
	// FailClosed makes an audit trail that is behind (past MaxLag) or a
	// log that failed its verification make the host not ready (/ready and
	// /health answer 503), so a load balancer stops sending it work and
	// monitoring pages someone. Actions already taken still complete and
	// their events still wait durably in the host's log; nothing is
	// refused or dropped. HCL: fail_closed. Default false.
	FailClosed bool
	// VerifyInterval is how often the audit plugin's log is verified
	// (chain, Merkle tree, checkpoints, against the key and size the host
	// keeps). HCL: verify_interval. Default 24 hours.
	VerifyInterval time.Duration
}

// HotspotConfig says where customers log in to the hotspot. HCL block:
// hotspot.
type HotspotConfig struct {
	// LoginURL is the hotspot's login page as a customer's phone reaches
	// it behind the router, for example "http://wifi.example.net/login"
	// (the hotspot server profile's DNS name); "{location}" in it is
	// replaced by the location's name. The QR codes of hotspot voucher
	// sheets open it with the code filled in. HCL: login_url. Default ""
	// (the QR codes carry the code alone).
	LoginURL string
}

// RouterConfig holds router settings. HCL block: router.
type RouterConfig struct {
	// DefaultLocation is a router the host knows without being told in
	// the admin UI, as the old system's MIKROTIK_* variables configured
	// one. HCL block: default_location. Default: none (no host).
	DefaultLocation RouterLocation
}

// RouterLocation is a MikroTik router reached over the RouterOS API.
type RouterLocation struct {
	// Name identifies the location. HCL: name. Default "default".
	Name string
	// Host is the router's address; empty means no default location. HCL:
	// host; env: MIKROTIK_HOST. Default "".
	Host string
	// Port is the RouterOS API port; zero means 8728, or 8729 with TLS.
	// HCL: port; env: MIKROTIK_PORT. Default 0 (8728).
	Port int
	// Username logs in to the router. HCL: username; env:
	// MIKROTIK_USERNAME. Default "".
	Username string
	// Password logs in to the router. HCL: password; env:
	// MIKROTIK_PASSWORD. Default "".
	Password string
	// TLS uses the API over TLS (api-ssl). HCL: tls. Default false.
	TLS bool
}

// Default RouterOS API ports.
const (
	RouterPort    = 8728
	RouterTLSPort = 8729
)

// ServerConfig is the HTTP server. HCL block: server.
type ServerConfig struct {
	// Host to listen on. HCL: host; env: HOST. Default "127.0.0.1".
	Host string
	// Port to listen on. HCL: port; env: PORT. Default 3000.
	Port int
	// RequestTimeout bounds each request. HCL: request_timeout ("30s");
	// env: REQUEST_TIMEOUT in milliseconds. Default 30s.
	RequestTimeout time.Duration
	// KeepAliveTimeout is how long an idle connection stays open. HCL:
	// keep_alive_timeout; env: KEEP_ALIVE_TIMEOUT in milliseconds.
	// Default 72s.
	KeepAliveTimeout time.Duration
	// BodyLimit is the largest request body in bytes. HCL: body_limit;
	// env: BODY_LIMIT. Default 10485760 (10 MiB).
	BodyLimit int64
	// ShutdownTimeout bounds a graceful shutdown: draining requests and
	// stopping plugins. HCL: shutdown_timeout. Default 30s.
	ShutdownTimeout time.Duration
	// PublicURL is the host's address as customers and payment gateways
	// reach it, used in payment callback and return URLs, for example
	// "https://billing.example.net". HCL: public_url; env:
	// MIKROBILL_PUBLIC_URL. Default: http://HOST:PORT, the address the
	// host listens on (the port the system picked, for port 0).
	PublicURL string
	// HostID names this host among the hosts sharing one database (its
	// row in GET /api/v1/hosts, its id as the job queue's leader). HCL:
	// host_id; env: MIKROBILL_HOST_ID. Default: the one kept in
	// <data_dir>/host-id, made from the machine's name and a random
	// suffix at the first start.
	HostID string
	// HeartbeatInterval is how often the host records that it is alive
	// and renews its singleton plugins' leases; a host not heard from for
	// four intervals is gone, and its leadership of the periodic jobs
	// passes to a live host. HCL: heartbeat_interval. Default
	// HeartbeatPostgres on PostgreSQL, HeartbeatSQLite on the embedded
	// SQLite (settled by Load when the setting is left unset).
	HeartbeatInterval time.Duration
}

// The heartbeat's defaults (server.heartbeat_interval left unset). On
// PostgreSQL several hosts share the database and the heartbeat is how
// soon they notice one is gone; the embedded SQLite has one host, which
// nothing takes over from, so it beats rarely and idles with less work.
const (
	HeartbeatPostgres = 2 * time.Second
	HeartbeatSQLite   = 30 * time.Second
)

// settleStoreDefaults gives the settings whose default depends on the
// store, left unset, that default.
func (c *Config) settleStoreDefaults() {
	if c.Server.HeartbeatInterval == 0 {
		c.Server.HeartbeatInterval = HeartbeatSQLite
		if c.UsesPostgres() {
			c.Server.HeartbeatInterval = HeartbeatPostgres
		}
	}
}

// PluginsConfig is how plugins are found and run. HCL block: plugins.
type PluginsConfig struct {
	// Dir holds one folder per plugin (plugin.json and the executable) and
	// plugins.lock. HCL: dir; env: MIKROBILL_PLUGIN_DIR. Default: the
	// folder "plugins" beside the mikrobill executable.
	Dir string
	// StartTimeout bounds a plugin's launch up to a served Describe. HCL:
	// start_timeout. Default 10s.
	StartTimeout time.Duration
	// HealthInterval is how often each plugin's health is checked. HCL:
	// health_interval. Default 10s.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check. HCL: health_timeout.
	// Default 2s.
	HealthTimeout time.Duration
	// MetricsTimeout bounds collecting one plugin's metrics during a scrape
	// of /metrics; a slower plugin's metrics are left out of that scrape.
	// HCL: metrics_timeout. Default 2s.
	MetricsTimeout time.Duration
	// StopTimeout is each plugin's deadline for a graceful stop before it
	// is killed. HCL: stop_timeout. Default 5s.
	StopTimeout time.Duration
	// HealthFailures is how many health checks in a row may fail (no
	// answer within health_timeout) before the plugin is taken for hung,
	// killed and restarted. A plugin that answers "degraded" or "error" is
	// not restarted. HCL: health_failures. Default 3.
	HealthFailures int
	// CallWait is how long a call to a restarting plugin waits for it to
	// come back before it fails with "plugin unavailable" (HTTP 503 with
	// Retry-After). HCL: call_wait. Default 5s.
	CallWait time.Duration
	// HistoryInterval is how often the host samples each plugin for its
	// in-memory history (state, health, restarts, memory, CPU, call
	// latency; GET /api/v1/plugins/{name}/history). It keeps the last
	// hour: one hour / HistoryInterval samples per plugin. HCL:
	// history_interval. Default 5s; 1s to 5m.
	HistoryInterval time.Duration
	// UpgradeGrace is how long a plugin's new version, after an upgrade or
	// a rollback switched calls to it, must keep running and healthy; if
	// it exits or turns unhealthy within it, the host switches calls back
	// to the previous version on its own and says why. HCL:
	// upgrade_grace. Default 30s; 1s to 10m.
	UpgradeGrace time.Duration
	// InstallWait bounds how long an install, upgrade, rollback or remove
	// waits for another one on the same plugin directory to finish before
	// it is refused. HCL: install_wait. Default 30s.
	InstallWait time.Duration
	// Restart is the restart policy. HCL block: restart.
	Restart RestartConfig
}

// RestartConfig is how the supervisor restarts a plugin that exited or hung.
// The first restart is at once; each next one waits twice as long as the
// last (from InitialBackoff up to MaxBackoff, with jitter). After Budget
// failures within Window the plugin is failed and its circuit open; after
// Cooldown one more start is tried (half-open). A plugin that stays running
// and healthy for StableAfter gets its budget back.
type RestartConfig struct {
	// InitialBackoff is the wait before the second restart. HCL:
	// initial_backoff. Default 1s.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between restarts. HCL: max_backoff.
	// Default 1m.
	MaxBackoff time.Duration
	// Jitter spreads each wait by up to this fraction either way (0 to 1).
	// HCL: jitter. Default 0.2.
	Jitter float64
	// Budget is how many failures within Window make the plugin failed.
	// HCL: budget. Default 5.
	Budget int
	// Window is the span over which failures count. HCL: window.
	// Default 10m.
	Window time.Duration
	// Cooldown is how long an open circuit waits before a half-open try.
	// HCL: cooldown. Default 5m.
	Cooldown time.Duration
	// StableAfter is how long a plugin must run healthy to get its budget
	// back. HCL: stable_after. Default 2m.
	StableAfter time.Duration
}

// Policy is the supervision settings in effect for one plugin: the plugins
// block's, with the plugin block's overrides.
type Policy struct {
	StartTimeout   time.Duration
	StopTimeout    time.Duration
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthFailures int
	CallWait       time.Duration
	Restart        RestartConfig
}

// PolicyFor returns the policy for a plugin.
func (c *Config) PolicyFor(name string) Policy {
	pol := Policy{
		StartTimeout:   c.Plugins.StartTimeout,
		StopTimeout:    c.Plugins.StopTimeout,
		HealthInterval: c.Plugins.HealthInterval,
		HealthTimeout:  c.Plugins.HealthTimeout,
		HealthFailures: c.Plugins.HealthFailures,
		CallWait:       c.Plugins.CallWait,
		Restart:        c.Plugins.Restart,
	}
	pc := c.Plugin[name]
	if pc == nil {
		return pol
	}
	setDur := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	setDur(&pol.StartTimeout, pc.StartTimeout)
	setDur(&pol.StopTimeout, pc.StopTimeout)
	setDur(&pol.CallWait, pc.CallWait)
	if pc.HealthFailures > 0 {
		pol.HealthFailures = pc.HealthFailures
	}
	r := pc.Restart
	setDur(&pol.Restart.InitialBackoff, r.InitialBackoff)
	setDur(&pol.Restart.MaxBackoff, r.MaxBackoff)
	setDur(&pol.Restart.Window, r.Window)
	setDur(&pol.Restart.Cooldown, r.Cooldown)
	setDur(&pol.Restart.StableAfter, r.StableAfter)
	if r.Budget > 0 {
		pol.Restart.Budget = r.Budget
	}
	if r.Jitter > 0 {
		pol.Restart.Jitter = r.Jitter
	}
	return pol
}

// PluginConfig is one plugin's settings. HCL block: plugin "<name>".
type PluginConfig struct {
	// Required overrides the manifest's "required". HCL: required.
	Required *bool
	// Disabled keeps the plugin from loading. HCL: disabled. Default false.
	Disabled bool
	// Environment overrides the manifest's "environment". HCL: environment.
	Environment []string
	// Settings is the plugin's settings as a JSON object, handed to its
	// Configure after validation against its config_schema. HCL: config.
	Settings json.RawMessage
	// StartTimeout, StopTimeout, CallWait and HealthFailures override the
	// plugins block's for this plugin (zero: not overridden). HCL:
	// start_timeout, stop_timeout, call_wait, health_failures.
	StartTimeout   time.Duration
	StopTimeout    time.Duration
	CallWait       time.Duration
	HealthFailures int
	// Restart overrides the plugins block's restart policy, field by field
	// (zero: not overridden). HCL block: restart.
	Restart RestartConfig
}

// MarketplaceConfig is a trusted plugin marketplace. HCL block:
// marketplace "<name>" { url = "...", root = "..." }; both keys required.
type MarketplaceConfig struct {
	// URL is the marketplace's repository: https://..., http://... or
	// file:///path (a marketplace folder on disk, for offline machines).
	URL string
	// Root is the file of the marketplace's root metadata (root.json, as
	// its publisher hands it out): the keys this host trusts it by. A
	// relative path is relative to the configuration file's folder.
	Root string
}

// DefaultConfig returns the defaults, as the settings declare them, for
// the embedded SQLite (no database.url).
func DefaultConfig() *Config {
	c := declaredDefaults()
	c.settleStoreDefaults()
	return c
}

// declaredDefaults is the configuration of the declared defaults, before
// the settings whose default depends on the store are settled.
func declaredDefaults() *Config {
	c := &Config{Plugin: map[string]*PluginConfig{}}
	for _, s := range settings {
		s.v.setDefault(c)
	}
	return c
}

// defaultPluginDir is "plugins" beside the executable, so bin/mikrobill
// finds bin/plugins after `make build`.
func defaultPluginDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "plugins"
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Join(filepath.Dir(exe), "plugins")
}

// Addr returns host:port to listen on.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.Server.Host, strconv.Itoa(c.Server.Port))
}

// DebugPlugin reports whether a plugin's logger should be at debug.
func (c *Config) DebugPlugin(name string) bool {
	return slices.Contains(c.DebugPlugins, "*") || slices.Contains(c.DebugPlugins, name)
}

// DatabaseURL is the PostgreSQL URL to connect to, or "" when the host uses
// the embedded SQLite file in DataDir.
func (c *Config) DatabaseURL() string { return c.Database.URL }

// UsesPostgres reports whether the host uses PostgreSQL rather than the
// embedded SQLite file.
func (c *Config) UsesPostgres() bool { return c.Database.URL != "" }

// CacheURL is the Redis URL to connect to, or "" when the host uses the
// in-memory cache.
func (c *Config) CacheURL() string { return c.Cache.URL }

// UsesRedis reports whether the host uses Redis rather than the in-memory
// cache.
func (c *Config) UsesRedis() bool { return c.Cache.URL != "" }

// DefaultRouter returns the default router location, with its port filled
// in (8728, or 8729 with TLS, when not set), and whether there is one (a
// host is set).
func (c *Config) DefaultRouter() (RouterLocation, bool) {
	loc := c.Router.DefaultLocation
	if loc.Host == "" {
		return RouterLocation{}, false
	}
	if loc.Port == 0 {
		loc.Port = RouterPort
		if loc.TLS {
			loc.Port = RouterTLSPort
		}
	}
	if loc.Name == "" {
		loc.Name = "default"
	}
	return loc, true
}

// BaseURL is PublicURL, or, when it is not set, http:// and listen, the
// address the host listens on (its listener's, so that a port the system
// picked for port 0 is the real one), an unspecified IP (0.0.0.0, ::) as
// 127.0.0.1.
func (c *Config) BaseURL(listen string) string {
	if c.Server.PublicURL != "" {
		return strings.TrimRight(c.Server.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// IsProduction reports whether the environment is production.
func (c *Config) IsProduction() bool { return c.Environment == EnvProduction }

// PluginSettings returns a plugin's settings, or an empty object.
func (c *Config) PluginSettings(name string) json.RawMessage {
	if p := c.Plugin[name]; p != nil && len(p.Settings) > 0 {
		return p.Settings
	}
	return json.RawMessage(`{}`)
}

// DefaultRouterPlugin is the router plugin that the default location
// (router.default_location, MIKROTIK_*) is handed to.
const DefaultRouterPlugin = "mikrotik"

// DefaultLocationSetting is router.default_location as an entry of the
// router plugin's "locations" setting, or nil when no host is configured.
func (c *Config) DefaultLocationSetting() map[string]any {
	l := c.Router.DefaultLocation
	if l.Host == "" {
		return nil
	}
	name := l.Name
	if name == "" {
		name = "default"
	}
	loc := map[string]any{"id": name, "name": name, "address": l.Host, "username": l.Username, "password": l.Password, "tls": l.TLS}
	if l.Port != 0 {
		loc["port"] = l.Port
	}
	return loc
}

// PluginDefault is a value the host hands a plugin for one of its
// settings (PluginDefaults).
type PluginDefault struct {
	// Value is the setting's value, as JSON encodes it.
	Value any
	// From names the host setting it comes from, with its environment
	// variable, for messages: "notifications.max_sessions
	// (WHATSAPP_MAX_SESSIONS)".
	From string
}

// PluginDefaults are the settings the host hands a plugin for the
// top-level fields its own settings (the file's plugin block, those saved
// in the admin UI) leave out, by field name. The notify plugin
// (notifications.plugin) gets "message_delay_ms" from
// notifications.message_delay (WHATSAPP_MESSAGE_DELAY) and "max_sessions"
// from notifications.max_sessions (WHATSAPP_MAX_SESSIONS). A default
// reaches a plugin only when its config_schema declares the field.
func (c *Config) PluginDefaults(name string) map[string]PluginDefault {
	if name == "" || name != c.Notifications.Plugin {
		return nil
	}
	return map[string]PluginDefault{
		"message_delay_ms": {Value: c.Notifications.MessageDelay.Milliseconds(), From: "notifications.message_delay (WHATSAPP_MESSAGE_DELAY)"},
		"max_sessions":     {Value: c.Notifications.MaxSessions, From: "notifications.max_sessions (WHATSAPP_MAX_SESSIONS)"},
	}
}

// PluginDataDir is a plugin's private data directory.
func (c *Config) PluginDataDir(name string) string {
	return filepath.Join(c.DataDir, "plugins", name)
}

// maxRuntimeDirLen keeps socket paths under the 108-byte limit of unix
// socket addresses: go-plugin adds about 40 bytes below the runtime dir.
const maxRuntimeDirLen = 56

// RuntimeDir holds the host's sockets; it is emptied at start and stop. It
// is the first of RuntimeDirs.
func (c *Config) RuntimeDir() string { return c.RuntimeDirs()[0] }

// RuntimeDirs are the directories that may hold the host's sockets, best
// first; the host takes the first it can make private to itself. Sockets
// are runtime files: a directory in memory (tmpfs) is preferred, where each
// socket costs no inode on disk (on ext4 a plugin's three socket files cost
// the host and the plugin about 2 ms of CPU at every launch,
// docs/BENCHMARKS.md), and where a data directory on a network file system
// cannot hold unix sockets at all. In order:
//
//   - $RUNTIME_DIRECTORY, which systemd sets for a unit with
//     RuntimeDirectory= (docs/operations.md);
//   - $XDG_RUNTIME_DIR, the user's runtime directory;
//   - /dev/shm on Linux;
//   - "run" in the data directory, or, when that path is too long for unix
//     socket addresses, the system's temporary directory, or /tmp.
//
// Outside the data directory the host's directory is named after the data
// directory (mikrobill-<uid>-<hash>), so two hosts never share one.
func (c *Config) RuntimeDirs() []string {
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		abs = c.DataDir
	}
	sum := sha256.Sum256([]byte(abs))
	name := fmt.Sprintf("mikrobill-%d-%s", os.Getuid(), hex.EncodeToString(sum[:6]))
	var dirs []string
	for _, base := range memoryRuntimeBases() {
		if dir := filepath.Join(base, name); len(dir) <= maxRuntimeDirLen {
			dirs = append(dirs, dir)
		}
	}
	switch {
	case len(filepath.Join(abs, "run")) <= maxRuntimeDirLen:
		dirs = append(dirs, filepath.Join(abs, "run"))
	case len(filepath.Join(os.TempDir(), name)) <= maxRuntimeDirLen:
		dirs = append(dirs, filepath.Join(os.TempDir(), name))
	default:
		dirs = append(dirs, filepath.Join("/tmp", name))
	}
	return dirs
}

// memoryRuntimeBases are the directories in memory that may hold a host's
// runtime directory (RuntimeDirs): each that exists and is a directory.
func memoryRuntimeBases() []string {
	var bases []string
	for _, env := range []string{"RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"} {
		// systemd separates several RuntimeDirectory= paths with ":".
		if d, _, _ := strings.Cut(os.Getenv(env), ":"); filepath.IsAbs(d) {
			bases = append(bases, d)
		}
	}
	if runtime.GOOS == "linux" {
		bases = append(bases, "/dev/shm")
	}
	return slices.DeleteFunc(bases, func(d string) bool {
		info, err := os.Stat(d)
		return err != nil || !info.IsDir()
	})
}

// Validate checks the configuration and reports every problem at once, one
// a line: each setting by its declared rules, then each plugin block.
func (c *Config) Validate() error {
	var errs []error
	for _, s := range settings {
		errs = append(errs, s.v.validate(c, s))
	}
	names := make([]string, 0, len(c.Plugin))
	for name := range c.Plugin {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := c.Plugin[name]
		if len(p.Settings) > 0 {
			var obj map[string]any
			if err := json.Unmarshal(p.Settings, &obj); err != nil || obj == nil {
				errs = append(errs, fmt.Errorf("plugin %q: config must be an object", name))
			}
		}
		for _, e := range p.Environment {
			if strings.TrimSpace(e) == "" {
				errs = append(errs, fmt.Errorf("plugin %q: environment names must not be empty", name))
			}
		}
		if p.HealthFailures < 0 || p.Restart.Budget < 0 || p.Restart.Jitter < 0 || p.Restart.Jitter > 1 {
			errs = append(errs, fmt.Errorf("plugin %q: health_failures and restart.budget cannot be negative, restart.jitter must be between 0 and 1", name))
		}
		if pol := c.PolicyFor(name); pol.Restart.MaxBackoff < pol.Restart.InitialBackoff {
			errs = append(errs, fmt.Errorf("plugin %q: restart.max_backoff (%s) is below restart.initial_backoff (%s)", name, pol.Restart.MaxBackoff, pol.Restart.InitialBackoff))
		}
	}
	mnames := make([]string, 0, len(c.Marketplaces))
	for name := range c.Marketplaces {
		mnames = append(mnames, name)
	}
	slices.Sort(mnames)
	for _, name := range mnames {
		errs = append(errs, c.Marketplaces[name].validate(name))
	}
	return errors.Join(errs...)
}

// marketplaceName is the shape of a marketplace's name.
var marketplaceName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// validate checks a marketplace block: its name, its URL's scheme and its
// root. Whether the root file is there and sound is the marketplace's
// check, when it is used: a host that does not install plugins starts
// without it.
func (m *MarketplaceConfig) validate(name string) error {
	var errs []error
	if !marketplaceName.MatchString(name) {
		errs = append(errs, fmt.Errorf("marketplace %q: a marketplace name uses lowercase letters, digits and '-', and starts with a letter", name))
	}
	u, err := url.Parse(m.URL)
	switch {
	case m.URL == "":
		errs = append(errs, fmt.Errorf("marketplace %q: url is required, such as \"https://plugins.example.net/repository\" or \"file:///srv/marketplace/repository\"", name))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file"):
		errs = append(errs, fmt.Errorf("marketplace %q: url %q must start with https://, http:// or file://", name, m.URL))
	}
	if m.Root == "" {
		errs = append(errs, fmt.Errorf("marketplace %q: root is required: the marketplace's root.json, as its publisher hands it out", name))
	}
	return errors.Join(errs...)
}
