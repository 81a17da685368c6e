package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/sdk"
)

// pluginRoutePrefix is where plugin routes are mounted.
const pluginRoutePrefix = "/plugins/"

// pluginRoutes serves /plugins/{plugin}/..., the routes the plugins'
// manifests declare, each forwarded to its plugin's HandleHTTP (the
// optional sdk.HTTPHandler capability). router installs it on the root
// router, so the request metrics (measure) see them.
//
// The routes are matched when a request arrives, against the manifests of
// the plugins the manager has then; they are not installed on the router
// one by one. So the router does not depend on being built after the
// manager has started, and which plugins exist and which run is known in
// one place, the manager. The one catch-all route also gives every plugin
// route the same metrics label, "/plugins/{plugin}", whatever URLs are
// requested.
//
// A request passes, in order: the manifest match (404 for an unknown
// plugin or path, 405 with Allow for a declared path with another method);
// CSRF protection (csrf, as on the API); on every level but public,
// authentication (authenticate, as on the API) and the role check (401,
// 403); then the call to the plugin (503 with Retry-After when it is not
// running).
func (s *Server) pluginRoutes() http.Handler {
	h := &pluginRouter{s: s, tables: map[string]*pluginRouteTable{}}
	h.public = s.csrf(s.handle(s.forwardPluginRoute))
	h.protected = s.csrf(s.authenticate(s.handle(s.forwardPluginRoute)))
	return h
}

// PluginPolicies returns "METHOD /plugins/<name><path>" -> the role each
// plugin route needs ("" for public), from the manifests of the plugins
// the manager has now, for the route-by-role tests. Policies has the
// /api/v1 routes.
func (s *Server) PluginPolicies() map[string]string {
	out := map[string]string{}
	if s.deps.Plugins == nil {
		return out
	}
	for _, p := range s.deps.Plugins.Plugins() {
		m := p.Manifest()
		if m == nil {
			continue
		}
		for _, rt := range m.Routes {
			out[rt.Method+" "+pluginRoutePrefix+p.Name()+rt.Path] = routeRole(rt.Auth)
		}
	}
	return out
}

// routeRole is the role a manifest access level needs: rolePublic for
// public, the role of the same name otherwise. Empty (a manifest built in
// code) and anything unknown need admin.
func routeRole(level string) string {
	switch level {
	case manifest.AuthPublic:
		return rolePublic
	case manifest.AuthViewer:
		return RoleViewer
	case manifest.AuthOperator:
		return RoleOperator
	default:
		return RoleAdmin
	}
}

// pluginRouter matches a request against its plugin's manifest and hands
// it to the public or the protected chain.
type pluginRouter struct {
	s                 *Server
	public, protected http.Handler

	mu     sync.Mutex
	tables map[string]*pluginRouteTable // by plugin name
}

// pluginRouteTable is a manifest's routes, compiled.
type pluginRouteTable struct {
	manifest *manifest.Manifest // compiled from
	routes   []compiledRoute
}

type compiledRoute struct {
	decl manifest.Route
	path *mux.Route // matches the path only
}

// pluginMatch is the matched route, for forwardPluginRoute.
type pluginMatch struct {
	plugin *plugins.Plugin
	route  manifest.Route
	role   string // rolePublic for public
	// rel is the path relative to /plugins/{name}.
	rel  string
	vars map[string]string
}

type pluginMatchKey struct{}

func (h *pluginRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m, err := h.match(w, r)
	if err != nil {
		h.s.serveError(w, r, err)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), pluginMatchKey{}, m))
	if m.role == rolePublic {
		h.public.ServeHTTP(w, r)
		return
	}
	h.protected.ServeHTTP(w, r)
}

// match finds the manifest route for a request. For a declared path with
// another method it sets Allow and returns a 405.
func (h *pluginRouter) match(w http.ResponseWriter, r *http.Request) (*pluginMatch, error) {
	name := mux.Vars(r)["plugin"]
	var p *plugins.Plugin
	if h.s.deps.Plugins != nil {
		p, _ = h.s.deps.Plugins.Plugin(name)
	}
	if p == nil {
		return nil, &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no plugin %q serves routes here", name), nil}
	}
	rel := strings.TrimPrefix(r.URL.Path, pluginRoutePrefix+name)
	table := h.table(p)
	if rel == "" || table == nil {
		return nil, &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("plugin %q has no route %s; its plugin.json lists the routes it serves", name, r.URL.Path), nil}
	}
	probe := r.WithContext(r.Context())
	u := *r.URL
	u.Path, u.RawPath = rel, ""
	probe.URL = &u
	var allow []string
	for _, cr := range table.routes {
		var rm mux.RouteMatch
		if !cr.path.Match(probe, &rm) {
			continue
		}
		if cr.decl.Method == r.Method {
			return &pluginMatch{plugin: p, route: cr.decl, role: routeRole(cr.decl.Auth), rel: rel, vars: rm.Vars}, nil
		}
		if !slices.Contains(allow, cr.decl.Method) {
			allow = append(allow, cr.decl.Method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return nil, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on this route; use %s", r.Method, strings.Join(allow, " or ")), nil}
	}
	return nil, &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("plugin %q has no route %s; its plugin.json lists the routes it serves", name, r.URL.Path), nil}
}

// table returns the plugin's compiled routes (nil when the plugin has no
// manifest), compiling them when the manifest is new.
func (h *pluginRouter) table(p *plugins.Plugin) *pluginRouteTable {
	m := p.Manifest()
	if m == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.tables[p.Name()]; t != nil && t.manifest == m {
		return t
	}
	t := &pluginRouteTable{manifest: m}
	scratch := mux.NewRouter()
	for _, decl := range m.Routes {
		rt := scratch.NewRoute().Path(decl.Path)
		if err := rt.GetError(); err != nil {
			// Manifest validation accepts only paths mux compiles.
			h.s.log.Error("plugin route not served: its path does not compile", "plugin", p.Name(), "path", decl.Path, "error", err)
			continue
		}
		t.routes = append(t.routes, compiledRoute{decl: decl, path: rt})
	}
	h.tables[p.Name()] = t
	return t
}

// forwardPluginRoute checks the caller's role, calls the plugin's
// HandleHTTP and writes its answer.
func (s *Server) forwardPluginRoute(w http.ResponseWriter, r *http.Request) error {
	m := r.Context().Value(pluginMatchKey{}).(*pluginMatch)
	var caller *Principal
	if m.role != rolePublic {
		caller = PrincipalFrom(r.Context())
		if err := checkRole(w, caller, m.role); err != nil {
			return err
		}
	}
	name := m.plugin.Name()
	if st := m.plugin.Status(); st.State.Up() && !slices.Contains(st.Capabilities, sdk.CapabilityHTTP) {
		return &apiError{http.StatusNotImplemented, "not_supported", fmt.Sprintf("plugin %q declares routes in plugin.json but does not serve HTTP (it does not report the %q capability); its author must implement sdk.HTTPHandler", name, sdk.CapabilityHTTP), nil}
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	res, err := m.plugin.Base().HandleHTTP(r.Context(), &sdk.HandleHTTPRequest{
		Request:    s.pluginHTTPRequest(r, m.rel, body, caller),
		Route:      m.route.Path,
		PathParams: m.vars,
	})
	if err != nil {
		return err
	}
	return writePluginResponse(w, name, res.Response)
}

// Request headers that never reach a plugin: the caller's credentials are
// the host's to check, and the plugin gets the caller as Principal.
var pluginStrippedRequestHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

// pluginHTTPRequest is the request as the plugin sees it: path relative
// to /plugins/{name}, without credentials, with the caller (nil on public
// routes) and the client's address after trusted proxies.
func (s *Server) pluginHTTPRequest(r *http.Request, rel string, body []byte, caller *Principal) sdk.HTTPRequest {
	header := r.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	for _, k := range pluginStrippedRequestHeaders {
		header.Del(k)
	}
	remote := r.RemoteAddr
	if ip := s.sec.clientIP(r); ip.IsValid() && ip != peerAddr(r) {
		remote = ip.String() // forwarded by a trusted proxy
	}
	req := sdk.HTTPRequest{
		Method: r.Method, Path: rel, RawQuery: r.URL.RawQuery, Header: header, Body: body,
		RemoteAddr: remote, Host: r.Host, ReceivedAt: time.Now(), RequestID: r.Header.Get("X-Request-ID"),
	}
	if caller != nil {
		// Subject is the user's id, as in the JWT's "sub"; an API token
		// acts for its user.
		req.Principal = &sdk.Principal{Subject: strconv.FormatInt(caller.UserID, 10), Role: caller.Role}
	}
	return req
}

// Response headers a plugin may not send: framing is the host's, and
// cookies would be set on the host's origin (where the admin's session
// lives) while requests to plugins never carry cookies back.
var pluginDroppedResponseHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Upgrade": true, "Trailer": true, "Te": true, "Content-Length": true, "Set-Cookie": true,
}

// writePluginResponse writes a plugin's answer. Status 0 means 200. The
// headers the host has set already (security headers, X-Request-ID) stay
// the host's; a plugin's Vary is added to the host's.
func writePluginResponse(w http.ResponseWriter, plugin string, res sdk.HTTPResponse) error {
	status := res.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 599 {
		return &apiError{http.StatusBadGateway, "bad_plugin_response", fmt.Sprintf("plugin %q answered with HTTP status %d, which is not a final status (200 to 599); its author must fix it", plugin, res.StatusCode), nil}
	}
	h := w.Header()
	for k, vs := range res.Header {
		k = http.CanonicalHeaderKey(k)
		switch {
		case pluginDroppedResponseHeaders[k]:
		case k == "Vary":
			for _, v := range vs {
				h.Add(k, v)
			}
		case len(h.Values(k)) > 0:
		default:
			h[k] = slices.Clone(vs)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(res.Body)
	return nil
}
