package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/midtrans/midtrans-go"

	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Environments, as in the "environment" setting.
const (
	envSandbox    = "sandbox"
	envProduction = "production"
)

// Defaults of the settings.
const (
	defaultTimeout    = 10 * time.Second
	defaultMaxRetries = 2
)

// settings are the plugin's settings; config_schema in plugin.json
// describes them for the admin UI. Unknown keys are refused.
type settings struct {
	// ServerKey authenticates every call to Midtrans and signs Midtrans'
	// notifications. Required; a secret.
	ServerKey string `json:"server_key"`
	// ClientKey is the public key Snap.js needs on a merchant's own pages.
	// The plugin sends customers to Snap's redirect_url and does not use
	// it; it is kept here so all Midtrans keys live in one place.
	ClientKey string `json:"client_key"`
	// Environment is "sandbox" (default) or "production".
	Environment string `json:"environment"`
	// BaseURL overrides the Snap API's base URL (default
	// https://app.sandbox.midtrans.com or https://app.midtrans.com).
	BaseURL string `json:"base_url"`
	// APIBaseURL overrides the status API's base URL (default
	// https://api.sandbox.midtrans.com or https://api.midtrans.com).
	APIBaseURL string `json:"api_base_url"`
	// TimeoutSeconds bounds one call to Midtrans (default 10).
	TimeoutSeconds int `json:"timeout_seconds"`
	// MaxRetries is how often a call that failed in a retryable way is
	// tried again (default 2; 0 turns retries off).
	MaxRetries *int `json:"max_retries"`
	// ExpiryMinutes is the Snap expiry when a payment request sets none
	// (default: Midtrans' own, 24 hours).
	ExpiryMinutes int `json:"expiry_minutes"`
}

// Validate checks the settings and fills in defaults; the SDK calls it
// before New. Its error wraps sdk.ErrInvalidArgument and names every
// problem; no message repeats a key.
func (s *settings) Validate() error {
	var p gateway.Problems
	switch {
	case strings.TrimSpace(s.ServerKey) == "":
		p.Add("server_key is required: copy the Server Key from the Midtrans dashboard (Settings > Access Keys)")
	case strings.IndexFunc(s.ServerKey, unicode.IsSpace) >= 0:
		p.Add("server_key contains white space; paste it again without spaces or line breaks")
	}
	switch s.Environment {
	case "":
		s.Environment = envSandbox
	case envSandbox, envProduction:
	default:
		p.Addf("environment must be %q or %q, got %q", envSandbox, envProduction, s.Environment)
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"base_url", &s.BaseURL}, {"api_base_url", &s.APIBaseURL}} {
		if *f.v == "" {
			continue
		}
		if err := checkBaseURL(*f.v); err != nil {
			p.Addf("%s: %v", f.name, err)
		}
		*f.v = strings.TrimRight(*f.v, "/")
	}
	p.If(s.TimeoutSeconds < 0 || s.TimeoutSeconds > 120, fmt.Sprintf("timeout_seconds must be between 1 and 120, got %d", s.TimeoutSeconds))
	p.If(s.MaxRetries != nil && (*s.MaxRetries < 0 || *s.MaxRetries > 5), fmt.Sprintf("max_retries must be between 0 and 5, got %d", s.maxRetries()))
	p.If(s.ExpiryMinutes < 0 || s.ExpiryMinutes > maxExpiryMinutes, fmt.Sprintf("expiry_minutes must be between 1 and %d, got %d", maxExpiryMinutes, s.ExpiryMinutes))
	return p.Err()
}

// warnings are what the operator should know about valid settings.
func (s *settings) warnings() []string {
	var w []string
	for _, f := range [][2]string{{"base_url", s.BaseURL}, {"api_base_url", s.APIBaseURL}} {
		if s.Environment == envProduction && strings.HasPrefix(f[1], "http://") {
			w = append(w, f[0]+" is plain http in production: the server key travels unencrypted to it")
		}
	}
	switch {
	case s.Environment == envProduction && strings.HasPrefix(s.ServerKey, "SB-"):
		w = append(w, "server_key looks like a sandbox key (SB-...) but environment is production; Midtrans will refuse it")
	case s.Environment == envSandbox && strings.HasPrefix(s.ServerKey, "Mid-server-"):
		w = append(w, "server_key looks like a production key but environment is sandbox; Midtrans will refuse it")
	}
	return w
}

// maxExpiryMinutes is 30 days.
const maxExpiryMinutes = 30 * 24 * 60

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must start with https:// (or http:// for a local proxy), got %q", raw)
	case u.Host == "":
		return fmt.Errorf("has no host: %q", raw)
	case u.User != nil:
		return fmt.Errorf("must not carry credentials; the plugin authenticates with server_key")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("must not have a query or fragment: %q", raw)
	}
	return nil
}

func (s *settings) sdkEnv() midtrans.EnvironmentType {
	if s.Environment == envProduction {
		return midtrans.Production
	}
	return midtrans.Sandbox
}

// snapBaseURL is the Snap API's base URL.
func (s *settings) snapBaseURL() string {
	if s.BaseURL != "" {
		return s.BaseURL
	}
	return s.sdkEnv().SnapURL()
}

// coreBaseURL is the status API's base URL.
func (s *settings) coreBaseURL() string {
	if s.APIBaseURL != "" {
		return s.APIBaseURL
	}
	return s.sdkEnv().BaseUrl()
}

func (s *settings) timeout() time.Duration {
	if s.TimeoutSeconds == 0 {
		return defaultTimeout
	}
	return time.Duration(s.TimeoutSeconds) * time.Second
}

func (s *settings) maxRetries() int {
	if s.MaxRetries == nil {
		return defaultMaxRetries
	}
	return *s.MaxRetries
}
