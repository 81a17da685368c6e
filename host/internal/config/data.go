package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MinSecretLen is the shortest JWT or cookie secret accepted in production
// (other environments only warn, see Warnings).
const MinSecretLen = 32

// makeSecret tells a person how to make a secret.
const makeSecret = "make one with `openssl rand -hex 32`"

// validateData checks the data layer's blocks: database, cache, security,
// jobs, notifications and router.
func (c *Config) validateData() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkURL(c.Database.URL, "database.url (DATABASE_URL)", []string{"postgres", "postgresql"},
		"postgres://user:password@host:5432/name", "leave it empty to use the embedded SQLite database in data_dir", false))
	add(checkURL(c.Cache.URL, "cache.url (REDIS_URL)", []string{"redis", "rediss"},
		"redis://:password@host:6379/0", "leave it empty to use the in-memory cache", true))

	db := c.Database
	if db.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("database.max_conns must be at least 1, got %d", db.MaxConns))
	}
	if db.MinConns < 0 || db.MinConns > max(db.MaxConns, 0) {
		errs = append(errs, fmt.Errorf("database.min_conns must be between 0 and database.max_conns (%d), got %d", db.MaxConns, db.MinConns))
	}
	if c.Cache.KeyPrefix == "" || len(c.Cache.KeyPrefix) > 64 || strings.ContainsAny(c.Cache.KeyPrefix, " \t\r\n") {
		errs = append(errs, fmt.Errorf("cache.key_prefix (MIKROBILL_CACHE_PREFIX) must be 1 to 64 characters without spaces, got %q; the default is \"mikrobill:\"", c.Cache.KeyPrefix))
	}
	if c.Cache.MaxEntries < 1 {
		errs = append(errs, fmt.Errorf("cache.max_entries must be at least 1, got %d", c.Cache.MaxEntries))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
		zero bool // zero allowed
	}{
		{"database.conn_max_lifetime", db.ConnMaxLifetime, false},
		{"database.statement_timeout", db.StatementTimeout, true},
		{"security.session_ttl", c.Security.SessionTTL, false},
		{"security.jwt_ttl", c.Security.JWTTTL, false},
		{"security.rate_limit_window", c.Security.RateLimitWindow, false},
		{"jobs.poll_interval", c.Jobs.PollInterval, false},
		{"jobs.expiry_check_interval", c.Jobs.ExpiryCheckInterval, false},
		{"jobs.retention", c.Jobs.Retention, false},
		{"notifications.message_delay", c.Notifications.MessageDelay, true},
	} {
		switch {
		case d.zero && d.d < 0:
			errs = append(errs, fmt.Errorf("%s cannot be negative, got %s (use \"0s\" for none)", d.name, d.d))
		case !d.zero && d.d <= 0:
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", d.name, d.d))
		}
	}

	errs = append(errs, c.validateSecurity()...)

	j := c.Jobs
	if j.Workers < 1 {
		errs = append(errs, fmt.Errorf("jobs.workers must be at least 1, got %d", j.Workers))
	}
	seen := map[int]bool{}
	for _, d := range j.ReminderDays {
		switch {
		case d < 0 || d > 365:
			errs = append(errs, fmt.Errorf("jobs.reminder_days: %d is not a number of days from 0 (the day of expiry) to 365", d))
		case seen[d]:
			errs = append(errs, fmt.Errorf("jobs.reminder_days: %d is listed twice", d))
		}
		seen[d] = true
	}

	if c.Notifications.MaxSessions < 1 {
		errs = append(errs, fmt.Errorf("notifications.max_sessions (WHATSAPP_MAX_SESSIONS) must be at least 1, got %d", c.Notifications.MaxSessions))
	}

	r := c.Router.DefaultLocation
	if r.Port < 0 || r.Port > 65535 {
		errs = append(errs, fmt.Errorf("router.default_location.port (MIKROTIK_PORT) %d: must be between 1 and 65535, or 0 for the default (8728, 8729 with tls)", r.Port))
	}
	switch {
	case r.Host == "" && (r.Username != "" || r.Password != "" || r.Port != 0 || r.TLS):
		errs = append(errs, fmt.Errorf("router.default_location has no host: set host (MIKROTIK_HOST) to the router's address, or remove the block (and the MIKROTIK_* variables)"))
	case r.Host != "" && r.Username == "":
		errs = append(errs, fmt.Errorf("router.default_location.username (MIKROTIK_USERNAME) must be set when a host is, for example \"admin\""))
	}
	if r.Host != "" && strings.TrimSpace(r.Name) == "" {
		errs = append(errs, fmt.Errorf("router.default_location.name must not be empty"))
	}
	return errs
}

func (c *Config) validateSecurity() []error {
	var errs []error
	s := c.Security
	if c.IsProduction() {
		for _, sec := range []struct{ key, env, v string }{
			{"security.jwt_secret", "JWT_SECRET", s.JWTSecret},
			{"security.cookie_secret", "COOKIE_SECRET", s.CookieSecret},
		} {
			if err := checkSecretLen(sec.key, sec.env, sec.v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.EncryptionKey != "" {
		if _, err := decodeKey(s.EncryptionKey); err != nil {
			errs = append(errs, err)
		}
	}
	if s.RateLimitMax < 1 {
		errs = append(errs, fmt.Errorf("security.rate_limit_max (RATE_LIMIT_MAX) must be at least 1 request per window, got %d", s.RateLimitMax))
	}
	for _, o := range s.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		errs = append(errs, fmt.Errorf("security.trusted_proxies: %q is not an IP address or a CIDR range such as 10.0.0.0/8", p))
	}
	return errs
}

// checkSecretLen reports a JWT or cookie secret that is set but too short.
func checkSecretLen(key, env, v string) error {
	if n := utf8.RuneCountInString(v); v != "" && n < MinSecretLen {
		return fmt.Errorf("%s (%s) is %d characters long; use at least %d random characters: %s", key, env, n, MinSecretLen, makeSecret)
	}
	return nil
}

// Warnings lists settings that are accepted but unwise: today, JWT and
// cookie secrets shorter than MinSecretLen outside production (production
// refuses them).
func (c *Config) Warnings() []string {
	if c.IsProduction() {
		return nil
	}
	var out []string
	for _, sec := range []struct{ key, env, v string }{
		{"security.jwt_secret", "JWT_SECRET", c.Security.JWTSecret},
		{"security.cookie_secret", "COOKIE_SECRET", c.Security.CookieSecret},
	} {
		if err := checkSecretLen(sec.key, sec.env, sec.v); err != nil {
			out = append(out, err.Error()+" (production refuses it)")
		}
	}
	return out
}

// checkOrigin accepts "*" or scheme://host[:port].
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	bad := fmt.Errorf("security.cors_origins: %q is not an origin; use scheme://host[:port] with no path, such as https://billing.example.net, or \"*\" for any", o)
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return bad
	}
	return nil
}

// checkURL checks a database or cache URL without ever repeating it, since
// it may hold a password.
func checkURL(raw, key string, schemes []string, example, empty string, needHost bool) error {
	if raw == "" {
		return nil
	}
	starts := make([]string, len(schemes))
	for i, s := range schemes {
		starts[i] = s + "://"
	}
	want := strings.Join(starts, " or ")
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s is not a valid URL: percent-encode special characters in the user name and password (%%40 for @, %%2F for /, %%3A for :, %%23 for #); for example %s", key, example)
	}
	if !slices.Contains(schemes, strings.ToLower(u.Scheme)) || u.Opaque != "" {
		got := "no scheme"
		if u.Scheme != "" {
			got = fmt.Sprintf("the scheme %q", u.Scheme)
		}
		return fmt.Errorf("%s must start with %s, for example %s (it has %s); %s", key, want, example, got, empty)
	}
	if needHost && u.Hostname() == "" {
		return fmt.Errorf("%s names no host; for example %s", key, example)
	}
	if strings.HasPrefix(strings.ToLower(u.Scheme), "redis") {
		if db := strings.Trim(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				return fmt.Errorf("%s: the path after the host must be a database number, such as /0", key)
			}
		}
	}
	return nil
}

// postgresURL builds the URL the legacy DB_* variables describe.
func postgresURL(host, port, name, user, password string) string {
	u := url.URL{Scheme: "postgres", Host: joinHostPort(host, port), Path: "/" + name, RawQuery: "sslmode=disable"}
	switch {
	case password != "":
		u.User = url.UserPassword(user, password)
	case user != "":
		u.User = url.User(user)
	}
	return u.String()
}

// redisURL builds the URL the legacy REDIS_* variables describe.
func redisURL(host, port, password string) string {
	u := url.URL{Scheme: "redis", Host: joinHostPort(host, port), Path: "/0"}
	if password != "" {
		u.User = url.UserPassword("", password)
	}
	return u.String()
}

// joinHostPort is net.JoinHostPort, tolerating an IPv6 host given in
// brackets.
func joinHostPort(host, port string) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
