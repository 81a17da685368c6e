package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// messagingPlugins starts a plugin manager with real notify plugins:
// notify-fake (sessions main and shop; its QR codes last a minute, so a
// test reads the same one twice), notify-plain (whose QR images the host
// draws), notify-off (disabled by an operator) and generic-x, which is not
// a notify plugin.
func messagingPlugins(t *testing.T) *plugins.Manager {
	t.Helper()
	d := testenv.NewPluginDir(t)
	d.AddNotifyFake("notify-fake", map[string]any{"sessions": []string{"main", "shop"}, "rotate_ms": 60000})
	d.AddNotifyFake("notify-plain", map[string]any{"rotate_ms": 60000, "no_png": true})
	d.AddNotifyFake("notify-off", nil)
	d.Add(testenv.Plugin{Name: "generic-x"})
	pm := StartTestPlugins(t, d)
	if err := pm.Disable("notify-off"); err != nil {
		t.Fatal(err)
	}
	return pm
}

// StartTestPlugins starts a plugin manager over d's plugins, stopped when
// the test ends. Exported for the web_test package's tests.
func StartTestPlugins(t testing.TB, d *testenv.PluginDir) *plugins.Manager {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.DataDir = filepath.Join(filepath.Dir(d.Dir), "data")
	cfg.Plugins.Dir = d.Dir
	pm := plugins.New(cfg, plugins.Deps{HostVersion: "1.0.0"})
	if err := pm.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pm.Stop(ctx)
	})
	return pm
}

// messagingList is GET /messaging's answer.
type messagingList struct {
	Plugins []struct {
		Name     string
		State    string
		Error    string
		Sessions []sessionJSON
	}
}

// messagingSessionBody is a session's answer.
type messagingSessionBody struct {
	Session sessionJSON
}

// TestMessagingAPI: the notify plugins and their sessions for viewers,
// without the codes that link a phone; pairing for operators (a phone
// number checked, a pairing code for it), refused for a session that is
// paired; logging out for admins; an unknown session or plugin 404, a
// plugin that does not run 503 saying what to do; pairing and logging out
// audited, refusals not.
func TestMessagingAPI(t *testing.T) {
	pm := messagingPlugins(t)
	a := newBilledAPI(t, storetest.SQLite(t), func(d *Deps) { d.Plugins = pm })
	a.user("ana", "admin password 1", RoleAdmin)
	a.user("otto", "operator password 1", RoleOperator)
	a.user("vera", "viewer password 1", RoleViewer)
	admin, operator, viewer := withBearer(a.loginJWT("ana", "admin password 1")), withBearer(a.loginJWT("otto", "operator password 1")), withBearer(a.loginJWT("vera", "viewer password 1"))
	const get, post = http.MethodGet, http.MethodPost
	const fake = "/api/v1/messaging/notify-fake/sessions/"
	session := func(as func(*http.Request), id string) (sessionJSON, string) {
		t.Helper()
		r := a.do(get, fake+id, nil, as)
		if r.Status != http.StatusOK {
			t.Fatalf("GET session %s: %d %s", id, r.Status, r.Body)
		}
		var b messagingSessionBody
		r.json(t, &b)
		return b.Session, string(r.Body)
	}

	// The list: the notify plugins only, their sessions, no codes.
	r := a.do(get, "/api/v1/messaging", nil, viewer)
	var list messagingList
	r.json(t, &list)
	if r.Status != http.StatusOK || len(list.Plugins) != 3 {
		t.Fatalf("GET /messaging: %d %s", r.Status, r.Body)
	}
	if p := list.Plugins[0]; p.Name != "notify-fake" || p.State != "running" || len(p.Sessions) != 2 || p.Sessions[0].ID != "main" || p.Sessions[0].Status != "disconnected" || p.Sessions[1].ID != "shop" {
		t.Errorf("notify-fake in the list: %+v", p)
	}
	if p := list.Plugins[1]; p.Name != "notify-off" || p.State != "disabled" || len(p.Sessions) != 0 || !strings.Contains(p.Error, "enable it") {
		t.Errorf("notify-off in the list: %+v; want disabled, no sessions, an error that says to enable it", p)
	}

	// Who may do what.
	for _, c := range []struct {
		as   func(*http.Request)
		path string
	}{{viewer, fake + "main/pair"}, {viewer, fake + "main/logout"}, {operator, fake + "main/logout"}} {
		if r := a.do(post, c.path, nil, c.as); r.Status != http.StatusForbidden {
			t.Errorf("POST %s: %d %s; want 403", c.path, r.Status, r.Body)
		}
	}

	// Refused input, each on its field.
	for _, c := range []struct {
		path, phone, field, says string
	}{
		{fake + "main/pair", "081234567890", "phone", "local number"},
		{fake + "main/pair", "+62 812 3456 7890", "phone", "only digits"},
		{fake + "bad!id/pair", "", "session", "1 to 128"},
	} {
		var body any
		if c.phone != "" {
			body = map[string]string{"phone": c.phone}
		}
		r := a.do(post, c.path, body, operator)
		var e struct {
			Error struct{ Details map[string]string }
		}
		r.json(t, &e)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(e.Error.Details[c.field], c.says) {
			t.Errorf("POST %s with %q: %d %s; want 422 on %s saying %q", c.path, c.phone, r.Status, r.Body, c.field, c.says)
		}
	}

	// Pairing: the session with its codes, for operators only.
	r = a.do(post, fake+"main/pair", nil, operator)
	var paired messagingSessionBody
	r.json(t, &paired)
	if p := paired.Session.Pairing; r.Status != http.StatusOK || paired.Session.Status != "pairing" || p == nil || !strings.HasPrefix(p.QRCode, "notifyfake:main:") ||
		!bytes.HasPrefix(p.QRPNG, []byte("\x89PNG")) || p.PairingCode != "" || p.ExpiresAt.IsZero() {
		t.Fatalf("pair main: %d %s", r.Status, r.Body)
	}
	if s, raw := session(viewer, "main"); s.Status != "pairing" || strings.Contains(raw, "pairing\":") || strings.Contains(raw, "notifyfake:") {
		t.Errorf("a viewer reads the pairing session as %s; want its status without the codes", raw)
	}
	if s, _ := session(operator, "main"); s.Pairing == nil || s.Pairing.QRCode != paired.Session.Pairing.QRCode {
		t.Errorf("an operator reads the pairing session without its current QR code: %+v", s)
	}
	r = a.do(post, fake+"shop/pair", map[string]string{"phone": "+6281234567890"}, operator)
	var shop messagingSessionBody
	r.json(t, &shop)
	if r.Status != http.StatusOK || shop.Session.Pairing == nil || len(shop.Session.Pairing.PairingCode) != 8 {
		t.Errorf("pair shop with a phone: %d %s; want a pairing code of 8 characters", r.Status, r.Body)
	}

	// The phone scans: an old code is refused, the current one connects.
	if r := a.do(post, "/plugins/notify-fake/scan", map[string]string{"session": "main", "code": "notifyfake:main:0:0000"}, operator); r.Status != http.StatusBadRequest {
		t.Errorf("scan a wrong code: %d %s; want 400", r.Status, r.Body)
	}
	if r := a.do(post, "/plugins/notify-fake/scan", map[string]string{"session": "main", "code": paired.Session.Pairing.QRCode}, operator); r.Status != http.StatusOK {
		t.Fatalf("scan the current code: %d %s", r.Status, r.Body)
	}
	sdktest.WaitFor(t, 20*time.Second, "main connected", func() bool {
		s, _ := session(viewer, "main")
		return s.Status == "connected"
	})
	if s, _ := session(viewer, "main"); s.Phone != "+6281200000001" || s.ConnectedAt.IsZero() {
		t.Errorf("connected session: %+v; want its phone and since when", s)
	}
	r = a.do(post, fake+"main/pair", nil, operator)
	if r.Status != http.StatusConflict || r.code() != "session_paired" || !strings.Contains(string(r.Body), "logs it out first") {
		t.Errorf("pair a connected session: %d %s; want 409 session_paired", r.Status, r.Body)
	}

	// Logging out, by an admin.
	if r := a.do(post, fake+"main/logout", nil, admin); r.Status != http.StatusNoContent {
		t.Errorf("logout main: %d %s", r.Status, r.Body)
	}
	if s, _ := session(viewer, "main"); s.Status != "logged_out" || s.Phone != "" {
		t.Errorf("after logout: %+v", s)
	}

	// Unknown sessions and plugins; a plugin that does not run.
	for _, c := range []struct {
		as           func(*http.Request)
		method, path string
		status       int
		says         string
	}{
		{viewer, get, fake + "ghost", http.StatusNotFound, `no session "ghost"`},
		{viewer, get, fake + "no!such", http.StatusNotFound, `no session "no!such": session ids are`},
		{admin, post, fake + "ghost/logout", http.StatusNotFound, `no session "ghost"`},
		{viewer, get, "/api/v1/messaging/generic-x/sessions/main", http.StatusNotFound, `no messaging (notify) plugin "generic-x"`},
		{operator, post, "/api/v1/messaging/nope/sessions/main/pair", http.StatusNotFound, `no messaging (notify) plugin "nope"`},
		{viewer, get, "/api/v1/messaging/notify-off/sessions/main", http.StatusServiceUnavailable, "enable it if it is disabled"},
		{operator, post, "/api/v1/messaging/notify-off/sessions/main/pair", http.StatusServiceUnavailable, "GET /api/v1/plugins/notify-off"},
	} {
		r := a.do(c.method, c.path, nil, c.as)
		var e struct{ Error struct{ Message string } }
		r.json(t, &e)
		if r.Status != c.status || !strings.Contains(e.Error.Message, c.says) {
			t.Errorf("%s %s: %d %s; want %d saying %q", c.method, c.path, r.Status, r.Body, c.status, c.says)
		}
		if c.status == http.StatusServiceUnavailable && (r.code() != "plugin_unavailable" || r.Header.Get("Retry-After") == "") {
			t.Errorf("%s %s: %s, Retry-After %q; want plugin_unavailable with Retry-After", c.method, c.path, r.code(), r.Header.Get("Retry-After"))
		}
	}

	// The audit log has the pairings and the logout, and none of the
	// refusals, all of which came before the logout.
	recs, raw := a.waitForAudit(a.loginJWT("ana", "admin password 1"), 3)
	want := []auditRecord{
		{Actor: "user:otto", Action: "messaging_session.pairing_started", ResourceType: "messaging_session", ResourceID: "notify-fake/main", Outcome: "success",
			Metadata: map[string]string{"plugin": "notify-fake", "session": "main", "with": "qr_code"}},
		{Actor: "user:otto", Action: "messaging_session.pairing_started", ResourceType: "messaging_session", ResourceID: "notify-fake/shop", Outcome: "success",
			Metadata: map[string]string{"plugin": "notify-fake", "session": "shop", "with": "pairing_code", "phone": "+6281234567890"}},
		{Actor: "user:ana", Action: "messaging_session.logged_out", ResourceType: "messaging_session", ResourceID: "notify-fake/main", Outcome: "success",
			Metadata: map[string]string{"plugin": "notify-fake", "session": "main"}},
	}
	// Audit jobs run concurrently: their records come in any order.
	byRecord := cmpopts.SortSlices(func(x, y auditRecord) bool { return x.ResourceID+x.Action < y.ResourceID+y.Action })
	if diff := cmp.Diff(want, recs, byRecord); diff != "" {
		t.Errorf("audit log (-want +got):\n%s\n%s", diff, raw)
	}
}

// TestMessagingQRImage: the page's QR image is the plugin's PNG when it
// sends one, else drawn by the host from the code's text; it is for
// operators, and there is none for a session that is not pairing.
func TestMessagingQRImage(t *testing.T) {
	pm := messagingPlugins(t)
	a := newAuthAPI(t, storetest.SQLite(t), func(d *Deps) { d.Plugins = pm })
	a.user("otto", "operator password 1", RoleOperator)
	a.user("vera", "viewer password 1", RoleViewer)
	operator, viewer := withBearer(a.loginJWT("otto", "operator password 1")), withBearer(a.loginJWT("vera", "viewer password 1"))
	qr := "/messaging/%s/sessions/main/qr.png"
	for _, c := range []struct {
		plugin string
		width  int
	}{{"notify-fake", 240}, {"notify-plain", 256}} {
		path := strings.Replace(qr, "%s", c.plugin, 1)
		if r := a.do(http.MethodGet, path, nil, operator); r.Status != http.StatusNotFound {
			t.Errorf("%s before pairing: %d; want 404", path, r.Status)
		}
		if r := a.do(http.MethodPost, "/api/v1/messaging/"+c.plugin+"/sessions/main/pair", nil, operator); r.Status != http.StatusOK {
			t.Fatalf("pair %s: %d %s", c.plugin, r.Status, r.Body)
		}
		r := a.do(http.MethodGet, path, nil, operator)
		img, err := png.Decode(bytes.NewReader(r.Body))
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/png" || r.Header.Get("Cache-Control") != "no-store" || err != nil {
			t.Fatalf("%s: %d %s %v", path, r.Status, r.Header, err)
		}
		if w := img.Bounds().Dx(); w != c.width {
			t.Errorf("%s is %d pixels wide; want %d (the %s's image)", path, w, c.width, map[int]string{240: "plugin", 256: "host"}[c.width])
		}
		if r := a.do(http.MethodGet, path, nil, viewer); r.Status != http.StatusForbidden {
			t.Errorf("a viewer's %s: %d; want 403", path, r.Status)
		}
	}
}

// TestMessagingPageWithoutPlugins: with no notify plugin, the page says
// how to install one instead of showing an empty list.
func TestMessagingPageWithoutPlugins(t *testing.T) {
	s := matrixServer(t)
	req := httptest.NewRequest(http.MethodGet, "/messaging", nil)
	req.Header.Set("X-Test-Role", RoleViewer)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `id="no-messaging"`) || !strings.Contains(body, "plugin lock whatsapp") || strings.Contains(body, "messaging-plugin") {
		t.Errorf("GET /messaging without notify plugins: %d\n%s", rec.Code, body)
	}
	var list messagingList
	r := httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodGet, "/api/v1/messaging", nil)
	req.Header.Set("X-Test-Role", RoleViewer)
	s.Handler().ServeHTTP(r, req)
	if err := json.Unmarshal(r.Body.Bytes(), &list); err != nil || r.Code != http.StatusOK || list.Plugins == nil || len(list.Plugins) != 0 {
		t.Errorf("GET /api/v1/messaging without notify plugins: %d %s; want an empty list", r.Code, r.Body)
	}
}
