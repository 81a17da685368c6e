package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// ErrNotConfigured is what Spec.New returns (wrapped, saying what to set)
// while the settings lack the credentials: the host may start a plugin
// before an operator has entered them. The settings are then accepted with
// a warning, health is degraded, payments are refused with
// sdk.ErrFailedPrecondition and notifications with
// payment.ErrInvalidSignature, until settings with credentials arrive.
var ErrNotConfigured = errors.New("not configured")

// Connection is the part of the settings every gateway with an HTTP API
// has. Embed it in your settings struct; the SDK checks it and Env.Client
// uses it. Its fields' json names are "environment", "base_url" and
// "timeout_seconds"; declare them in plugin.json's config_schema.
type Connection struct {
	// Environment names one of Spec.Environments ("sandbox",
	// "production"). Leave it empty for a gateway with one address.
	Environment string `json:"environment,omitempty"`
	// BaseURL, when set, replaces the environment's address: https, or
	// http on a loopback address only (a fake gateway in tests).
	BaseURL string `json:"base_url,omitempty"`
	// TimeoutSeconds bounds one attempt of one API call, 1 to 60; 15
	// unless Spec.Defaults say otherwise.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

func (c *Connection) connection() *Connection { return c }

// hasConnection is implemented by settings that embed Connection.
type hasConnection interface{ connection() *Connection }

// Timeout is the timeout of one attempt.
func (c Connection) Timeout() time.Duration {
	if c.TimeoutSeconds == 0 {
		return 15 * time.Second
	}
	return time.Duration(c.TimeoutSeconds) * time.Second
}

// resolve checks the connection against the gateway's environments and
// returns its base URL, without a trailing slash.
func (c Connection) resolve(p *Problems, envs map[string]string) string {
	base := ""
	if len(envs) > 0 {
		var ok bool
		if base, ok = envs[c.Environment]; !ok {
			names := make([]string, 0, len(envs))
			for n := range envs {
				names = append(names, fmt.Sprintf("%q", n))
			}
			slices.Sort(names)
			p.Addf("environment must be %s, got %q", strings.Join(names, " or "), c.Environment)
		}
	}
	if c.BaseURL != "" {
		if err := CheckBaseURL(c.BaseURL); err != nil {
			p.Add("base_url: " + err.Error())
		}
		base = c.BaseURL
	}
	if base == "" && len(envs) == 0 {
		p.Add("base_url is required")
	}
	if c.TimeoutSeconds < 1 || c.TimeoutSeconds > 60 {
		p.Addf("timeout_seconds must be 1 to 60, got %d", c.TimeoutSeconds)
	}
	return strings.TrimRight(base, "/")
}

// CheckBaseURL accepts https URLs, and http ones on loopback addresses only
// (a fake gateway in tests), so a typo cannot send credentials in clear
// text. It never repeats user information, which may hold a password.
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err == nil && u.User != nil:
		return errors.New("must not hold a user name or password; put credentials in their own settings")
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q is not an absolute URL such as \"https://api.gateway.example\"", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return errors.New("http:// is accepted only for loopback addresses; use https://")
	default:
		return fmt.Errorf("the scheme must be https, got %q", u.Scheme)
	}
}

// Problems collects what is wrong with settings, so that an operator sees
// every problem at once. The zero value is ready to use.
//
//	var p gateway.Problems
//	p.If(len(s.APIKey) < 8, "api_key is required (at least 8 characters)")
//	return p.Err()
type Problems struct{ list []string }

// Add records a problem. Never put a secret's value in it.
func (p *Problems) Add(problem string) { p.list = append(p.list, problem) }

// Addf records a formatted problem.
func (p *Problems) Addf(format string, args ...any) { p.Add(fmt.Sprintf(format, args...)) }

// If records problem when bad is true.
func (p *Problems) If(bad bool, problem string) {
	if bad {
		p.Add(problem)
	}
}

// Err is nil without problems, else an error wrapping
// sdk.ErrInvalidArgument that lists them.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return fmt.Errorf("%w: settings: %s", sdk.ErrInvalidArgument, strings.Join(p.list, "; "))
}
