package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// onlineRouter is a router plugin with active sessions.
type onlineRouter struct {
	leftoverRouter
	smu      sync.Mutex
	sessions []router.Session
}

func (r *onlineRouter) ListActiveSessions(_ context.Context, req *router.ListActiveSessionsRequest) (*router.ListActiveSessionsResponse, error) {
	r.smu.Lock()
	defer r.smu.Unlock()
	var out []router.Session
	for _, s := range r.sessions {
		if s.Kind == req.Kind {
			out = append(out, s)
		}
	}
	return &router.ListActiveSessionsResponse{Sessions: out}, nil
}

func (r *onlineRouter) DisconnectSession(_ context.Context, req *router.DisconnectSessionRequest) (*router.DisconnectSessionResponse, error) {
	r.smu.Lock()
	defer r.smu.Unlock()
	for i, s := range r.sessions {
		if s.Kind == req.Kind && s.ID == req.SessionID {
			r.sessions = append(r.sessions[:i], r.sessions[i+1:]...)
			return &router.DisconnectSessionResponse{Disconnected: 1}, nil
		}
	}
	return &router.DisconnectSessionResponse{}, nil
}

func (r *onlineRouter) GetResources(_ context.Context, req *router.GetResourcesRequest) (*router.GetResourcesResponse, error) {
	if req.Location != "main" {
		return nil, fmt.Errorf("%w %q: configured locations are main", router.ErrUnknownLocation, req.Location)
	}
	return &router.GetResourcesResponse{Resources: router.Resources{Location: "main", Version: "7.16.2 (stable)"}}, nil
}

// routersAPI is the API over a store with a key, billing and a router
// plugin, with a token per role.
type routersAPI struct {
	*authAPI
	rt     *onlineRouter
	cipher *store.Cipher
	tokens map[string]string
}

func newRoutersAPI(t *testing.T) *routersAPI {
	t.Helper()
	ctx := context.Background()
	db := storetest.SQLite(t)
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	rt := &onlineRouter{sessions: []router.Session{
		{ID: "*1A", Kind: router.KindHotspot, User: "alice", Address: "10.5.50.12", MACAddress: "AA:BB:CC:00:11:22", Uptime: 3725 * time.Second, BytesIn: 1 << 20, BytesOut: 50 << 20},
		{ID: "*1A", Kind: router.KindPPP, User: "bob", Address: "10.9.0.2", Uptime: time.Minute},
	}}
	svc, err := billing.NewWithQueue(db, cip, testutil.Plugins{Routers: map[string]router.Router{"mikrotik": sdktest.Serve(t, rt).Router()}}, billing.Config{}, nil, billing.QueueConfig{Jobs: jobs.Config{PollInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthAPI(t, db, func(d *Deps) { d.Billing, d.Cipher = svc, cip })
	ra := &routersAPI{authAPI: a, rt: rt, cipher: cip, tokens: map[string]string{}}
	for _, role := range []string{store.UserRoleAdmin, store.UserRoleOperator, store.UserRoleViewer} {
		u := a.user(role+"-user", "correct horse battery", role)
		tok, _, err := auth.CreateToken(ctx, db, u.ID, "test", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		ra.tokens[role] = tok
	}
	return ra
}

func (a *routersAPI) as(role, method, path string, body any) resp {
	a.t.Helper()
	return a.do(method, path, body, withBearer(a.tokens[role]))
}

// savedLocations reads the router plugin's saved "locations" setting.
func (a *routersAPI) savedLocations() []map[string]any {
	a.t.Helper()
	ps, err := a.db.Q().GetPluginSettings(context.Background(), "mikrotik", a.cipher)
	if err != nil {
		a.t.Fatal(err)
	}
	var s struct {
		Locations []map[string]any `json:"locations"`
	}
	if err := json.Unmarshal(ps.Settings, &s); err != nil {
		a.t.Fatal(err)
	}
	return s.Locations
}

// TestLocationRouterAPI: a location carries its router (admins only); the
// password is write-only, encrypted at rest, kept when a PUT leaves it
// out; the router plugin's locations setting follows the store; bad
// routers are 422s that name the field.
func TestLocationRouterAPI(t *testing.T) {
	a := newRoutersAPI(t)
	ctx := context.Background()
	withRouter := map[string]any{"name": "main", "description": "Head office",
		"router": map[string]any{"address": "192.0.2.1", "username": "billing", "password": "s3cret-pass"}}

	if r := a.as(store.UserRoleOperator, http.MethodPost, "/api/v1/locations", withRouter); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "admin") {
		t.Errorf("operator setting a router: %d %s, want 403 naming the admin role", r.Status, r.Body)
	}
	r := a.as(store.UserRoleAdmin, http.MethodPost, "/api/v1/locations", withRouter)
	if r.Status != http.StatusCreated {
		t.Fatalf("create with a router: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), "s3cret") {
		t.Errorf("the answer shows the password: %s", r.Body)
	}
	var loc locationJSON
	r.json(t, &loc)
	if loc.Router == nil || loc.Router.Address != "192.0.2.1" || loc.Router.Username != "billing" || !loc.Router.PasswordSet {
		t.Errorf("router in the answer = %+v", loc.Router)
	}
	var raw string
	if err := a.db.Q().DB().QueryRow(ctx, "SELECT password_enc FROM router_connections WHERE location_id = ?", loc.ID).Scan(&raw); err != nil || raw == "s3cret-pass" || !store.IsEncrypted(raw) {
		t.Errorf("password at rest = %q, %v; want it encrypted", raw, err)
	}
	if got := a.savedLocations(); len(got) != 1 || got[0]["id"] != "main" || got[0]["password"] != "s3cret-pass" || got[0]["address"] != "192.0.2.1" {
		t.Errorf("the router plugin's locations = %v", got)
	}
	// The plugin settings as the API shows them: the password redacted.
	if r := a.as(store.UserRoleOperator, http.MethodGet, "/api/v1/plugin-settings/mikrotik", nil); r.Status != http.StatusOK || strings.Contains(string(r.Body), "s3cret") || !strings.Contains(string(r.Body), redactedValue) {
		t.Errorf("plugin settings: %d %s; want the password redacted", r.Status, r.Body)
	}
	for _, role := range []string{store.UserRoleViewer, store.UserRoleOperator, store.UserRoleAdmin} {
		for _, path := range []string{"/api/v1/locations", fmt.Sprintf("/api/v1/locations/%d", loc.ID)} {
			r := a.as(role, http.MethodGet, path, nil)
			if r.Status != http.StatusOK || strings.Contains(string(r.Body), "s3cret") || !strings.Contains(string(r.Body), `"password_set": true`) {
				t.Errorf("%s GET %s: %d %s", role, path, r.Status, r.Body)
			}
		}
	}

	// An operator may change the rest, not the router.
	id := fmt.Sprint(loc.ID)
	if r := a.as(store.UserRoleOperator, http.MethodPut, "/api/v1/locations/"+id, map[string]any{"description": "HQ"}); r.Status != http.StatusOK {
		t.Errorf("operator changing the description: %d %s", r.Status, r.Body)
	}
	if r := a.as(store.UserRoleOperator, http.MethodPut, "/api/v1/locations/"+id, map[string]any{"router": nil}); r.Status != http.StatusForbidden {
		t.Errorf("operator removing the router: %d %s, want 403", r.Status, r.Body)
	}
	// A PUT without the password keeps it; a rename renames the router.
	r = a.as(store.UserRoleAdmin, http.MethodPut, "/api/v1/locations/"+id, map[string]any{"name": "hq",
		"router": map[string]any{"address": "192.0.2.2", "port": 8729, "tls": true, "cert_sha256": strings.Repeat("AB:", 31) + "AB"}})
	if r.Status != http.StatusOK {
		t.Fatalf("change the router: %d %s", r.Status, r.Body)
	}
	got := a.savedLocations()
	if len(got) != 1 || got[0]["id"] != "hq" || got[0]["password"] != "s3cret-pass" || got[0]["address"] != "192.0.2.2" ||
		got[0]["cert_sha256"] != strings.Repeat("ab", 32) || got[0]["username"] != "admin" {
		t.Errorf("after the change, the router plugin's locations = %v", got)
	}

	// Bad routers: 422 with the field and what to do.
	for _, tc := range []struct {
		router map[string]any
		field  string
		want   string
	}{
		{map[string]any{"address": ""}, "router.address", "required"},
		{map[string]any{"address": "192.0.2.1:8728"}, "router.address", "must not include a port"},
		{map[string]any{"address": "192.0.2.1", "port": 70000}, "router.port", "1 to 65535"},
		{map[string]any{"address": "192.0.2.1", "cert_sha256": "ab"}, "router.cert_sha256", "only with TLS"},
		{map[string]any{"address": "192.0.2.1", "tls": true, "cert_sha256": "abc"}, "router.cert_sha256", "64 hex digits"},
		{map[string]any{"address": "192.0.2.1", "tls": true, "ca_pem": "not a pem"}, "router.ca_pem", "PEM"},
	} {
		r := a.as(store.UserRoleAdmin, http.MethodPost, "/api/v1/locations", map[string]any{"name": "bad", "router": tc.router})
		var e struct {
			Error struct {
				Code    string            `json:"code"`
				Details map[string]string `json:"details"`
			} `json:"error"`
		}
		r.json(t, &e)
		if r.Status != http.StatusUnprocessableEntity || e.Error.Code != "validation_failed" || !strings.Contains(e.Error.Details[tc.field], tc.want) {
			t.Errorf("router %v: %d %s; want 422 with %s saying %q", tc.router, r.Status, r.Body, tc.field, tc.want)
		}
	}
	if _, err := a.db.Q().GetLocationByName(ctx, "bad"); err == nil {
		t.Error("a refused location was saved")
	}

	// A plugin settings save keeps the stored routers.
	r = a.as(store.UserRoleAdmin, http.MethodPut, "/api/v1/plugin-settings/mikrotik", map[string]any{"locations": []any{}, "command_timeout_seconds": 20})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "kept with the locations") {
		t.Errorf("plugin settings save: %d %s; want the routers kept, with a warning", r.Status, r.Body)
	}
	if got := a.savedLocations(); len(got) != 1 || got[0]["id"] != "hq" {
		t.Errorf("after a plugin settings save, locations = %v", got)
	}

	// Removing the router: the plugin forgets it, the location stays.
	if r := a.as(store.UserRoleAdmin, http.MethodPut, "/api/v1/locations/"+id, map[string]any{"router": nil}); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"router": null`) {
		t.Errorf("remove the router: %d %s", r.Status, r.Body)
	}
	if got := a.savedLocations(); len(got) != 0 {
		t.Errorf("after removing the router, locations = %v", got)
	}
	// Deleting a location with a router takes it out of the plugin's.
	r = a.as(store.UserRoleAdmin, http.MethodPost, "/api/v1/locations", map[string]any{"name": "branch", "router": map[string]any{"address": "branch.example"}})
	r.json(t, &loc)
	if got := a.savedLocations(); len(got) != 1 || got[0]["id"] != "branch" {
		t.Errorf("after adding branch, locations = %v", got)
	}
	if r := a.as(store.UserRoleAdmin, http.MethodDelete, fmt.Sprintf("/api/v1/locations/%d", loc.ID), nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if got := a.savedLocations(); len(got) != 0 {
		t.Errorf("after deleting branch, locations = %v", got)
	}
}

// TestLocationSessionsAPI: who is online and the disconnect, for
// operators, and the connection test's answer.
func TestLocationSessionsAPI(t *testing.T) {
	a := newRoutersAPI(t)
	l := &store.Location{Name: "main"}
	if err := a.db.Q().CreateLocation(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("/api/v1/locations/%d", l.ID)
	if r := a.as(store.UserRoleViewer, http.MethodGet, base+"/sessions", nil); r.Status != http.StatusForbidden {
		t.Errorf("viewer listing sessions: %d", r.Status)
	}
	r := a.as(store.UserRoleOperator, http.MethodGet, base+"/sessions", nil)
	var list struct {
		Items []activeSessionJSON `json:"items"`
		Total int                 `json:"total"`
	}
	r.json(t, &list)
	if r.Status != http.StatusOK || list.Total != 2 || list.Items[0].User != "alice" || list.Items[0].Service != "hotspot" ||
		list.Items[0].UptimeSeconds != 3725 || list.Items[0].BytesOut != 50<<20 || list.Items[0].MACAddress != "AA:BB:CC:00:11:22" || list.Items[1].Service != "ppp" {
		t.Errorf("sessions: %d %s", r.Status, r.Body)
	}

	disc := base + "/sessions/*1A/disconnect"
	if r := a.as(store.UserRoleViewer, http.MethodPost, disc, map[string]any{"service": "hotspot"}); r.Status != http.StatusForbidden {
		t.Errorf("viewer disconnecting: %d", r.Status)
	}
	if r := a.as(store.UserRoleOperator, http.MethodPost, disc, map[string]any{"service": "wifi"}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `hotspot`) {
		t.Errorf("bad service: %d %s", r.Status, r.Body)
	}
	if r := a.as(store.UserRoleOperator, http.MethodPost, disc, map[string]any{"service": "hotspot", "user": "alice"}); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"disconnected": 1`) {
		t.Errorf("disconnect: %d %s", r.Status, r.Body)
	}
	r = a.as(store.UserRoleOperator, http.MethodGet, base+"/sessions", nil)
	r.json(t, &list)
	if list.Total != 1 || list.Items[0].User != "bob" {
		t.Errorf("after the disconnect: %s", r.Body)
	}
	var audited int
	if err := a.db.Q().DB().QueryRow(context.Background(), "SELECT COUNT(*) FROM river_job WHERE CAST(args AS TEXT) LIKE '%session.disconnected%'").Scan(&audited); err != nil || audited != 1 {
		t.Errorf("audit jobs of the disconnect = %d, %v; want 1", audited, err)
	}

	if r := a.as(store.UserRoleViewer, http.MethodPost, base+"/test", nil); r.Status != http.StatusForbidden {
		t.Errorf("viewer testing: %d", r.Status)
	}
	r = a.as(store.UserRoleOperator, http.MethodPost, base+"/test", nil)
	var res billing.RouterTestResult
	r.json(t, &res)
	if r.Status != http.StatusOK || !res.OK || res.Resources == nil || res.Resources.Version != "7.16.2 (stable)" {
		t.Errorf("test: %d %s", r.Status, r.Body)
	}
	other := &store.Location{Name: "other"}
	if err := a.db.Q().CreateLocation(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	r = a.as(store.UserRoleOperator, http.MethodPost, fmt.Sprintf("/api/v1/locations/%d/test", other.ID), nil)
	r.json(t, &res)
	if res.OK || res.Failure != billing.TestFailNotAdded {
		t.Errorf("test of a location the plugin lacks: %s", r.Body)
	}
}
