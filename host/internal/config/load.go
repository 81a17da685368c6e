package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// DefaultFile is read when no file is named and it exists in the working
// directory.
const DefaultFile = "mikrobill.hcl"

// Overrides are the command-line flags; empty values leave the setting alone.
type Overrides struct {
	// Listen is host:port.
	Listen    string
	PluginDir string
	DataDir   string
	LogLevel  string
	LogJSON   *bool
	// EnvFile is a dotenv file whose variables apply under the process
	// environment (a variable set in both keeps the process's value).
	EnvFile string
}

// Load builds the configuration: defaults, then the file (path, or
// DefaultFile when path is empty and it exists, or MIKROBILL_CONFIG), then
// environ (os.Environ() form), then flags. It validates the result. It
// writes nothing: secrets are settled later by ResolveSecrets.
func Load(path string, environ []string, flags Overrides) (*Config, error) {
	cfg, err := build(path, environ, flags)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// Check is Load followed by CheckSecrets, with the problems of both
// reported at once: what `mikrobill config check` runs. Like Load it writes
// nothing.
func Check(path string, environ []string, flags Overrides) (*Config, error) {
	cfg, err := build(path, environ, flags)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(cfg.Validate(), cfg.CheckSecrets()); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// build applies the layers without validating.
func build(path string, environ []string, flags Overrides) (*Config, error) {
	cfg := DefaultConfig()
	envFile, err := readEnvFile(flags.EnvFile, envMap(environ))
	if err != nil {
		return nil, err
	}
	if envFile != nil {
		environ = append(envFile.vars, environ...)
		cfg.EnvFile = envFile.path
	}
	env := envMap(environ)
	explicit := path != ""
	if path == "" {
		path = env["MIKROBILL_CONFIG"]
		explicit = path != ""
	}
	if path == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			path = DefaultFile
		}
	}
	if path != "" {
		src, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist) && explicit:
			return nil, fmt.Errorf("configuration file %s does not exist; create it (see docs/configuration.md) or leave --config out to use defaults", path)
		case err != nil:
			return nil, fmt.Errorf("read configuration: %w", err)
		}
		if err := applyFile(cfg, path, src); err != nil {
			return nil, err
		}
		cfg.File = path
	}
	if err := applyEnv(cfg, env); err != nil {
		return nil, err
	}
	if err := applyFlags(cfg, flags); err != nil {
		return nil, err
	}
	// Plugins are executed from their own folders: a relative plugin
	// directory would not find them there.
	if cfg.Plugins.Dir != "" && !filepath.IsAbs(cfg.Plugins.Dir) {
		abs, err := filepath.Abs(cfg.Plugins.Dir)
		if err != nil {
			return nil, fmt.Errorf("plugins.dir %s: %w", cfg.Plugins.Dir, err)
		}
		cfg.Plugins.Dir = abs
	}
	return cfg, nil
}

type envFileVars struct {
	path string
	vars []string
}

// readEnvFile reads the named dotenv file, or $MIKROBILL_ENV_FILE, or
// DefaultEnvFile when it exists. It returns nil when there is none.
func readEnvFile(path string, env map[string]string) (*envFileVars, error) {
	explicit := path != ""
	if path == "" {
		path = env["MIKROBILL_ENV_FILE"]
		explicit = path != ""
	}
	if path == "" {
		if _, err := os.Stat(DefaultEnvFile); err != nil {
			return nil, nil
		}
		path = DefaultEnvFile
	}
	vars, err := ReadEnvFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && explicit:
		return nil, fmt.Errorf("environment file %s does not exist; check --env-file or MIKROBILL_ENV_FILE", path)
	case err != nil && !strings.HasPrefix(err.Error(), path+":"):
		return nil, fmt.Errorf("read environment file: %w", err)
	case err != nil:
		return nil, fmt.Errorf("environment file %w", err)
	}
	return &envFileVars{path: path, vars: vars}, nil
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// The file's shape. Optional scalars are pointers so "not set" differs from
// the zero value; durations and sizes are expressions so a bad value is
// reported with its line.
type fileConfig struct {
	Environment *string       `hcl:"environment,optional"`
	DataDir     *string       `hcl:"data_dir,optional"`
	LogLevel    *string       `hcl:"log_level,optional"`
	LogJSON     *bool         `hcl:"log_json,optional"`
	Server      *fileServer   `hcl:"server,block"`
	Plugins     *filePlugins  `hcl:"plugins,block"`
	Plugin      []*filePlugin `hcl:"plugin,block"`

	Database      *fileDatabase      `hcl:"database,block"`
	Cache         *fileCache         `hcl:"cache,block"`
	Security      *fileSecurity      `hcl:"security,block"`
	Jobs          *fileJobs          `hcl:"jobs,block"`
	Notifications *fileNotifications `hcl:"notifications,block"`
	Router        *fileRouter        `hcl:"router,block"`
}

type fileDatabase struct {
	URL              *string        `hcl:"url,optional"`
	MaxConns         *int           `hcl:"max_conns,optional"`
	MinConns         *int           `hcl:"min_conns,optional"`
	ConnMaxLifetime  hcl.Expression `hcl:"conn_max_lifetime,optional"`
	StatementTimeout hcl.Expression `hcl:"statement_timeout,optional"`
}

type fileCache struct {
	URL        *string `hcl:"url,optional"`
	MaxEntries *int    `hcl:"max_entries,optional"`
	KeyPrefix  *string `hcl:"key_prefix,optional"`
}

type fileSecurity struct {
	JWTSecret       *string        `hcl:"jwt_secret,optional"`
	CookieSecret    *string        `hcl:"cookie_secret,optional"`
	EncryptionKey   *string        `hcl:"encryption_key,optional"`
	SessionTTL      hcl.Expression `hcl:"session_ttl,optional"`
	JWTTTL          hcl.Expression `hcl:"jwt_ttl,optional"`
	CORSOrigins     *[]string      `hcl:"cors_origins,optional"`
	RateLimitMax    *int           `hcl:"rate_limit_max,optional"`
	RateLimitWindow hcl.Expression `hcl:"rate_limit_window,optional"`
	TrustedProxies  *[]string      `hcl:"trusted_proxies,optional"`
}

type fileJobs struct {
	Workers             *int           `hcl:"workers,optional"`
	PollInterval        hcl.Expression `hcl:"poll_interval,optional"`
	ExpiryCheckInterval hcl.Expression `hcl:"expiry_check_interval,optional"`
	ReminderDays        *[]int         `hcl:"reminder_days,optional"`
	Retention           hcl.Expression `hcl:"retention,optional"`
}

type fileNotifications struct {
	Plugin       *string        `hcl:"plugin,optional"`
	Session      *string        `hcl:"session,optional"`
	MessageDelay hcl.Expression `hcl:"message_delay,optional"`
	MaxSessions  *int           `hcl:"max_sessions,optional"`
}

type fileRouter struct {
	DefaultLocation *fileRouterLocation `hcl:"default_location,block"`
}

type fileRouterLocation struct {
	Name     *string `hcl:"name,optional"`
	Host     *string `hcl:"host,optional"`
	Port     *int    `hcl:"port,optional"`
	Username *string `hcl:"username,optional"`
	Password *string `hcl:"password,optional"`
	TLS      *bool   `hcl:"tls,optional"`
}

type fileServer struct {
	Host             *string        `hcl:"host,optional"`
	Port             *int           `hcl:"port,optional"`
	RequestTimeout   hcl.Expression `hcl:"request_timeout,optional"`
	KeepAliveTimeout hcl.Expression `hcl:"keep_alive_timeout,optional"`
	BodyLimit        *int64         `hcl:"body_limit,optional"`
	ShutdownTimeout  hcl.Expression `hcl:"shutdown_timeout,optional"`
	PublicURL        *string        `hcl:"public_url,optional"`
}

type filePlugins struct {
	Dir            *string        `hcl:"dir,optional"`
	StartTimeout   hcl.Expression `hcl:"start_timeout,optional"`
	HealthInterval hcl.Expression `hcl:"health_interval,optional"`
	HealthTimeout  hcl.Expression `hcl:"health_timeout,optional"`
	MetricsTimeout hcl.Expression `hcl:"metrics_timeout,optional"`
	StopTimeout    hcl.Expression `hcl:"stop_timeout,optional"`
	HealthFailures *int           `hcl:"health_failures,optional"`
	CallWait       hcl.Expression `hcl:"call_wait,optional"`
	Restart        *fileRestart   `hcl:"restart,block"`
}

type fileRestart struct {
	InitialBackoff hcl.Expression `hcl:"initial_backoff,optional"`
	MaxBackoff     hcl.Expression `hcl:"max_backoff,optional"`
	Jitter         *float64       `hcl:"jitter,optional"`
	Budget         *int           `hcl:"budget,optional"`
	Window         hcl.Expression `hcl:"window,optional"`
	Cooldown       hcl.Expression `hcl:"cooldown,optional"`
	StableAfter    hcl.Expression `hcl:"stable_after,optional"`
}

// apply sets the restart fields the block gives.
func (r *fileRestart) apply(dst *RestartConfig) hcl.Diagnostics {
	if r == nil {
		return nil
	}
	var d hcl.Diagnostics
	d = append(d, setDuration(&dst.InitialBackoff, r.InitialBackoff, "initial_backoff")...)
	d = append(d, setDuration(&dst.MaxBackoff, r.MaxBackoff, "max_backoff")...)
	d = append(d, setDuration(&dst.Window, r.Window, "window")...)
	d = append(d, setDuration(&dst.Cooldown, r.Cooldown, "cooldown")...)
	d = append(d, setDuration(&dst.StableAfter, r.StableAfter, "stable_after")...)
	if r.Jitter != nil {
		dst.Jitter = *r.Jitter
	}
	if r.Budget != nil {
		dst.Budget = *r.Budget
	}
	return d
}

type filePlugin struct {
	Name           string         `hcl:"name,label"`
	Required       *bool          `hcl:"required,optional"`
	Disabled       *bool          `hcl:"disabled,optional"`
	Environment    []string       `hcl:"environment,optional"`
	Config         hcl.Expression `hcl:"config,optional"`
	StartTimeout   hcl.Expression `hcl:"start_timeout,optional"`
	StopTimeout    hcl.Expression `hcl:"stop_timeout,optional"`
	CallWait       hcl.Expression `hcl:"call_wait,optional"`
	HealthFailures *int           `hcl:"health_failures,optional"`
	Restart        *fileRestart   `hcl:"restart,block"`
	// DefRange is the block's header, `plugin "name"`, for diagnostics.
	DefRange hcl.Range `hcl:",def_range"`
}

func applyFile(cfg *Config, path string, src []byte) error {
	parser := hclparse.NewParser()
	f, diags := parser.ParseHCL(src, path)
	if diags.HasErrors() {
		return fmt.Errorf("configuration: %s", formatDiags(diags))
	}
	var fc fileConfig
	if diags := gohcl.DecodeBody(f.Body, nil, &fc); diags.HasErrors() {
		return fmt.Errorf("configuration: %s", formatDiags(diags))
	}
	var d hcl.Diagnostics
	setString(&cfg.Environment, fc.Environment)
	setString(&cfg.DataDir, fc.DataDir)
	setString(&cfg.LogLevel, fc.LogLevel)
	if fc.LogJSON != nil {
		cfg.LogJSON = *fc.LogJSON
	}
	if s := fc.Server; s != nil {
		setString(&cfg.Server.Host, s.Host)
		if s.Port != nil {
			cfg.Server.Port = *s.Port
		}
		if s.BodyLimit != nil {
			cfg.Server.BodyLimit = *s.BodyLimit
		}
		d = append(d, setDuration(&cfg.Server.RequestTimeout, s.RequestTimeout, "request_timeout")...)
		d = append(d, setDuration(&cfg.Server.KeepAliveTimeout, s.KeepAliveTimeout, "keep_alive_timeout")...)
		d = append(d, setDuration(&cfg.Server.ShutdownTimeout, s.ShutdownTimeout, "shutdown_timeout")...)
		setString(&cfg.Server.PublicURL, s.PublicURL)
	}
	if p := fc.Plugins; p != nil {
		setString(&cfg.Plugins.Dir, p.Dir)
		d = append(d, setDuration(&cfg.Plugins.StartTimeout, p.StartTimeout, "start_timeout")...)
		d = append(d, setDuration(&cfg.Plugins.HealthInterval, p.HealthInterval, "health_interval")...)
		d = append(d, setDuration(&cfg.Plugins.HealthTimeout, p.HealthTimeout, "health_timeout")...)
		d = append(d, setDuration(&cfg.Plugins.MetricsTimeout, p.MetricsTimeout, "metrics_timeout")...)
		d = append(d, setDuration(&cfg.Plugins.StopTimeout, p.StopTimeout, "stop_timeout")...)
		d = append(d, setDuration(&cfg.Plugins.CallWait, p.CallWait, "call_wait")...)
		if p.HealthFailures != nil {
			cfg.Plugins.HealthFailures = *p.HealthFailures
		}
		d = append(d, p.Restart.apply(&cfg.Plugins.Restart)...)
	}
	d = append(d, applyFileData(cfg, &fc)...)
	for _, fp := range fc.Plugin {
		if _, dup := cfg.Plugin[fp.Name]; dup {
			d = append(d, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate plugin block",
				Detail: fmt.Sprintf("plugin %q is configured twice; merge the blocks", fp.Name), Subject: fp.DefRange.Ptr()})
			continue
		}
		pc := &PluginConfig{Required: fp.Required, Environment: fp.Environment}
		if fp.Disabled != nil {
			pc.Disabled = *fp.Disabled
		}
		raw, diags := objectJSON(fp.Config, "config")
		d = append(d, diags...)
		pc.Settings = raw
		d = append(d, setDuration(&pc.StartTimeout, fp.StartTimeout, "start_timeout")...)
		d = append(d, setDuration(&pc.StopTimeout, fp.StopTimeout, "stop_timeout")...)
		d = append(d, setDuration(&pc.CallWait, fp.CallWait, "call_wait")...)
		if fp.HealthFailures != nil {
			pc.HealthFailures = *fp.HealthFailures
		}
		d = append(d, fp.Restart.apply(&pc.Restart)...)
		cfg.Plugin[fp.Name] = pc
	}
	if d.HasErrors() {
		return fmt.Errorf("configuration: %s", formatDiags(d))
	}
	return nil
}

// applyFileData sets the data layer's blocks.
func applyFileData(cfg *Config, fc *fileConfig) hcl.Diagnostics {
	var d hcl.Diagnostics
	setInt := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	if b := fc.Database; b != nil {
		setString(&cfg.Database.URL, b.URL)
		setInt(&cfg.Database.MaxConns, b.MaxConns)
		setInt(&cfg.Database.MinConns, b.MinConns)
		d = append(d, setDuration(&cfg.Database.ConnMaxLifetime, b.ConnMaxLifetime, "conn_max_lifetime")...)
		d = append(d, setDurationOrZero(&cfg.Database.StatementTimeout, b.StatementTimeout, "statement_timeout")...)
	}
	if b := fc.Cache; b != nil {
		setString(&cfg.Cache.URL, b.URL)
		setInt(&cfg.Cache.MaxEntries, b.MaxEntries)
		setString(&cfg.Cache.KeyPrefix, b.KeyPrefix)
	}
	if b := fc.Security; b != nil {
		s := &cfg.Security
		setSecret(&s.JWTSecret, &cfg.Sources.JWTSecret, b.JWTSecret)
		setSecret(&s.CookieSecret, &cfg.Sources.CookieSecret, b.CookieSecret)
		setSecret(&s.EncryptionKey, &cfg.Sources.EncryptionKey, b.EncryptionKey)
		d = append(d, setDuration(&s.SessionTTL, b.SessionTTL, "session_ttl")...)
		d = append(d, setDuration(&s.JWTTTL, b.JWTTTL, "jwt_ttl")...)
		d = append(d, setDuration(&s.RateLimitWindow, b.RateLimitWindow, "rate_limit_window")...)
		setInt(&s.RateLimitMax, b.RateLimitMax)
		if b.CORSOrigins != nil {
			s.CORSOrigins = *b.CORSOrigins
		}
		if b.TrustedProxies != nil {
			s.TrustedProxies = *b.TrustedProxies
		}
	}
	if b := fc.Jobs; b != nil {
		j := &cfg.Jobs
		setInt(&j.Workers, b.Workers)
		d = append(d, setDuration(&j.PollInterval, b.PollInterval, "poll_interval")...)
		d = append(d, setDuration(&j.ExpiryCheckInterval, b.ExpiryCheckInterval, "expiry_check_interval")...)
		d = append(d, setDuration(&j.Retention, b.Retention, "retention")...)
		if b.ReminderDays != nil {
			j.ReminderDays = *b.ReminderDays
		}
	}
	if b := fc.Notifications; b != nil {
		n := &cfg.Notifications
		setString(&n.Plugin, b.Plugin)
		setString(&n.Session, b.Session)
		setInt(&n.MaxSessions, b.MaxSessions)
		d = append(d, setDurationOrZero(&n.MessageDelay, b.MessageDelay, "message_delay")...)
	}
	if b := fc.Router; b != nil && b.DefaultLocation != nil {
		l, r := &cfg.Router.DefaultLocation, b.DefaultLocation
		setString(&l.Name, r.Name)
		setString(&l.Host, r.Host)
		setInt(&l.Port, r.Port)
		setString(&l.Username, r.Username)
		setSecret(&l.Password, &cfg.Sources.RouterPassword, r.Password)
		if r.TLS != nil {
			l.TLS = *r.TLS
		}
	}
	return d
}

// setSecret sets a secret given in the file and records its source; an
// empty string leaves it unset.
func setSecret(dst *string, src *SecretSource, v *string) {
	if v != nil && *v != "" {
		*dst, *src = *v, SourceFile
	}
}

func setString(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

// isSet reports whether an optional expression attribute was given.
func isSet(expr hcl.Expression) bool {
	if expr == nil {
		return false
	}
	v, diags := expr.Value(nil)
	return diags.HasErrors() || !v.IsNull()
}

func setDuration(dst *time.Duration, expr hcl.Expression, key string) hcl.Diagnostics {
	return parseDuration(dst, expr, key, false)
}

// setDurationOrZero is setDuration for durations where "0s" means none.
func setDurationOrZero(dst *time.Duration, expr hcl.Expression, key string) hcl.Diagnostics {
	return parseDuration(dst, expr, key, true)
}

func parseDuration(dst *time.Duration, expr hcl.Expression, key string, zero bool) hcl.Diagnostics {
	if !isSet(expr) {
		return nil
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	detail := fmt.Sprintf("%s must be a duration string such as \"30s\", \"2m\" or \"1h30m\"", key)
	if zero {
		detail += ", or \"0s\" for none"
	}
	bad := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid duration", Detail: detail, Subject: expr.Range().Ptr()}
	if v.Type() != cty.String {
		return hcl.Diagnostics{bad}
	}
	dur, err := time.ParseDuration(v.AsString())
	if err != nil || dur < 0 || (dur == 0 && !zero) {
		return hcl.Diagnostics{bad}
	}
	*dst = dur
	return nil
}

// objectJSON renders an object expression as JSON.
func objectJSON(expr hcl.Expression, key string) ([]byte, hcl.Diagnostics) {
	if !isSet(expr) {
		return nil, nil
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil, diags
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + key,
			Detail: key + " must be an object, for example config = { api_key = \"...\" }", Subject: expr.Range().Ptr()}}
	}
	raw, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + key, Detail: err.Error(), Subject: expr.Range().Ptr()}}
	}
	return raw, nil
}

// formatDiags renders diagnostics one per line as file:line:column: summary; detail.
func formatDiags(diags hcl.Diagnostics) string {
	var lines []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		loc := ""
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		lines = append(lines, loc+msg)
	}
	return strings.Join(lines, "\n")
}

func applyEnv(cfg *Config, env map[string]string) error {
	var errs []error
	get := func(names ...string) (string, string, bool) {
		for _, n := range names {
			if v, ok := env[n]; ok && v != "" {
				return n, v, true
			}
		}
		return "", "", false
	}
	if _, v, ok := get("MIKROBILL_ENV", "NODE_ENV"); ok {
		cfg.Environment = v
	}
	if _, v, ok := get("MIKROBILL_DATA_DIR"); ok {
		cfg.DataDir = v
	}
	if _, v, ok := get("MIKROBILL_LOG_LEVEL"); ok {
		cfg.LogLevel = v
	}
	if n, v, ok := get("MIKROBILL_LOG_JSON"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: use true or false", n, v))
		}
		cfg.LogJSON = b
	}
	if _, v, ok := get("MIKROBILL_PLUGIN_DIR"); ok {
		cfg.Plugins.Dir = v
	}
	if _, v, ok := get("MIKROBILL_PUBLIC_URL"); ok {
		cfg.Server.PublicURL = v
	}
	if _, v, ok := get("HOST"); ok {
		cfg.Server.Host = v
	}
	if n, v, ok := get("PORT"); ok {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s=%q: not a port number (0 to 65535)", n, v))
		}
		cfg.Server.Port = p
	}
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{
		{"REQUEST_TIMEOUT", &cfg.Server.RequestTimeout},
		{"KEEP_ALIVE_TIMEOUT", &cfg.Server.KeepAliveTimeout},
	} {
		if n, val, ok := get(v.name); ok {
			ms, err := strconv.ParseInt(val, 10, 64)
			if err != nil || ms <= 0 {
				errs = append(errs, fmt.Errorf("%s=%q: milliseconds as a positive whole number, for example 30000", n, val))
				continue
			}
			*v.dst = time.Duration(ms) * time.Millisecond
		}
	}
	if n, v, ok := get("BODY_LIMIT"); ok {
		b, err := strconv.ParseInt(v, 10, 64)
		if err != nil || b <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: bytes as a positive whole number, for example 10485760", n, v))
		}
		cfg.Server.BodyLimit = b
	}
	if _, v, ok := get("DEBUG"); ok {
		cfg.DebugPlugins = parseDebug(v)
	}
	errs = append(errs, applyEnvData(cfg, get)...)
	return errors.Join(errs...)
}

// applyEnvData reads the data layer's variables, legacy ones included.
func applyEnvData(cfg *Config, get func(names ...string) (string, string, bool)) []error {
	var errs []error
	port := func(name, def string) string {
		n, v, ok := get(name)
		if !ok {
			return def
		}
		if p, err := strconv.Atoi(v); err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s=%q: not a port number (1 to 65535)", n, v))
		}
		return v
	}
	value := func(name string) string {
		_, v, _ := get(name)
		return v
	}

	if _, v, ok := get("DATABASE_URL"); ok {
		cfg.Database.URL = v
	} else if _, host, ok := get("DB_HOST"); ok {
		cfg.Database.URL = postgresURL(host, port("DB_PORT", "5432"), value("DB_NAME"), value("DB_USER"), value("DB_PASSWORD"))
	}
	if _, v, ok := get("REDIS_URL"); ok {
		cfg.Cache.URL = v
	} else if _, host, ok := get("REDIS_HOST"); ok {
		cfg.Cache.URL = redisURL(host, port("REDIS_PORT", "6379"), value("REDIS_PASSWORD"))
	}
	if _, v, ok := get("MIKROBILL_CACHE_PREFIX"); ok {
		cfg.Cache.KeyPrefix = v
	}

	for _, s := range []struct {
		name string
		dst  *string
		src  *SecretSource
	}{
		{"JWT_SECRET", &cfg.Security.JWTSecret, &cfg.Sources.JWTSecret},
		{"COOKIE_SECRET", &cfg.Security.CookieSecret, &cfg.Sources.CookieSecret},
		{"MIKROBILL_ENCRYPTION_KEY", &cfg.Security.EncryptionKey, &cfg.Sources.EncryptionKey},
		{"MIKROTIK_PASSWORD", &cfg.Router.DefaultLocation.Password, &cfg.Sources.RouterPassword},
	} {
		if _, v, ok := get(s.name); ok {
			*s.dst, *s.src = v, SourceEnv
		}
	}
	if n, v, ok := get("RATE_LIMIT_MAX"); ok {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			errs = append(errs, fmt.Errorf("%s=%q: requests per window (security.rate_limit_window, 1 minute by default) as a positive whole number, for example 100", n, v))
		}
		cfg.Security.RateLimitMax = m
	}
	if _, v, ok := get("MIKROBILL_CORS_ORIGINS"); ok {
		var origins []string
		for o := range strings.SplitSeq(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				origins = append(origins, o)
			}
		}
		cfg.Security.CORSOrigins = origins
	}

	if n, v, ok := get("WHATSAPP_MAX_SESSIONS"); ok {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			errs = append(errs, fmt.Errorf("%s=%q: a positive whole number of sessions, for example 5", n, v))
		}
		cfg.Notifications.MaxSessions = m
	}
	if n, v, ok := get("WHATSAPP_MESSAGE_DELAY"); ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: milliseconds as a whole number, 0 or more, for example 1000", n, v))
		}
		cfg.Notifications.MessageDelay = time.Duration(ms) * time.Millisecond
	}

	loc := &cfg.Router.DefaultLocation
	if _, v, ok := get("MIKROTIK_HOST"); ok {
		loc.Host = v
	}
	if _, _, ok := get("MIKROTIK_PORT"); ok {
		loc.Port, _ = strconv.Atoi(port("MIKROTIK_PORT", ""))
	}
	if _, v, ok := get("MIKROTIK_USERNAME"); ok {
		loc.Username = v
	}
	return errs
}

// parseDebug reads the legacy DEBUG variable (the npm "debug" package's
// syntax): comma or space separated namespaces, "*" wildcards.
func parseDebug(v string) []string {
	var out []string
	for _, ns := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		switch {
		case ns == "*" || ns == "plugin:*" || ns == "plugin*" || ns == "plugins:*":
			return []string{"*"}
		case strings.HasPrefix(ns, "plugin:"):
			out = append(out, strings.TrimPrefix(ns, "plugin:"))
		}
	}
	return out
}

func applyFlags(cfg *Config, f Overrides) error {
	if f.Listen != "" {
		i := strings.LastIndex(f.Listen, ":")
		if i < 0 {
			return fmt.Errorf("--listen %q: use host:port, for example 127.0.0.1:3000", f.Listen)
		}
		port, err := strconv.Atoi(f.Listen[i+1:])
		if err != nil || port < 0 || port > 65535 {
			return fmt.Errorf("--listen %q: the port must be a number from 0 to 65535", f.Listen)
		}
		host := strings.Trim(f.Listen[:i], "[]")
		if host == "" {
			host = "0.0.0.0"
		}
		cfg.Server.Host, cfg.Server.Port = host, port
	}
	if f.PluginDir != "" {
		cfg.Plugins.Dir = f.PluginDir
	}
	if f.DataDir != "" {
		cfg.DataDir = f.DataDir
	}
	if f.LogLevel != "" {
		cfg.LogLevel = f.LogLevel
	}
	if f.LogJSON != nil {
		cfg.LogJSON = *f.LogJSON
	}
	return nil
}
