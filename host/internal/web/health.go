package web

import (
	"context"
	"net/http"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/sdk"
)

// Overall health values of /health.
const (
	healthHealthy   = "healthy"
	healthDegraded  = "degraded"
	healthUnhealthy = "unhealthy"
)

const storePingTimeout = 2 * time.Second

type component struct {
	Status    string `json:"status"`
	Message   string `json:"message,omitempty"`
	LatencyMS int64  `json:"latency_ms"`
	Driver    string `json:"driver,omitempty"`
}

func (s *Server) storeComponent(ctx context.Context) component {
	if s.deps.DB == nil {
		return component{Status: healthUnhealthy, Message: "no store configured"}
	}
	ctx, cancel := context.WithTimeout(ctx, storePingTimeout)
	defer cancel()
	start := time.Now()
	err := s.deps.DB.Ping(ctx)
	c := component{Status: healthHealthy, LatencyMS: time.Since(start).Milliseconds(), Driver: s.deps.DB.Driver()}
	if err != nil {
		c.Status, c.Message = healthUnhealthy, err.Error()
	}
	return c
}

// cacheComponent reports the cache: degraded while Redis is away and the
// cache serves from memory (it keeps working, so it never makes the host
// not ready).
func (s *Server) cacheComponent() (component, bool) {
	if s.deps.Cache == nil {
		return component{}, false
	}
	status, msg := s.deps.Cache.Health()
	c := component{Status: healthHealthy, Message: msg, Driver: s.deps.Cache.Mode()}
	if status != "ok" {
		c.Status = healthDegraded
	}
	return c, true
}

// overall combines the store, the cache, the plugins and the audit trail
// into healthy, degraded or unhealthy: unhealthy when not ready, degraded
// when the cache is away, an optional plugin is down, any plugin reports
// itself degraded, or the audit trail is behind or failed its
// verification (unhealthy instead with audit.fail_closed).
func (s *Server) overall(store component, statuses []plugins.Status, au *auditHealth) string {
	if store.Status != healthHealthy || s.draining.Load() {
		return healthUnhealthy
	}
	if ok, _ := s.deps.Plugins.Ready(); !ok {
		return healthUnhealthy
	}
	if _, notReady := s.auditNotReady(au); notReady {
		return healthUnhealthy
	}
	if c, ok := s.cacheComponent(); ok && c.Status != healthHealthy {
		return healthDegraded
	}
	if au != nil && au.Status != healthHealthy {
		return healthDegraded
	}
	for _, st := range statuses {
		if st.State == plugins.StateDisabled {
			continue
		}
		if st.State != plugins.StateRunning || st.Health != string(sdk.HealthOK) {
			return healthDegraded
		}
	}
	return healthHealthy
}

func (s *Server) uptime() time.Duration { return time.Since(s.deps.Started).Truncate(time.Second) }

// live answers 200 while the process serves.
func (s *Server) live(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	return nil
}

// ready answers 200 only when every required plugin is running and healthy
// and the store answers (and, with audit.fail_closed, the audit trail is
// not behind and its log passed its last verification); otherwise 503
// with the reasons.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	var reasons []string
	if s.draining.Load() {
		reasons = append(reasons, "the host is shutting down")
	}
	if c := s.storeComponent(r.Context()); c.Status != healthHealthy {
		reasons = append(reasons, "the store does not answer: "+c.Message)
	}
	if ok, why := s.deps.Plugins.Ready(); !ok {
		reasons = append(reasons, why...)
	}
	if s.failClosed() {
		au, _ := s.auditHealth(r.Context())
		if why, notReady := s.auditNotReady(au); notReady {
			reasons = append(reasons, why)
		}
	}
	if len(reasons) > 0 {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "reasons": reasons})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	return nil
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	store := s.storeComponent(r.Context())
	au, hasAudit := s.auditHealth(r.Context())
	status := s.overall(store, s.deps.Plugins.Statuses(), au)
	code := http.StatusOK
	if status == healthUnhealthy {
		code = http.StatusServiceUnavailable
	}
	body := map[string]any{
		"status":         status,
		"version":        s.deps.Version,
		"environment":    s.deps.Config.Environment,
		"uptime":         s.uptime().String(),
		"uptime_seconds": int64(s.uptime().Seconds()),
	}
	if hasAudit {
		body["audit"] = au
	}
	writeJSON(w, code, body)
	return nil
}

func (s *Server) healthDetailed(w http.ResponseWriter, r *http.Request) error {
	store := s.storeComponent(r.Context())
	statuses := s.deps.Plugins.Statuses()
	au, hasAudit := s.auditHealth(r.Context())
	status := s.overall(store, statuses, au)
	_, reasons := s.deps.Plugins.Ready()
	if why, notReady := s.auditNotReady(au); notReady {
		reasons = append(reasons, why)
	}
	code := http.StatusOK
	if status == healthUnhealthy {
		code = http.StatusServiceUnavailable
	}
	components := map[string]component{"store": store}
	if c, ok := s.cacheComponent(); ok {
		components["cache"] = c
	}
	body := map[string]any{
		"status":         status,
		"version":        s.deps.Version,
		"environment":    s.deps.Config.Environment,
		"uptime":         s.uptime().String(),
		"uptime_seconds": int64(s.uptime().Seconds()),
		"components":     components,
		"plugins":        statuses,
		"not_ready":      reasons,
	}
	if hasAudit {
		body["audit"] = au
	}
	writeJSON(w, code, body)
	return nil
}

func (s *Server) healthPlugins(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"plugins": s.deps.Plugins.Statuses()})
	return nil
}
