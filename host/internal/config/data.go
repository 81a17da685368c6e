package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MinSecretLen is the shortest JWT or cookie secret accepted in production
// (other environments only warn, see Warnings).
const MinSecretLen = 32

// makeSecret tells a person how to make a secret.
const makeSecret = "make one with `openssl rand -hex 32`"

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
