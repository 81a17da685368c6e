package web

// The route-by-role matrix: every route of the host is walked as an
// anonymous caller and as each role, and must let in exactly the roles its
// policy names. It reads the routes from the router and the roles from the
// policies router records as it installs each route (routes.go), so routes
// added later are covered without editing this file, and a route installed
// without a role fails it. The plugins' routes, whose roles come from their
// manifests, have their own matrix (plugin_routes_test.go).

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// roleHeaderAuth makes the caller whatever role X-Test-Role names; without
// it the caller is anonymous.
type roleHeaderAuth struct{}

func (roleHeaderAuth) Authenticate(r *http.Request) (*Principal, error) {
	role := r.Header.Get("X-Test-Role")
	if role == "" {
		return nil, nil
	}
	return &Principal{UserID: 1, Username: "matrix-" + role, Role: role, Via: auth.ViaToken, TokenID: 1}, nil
}

// matrixServer is the full host handler with every dependency that adds
// routes.
func matrixServer(t *testing.T) *Server {
	t.Helper()
	return matrixServerOn(t, storetest.SQLite(t), nil)
}

// matrixServerOn is matrixServer on db, with billing reaching plugins
// (nil: none).
func matrixServerOn(t testing.TB, db *store.Store, pl billing.Plugins) *Server {
	t.Helper()
	cipher, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &cheapParams})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	pm := noPlugins(t, cfg)
	return New(Deps{
		Config: cfg, Metrics: metrics.New(), DB: db, Cipher: cipher, Plugins: pm,
		Accounts: acc, Auth: roleHeaderAuth{},
		Installs: pluginstall.NewRunner(pluginstall.New(pluginstall.Config{Dir: cfg.Plugins.Dir, HostVersion: "1.0.0", Host: pm}), nil),
		Billing:  billing.New(db, cipher, pl, billing.Config{}, nil),
	})
}

// noPlugins starts a plugin manager over an empty plugins folder (the
// pages need one), with cfg's data and plugins folders the test's own.
func noPlugins(t testing.TB, cfg *config.Config) *plugins.Manager {
	t.Helper()
	cfg.DataDir, cfg.Plugins.Dir = t.TempDir(), t.TempDir()
	pm := plugins.New(cfg, plugins.Deps{HostVersion: "1.0.0"})
	if err := pm.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pm.Stop(context.Background()) })
	return pm
}

// matrixRoute is one method on one route.
type matrixRoute struct {
	key  string // "METHOD /template", as in Policies
	url  string
	role string
}

// urlFor fills a route's variables with values its patterns accept.
func urlFor(t *testing.T, route *mux.Route) string {
	t.Helper()
	names, err := route.GetVarNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1", "a", "a1", "x-1"} {
		var pairs []string
		for _, n := range names {
			pairs = append(pairs, n, v)
		}
		if u, err := route.URLPath(pairs...); err == nil {
			return u.Path
		}
	}
	tmpl, _ := route.GetPathTemplate()
	t.Fatalf("cannot build a URL for %s: give urlFor a value its variables accept", tmpl)
	return ""
}

// tableRoutes walks a router for every method of every route and returns
// them with their policies, and the problems: routes without a recorded
// role, and policies without a route.
func tableRoutes(t *testing.T, s *Server, router *mux.Router) (routes []matrixRoute, problems []string) {
	t.Helper()
	policies := s.Policies()
	seen := map[string]bool{}
	err := router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's prefix
		}
		tmpl, err := route.GetPathTemplate()
		if err != nil || tmpl == pluginRoutePrefix+"{plugin}" {
			return nil // the plugins' routes: PluginPolicies
		}
		methods, err := route.GetMethods()
		if err != nil {
			problems = append(problems, tmpl+" has no method: install routes with s.route")
			return nil
		}
		for _, m := range methods {
			key := m + " " + tmpl
			role, ok := policies[key]
			switch {
			case ok:
				routes = append(routes, matrixRoute{key: key, url: urlFor(t, route), role: role})
				seen[key] = true
			default:
				problems = append(problems, key+" has no recorded role: install it with s.route, naming the role it needs (rolePublic for none)")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range PolicyKeys(policies) {
		if !seen[key] {
			problems = append(problems, fmt.Sprintf("policy %q = %q has no route on the router", key, policies[key]))
		}
	}
	return routes, problems
}

func TestRouteRoleMatrix(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	routes, problems := tableRoutes(t, s, s.router())
	for _, p := range problems {
		t.Error(p)
	}
	policies := s.Policies()
	for _, must := range []string{"POST /api/v1/auth/login", "GET /api/v1/auth/me", "POST /api/v1/users", "DELETE /api/v1/tokens/{id}", "POST /api/v1/plugins/{name}/disable",
		"GET /live", "HEAD /ready", "GET /metrics", "POST /webhooks/{plugin}", "GET /pay/{number}",
		"GET /", "POST /signin", "POST /plugin/{name}/disable"} {
		if _, ok := policies[must]; !ok {
			t.Errorf("policy for %s missing: the matrix would be checking too little", must)
		}
	}
	callers := []string{"", RoleViewer, RoleOperator, RoleAdmin}
	for _, rt := range routes {
		t.Run(rt.key, func(t *testing.T) {
			method := strings.SplitN(rt.key, " ", 2)[0]
			for _, caller := range callers {
				req := httptest.NewRequest(method, rt.url, nil)
				req.RemoteAddr = "192.0.2.10:40000"
				if caller != "" {
					req.Header.Set("X-Test-Role", caller)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				got := resp{Status: rec.Code, Body: rec.Body.Bytes()}
				who := caller
				if who == "" {
					who = "anonymous"
				}
				if s.policy.isPage(rt.key) {
					checkPage(t, rt, caller, who, rec)
					continue
				}
				switch {
				case rt.role == "":
					if got.Status == http.StatusUnauthorized || got.Status == http.StatusForbidden {
						t.Errorf("public route, %s: %d %s", who, got.Status, got.Body)
					}
				case caller == "":
					if got.Status != http.StatusUnauthorized || got.code() != "unauthenticated" {
						t.Errorf("anonymous: %d %s; want 401", got.Status, got.Body)
					}
				case !RoleAtLeast(caller, rt.role):
					if got.Status != http.StatusForbidden || got.code() != "forbidden" {
						t.Errorf("%s on a %s route: %d %s; want 403", who, rt.role, got.Status, got.Body)
					}
				default:
					if got.Status == http.StatusUnauthorized || got.Status == http.StatusForbidden {
						t.Errorf("%s on a %s route: %d %s; want neither 401 nor 403", who, rt.role, got.Status, got.Body)
					}
				}
			}
		})
	}
}

// checkPage checks a UI page's answer to a caller: anonymous callers of a
// page with a role are sent to the sign-in page, callers below its role
// get the HTML error page with 403.
func checkPage(t *testing.T, rt matrixRoute, caller, who string, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch {
	case rt.role == "":
		if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
			t.Errorf("public page, %s: %d %s", who, rec.Code, rec.Body)
		}
	case rt.role == roleCustomer:
		// The customer portal's pages: no admin role opens them, each
		// caller is sent to the portal's sign-in (portal_test.go signs a
		// customer in).
		if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/portal/signin" {
			t.Errorf("%s on a portal page: %d to %q; want 303 to the portal's sign-in page", who, rec.Code, loc)
		}
	case caller == "":
		if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
			t.Errorf("anonymous: %d to %q; want 303 to the sign-in page", rec.Code, loc)
		}
	case !RoleAtLeast(caller, rt.role):
		if rec.Code != http.StatusForbidden || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s on a %s page: %d %s; want the 403 page", who, rt.role, rec.Code, rec.Header().Get("Content-Type"))
		}
	default:
		if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden || rec.Code == http.StatusSeeOther && strings.HasPrefix(rec.Header().Get("Location"), "/signin") {
			t.Errorf("%s on a %s page: %d to %q; want neither a refusal nor the sign-in page", who, rt.role, rec.Code, rec.Header().Get("Location"))
		}
	}
}

// TestRouteMatrixCatchesUnprotectedRoutes: a route added without a role,
// in the API or outside it, is reported.
func TestRouteMatrixCatchesUnprotectedRoutes(t *testing.T) {
	s := matrixServer(t)
	r := s.router()
	r.Handle("/api/v1/sneaky", http.NotFoundHandler()).Methods(http.MethodGet)
	r.Handle("/api/v1/lazy", http.NotFoundHandler())
	r.Handle("/sneaky", http.NotFoundHandler()).Methods(http.MethodPost)
	_, problems := tableRoutes(t, s, r)
	want := []string{
		"GET /api/v1/sneaky has no recorded role: install it with s.route, naming the role it needs (rolePublic for none)",
		"/api/v1/lazy has no method: install routes with s.route",
		"POST /sneaky has no recorded role: install it with s.route, naming the role it needs (rolePublic for none)",
	}
	if diff := cmp.Diff(want, problems, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
