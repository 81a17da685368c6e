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
}

// Server holds the HTTP layer's state.
type Server struct {
	deps     Deps
	log      hclog.Logger
	draining atomic.Bool
	policy   policy
}

// New returns the HTTP layer.
func New(deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = hclog.NewNullLogger()
	}
	if deps.Started.IsZero() {
		deps.Started = time.Now()
	}
	return &Server{deps: deps, log: deps.Logger.Named("http")}
}

// Drain marks the host as shutting down: /ready answers 503 so load
// balancers stop sending traffic while requests in flight finish.
func (s *Server) Drain() { s.draining.Store(true) }
