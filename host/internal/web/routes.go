package web

import (
	"fmt"
	"net/http"
	"strings"

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
	s.pluginHTTPRoutes(r)
	s.pluginRoutes(api)

	r.NotFoundHandler = s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{http.StatusNotFound, "not_found", "no such route; see /health, /ready and /metrics", nil}
	})
	r.MethodNotAllowedHandler = s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route", nil}
	})
	// gorilla/mux 1.8 loses a subrouter's method mismatch and reports it as
	// not found; ask the subrouter which methods the path has instead.
	api.NotFoundHandler = s.handle(func(w http.ResponseWriter, req *http.Request) error {
		if allow := allowedMethods(api, req); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on this route; use %s", req.Method, strings.Join(allow, " or ")), nil}
		}
		return &apiError{http.StatusNotFound, "not_found", "no such API route; docs/api.md lists them", nil}
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

// allowedMethods lists the methods router has a route for at req's path.
func allowedMethods(router *mux.Router, req *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == req.Method {
			continue
		}
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	return allow
}
