package main

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// settings are the plugin's settings (config_schema in plugin.json).
type settings struct {
	// SecretKey is the Stripe API key: a secret key (sk_test_..., sk_live_...)
	// or a restricted key (rk_test_..., rk_live_...) with write access to
	// Checkout Sessions and Refunds. Required.
	SecretKey string `json:"secret_key"`
	// WebhookSecrets are the signing secrets (whsec_...) of the webhook
	// endpoints that send to /webhooks/payment-stripe. At least one. A
	// signature made with any of them is accepted, so a secret is rotated by
	// adding the new one, rolling it in Stripe's Dashboard, and removing the
	// old one once Stripe stops signing with it.
	WebhookSecrets []string `json:"webhook_secrets"`
	// Mode is "test" or "live". Empty (the default) takes it from the key's
	// prefix; set, a key of the other mode is refused, so a live key cannot
	// slip into a test setup or the other way round.
	Mode string `json:"mode"`
	// APIBaseURL replaces https://api.stripe.com, for a proxy or a test
	// server. https, or http on a loopback address only; no path (Stripe's
	// paths, /v1/..., go at the address's root). Default empty.
	APIBaseURL string `json:"api_base_url"`
	// Currencies, when set, are the only currencies CreatePayment accepts
	// (upper-case ISO 4217). Default empty: every currency Stripe takes.
	Currencies []string `json:"currencies"`
	// TimeoutSeconds bounds each HTTP request to Stripe. Default 30, 1 to 120.
	TimeoutSeconds int `json:"timeout_seconds"`
	// MaxNetworkRetries is how often a request that got no answer (a
	// connection failure or timeout) or a lock timeout is sent again, with
	// the same idempotency key. Default 1, 0 to 3.
	MaxNetworkRetries *int `json:"max_network_retries"`
}

// Setting defaults and limits.
const (
	defaultTimeoutSeconds = 30
	maxTimeoutSeconds     = 120
	defaultRetries        = 1
	maxRetries            = 3
)

// defaultSettings are the settings before the operator's are applied.
func defaultSettings() settings {
	return settings{TimeoutSeconds: defaultTimeoutSeconds}
}

var (
	apiKeyPattern   = regexp.MustCompile(`^(sk|rk)_(test|live)_[0-9A-Za-z]{8,}$`)
	whsecPattern    = regexp.MustCompile(`^whsec_[0-9A-Za-z+/=_-]{8,}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate checks the settings and returns an error wrapping
// sdk.ErrInvalidArgument that names every problem. It never repeats a
// secret. An empty mode takes the key's.
func (s *settings) Validate() error {
	var problems []string
	keyMode := ""
	switch {
	case s.SecretKey == "":
		problems = append(problems, "secret_key is required (Stripe Dashboard > Developers > API keys)")
	case strings.HasPrefix(s.SecretKey, "pk_"):
		problems = append(problems, "secret_key is a publishable key (pk_...); use the secret key (sk_...) or a restricted key (rk_...)")
	case !apiKeyPattern.MatchString(s.SecretKey):
		problems = append(problems, "secret_key is not a Stripe secret key: it must look like sk_test_..., sk_live_..., rk_test_... or rk_live_...")
	default:
		keyMode = apiKeyPattern.FindStringSubmatch(s.SecretKey)[2]
	}
	switch s.Mode {
	case "", "test", "live":
		if s.Mode != "" && keyMode != "" && s.Mode != keyMode {
			problems = append(problems, fmt.Sprintf("mode is %q but secret_key is a %s key; use a %s key or set mode to %q", s.Mode, keyMode, s.Mode, keyMode))
		}
	default:
		problems = append(problems, fmt.Sprintf("mode must be \"test\" or \"live\", got %q", s.Mode))
	}
	if len(s.WebhookSecrets) == 0 {
		problems = append(problems, "webhook_secrets needs at least one endpoint signing secret (whsec_...) from Stripe Dashboard > Developers > Webhooks")
	}
	for i, w := range s.WebhookSecrets {
		if !whsecPattern.MatchString(w) {
			problems = append(problems, fmt.Sprintf("webhook_secrets[%d] is not a webhook signing secret: it must look like whsec_...", i))
		}
		if slices.Index(s.WebhookSecrets, w) < i {
			problems = append(problems, fmt.Sprintf("webhook_secrets[%d] repeats an earlier secret", i))
		}
	}
	if s.APIBaseURL != "" {
		if msg := checkBaseURL(s.APIBaseURL); msg != "" {
			problems = append(problems, "api_base_url "+msg)
		}
	}
	for i, c := range s.Currencies {
		if !currencyPattern.MatchString(c) {
			problems = append(problems, fmt.Sprintf("currencies[%d]: %q is not an upper-case ISO 4217 code such as \"USD\"", i, c))
		} else if _, err := stripeCurrencyOf(c); err != nil {
			problems = append(problems, fmt.Sprintf("currencies[%d]: Stripe does not take %s", i, c))
		} else if err := gateway.CheckMoney(c); err != nil {
			problems = append(problems, fmt.Sprintf("currencies[%d]: %v", i, err))
		}
	}
	if s.TimeoutSeconds < 1 || s.TimeoutSeconds > maxTimeoutSeconds {
		problems = append(problems, fmt.Sprintf("timeout_seconds must be 1 to %d, got %d", maxTimeoutSeconds, s.TimeoutSeconds))
	}
	if s.MaxNetworkRetries != nil && (*s.MaxNetworkRetries < 0 || *s.MaxNetworkRetries > maxRetries) {
		problems = append(problems, fmt.Sprintf("max_network_retries must be 0 to %d, got %d", maxRetries, *s.MaxNetworkRetries))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", sdk.ErrInvalidArgument, strings.Join(problems, "; "))
	}
	if s.Mode == "" {
		s.Mode = keyMode
	}
	return nil
}

// checkBaseURL returns what is wrong with an api_base_url, or "".
func checkBaseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "must be an absolute URL such as https://stripe-proxy.example.net"
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "must not hold credentials, a query or a fragment"
	}
	// stripe-go sends every request to the URL's root plus /v1/...; it
	// only drops a trailing /v1. Any other path would be lost, and every
	// call would fail.
	switch strings.TrimSuffix(u.EscapedPath(), "/") {
	case "", "/v1":
	default:
		return fmt.Sprintf("must not have a path (it has %q): Stripe's client sends every request to /v1/... at the address's root, so give the proxy's root, such as https://stripe-proxy.example.net, and have it serve Stripe's paths there", u.EscapedPath())
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return ""
		}
		return "must use https (http only on a loopback address): the secret key travels in every request"
	default:
		return "must use https"
	}
}

func (s settings) timeout() time.Duration { return time.Duration(s.TimeoutSeconds) * time.Second }

func (s settings) retries() int {
	if s.MaxNetworkRetries == nil {
		return defaultRetries
	}
	return *s.MaxNetworkRetries
}

// secrets are the values that must never appear in a log line.
func (s settings) secrets() []string {
	return append([]string{s.SecretKey}, s.WebhookSecrets...)
}
