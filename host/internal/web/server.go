// Package web is the host's HTTP surface: health and readiness, metrics, and
// (in later packages) the admin API, webhooks and plugin routes. All routes
// are installed in one place, routes.go.
//
// Handlers return errors; serveError maps each error to a status code and
// the API's error shape, {"error": {"code", "message", "details"}}.
package web

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Pinger is a dependency that can say whether it answers (the store).
type Pinger interface {
	Ping(ctx context.Context) error
	Driver() string
}

// Deps are what the HTTP layer serves.
type Deps struct {
	Config  *config.Config
	Logger  hclog.Logger
	Metrics *metrics.Metrics
	Plugins *plugins.Manager
	Store   Pinger
	// PluginMetrics gathers the plugins' own metrics for /metrics.
	PluginMetrics prometheus.Gatherer
	Version       string
	Started       time.Time

	// DB is the database the API works on (nil: no API).
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
	// CORSOrigins may call the API from a browser
	// (security.cors_origins): listed origins with cookies, "*" any origin
	// without them. Empty: no cross-origin calls.
	CORSOrigins []string
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
	return s
}

// Drain marks the host as shutting down: /ready answers 503 so load
// balancers stop sending traffic while requests in flight finish.
func (s *Server) Drain() { s.draining.Store(true) }
