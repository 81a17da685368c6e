package web

// Plugin routes end to end: the full handler with real accounts in front
// of a real plugin manager running the bundled payment-manual (which
// serves GET /payments to viewers and POST /payments/{id}/confirm to
// operators) and "routes-only", a test plugin whose manifest declares
// routes (one public) but which does not serve HTTP.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// startRoutePlugins runs payment-manual and routes-only.
func startRoutePlugins(t *testing.T) *plugins.Manager {
	t.Helper()
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	d.Add(testenv.Plugin{Name: "routes-only", Manifest: map[string]any{"routes": []any{
		map[string]any{"method": "GET", "path": "/status", "auth": "public"},
		map[string]any{"method": "DELETE", "path": "/things/{id:[0-9]+}"}, // admin by default
	}}})
	// payment-manual keeps its payments in the host's durable plugin store.
	pm, _ := StartPlugins(t, d.Dir, plugins.Deps{Store: storetest.SQLite(t)}, func(cfg *config.Config) { cfg.Plugins.HealthInterval = time.Hour })
	return pm
}

// paymentManual is the manager's payment-manual client.
func paymentManual(t *testing.T, pm *plugins.Manager) payment.Gateway {
	t.Helper()
	p, ok := pm.Plugin("payment-manual")
	if !ok {
		t.Fatal("no payment-manual")
	}
	gw, err := p.Payment()
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

func createManualPayment(t *testing.T, gw payment.Gateway, order string) payment.Payment {
	t.Helper()
	res, err := gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
		OrderID: order, Amount: payment.Money{Amount: 150000, Currency: "IDR"}, IdempotencyKey: "key-" + order,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Payment
}

func getManualPayment(t *testing.T, gw payment.Gateway, id string) payment.Payment {
	t.Helper()
	res, err := gw.GetPayment(context.Background(), &payment.GetPaymentRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return res.Payment
}

func (r resp) message() string {
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Message
}

func TestPluginRoutes(t *testing.T) {
	pm := startRoutePlugins(t)
	gw := paymentManual(t, pm)
	a := newAuthAPI(t, storetest.SQLite(t), func(d *Deps) {
		d.Plugins = pm
		d.PluginMetrics = prometheus.NewRegistry() // /metrics needs one
	})
	const pw = "correct horse battery"
	a.user("vera", pw, RoleViewer)
	otto := a.user("otto", pw, RoleOperator)
	a.user("ada", pw, RoleAdmin)
	bearer := map[string]func(*http.Request){
		RoleViewer:   withBearer(a.loginJWT("vera", pw)),
		RoleOperator: withBearer(a.loginJWT("otto", pw)),
		RoleAdmin:    withBearer(a.loginJWT("ada", pw)),
	}
	const list = "/plugins/payment-manual/payments"
	confirm := func(id string) string { return "/plugins/payment-manual/payments/" + id + "/confirm" }

	t.Run("anonymous is asked to sign in", func(t *testing.T) {
		r := a.do(http.MethodGet, list, nil)
		if r.Status != http.StatusUnauthorized || r.code() != "unauthenticated" || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%d %v %s; want 401 unauthenticated with WWW-Authenticate", r.Status, r.Header, r.Body)
		}
	})

	pay := createManualPayment(t, gw, "INV-PR-1")

	t.Run("viewer lists payments", func(t *testing.T) {
		r := a.do(http.MethodGet, list, nil, bearer[RoleViewer], withHeader("X-Request-ID", "req-plugin-1"))
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
		}
		var body struct {
			Payments []struct {
				ID     string         `json:"id"`
				Status payment.Status `json:"status"`
			} `json:"payments"`
		}
		r.json(t, &body)
		if len(body.Payments) != 1 || body.Payments[0].ID != pay.ID || body.Payments[0].Status != payment.StatusPending {
			t.Errorf("payments = %+v; want %s pending", body.Payments, pay.ID)
		}
		// The host's headers stay on the plugin's answer.
		if r.Header.Get("X-Request-ID") != "req-plugin-1" || r.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("host headers missing: %v", r.Header)
		}
	})

	t.Run("viewer may not confirm", func(t *testing.T) {
		r := a.do(http.MethodPost, confirm(pay.ID), nil, bearer[RoleViewer])
		if r.Status != http.StatusForbidden || r.code() != "forbidden" || r.message() != "this needs the operator role; you are viewer" {
			t.Errorf("%d %s; want 403 forbidden", r.Status, r.Body)
		}
		if got := getManualPayment(t, gw, pay.ID); got.Status != payment.StatusPending {
			t.Errorf("payment is %s after a refused confirmation", got.Status)
		}
	})

	t.Run("operator confirms", func(t *testing.T) {
		r := a.do(http.MethodPost, confirm(pay.ID), nil, bearer[RoleOperator])
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		var answered struct {
			ID     string         `json:"id"`
			Status payment.Status `json:"status"`
		}
		r.json(t, &answered)
		if answered.ID != pay.ID || answered.Status != payment.StatusPaid {
			t.Errorf("answer: %+v", answered)
		}
		got := getManualPayment(t, gw, pay.ID)
		if got.Status != payment.StatusPaid || got.PaidAt.IsZero() {
			t.Fatalf("payment after confirmation: %+v", got)
		}
		// The plugin got the caller as Principal: it records who confirmed.
		var raw map[string]string
		if err := json.Unmarshal(got.Raw, &raw); err != nil || raw["confirmed_by"] != strconv.FormatInt(otto.ID, 10) {
			t.Errorf("confirmed_by in %s (%v); want otto's user id %d", got.Raw, err, otto.ID)
		}
	})

	t.Run("errors from the plugin keep their meaning", func(t *testing.T) {
		r := a.do(http.MethodPost, confirm("MAN-NOSUCH"), nil, bearer[RoleOperator])
		if r.Status != http.StatusNotFound || r.code() != "not_found" || !strings.Contains(r.message(), "MAN-NOSUCH") {
			t.Errorf("%d %s; want the plugin's 404", r.Status, r.Body)
		}
	})

	t.Run("session cookie and CSRF", func(t *testing.T) {
		login := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "otto", "password": pw, "session": true})
		if login.Status != http.StatusOK || len(login.Cookie) != 1 {
			t.Fatalf("session login: %d %s", login.Status, login.Body)
		}
		cookie := withSession(login.Cookie[0])
		p2 := createManualPayment(t, gw, "INV-PR-2")
		r := a.do(http.MethodPost, confirm(p2.ID), nil, cookie, withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", "https://evil.example"))
		if r.Status != http.StatusForbidden || r.code() != "cross_origin_refused" {
			t.Errorf("cross-site with the cookie: %d %s; want 403 cross_origin_refused", r.Status, r.Body)
		}
		if got := getManualPayment(t, gw, p2.ID); got.Status != payment.StatusPending {
			t.Fatalf("a cross-site request confirmed the payment: %+v", got)
		}
		r = a.do(http.MethodPost, confirm(p2.ID), nil, cookie, withHeader("Sec-Fetch-Site", "same-origin"))
		if r.Status != http.StatusOK {
			t.Errorf("same origin with the cookie: %d %s", r.Status, r.Body)
		}
		if got := getManualPayment(t, gw, p2.ID); got.Status != payment.StatusPaid {
			t.Errorf("payment after confirmation with the session: %s", got.Status)
		}
	})

	t.Run("unknown routes are 404, other methods 405", func(t *testing.T) {
		for _, tt := range []struct {
			method, path string
			status       int
			allow        string
		}{
			{http.MethodGet, "/plugins/payment-manual/nothing", http.StatusNotFound, ""},
			{http.MethodGet, "/plugins/payment-manual/payments/", http.StatusNotFound, ""},
			{http.MethodGet, "/plugins/payment-manual", http.StatusNotFound, ""},
			{http.MethodGet, "/plugins/no-such-plugin/payments", http.StatusNotFound, ""},
			{http.MethodDelete, list, http.StatusMethodNotAllowed, "GET"},
			{http.MethodGet, confirm(pay.ID), http.StatusMethodNotAllowed, "POST"},
			{http.MethodHead, "/plugins/routes-only/status", http.StatusMethodNotAllowed, "GET"},
		} {
			for _, who := range []string{"", RoleAdmin} {
				var opts []func(*http.Request)
				if who != "" {
					opts = append(opts, bearer[who])
				}
				r := a.do(tt.method, tt.path, nil, opts...)
				wantCode := map[int]string{http.StatusNotFound: "not_found", http.StatusMethodNotAllowed: "method_not_allowed"}[tt.status]
				if r.Status != tt.status || r.code() != wantCode || r.Header.Get("Allow") != tt.allow {
					t.Errorf("%s %s as %q: %d, Allow %q, %s; want %d, Allow %q", tt.method, tt.path, who, r.Status, r.Header.Get("Allow"), r.Body, tt.status, tt.allow)
				}
			}
		}
	})

	t.Run("public routes skip authentication", func(t *testing.T) {
		// routes-only does not serve HTTP: reaching that answer means the
		// request got past authentication, even with a bearer token the
		// API would refuse.
		for _, opt := range []func(*http.Request){func(*http.Request) {}, withBearer("junk")} {
			r := a.do(http.MethodGet, "/plugins/routes-only/status", nil, opt)
			if r.Status != http.StatusNotImplemented || r.code() != "not_supported" || !strings.Contains(r.message(), "sdk.HTTPHandler") {
				t.Errorf("%d %s; want 501 not_supported", r.Status, r.Body)
			}
		}
		r := a.do(http.MethodDelete, "/plugins/routes-only/things/7", nil)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("admin route (the default), anonymous: %d %s; want 401", r.Status, r.Body)
		}
	})

	t.Run("route by role", func(t *testing.T) {
		policies := a.s.PluginPolicies()
		want := map[string]string{
			"GET /plugins/payment-manual/payments":               RoleViewer,
			"POST /plugins/payment-manual/payments/{id}/confirm": RoleOperator,
			"GET /plugins/routes-only/status":                    "",
			"DELETE /plugins/routes-only/things/{id:[0-9]+}":     RoleAdmin,
		}
		if diff := cmp.Diff(want, policies); diff != "" {
			t.Fatalf("PluginPolicies (-want +got):\n%s", diff)
		}
		vars := regexp.MustCompile(`\{[^{}]*\}`)
		for key, role := range policies {
			method, tmpl, _ := strings.Cut(key, " ")
			url := vars.ReplaceAllString(tmpl, "1")
			for _, caller := range []string{"", RoleViewer, RoleOperator, RoleAdmin} {
				var opts []func(*http.Request)
				if caller != "" {
					opts = append(opts, bearer[caller])
				}
				r := a.do(method, url, nil, opts...)
				denied := r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden
				switch {
				case role == "":
					if denied {
						t.Errorf("%s, public, as %q: %d %s", key, caller, r.Status, r.Body)
					}
				case caller == "":
					if r.Status != http.StatusUnauthorized || r.code() != "unauthenticated" {
						t.Errorf("%s, anonymous: %d %s; want 401", key, r.Status, r.Body)
					}
				case !RoleAtLeast(caller, role):
					if r.Status != http.StatusForbidden || r.code() != "forbidden" {
						t.Errorf("%s, %s on a %s route: %d %s; want 403", key, caller, role, r.Status, r.Body)
					}
				default:
					if denied {
						t.Errorf("%s, %s on a %s route: %d %s; want neither 401 nor 403", key, caller, role, r.Status, r.Body)
					}
				}
			}
		}
	})

	t.Run("requests are measured", func(t *testing.T) {
		r := a.do(http.MethodGet, "/metrics", nil)
		want := `mikrobill_http_request_duration_seconds_count{code="200",method="GET",route="/plugins/{plugin}"}`
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), want) {
			t.Errorf("/metrics: %d, has no %s", r.Status, want)
		}
	})

	t.Run("a disabled plugin is unavailable", func(t *testing.T) {
		if err := pm.Disable("payment-manual"); err != nil {
			t.Fatal(err)
		}
		r := a.do(http.MethodGet, list, nil, bearer[RoleViewer])
		if r.Status != http.StatusServiceUnavailable || r.code() != "plugin_unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%d %v %s; want 503 plugin_unavailable with Retry-After", r.Status, r.Header, r.Body)
		}
		// Authentication still comes first.
		if r := a.do(http.MethodGet, list, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous on a disabled plugin: %d %s; want 401", r.Status, r.Body)
		}
		// Enabled again, the routes answer again (matched against the
		// manager at request time).
		if err := pm.Enable("payment-manual"); err != nil {
			t.Fatal(err)
		}
		r = a.do(http.MethodGet, list, nil, bearer[RoleViewer])
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), pay.ID) {
			t.Errorf("after enable: %d %s", r.Status, r.Body)
		}
	})
}

// TestPluginHTTPRequest: what a plugin receives; credentials never reach
// it. (payment-manual does not echo headers, so this is checked here,
// on the request the host builds.)
func TestPluginHTTPRequest(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Security.TrustedProxies = []string{"10.0.0.1"}
	s := New(Deps{Config: cfg})
	r := httptest.NewRequest(http.MethodPost, "http://billing.example/plugins/payment-manual/payments/MAN-1/confirm?x=1", nil)
	r.RemoteAddr = "10.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("Authorization", "Bearer secret-jwt")
	r.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
	r.Header.Set("Cookie", "mikrobill_session=secret; other=1")
	r.Header.Set("X-Request-ID", "req-42")
	r.Header.Set("Content-Type", "application/json")

	got := s.pluginHTTPRequest(r, "/payments/MAN-1/confirm", []byte(`{}`), &Principal{UserID: 7, Username: "otto", Role: RoleOperator, Via: "token", TokenID: 3})
	want := sdk.HTTPRequest{
		Method: http.MethodPost, Path: "/payments/MAN-1/confirm", RawQuery: "x=1",
		Header:     http.Header{"X-Forwarded-For": {"203.0.113.9"}, "X-Request-Id": {"req-42"}, "Content-Type": {"application/json"}},
		Body:       []byte(`{}`),
		RemoteAddr: "203.0.113.9", Host: "billing.example", RequestID: "req-42",
		Principal: &sdk.Principal{Subject: "7", Role: RoleOperator},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(sdk.HTTPRequest{}, "ReceivedAt")); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	if time.Since(got.ReceivedAt) > time.Minute {
		t.Errorf("ReceivedAt %v", got.ReceivedAt)
	}
	if r.Header.Get("Authorization") == "" {
		t.Error("building the plugin's request changed the host's")
	}

	// Public routes: no principal; a peer that is no trusted proxy is
	// taken as it is.
	r.RemoteAddr = "192.0.2.5:6000"
	if got := s.pluginHTTPRequest(r, "/status", nil, nil); got.Principal != nil || got.RemoteAddr != "192.0.2.5:6000" {
		t.Errorf("public: principal %+v, remote %q", got.Principal, got.RemoteAddr)
	}
}

// TestWritePluginResponse: status 0 is 200, framing and cookies are the
// host's, the host's own headers stay.
func TestWritePluginResponse(t *testing.T) {
	tests := []struct {
		name       string
		res        sdk.HTTPResponse
		status     int
		header     http.Header
		body       string
		pluginFail bool
	}{
		{
			name:   "zero status",
			res:    sdk.HTTPResponse{Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("hi")},
			status: http.StatusOK, header: http.Header{"Content-Type": {"text/plain"}, "X-Frame-Options": {"DENY"}, "Vary": {"Origin"}}, body: "hi",
		},
		{
			name: "dropped and kept headers",
			res: sdk.HTTPResponse{StatusCode: http.StatusCreated, Body: []byte("made"), Header: http.Header{
				"Set-Cookie": {"mikrobill_session=stolen"}, "Content-Length": {"99"}, "Transfer-Encoding": {"chunked"},
				"X-Frame-Options": {"ALLOWALL"}, "vary": {"Accept"}, "Cache-Control": {"no-store"},
			}},
			status: http.StatusCreated, header: http.Header{"X-Frame-Options": {"DENY"}, "Vary": {"Origin", "Accept"}, "Cache-Control": {"no-store"}}, body: "made",
		},
		{name: "not a final status", res: sdk.HTTPResponse{StatusCode: 42}, pluginFail: true},
		{name: "informational status", res: sdk.HTTPResponse{StatusCode: http.StatusContinue}, pluginFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set("X-Frame-Options", "DENY")
			rec.Header().Set("Vary", "Origin")
			err := writePluginResponse(rec, "demo", tt.res)
			if tt.pluginFail {
				ae, ok := err.(*apiError)
				if !ok || ae.status != http.StatusBadGateway || ae.code != "bad_plugin_response" {
					t.Errorf("err = %v; want a 502 bad_plugin_response", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("%d %q; want %d %q", res.StatusCode, body, tt.status, tt.body)
			}
			if diff := cmp.Diff(tt.header, rec.Header()); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}
