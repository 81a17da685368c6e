package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Handler returns the host's HTTP handler with every route and middleware.
func (s *Server) Handler() http.Handler {
	return s.recoverer(s.requestID(s.securityHeaders(s.requestTimeout(s.compress(s.apiGuard(s.limitBody(s.router())))))))
}

// router installs every route (the route-by-role test walks it).
func (s *Server) router() *mux.Router {
	r := mux.NewRouter()
	// measure needs the matched route, which only middleware inside the
	// router sees; the rest wraps the router so unmatched requests get it too.
	r.Use(s.measure)

	r.Handle("/live", s.handle(s.live)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/ready", s.handle(s.ready)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/health", s.handle(s.health)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/health/detailed", s.handle(s.healthDetailed)).Methods(http.MethodGet)
	r.Handle("/health/plugins", s.handle(s.healthPlugins)).Methods(http.MethodGet)
	r.Handle("/metrics", s.deps.Metrics.Handler(s.deps.PluginMetrics)).Methods(http.MethodGet)

	api := r.PathPrefix("/api/v1").Subrouter()
	// Cookie-authenticated browsers must not be tricked into unsafe
	// requests from other sites.
	api.Use(s.csrf, s.authenticate)
	s.authRoutes(api)
	s.catalogRoutes(api)
	s.billingRoutes(r, api)
	s.pluginRoutes(api)

	r.NotFoundHandler = s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{http.StatusNotFound, "not_found", "no such route; see /health, /ready and /metrics", nil}
	})
	r.MethodNotAllowedHandler = s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route", nil}
	})
	return r
}

// handle adapts an error-returning handler.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.serveError(w, r, err)
		}
	})
}
