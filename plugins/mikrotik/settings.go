package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// Default API ports of RouterOS: the api and api-ssl services.
const (
	DefaultPort    = 8728
	DefaultTLSPort = 8729
)

// settings are the plugin's settings (config_schema in plugin.json).
type settings struct {
	// Locations are the routers, each named by its id. None is allowed: the
	// plugin runs and reports itself degraded until one is configured.
	Locations []locationSettings `json:"locations"`
	// CommandTimeoutSeconds bounds each API command (login included),
	// 1 to 300 (default 10).
	CommandTimeoutSeconds int `json:"command_timeout_seconds"`
	// DialTimeoutSeconds bounds connecting to a router (TCP and the TLS
	// handshake), 1 to 60 (default 5).
	DialTimeoutSeconds int `json:"dial_timeout_seconds"`
}

// locationSettings is one router.
type locationSettings struct {
	// ID names the router in every call: the host's location name. It
	// matches ^[a-z][a-z0-9-]{0,62}$; required.
	ID string `json:"id"`
	// Name is for people (default: the id).
	Name string `json:"name"`
	// Address is the router's host name or IP address, without a port;
	// required.
	Address string `json:"address"`
	// Port is the API port (default 8728, or 8729 with TLS).
	Port int `json:"port"`
	// TLS connects to the api-ssl service instead of the plain api one.
	TLS bool `json:"tls"`
	// CAPEM (TLS only) is the PEM of the certificate authorities that sign
	// the router's certificate. Default: the system's roots, unless
	// CertSHA256 is set.
	CAPEM string `json:"ca_pem"`
	// CertSHA256 (TLS only) pins the router's certificate: the SHA-256 of
	// its DER encoding, in hex (colons and spaces are ignored). With a pin
	// and no CAPEM, the certificate is trusted by the pin alone (fit for a
	// router's self-signed certificate).
	CertSHA256 string `json:"cert_sha256"`
	// ServerName (TLS only) is the name the certificate must be issued
	// for, when it is not Address.
	ServerName string `json:"server_name"`
	// Username is the RouterOS user the plugin logs in as (default
	// "admin"). It needs the api, read and write policies, and sensitive to
	// compare passwords.
	Username string `json:"username"`
	// Password is that user's password; secret. Default: empty.
	Password string `json:"password"`
}

// DefaultSettings are the settings an operator leaves out.
func DefaultSettings() settings {
	return settings{CommandTimeoutSeconds: 10, DialTimeoutSeconds: 5}
}

var locationID = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// normalize fills in per-location defaults.
func (s *settings) normalize() {
	for i := range s.Locations {
		l := &s.Locations[i]
		l.ID = strings.TrimSpace(l.ID)
		l.Address = strings.TrimSpace(l.Address)
		l.Address = strings.TrimSuffix(strings.TrimPrefix(l.Address, "["), "]")
		if strings.TrimSpace(l.Name) == "" {
			l.Name = l.ID
		}
		if l.Port == 0 {
			l.Port = DefaultPort
			if l.TLS {
				l.Port = DefaultTLSPort
			}
		}
		if l.Username == "" {
			l.Username = "admin"
		}
		l.CertSHA256 = normalizeFingerprint(l.CertSHA256)
	}
}

// normalizeFingerprint drops separators and lower-cases a hex fingerprint.
func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s)))
}

// Validate checks normalized settings and names every problem; the error
// wraps sdk.ErrInvalidArgument and never repeats a password.
func (s *settings) Validate() error {
	var problems []string
	if s.CommandTimeoutSeconds < 1 || s.CommandTimeoutSeconds > 300 {
		problems = append(problems, fmt.Sprintf("command_timeout_seconds must be 1 to 300, got %d", s.CommandTimeoutSeconds))
	}
	if s.DialTimeoutSeconds < 1 || s.DialTimeoutSeconds > 60 {
		problems = append(problems, fmt.Sprintf("dial_timeout_seconds must be 1 to 60, got %d", s.DialTimeoutSeconds))
	}
	seen := map[string]bool{}
	for i, l := range s.Locations {
		where := fmt.Sprintf("locations[%d]", i)
		if l.ID != "" {
			where = fmt.Sprintf("locations[%d] (%q)", i, l.ID)
		}
		switch {
		case !locationID.MatchString(l.ID):
			problems = append(problems, fmt.Sprintf("%s: id must be a lower-case letter followed by up to 62 lower-case letters, digits or dashes, for example \"main\" or \"branch-2\", got %q", where, l.ID))
		case seen[l.ID]:
			problems = append(problems, fmt.Sprintf("%s: id is used twice; every location needs its own", where))
		}
		seen[l.ID] = true
		if err := checkAddress(l.Address); err != nil {
			problems = append(problems, fmt.Sprintf("%s: address %v", where, err))
		}
		if l.Port < 1 || l.Port > 65535 {
			problems = append(problems, fmt.Sprintf("%s: port must be 1 to 65535, got %d", where, l.Port))
		}
		if strings.ContainsAny(l.Username, "\x00\r\n") {
			problems = append(problems, fmt.Sprintf("%s: username contains a control character", where))
		}
		if !l.TLS {
			for _, f := range []struct{ name, value string }{{"ca_pem", l.CAPEM}, {"cert_sha256", l.CertSHA256}, {"server_name", l.ServerName}} {
				if f.value != "" {
					problems = append(problems, fmt.Sprintf("%s: %s is set but tls is false; set \"tls\": true to use it (and enable api-ssl on the router)", where, f.name))
				}
			}
			continue
		}
		if l.CertSHA256 != "" {
			if b, err := hex.DecodeString(l.CertSHA256); err != nil || len(b) != sha256.Size {
				problems = append(problems, fmt.Sprintf("%s: cert_sha256 must be 64 hex digits (the SHA-256 fingerprint of the router's certificate), got %d characters", where, len(l.CertSHA256)))
			}
		}
		if l.CAPEM != "" {
			if _, err := certPool(l.CAPEM); err != nil {
				problems = append(problems, fmt.Sprintf("%s: ca_pem %v", where, err))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", sdk.ErrInvalidArgument, strings.Join(problems, "; "))
	}
	return nil
}

func checkAddress(a string) error {
	switch {
	case a == "":
		return errors.New("is required: the router's IP address or host name, for example \"192.168.88.1\"")
	case strings.ContainsAny(a, "/ \t\r\n"):
		return fmt.Errorf("must be an IP address or host name, got %q", a)
	}
	if net.ParseIP(a) != nil {
		return nil
	}
	if h, p, err := net.SplitHostPort(a); err == nil {
		return fmt.Errorf("must not include a port (got %q); put %s in \"port\" and %q in \"address\"", a, p, h)
	}
	if strings.Contains(a, ":") {
		return fmt.Errorf("must be an IP address or host name, got %q", a)
	}
	return nil
}

func certPool(pemText string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pemText)) {
		return nil, errors.New("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	return pool, nil
}

// hostPort is the router's API address.
func (l *locationSettings) hostPort() string {
	return net.JoinHostPort(l.Address, strconv.Itoa(l.Port))
}

// tlsConfig is the client TLS configuration of a location with TLS: the
// system's roots or ca_pem check the chain and the name, and cert_sha256,
// when set, pins the leaf certificate (alone, when there is no ca_pem).
func (l *locationSettings) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: l.ServerName}
	if cfg.ServerName == "" {
		cfg.ServerName = l.Address
	}
	if l.CAPEM != "" {
		pool, err := certPool(l.CAPEM)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if l.CertSHA256 == "" {
		return cfg, nil
	}
	want, err := hex.DecodeString(l.CertSHA256)
	if err != nil || len(want) != sha256.Size {
		return nil, errors.New("cert_sha256 is not a SHA-256 fingerprint")
	}
	if l.CAPEM == "" {
		// The pin alone decides; the chain and the name are not checked
		// (a router's self-signed certificate has neither).
		cfg.InsecureSkipVerify = true
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the router sent no certificate")
		}
		got := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if subtle.ConstantTimeCompare(got[:], want) != 1 {
			return fmt.Errorf("the router's certificate has SHA-256 %s, not the cert_sha256 configured; if the router's certificate was replaced on purpose, update cert_sha256", hex.EncodeToString(got[:]))
		}
		return nil
	}
	return cfg, nil
}

// sameConnection reports whether a and b connect to the same router the
// same way (everything but the name).
func (l locationSettings) sameConnection(b locationSettings) bool {
	l.Name, b.Name = "", ""
	return l == b
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }
