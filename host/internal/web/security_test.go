package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestSecurityHeaders(t *testing.T) {
	a := newAuthAPI(t, storetest.SQLite(t), func(d *Deps) { d.Config.Security.TrustedProxies = []string{"10.0.0.0/8"} })
	tests := []struct {
		name string
		url  string
		opts []func(*http.Request)
		hsts bool
	}{
		{"plain HTTP", "/live", nil, false},
		{"TLS", "https://billing.example/live", nil, true},
		{"trusted proxy says https", "/live", []func(*http.Request){fromAddr("10.1.2.3:5000"), withHeader("X-Forwarded-Proto", "https")}, true},
		{"trusted proxy says http", "/live", []func(*http.Request){fromAddr("10.1.2.3:5000"), withHeader("X-Forwarded-Proto", "http")}, false},
		{"untrusted peer says https", "/live", []func(*http.Request){fromAddr("203.0.113.9:5000"), withHeader("X-Forwarded-Proto", "https")}, false},
		{"an API error", "https://billing.example/api/v1/nothing", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(http.MethodGet, tt.url, nil, tt.opts...)
			for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy", "Permissions-Policy", "Cross-Origin-Opener-Policy"} {
				if r.Header.Get(h) == "" {
					t.Errorf("%s missing", h)
				}
			}
			if got := r.Header.Get("Strict-Transport-Security"); (got != "") != tt.hsts || (tt.hsts && got != "max-age=31536000") {
				t.Errorf("Strict-Transport-Security = %q, want present=%v", got, tt.hsts)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	s := New(Deps{Config: func() *config.Config {
		c := config.DefaultConfig()
		c.Security.TrustedProxies = []string{"10.0.0.0/8", "2001:db8:ffff::1"}
		return c
	}()})
	tests := []struct {
		remote, xff string
		want        string
		key         string
	}{
		{"203.0.113.7:4000", "", "203.0.113.7", "203.0.113.7"},
		{"203.0.113.7:4000", "198.51.100.1", "203.0.113.7", "203.0.113.7"}, // untrusted peer: header ignored
		{"10.0.0.1:4000", "198.51.100.1", "198.51.100.1", "198.51.100.1"},
		{"10.0.0.1:4000", "1.2.3.4, 198.51.100.1, 10.0.0.2", "198.51.100.1", "198.51.100.1"}, // the client's claim (1.2.3.4) is not believed
		{"10.0.0.1:4000", "10.0.0.3, 10.0.0.2", "10.0.0.3", "10.0.0.3"},
		{"10.0.0.1:4000", "garbage, 198.51.100.1", "198.51.100.1", "198.51.100.1"},
		{"10.0.0.1:4000", "198.51.100.1:5555", "198.51.100.1", "198.51.100.1"},
		{"[2001:db8:ffff::1]:443", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"[::ffff:203.0.113.7]:4000", "", "203.0.113.7", "203.0.113.7"},
		{"@", "", "invalid IP", "local"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := s.sec.clientIP(r); got.String() != tt.want {
			t.Errorf("clientIP(%s, XFF %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
		if got := s.sec.clientKey(r); got != tt.key {
			t.Errorf("clientKey(%s, XFF %q) = %s, want %s", tt.remote, tt.xff, got, tt.key)
		}
	}
	if !s.sec.trusted(netip.MustParseAddr("::ffff:10.9.9.9")) {
		t.Error("an IPv4-mapped trusted address is not trusted")
	}
}

func TestCORS(t *testing.T) {
	const admin, evil = "https://admin.example.net", "https://evil.example"
	tests := []struct {
		name    string
		origins []string
		method  string
		path    string
		origin  string
		preReq  string // Access-Control-Request-Method
		status  int
		acao    string
		creds   bool
	}{
		{"listed origin", []string{admin + "/"}, http.MethodGet, "/api/v1/auth/me", admin, "", http.StatusUnauthorized, admin, true},
		{"listed origin, preflight", []string{admin}, http.MethodOptions, "/api/v1/tokens", admin, "POST", http.StatusNoContent, admin, true},
		{"listed origin, uppercase", []string{"HTTPS://Admin.Example.Net"}, http.MethodGet, "/api/v1/auth/me", admin, "", http.StatusUnauthorized, admin, true},
		{"other origin", []string{admin}, http.MethodGet, "/api/v1/auth/me", evil, "", http.StatusUnauthorized, "", false},
		{"other origin, preflight", []string{admin}, http.MethodOptions, "/api/v1/tokens", evil, "POST", http.StatusForbidden, "", false},
		{"wildcard: no credentials", []string{"*"}, http.MethodGet, "/api/v1/auth/me", evil, "", http.StatusUnauthorized, "*", false},
		{"wildcard, preflight", []string{"*"}, http.MethodOptions, "/api/v1/tokens", evil, "DELETE", http.StatusNoContent, "*", false},
		{"wildcard and a listed origin", []string{"*", admin}, http.MethodGet, "/api/v1/auth/me", admin, "", http.StatusUnauthorized, admin, true},
		{"not configured", nil, http.MethodOptions, "/api/v1/tokens", admin, "POST", 0, "", false}, // whatever the router says
		{"not the API", []string{"*"}, http.MethodGet, "/live", evil, "", http.StatusOK, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthAPI(t, storetest.SQLite(t), func(d *Deps) { d.Config.Security.CORSOrigins = tt.origins })
			opts := []func(*http.Request){withHeader("Origin", tt.origin)}
			if tt.preReq != "" {
				opts = append(opts, withHeader("Access-Control-Request-Method", tt.preReq), withHeader("Access-Control-Request-Headers", "authorization, content-type"))
			}
			r := a.do(tt.method, tt.path, nil, opts...)
			if r.Status != tt.status && (tt.status != 0 || r.Status == http.StatusNoContent) {
				t.Errorf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tt.acao {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.acao)
			}
			if got := r.Header.Get("Access-Control-Allow-Credentials") == "true"; got != tt.creds {
				t.Errorf("credentials allowed = %v, want %v", got, tt.creds)
			}
			if tt.acao != "" && tt.preReq != "" && (!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), tt.preReq) ||
				!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization")) {
				t.Errorf("preflight headers %v", r.Header)
			}
			if tt.acao != "" && tt.preReq == "" && !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-RateLimit-Remaining") {
				t.Errorf("Access-Control-Expose-Headers = %q", r.Header.Get("Access-Control-Expose-Headers"))
			}
			if len(tt.origins) > 0 && tt.path != "/live" && !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary = %v, want Origin", r.Header.Values("Vary"))
			}
		})
	}
}

// TestCSRF: an unsafe request carried by the session cookie from another
// origin is refused; the same request with a bearer token is not.
func TestCSRF(t *testing.T) {
	const trusted, evil = "https://admin.example.net", "https://evil.example"
	a := newAuthAPI(t, storetest.SQLite(t), func(d *Deps) { d.Config.Security.CORSOrigins = []string{trusted} })
	a.user("ana", "correct horse battery", RoleOperator)
	r := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "ana", "password": "correct horse battery", "session": true})
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	cookie := withSession(r.Cookie[0])
	jwt := withBearer(a.loginJWT("ana", "correct horse battery"))
	body := map[string]any{"name": "x"}
	crossSite := []func(*http.Request){withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", evil)}

	tests := []struct {
		name   string
		method string
		opts   []func(*http.Request)
		status int
	}{
		{"cookie, cross-site", http.MethodPost, append([]func(*http.Request){cookie}, crossSite...), http.StatusForbidden},
		{"cookie, same-site other origin", http.MethodPost, []func(*http.Request){cookie, withHeader("Sec-Fetch-Site", "same-site"), withHeader("Origin", "https://other.example.com")}, http.StatusForbidden},
		{"cookie, Origin only (older browser)", http.MethodPost, []func(*http.Request){cookie, withHeader("Origin", evil)}, http.StatusForbidden},
		{"cookie, same origin", http.MethodPost, []func(*http.Request){cookie, withHeader("Sec-Fetch-Site", "same-origin"), withHeader("Origin", "http://example.com")}, http.StatusCreated},
		{"cookie, no browser headers (curl)", http.MethodPost, []func(*http.Request){cookie}, http.StatusCreated},
		{"cookie, configured CORS origin", http.MethodPost, []func(*http.Request){cookie, withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", trusted)}, http.StatusCreated},
		{"cookie, cross-site, safe method", http.MethodGet, append([]func(*http.Request){cookie}, crossSite...), http.StatusOK},
		{"bearer JWT, cross-site", http.MethodPost, append([]func(*http.Request){jwt}, crossSite...), http.StatusCreated},
		{"bearer JWT and the cookie, cross-site", http.MethodPost, append([]func(*http.Request){jwt, cookie}, crossSite...), http.StatusCreated},
		{"a bad bearer does not fall back to the cookie", http.MethodPost, append([]func(*http.Request){withBearer("junk"), cookie}, crossSite...), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b any
			if tt.method == http.MethodPost {
				b = body
			}
			r := a.do(tt.method, "/api/v1/tokens", b, tt.opts...)
			if r.Status != tt.status {
				t.Errorf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if tt.status == http.StatusForbidden && r.code() != "cross_origin_refused" {
				t.Errorf("code %q: %s", r.code(), r.Body)
			}
		})
	}
}

func TestAPIRateLimit(t *testing.T) {
	a := newAuthAPI(t, storetest.SQLite(t), func(d *Deps) {
		d.Config.Security.RateLimitMax = 3
		d.Config.Security.TrustedProxies = []string{"10.0.0.1"}
	})
	for i := range 3 {
		r := a.do(http.MethodGet, "/api/v1/auth/me", nil, fromAddr("192.0.2.1:1000"))
		if r.Status != http.StatusUnauthorized || r.Header.Get("X-RateLimit-Limit") != "3" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("request %d: %d %v", i+1, r.Status, r.Header)
		}
		reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset < time.Now().Unix() || reset > time.Now().Add(61*time.Second).Unix() {
			t.Errorf("X-RateLimit-Reset = %q", r.Header.Get("X-RateLimit-Reset"))
		}
	}
	r := a.do(http.MethodGet, "/api/v1/auth/me", nil, fromAddr("192.0.2.1:1001"))
	retry, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	if r.Status != http.StatusTooManyRequests || r.code() != "rate_limited" || retry < 1 || retry > 60 || !strings.Contains(string(r.Body), "at most 3 per minute") {
		t.Errorf("over the limit: %d %v %s", r.Status, r.Header, r.Body)
	}
	if r := a.do(http.MethodGet, "/api/v1/auth/me", nil, fromAddr("192.0.2.2:1000")); r.Status != http.StatusUnauthorized {
		t.Errorf("another client: %d", r.Status)
	}
	// Behind the trusted proxy, clients are told apart by X-Forwarded-For.
	for i := range 4 {
		r := a.do(http.MethodGet, "/api/v1/auth/me", nil, fromAddr("10.0.0.1:80"), withHeader("X-Forwarded-For", "198.51.100."+strconv.Itoa(i)))
		if r.Status != http.StatusUnauthorized {
			t.Errorf("client %d behind the proxy: %d", i, r.Status)
		}
	}
	// Every route is limited, in buckets of its own: machines' routes
	// (health checks, webhooks) get ten times the budget, the rest (pay
	// pages and plugin routes share one) the API's.
	for n, c := range []struct {
		path  string
		limit int
	}{{"/live", 30}, {"/webhooks/payment-x", 30}, {"/pay/INV-1", 3}, {"/plugins/x/y", 3}} {
		for i := range c.limit {
			if r := a.do(http.MethodGet, c.path, nil, fromAddr(fmt.Sprintf("192.0.2.%d:1000", 10+n))); r.Header.Get("X-RateLimit-Limit") != strconv.Itoa(c.limit) || r.Status == http.StatusTooManyRequests {
				t.Fatalf("%s request %d: %d %v", c.path, i+1, r.Status, r.Header)
			}
		}
		if r := a.do(http.MethodGet, c.path, nil, fromAddr(fmt.Sprintf("192.0.2.%d:1000", 10+n))); r.Status != http.StatusTooManyRequests {
			t.Errorf("%s over its limit of %d: %d", c.path, c.limit, r.Status)
		}
	}
	// A failing limiter lets requests through.
	a.limiter.fail = errors.New("redis down")
	if r := a.do(http.MethodGet, "/api/v1/auth/me", nil, fromAddr("192.0.2.1:1000")); r.Status != http.StatusUnauthorized {
		t.Errorf("failing limiter: %d", r.Status)
	}
}

func TestRequestTimeout(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Server.RequestTimeout = 2 * time.Second
	s := New(Deps{Config: cfg})
	var left time.Duration
	h := s.requestTimeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, ok := r.Context().Deadline()
		if !ok {
			t.Error("no deadline")
		}
		left = time.Until(dl)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if left <= 0 || left > 2*time.Second {
		t.Errorf("deadline in %v, want within 2s", left)
	}
	// A handler that overruns it gets a 504 from the error mapping.
	rec := httptest.NewRecorder()
	s.handle(func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		return ctx.Err()
	}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusGatewayTimeout {
		t.Errorf("deadline exceeded: %d", rec.Code)
	}
}

func TestWindowText(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Minute: "minute", 15 * time.Minute: "15 minutes", time.Hour: "hour", 90 * time.Second: "90 seconds", 1500 * time.Millisecond: "1.5s"} {
		if got := windowText(d); got != want {
			t.Errorf("windowText(%v) = %q, want %q", d, got, want)
		}
	}
}
