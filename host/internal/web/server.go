// Package web is the host's HTTP surface: health and readiness, metrics,
// the admin API (/api/v1), the payment gateways' webhooks, the customers'
// pay page, and the routes plugins declare.
//
// Start at routes.go: router installs every route, one line each with the
// role it needs, and says where its handlers are. Handler files are named
// by resource (customers.go, invoices.go, plugin_settings.go, ...).
// Handler (routes.go) and security.go wrap the routes in the request
// guards; auth.go has the roles and the role check; validate.go reads and
// checks what requests send, for every handler; respond.go writes the
// answers.
//
// Handlers return errors; serveError (errors.go) maps each error to a
// status code and the API's error shape, {"error": {"code", "message",
// "details"}}.
//
// Writes follow one pattern: POST takes every field (defaults for those
// left out), PUT starts from the stored record and changes the fields the
// body names; both validate the whole record and answer 422 with a message
// per field. Successful writes answer with the record as GET shows it.
package web

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// Deps are what the HTTP layer serves.
type Deps struct {
	Config  *config.Config
	Logger  hclog.Logger
	Metrics *metrics.Metrics
	Plugins *plugins.Manager
	// PluginMetrics gathers the plugins' own metrics for /metrics.
	PluginMetrics prometheus.Gatherer
	Version       string
	Started       time.Time

	// DB is the database the API works on, and the store the health
	// checks ping (nil: no API, and not ready).
	DB *store.Store
	// Cipher encrypts secrets at rest (plugin settings, router passwords).
	Cipher *store.Cipher
	// Auth authenticates API requests (nil: every API request is anonymous).
	Auth Authenticator
	// Billing runs invoices, payments, webhooks and jobs (nil: none of
	// their routes).
	Billing *billing.Service
	// Cache reports the cache's health (nil: no cache to report).
	Cache CacheHealth

	// Accounts signs users in and checks bearer JWTs, API tokens and
	// session cookies (nil: no /auth, /tokens or /users routes). New makes
	// Auth from it when Auth is nil.
	Accounts *auth.Service
	// RateLimiter counts requests for the API's rate limits (a
	// cache.Limiter; nil: no rate limits).
	RateLimiter RateLimiter
	// Installs carries out plugin installs, upgrades, rollbacks and
	// removes on this host (nil: no such routes and no Marketplace page).
	// Its installer's Config.Sources are the trusted marketplaces.
	Installs *pluginstall.Runner
	// Hosts is this host's place among the hosts sharing the store: GET
	// /api/v1/hosts, and the changes every host applies (nil: one host,
	// no registry).
	Hosts Hosts
}

// Hosts is the registry of the hosts sharing the store (package hosts).
type Hosts interface {
	// View lists the hosts, their states, plugins and the leader.
	View(ctx context.Context) (hosts.View, error)
	// Changed tells every host that a plugin's settings (hosts.KindSettings)
	// or lasting disable (hosts.KindDisable) changed, after this host
	// applied the change itself.
	Changed(ctx context.Context, kind, plugin string) error
}

// CacheHealth is the cache as the health endpoints see it.
type CacheHealth interface {
	// Health is "ok" or "degraded" (Redis away, serving from memory).
	Health() (status, message string)
	// Mode is "redis" or "memory".
	Mode() string
}

// Server holds the HTTP layer's state.
type Server struct {
	deps     Deps
	log      hclog.Logger
	draining atomic.Bool
	policy   policy
	sec      *security
	// ui is the admin UI (nil without accounts: nobody could sign in).
	ui *ui.UI
}

// New returns the HTTP layer.
func New(deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = hclog.NewNullLogger()
	}
	if deps.Started.IsZero() {
		deps.Started = time.Now()
	}
	s := &Server{deps: deps, log: deps.Logger.Named("http")}
	s.initSecurity()
	if deps.Accounts != nil && deps.DB != nil && deps.Plugins != nil {
		u, err := s.newUI()
		if err != nil {
			// The templates are embedded and parsed by the tests: this is a
			// broken build, not a setting.
			panic(err)
		}
		s.ui = u
	}
	return s
}

// Drain marks the host as shutting down: /ready answers 503 so load
// balancers stop sending traffic while requests in flight finish.
func (s *Server) Drain() { s.draining.Store(true) }

// catalogQ returns the queries outside a transaction.
func (s *Server) catalogQ() *store.Queries { return s.deps.DB.Q() }

// catalogCipher returns the key for secrets at rest, or an error saying how to
// configure one.
func (s *Server) catalogCipher() (*store.Cipher, error) {
	if s.deps.Cipher == nil {
		return nil, &apiError{http.StatusServiceUnavailable, "no_encryption_key",
			"no encryption key is configured, so secrets cannot be stored or read; set security.encryption_key (MIKROBILL_ENCRYPTION_KEY) and restart", nil}
	}
	return s.deps.Cipher, nil
}
