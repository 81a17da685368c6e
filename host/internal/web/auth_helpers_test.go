package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// fakeLimiter is an in-memory fixed-window RateLimiter that records the
// keys it was asked about. The tests here count a burst, which it answers
// as the real one (cache.Limiter, GCRA, tested with the cache) does: limit
// requests pass, then 429 until the time it returns.
type fakeLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	windows map[string]*fakeWindow
	keys    []string
	fail    error
}

type fakeWindow struct {
	count int
	end   time.Time
}

func newFakeLimiter() *fakeLimiter {
	return &fakeLimiter{now: time.Now, windows: map[string]*fakeWindow{}}
}

func (l *fakeLimiter) Allow(_ context.Context, key string, limit int, window time.Duration) (bool, int, time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return false, 0, time.Time{}, l.fail
	}
	l.keys = append(l.keys, key)
	now := l.now()
	w := l.windows[key]
	if w == nil || !now.Before(w.end) {
		w = &fakeWindow{end: now.Add(window)}
		l.windows[key] = w
	}
	w.count++
	if w.count > limit {
		return false, 0, w.end, nil
	}
	return true, limit - w.count, w.end, nil
}

// cheapParams keep password hashing fast in tests.
var cheapParams = auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// authAPI is the full handler over a store with real accounts.
type authAPI struct {
	t        *testing.T
	s        *Server
	h        http.Handler
	db       *store.Store
	accounts *auth.Service
	limiter  *fakeLimiter
}

func newAuthAPI(t *testing.T, db *store.Store, mod func(*Deps)) *authAPI {
	t.Helper()
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &cheapParams})
	if err != nil {
		t.Fatal(err)
	}
	lim := newFakeLimiter()
	cfg := config.DefaultConfig()
	cfg.Security.RateLimitMax = 1000
	d := Deps{Config: cfg, Metrics: metrics.New(), DB: db, Accounts: acc, RateLimiter: lim}
	if mod != nil {
		mod(&d)
	}
	s := New(d)
	return &authAPI{t: t, s: s, h: s.Handler(), db: db, accounts: acc, limiter: lim}
}

// user makes a user with a password.
func (a *authAPI) user(name, password, role string) *store.User {
	a.t.Helper()
	u, err := auth.NewUser(context.Background(), cheapParams.Hash, name, password, role)
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.db.Q().CreateUser(context.Background(), u); err != nil {
		a.t.Fatal(err)
	}
	return u
}

// resp is an answer.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	Cookie []*http.Cookie
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r resp) code() string {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// do sends a request; body is JSON-encoded unless it is a string; opts
// change the request before it goes.
func (a *authAPI) do(method, path string, body any, opts ...func(*http.Request)) resp {
	a.t.Helper()
	req := NewJSONRequest(a.t, method, path, body)
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	res := rec.Result()
	return resp{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes(), Cookie: res.Cookies()}
}

func withBearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func withSession(c *http.Cookie) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value}) }
}

func withHeader(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

func fromAddr(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

// signInPage signs in through the sign-in page, as a browser does, and
// returns the session cookie.
func (a *authAPI) signInPage(name, password string) *http.Cookie {
	a.t.Helper()
	r := a.do(http.MethodPost, "/signin", url.Values{"username": {name}, "password": {password}}.Encode(),
		withHeader("Content-Type", "application/x-www-form-urlencoded"))
	for _, c := range r.Cookie {
		if c.Name == auth.SessionCookie && c.Value != "" && r.Status == http.StatusSeeOther {
			return c
		}
	}
	a.t.Fatalf("sign in as %s: %d, no session cookie: %v %.500s", name, r.Status, r.Cookie, r.Body)
	return nil
}

// loginJWT signs in and returns the bearer token.
func (a *authAPI) loginJWT(name, password string) string {
	a.t.Helper()
	r := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": name, "password": password})
	if r.Status != http.StatusOK {
		a.t.Fatalf("sign in as %s: %d %s", name, r.Status, r.Body)
	}
	var body struct{ Token string }
	r.json(a.t, &body)
	return body.Token
}

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

// NewJSONRequest is a test request with body JSON-encoded (a string is sent
// as it is; nil sends none). Exported for the web_test package's tests.
func NewJSONRequest(t testing.TB, method, path string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}
