package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

var cheap = auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// newClock returns a clock the test moves, standing at the current second,
// for the store and the service to share.
func newClock() *sdktest.Clock { return sdktest.NewClock(time.Now().UTC().Truncate(time.Second)) }

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func request(opts ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/auth/me", nil)
	for _, o := range opts {
		o(r)
	}
	return r
}

func withCookie(c *http.Cookie) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value}) }
}

func newService(t *testing.T, s *store.Store, c *sdktest.Clock) *auth.Service {
	t.Helper()
	s.Now = c.Now
	svc, err := auth.New(auth.Options{DB: s, JWTSecret: "0123456789abcdef0123456789abcdef", JWTTTL: time.Hour,
		SessionTTL: 24 * time.Hour, Params: &cheap, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func mustUser(t *testing.T, s *store.Store, name, password, role string) *store.User {
	t.Helper()
	u, err := auth.NewUser(context.Background(), cheap.Hash, name, password, role)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Q().CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func wantRefused(t *testing.T, what string, id *auth.Identity, err, kind error, msg string) {
	t.Helper()
	if id != nil || !errors.Is(err, kind) || !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: %+v, %v; want %v saying %q", what, id, err, kind, msg)
	}
}

func TestLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, s, c)
		u := mustUser(t, s, "Ana", "correct horse battery", store.UserRoleOperator)
		if u.Username != "ana" {
			t.Errorf("username stored as %q", u.Username)
		}
		got, err := svc.Login(ctx, " ANA ", "correct horse battery")
		if err != nil || got.ID != u.ID || got.LastLoginAt.IsZero() {
			t.Fatalf("Login = %+v, %v", got, err)
		}
		if row, _ := s.Q().GetUser(ctx, u.ID); row.LastLoginAt.IsZero() {
			t.Error("the sign-in was not recorded")
		}
		_, wrong := svc.Login(ctx, "ana", "wrong password!")
		_, unknown := svc.Login(ctx, "nobody", "wrong password!")
		_, empty := svc.Login(ctx, "ana", "")
		for _, err := range []error{wrong, unknown, empty} {
			if !errors.Is(err, auth.ErrBadCredentials) || err.Error() != "wrong username or password" {
				t.Errorf("bad sign-in: %v", err)
			}
		}
		u.Disabled = true
		if err := s.Q().UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Login(ctx, "ana", "wrong password!"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("disabled user, wrong password: %v", err)
		}
		if _, err := svc.Login(ctx, "ana", "correct horse battery"); !errors.Is(err, auth.ErrUserDisabled) || !strings.Contains(err.Error(), "ask an administrator") {
			t.Errorf("disabled user, right password: %v", err)
		}

		// A hash made with other parameters is replaced at sign-in.
		old := auth.Params{Memory: 32, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
		h, _ := old.Hash(ctx, "another good password")
		v := &store.User{Username: "vic", PasswordHash: h, Role: store.UserRoleViewer}
		if err := s.Q().CreateUser(ctx, v); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Login(ctx, "vic", "another good password"); err != nil {
			t.Fatal(err)
		}
		row, _ := s.Q().GetUser(ctx, v.ID)
		if row.PasswordHash == h || auth.NeedsRehash(row.PasswordHash, cheap) || !row.UpdatedAt.Equal(v.UpdatedAt) {
			t.Errorf("after sign-in with an old hash: %q (updated %v, was %v)", row.PasswordHash, row.UpdatedAt, v.UpdatedAt)
		}
		if _, err := svc.Login(ctx, "vic", "another good password"); err != nil {
			t.Errorf("sign-in with the new hash: %v", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, s, c)
		u := mustUser(t, s, "oper", "correct horse battery", store.UserRoleOperator)
		c.Advance(2 * time.Second) // tokens are issued after the user was made

		if id, err := svc.Authenticate(ctx, request()); id != nil || err != nil {
			t.Errorf("anonymous: %+v, %v", id, err)
		}

		jwtTok, _, err := svc.IssueJWT(u)
		if err != nil {
			t.Fatal(err)
		}
		apiTok, rec, err := svc.CreateToken(ctx, u.ID, "ci", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(apiTok, auth.TokenPrefix) || rec.Hash != auth.Digest(apiTok) || strings.Contains(rec.Prefix, apiTok[15:]) {
			t.Errorf("token %q, record %+v", apiTok, rec)
		}
		cookie, exp, err := svc.StartSession(ctx, u, "192.0.2.1", true)
		if err != nil {
			t.Fatal(err)
		}
		if !cookie.Secure || cookie.MaxAge != 86400 || !exp.Equal(c.Now().Add(24*time.Hour)) {
			t.Errorf("session cookie %+v, expiry %v", cookie, exp)
		}
		if sess, err := s.Q().GetSession(ctx, auth.Digest(cookie.Value)); err != nil || sess.Remote != "192.0.2.1" {
			t.Errorf("stored session: %+v, %v", sess, err)
		}

		for _, tt := range []struct {
			name  string
			req   *http.Request
			via   string
			token int64
		}{
			{"JWT", request(bearer(jwtTok)), auth.ViaJWT, 0},
			{"API token", request(bearer(apiTok)), auth.ViaToken, rec.ID},
			{"session", request(withCookie(cookie)), auth.ViaSession, 0},
			{"lowercase scheme", request(func(r *http.Request) { r.Header.Set("Authorization", "bearer "+jwtTok) }), auth.ViaJWT, 0},
		} {
			id, err := svc.Authenticate(ctx, tt.req)
			if err != nil || id.User.ID != u.ID || id.User.Role != store.UserRoleOperator || id.Via != tt.via || id.TokenID != tt.token {
				t.Errorf("%s: %+v, %v", tt.name, id, err)
			}
		}
		if tr, _ := s.Q().GetAPIToken(ctx, rec.ID); tr.LastUsedAt.IsZero() {
			t.Error("the API token's use was not recorded")
		}

		// The header alone decides when present.
		id, err := svc.Authenticate(ctx, request(bearer("garbage"), withCookie(cookie)))
		wantRefused(t, "bad bearer with a good cookie", id, err, auth.ErrInvalidCredentials, "sign in again")
		id, err = svc.Authenticate(ctx, request(func(r *http.Request) { r.SetBasicAuth("op", "correct horse battery") }))
		wantRefused(t, "basic auth", id, err, auth.ErrInvalidCredentials, `"Bearer <token>"`)
		id, err = svc.Authenticate(ctx, request(bearer("mbt_short")))
		wantRefused(t, "malformed API token", id, err, auth.ErrInvalidCredentials, "malformed")
		forged, _, _, _ := auth.NewAPIToken()
		id, err = svc.Authenticate(ctx, request(bearer(forged)))
		wantRefused(t, "unknown API token", id, err, auth.ErrInvalidCredentials, "unknown API token")
		id, err = svc.Authenticate(ctx, request(withCookie(&http.Cookie{Name: auth.SessionCookie, Value: strings.Repeat("A", 43)})))
		wantRefused(t, "unknown session", id, err, auth.ErrInvalidCredentials, "sign in again")

		// A disabled user is refused on every path.
		c.Advance(2 * time.Second)
		u.Disabled = true
		if err := s.Q().UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		id, err = svc.Authenticate(ctx, request(bearer(apiTok)))
		wantRefused(t, "API token of a disabled user", id, err, auth.ErrUserDisabled, "is disabled")
		id, err = svc.Authenticate(ctx, request(withCookie(cookie)))
		wantRefused(t, "session of a disabled user", id, err, auth.ErrUserDisabled, "is disabled")
		id, err = svc.Authenticate(ctx, request(bearer(jwtTok)))
		wantRefused(t, "JWT of a disabled user", id, err, auth.ErrUserDisabled, "is disabled")
		u.Disabled = false
		if err := s.Q().UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		// The JWT predates that change: it stays refused.
		id, err = svc.Authenticate(ctx, request(bearer(jwtTok)))
		wantRefused(t, "JWT issued before the account changed", id, err, auth.ErrRevoked, "sign in again")
		c.Advance(2 * time.Second)
		fresh, _, _ := svc.IssueJWT(u)
		if id, err := svc.Authenticate(ctx, request(bearer(fresh))); err != nil || id.Via != auth.ViaJWT {
			t.Errorf("a JWT issued after the change: %+v, %v", id, err)
		}

		// Revoked and expired API tokens.
		if err := s.Q().RevokeAPIToken(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		id, err = svc.Authenticate(ctx, request(bearer(apiTok)))
		wantRefused(t, "revoked API token", id, err, auth.ErrRevoked, "was revoked")
		short, _, err := svc.CreateToken(ctx, u.ID, "short", c.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, request(bearer(short))); err != nil {
			t.Errorf("unexpired token: %v", err)
		}

		// A password change ends sessions and older JWTs, not API tokens.
		c.Advance(2 * time.Second)
		ended, err := auth.SetPassword(ctx, s, svc.HashPassword, u, "a brand new password")
		if err != nil || ended != 1 {
			t.Fatalf("SetPassword = %d, %v", ended, err)
		}
		id, err = svc.Authenticate(ctx, request(withCookie(cookie)))
		wantRefused(t, "session after a password change", id, err, auth.ErrInvalidCredentials, "sign in again")
		id, err = svc.Authenticate(ctx, request(bearer(fresh)))
		wantRefused(t, "JWT after a password change", id, err, auth.ErrRevoked, "sign in again")
		if _, err := svc.Authenticate(ctx, request(bearer(short))); err != nil {
			t.Errorf("API token after a password change: %v", err)
		}
		if _, err := auth.SetPassword(ctx, s, svc.HashPassword, u, "short"); !errors.Is(err, auth.ErrWeakPassword) {
			t.Errorf("weak new password: %v", err)
		}

		// Time passes: the token and a new session expire; the expired
		// session's row goes.
		cookie2, _, err := svc.StartSession(ctx, u, "", false)
		if err != nil {
			t.Fatal(err)
		}
		c.Advance(25 * time.Hour)
		id, err = svc.Authenticate(ctx, request(bearer(short)))
		wantRefused(t, "expired API token", id, err, auth.ErrExpired, "expired")
		id, err = svc.Authenticate(ctx, request(withCookie(cookie2)))
		wantRefused(t, "expired session", id, err, auth.ErrExpired, "has expired")
		if _, err := s.Q().GetSession(ctx, auth.Digest(cookie2.Value)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session row: %v", err)
		}

		// Signing out deletes the session and clears the cookie.
		cookie3, _, _ := svc.StartSession(ctx, u, "", false)
		clear, err := svc.EndSession(ctx, request(withCookie(cookie3)), false)
		if err != nil || clear.MaxAge != -1 {
			t.Fatalf("EndSession = %+v, %v", clear, err)
		}
		id, err = svc.Authenticate(ctx, request(withCookie(cookie3)))
		wantRefused(t, "session after sign-out", id, err, auth.ErrInvalidCredentials, "signed out")
		if _, err := svc.EndSession(ctx, request(), false); err != nil {
			t.Errorf("EndSession without a cookie: %v", err)
		}

		// A deleted user's JWT is refused.
		c.Advance(2 * time.Second)
		other := mustUser(t, s, "gone", "correct horse battery", store.UserRoleViewer)
		c.Advance(2 * time.Second)
		gone, _, _ := svc.IssueJWT(other)
		if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.Q().DeleteUser(ctx, other.ID) }); err != nil {
			t.Fatal(err)
		}
		id, err = svc.Authenticate(ctx, request(bearer(gone)))
		wantRefused(t, "JWT of a deleted user", id, err, auth.ErrInvalidCredentials, "no longer exists")
	})
}

func TestNewUser(t *testing.T) {
	ctx := context.Background()
	if _, err := auth.NewUser(ctx, cheap.Hash, "x", "correct horse battery", "admin"); !errors.Is(err, auth.ErrInvalidUsername) {
		t.Errorf("short username: %v", err)
	}
	if _, err := auth.NewUser(ctx, cheap.Hash, "admin", "password", "admin"); !errors.Is(err, auth.ErrWeakPassword) || !strings.Contains(err.Error(), "at least 10 characters") {
		t.Errorf("weak password: %v", err)
	}
	u, err := auth.NewUser(ctx, cheap.Hash, " Root ", "correct horse battery", "admin")
	if err != nil || u.Username != "root" || u.Role != "admin" {
		t.Fatalf("NewUser = %+v, %v", u, err)
	}
	if ok, _ := auth.VerifyPassword(ctx, u.PasswordHash, "correct horse battery"); !ok {
		t.Error("the hash does not verify")
	}
}

// TestChangesEndEarlierCredentialsAtOnce: a password, role or status change
// ends every bearer JWT and session issued before it, even in the same
// second (the clock does not move in this test): they carry the user's
// generation, not a time. A sign-in that raced the change cannot start a
// session that outlives it. API tokens follow a role change and a disable
// at once and survive a password change.
func TestChangesEndEarlierCredentialsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, s, c)
		u := mustUser(t, s, "ops", "correct horse battery", store.UserRoleOperator)
		apiTok, _, err := svc.CreateToken(ctx, u.ID, "ci", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		// issue signs in now, as a client would: a JWT and a session.
		issue := func() (string, *http.Cookie) {
			t.Helper()
			cur, err := svc.Login(ctx, "ops", "correct horse battery")
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := svc.IssueJWT(cur)
			if err != nil {
				t.Fatal(err)
			}
			cookie, _, err := svc.StartSession(ctx, cur, "", false)
			if err != nil {
				t.Fatal(err)
			}
			return tok, cookie
		}
		accepted := func(what string, r *http.Request) *auth.Identity {
			t.Helper()
			id, err := svc.Authenticate(ctx, r)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			return id
		}
		for _, change := range []struct {
			name string
			do   func()
		}{
			{"password", func() {
				if _, err := auth.SetPassword(ctx, s, svc.HashPassword, u, "correct horse battery"); err != nil {
					t.Fatal(err)
				}
			}},
			{"role", func() {
				u.Role = store.UserRoleViewer
				if err := s.Q().UpdateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}},
			{"disable and enable", func() {
				for _, d := range []bool{true, false} {
					u.Disabled = d
					if err := s.Q().UpdateUser(ctx, u); err != nil {
						t.Fatal(err)
					}
				}
			}},
		} {
			tok, cookie := issue()
			accepted("JWT before the "+change.name+" change", request(bearer(tok)))
			accepted("session before the "+change.name+" change", request(withCookie(cookie)))
			change.do()
			id, err := svc.Authenticate(ctx, request(bearer(tok)))
			wantRefused(t, "JWT after a "+change.name+" change in the same second", id, err, auth.ErrRevoked, "sign in again")
			id, err = svc.Authenticate(ctx, request(withCookie(cookie)))
			if id != nil || !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "sign in again") {
				t.Errorf("session after a %s change in the same second: %+v, %v", change.name, id, err)
			}
			tok, cookie = issue()
			accepted("JWT issued after the "+change.name+" change", request(bearer(tok)))
			accepted("session begun after the "+change.name+" change", request(withCookie(cookie)))
			if id := accepted("API token after the "+change.name+" change", request(bearer(apiTok))); id.User.Role != u.Role {
				t.Errorf("API token after the %s change acts as %s, want %s", change.name, id.User.Role, u.Role)
			}
		}

		// A sign-in that checked the password before a change and starts
		// its session after it.
		before, err := svc.Login(ctx, "ops", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auth.SetPassword(ctx, s, svc.HashPassword, u, "another fine password"); err != nil {
			t.Fatal(err)
		}
		late, _, err := svc.StartSession(ctx, before, "", false)
		if err != nil {
			t.Fatal(err)
		}
		id, err := svc.Authenticate(ctx, request(withCookie(late)))
		wantRefused(t, "session started by a sign-in that raced a password change", id, err, auth.ErrRevoked, "sign in again")
		if _, err := s.Q().GetSession(ctx, auth.Digest(late.Value)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused session's row: %v, want it deleted", err)
		}
		jwtLate, _, _ := svc.IssueJWT(before)
		id, err = svc.Authenticate(ctx, request(bearer(jwtLate)))
		wantRefused(t, "JWT issued by a sign-in that raced a password change", id, err, auth.ErrRevoked, "sign in again")

		// Disabling ends API tokens at once too.
		u.Disabled = true
		if err := s.Q().UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		id, err = svc.Authenticate(ctx, request(bearer(apiTok)))
		wantRefused(t, "API token of a user just disabled", id, err, auth.ErrUserDisabled, "is disabled")
	})
}
