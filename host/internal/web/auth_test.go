package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestLoginAndMe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.Store) {
		a := newAuthAPI(t, db, nil)
		a.user("ana", "correct horse battery", RoleOperator)

		// A bearer JWT.
		r := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "Ana", "password": "correct horse battery"})
		if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" || len(r.Cookie) != 0 {
			t.Fatalf("login: %d %v %s", r.Status, r.Header, r.Body)
		}
		var login struct {
			Token     string    `json:"token"`
			TokenType string    `json:"token_type"`
			ExpiresAt time.Time `json:"expires_at"`
			User      map[string]any
		}
		r.json(t, &login)
		if login.TokenType != "Bearer" || strings.Count(login.Token, ".") != 2 || time.Until(login.ExpiresAt) < 59*time.Minute ||
			login.User["username"] != "ana" || login.User["password_hash"] != nil {
			t.Errorf("login body %s", r.Body)
		}
		r = a.do(http.MethodGet, "/api/v1/auth/me", nil, withBearer(login.Token))
		var me struct {
			User map[string]any
			Via  string
		}
		r.json(t, &me)
		if r.Status != http.StatusOK || me.Via != "jwt" || me.User["role"] != "operator" || me.User["last_login_at"] == nil {
			t.Errorf("me: %d %s", r.Status, r.Body)
		}

		// A session cookie.
		r = a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "ana", "password": "correct horse battery", "session": true})
		if r.Status != http.StatusOK || len(r.Cookie) != 1 || strings.Contains(string(r.Body), `"token"`) {
			t.Fatalf("session login: %d %s %v", r.Status, r.Body, r.Cookie)
		}
		c := r.Cookie[0]
		if c.Name != auth.SessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 86400 || c.Secure {
			t.Errorf("cookie over plain HTTP: %+v", c)
		}
		r = a.do(http.MethodGet, "/api/v1/auth/me", nil, withSession(c))
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"via": "session"`) {
			t.Errorf("me with the session: %d %s", r.Status, r.Body)
		}

		// Secure when the request came over TLS, or a trusted proxy says
		// it did.
		r = a.do(http.MethodPost, "https://billing.example/api/v1/auth/login", map[string]any{"username": "ana", "password": "correct horse battery", "session": true})
		if len(r.Cookie) != 1 || !r.Cookie[0].Secure {
			t.Errorf("cookie over TLS: %+v", r.Cookie)
		}

		// Signing out ends the session and clears the cookie.
		r = a.do(http.MethodPost, "/api/v1/auth/logout", nil, withSession(c))
		if r.Status != http.StatusNoContent || len(r.Cookie) != 1 || r.Cookie[0].MaxAge != -1 {
			t.Errorf("logout: %d %v", r.Status, r.Cookie)
		}
		r = a.do(http.MethodGet, "/api/v1/auth/me", nil, withSession(c))
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "sign in again") {
			t.Errorf("me after logout: %d %s", r.Status, r.Body)
		}
		// The stale cookie does not stand in the way of signing in or out.
		r = a.do(http.MethodPost, "/api/v1/auth/logout", nil, withSession(c))
		if r.Status != http.StatusNoContent {
			t.Errorf("logout with a stale cookie: %d %s", r.Status, r.Body)
		}
		r = a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "ana", "password": "correct horse battery", "session": true}, withSession(c))
		if r.Status != http.StatusOK {
			t.Errorf("login with a stale cookie: %d %s", r.Status, r.Body)
		}

		// One answer for an unknown user and a wrong password.
		wrong := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "ana", "password": "not the password"})
		unknown := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "bob", "password": "not the password"})
		if wrong.Status != http.StatusUnauthorized || unknown.Status != http.StatusUnauthorized || string(wrong.Body) != string(unknown.Body) ||
			!strings.Contains(string(wrong.Body), "wrong username or password") {
			t.Errorf("wrong password: %d %s\nunknown user: %d %s", wrong.Status, wrong.Body, unknown.Status, unknown.Body)
		}
		if r := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "ana"}); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("no password: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "ana", "password": "x", "remember": true}); r.Status != http.StatusBadRequest {
			t.Errorf("unknown field: %d %s", r.Status, r.Body)
		}

		// Garbage credentials are refused with a reason, not treated as
		// anonymous.
		r = a.do(http.MethodGet, "/api/v1/auth/me", nil, withBearer("mbt_nope"))
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "malformed") || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("malformed token: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodGet, "/api/v1/auth/me", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous me: %d", r.Status)
		}
	})
}

func TestLoginRateLimit(t *testing.T) {
	a := newAuthAPI(t, storetest.SQLite(t), nil)
	a.user("ana", "correct horse battery", RoleViewer)
	try := func(user, password, addr string) resp {
		return a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": user, "password": password}, fromAddr(addr))
	}
	for i := range LoginLimit {
		if r := try("ana", "wrong password!", "192.0.2.1:1000"); r.Status != http.StatusUnauthorized || r.Header.Get("X-RateLimit-Limit") != "10" {
			t.Fatalf("attempt %d: %d %v", i+1, r.Status, r.Header)
		}
	}
	r := try("ANA", "correct horse battery", "192.0.2.1:1001")
	if r.Status != http.StatusTooManyRequests || r.code() != "rate_limited" || r.Header.Get("Retry-After") == "" ||
		r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("X-RateLimit-Reset") == "" ||
		!strings.Contains(string(r.Body), "at most 10 per 15 minutes") {
		t.Errorf("over the limit, even with the right password: %d %v %s", r.Status, r.Header, r.Body)
	}
	// Other addresses and other usernames have their own counts.
	if r := try("ana", "correct horse battery", "192.0.2.2:1000"); r.Status != http.StatusOK {
		t.Errorf("another address: %d %s", r.Status, r.Body)
	}
	if r := try("bob", "wrong password!", "192.0.2.1:1000"); r.Status != http.StatusUnauthorized {
		t.Errorf("another username: %d %s", r.Status, r.Body)
	}
}

func TestAPITokensAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.Store) {
		a := newAuthAPI(t, db, nil)
		a.user("root", "correct horse battery", RoleAdmin)
		a.user("vic", "correct horse battery", RoleViewer)
		admin, viewer := a.loginJWT("root", "correct horse battery"), a.loginJWT("vic", "correct horse battery")

		r := a.do(http.MethodPost, "/api/v1/tokens", map[string]any{"name": "backup script"}, withBearer(viewer))
		var created struct {
			Token  string `json:"token"`
			ID     int64  `json:"id"`
			Prefix string `json:"prefix"`
			Hash   string `json:"hash"`
		}
		r.json(t, &created)
		if r.Status != http.StatusCreated || !strings.HasPrefix(created.Token, "mbt_") || created.Prefix != created.Token[:10] ||
			strings.Contains(string(r.Body), auth.Digest(created.Token)) || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create token: %d %s", r.Status, r.Body)
		}
		// The token works, with its owner's role.
		r = a.do(http.MethodGet, "/api/v1/auth/me", nil, withBearer(created.Token))
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"via": "token"`) || !strings.Contains(string(r.Body), `"role": "viewer"`) {
			t.Errorf("me with the API token: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodGet, "/api/v1/users", nil, withBearer(created.Token)); r.Status != http.StatusForbidden {
			t.Errorf("a viewer's token on an admin route: %d", r.Status)
		}
		// It is never shown again.
		r = a.do(http.MethodGet, "/api/v1/tokens", nil, withBearer(viewer))
		if r.Status != http.StatusOK || strings.Contains(string(r.Body), created.Token) || !strings.Contains(string(r.Body), created.Prefix) {
			t.Errorf("list own tokens: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodPost, "/api/v1/tokens", map[string]any{"name": "", "expires_at": "2001-01-01T00:00:00Z"}, withBearer(viewer)); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(string(r.Body), "name") || !strings.Contains(string(r.Body), "expires_at") {
			t.Errorf("bad token request: %d %s", r.Status, r.Body)
		}
		r = a.do(http.MethodPost, "/api/v1/tokens", map[string]any{"name": "admin's", "expires_at": time.Now().Add(time.Hour)}, withBearer(admin))
		if r.Status != http.StatusCreated || !strings.Contains(string(r.Body), "expires_at") {
			t.Fatalf("admin token: %d %s", r.Status, r.Body)
		}
		var adminTok struct{ ID int64 }
		r.json(t, &adminTok)

		// Viewers see their own; ?all=true is for admins.
		if r := a.do(http.MethodGet, "/api/v1/tokens?all=true", nil, withBearer(viewer)); r.Status != http.StatusForbidden {
			t.Errorf("viewer lists all: %d", r.Status)
		}
		var list struct {
			Items []struct{ Username string }
			Total int
		}
		a.do(http.MethodGet, "/api/v1/tokens?all=true", nil, withBearer(admin)).json(t, &list)
		if list.Total != 2 {
			t.Errorf("admin lists all: %+v", list)
		}
		a.do(http.MethodGet, "/api/v1/tokens", nil, withBearer(admin)).json(t, &list)
		if list.Total != 1 || list.Items[0].Username != "root" {
			t.Errorf("admin lists own: %+v", list)
		}

		// Someone else's token is not found for a viewer; an admin may
		// revoke anyone's.
		if r := a.do(http.MethodDelete, "/api/v1/tokens/"+itoa(adminTok.ID), nil, withBearer(viewer)); r.Status != http.StatusNotFound {
			t.Errorf("viewer revokes admin's token: %d", r.Status)
		}
		if r := a.do(http.MethodDelete, "/api/v1/tokens/"+itoa(created.ID), nil, withBearer(admin)); r.Status != http.StatusNoContent {
			t.Errorf("admin revokes viewer's token: %d %s", r.Status, r.Body)
		}
		r = a.do(http.MethodGet, "/api/v1/auth/me", nil, withBearer(created.Token))
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "revoked") {
			t.Errorf("revoked token: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodDelete, "/api/v1/tokens/999", nil, withBearer(admin)); r.Status != http.StatusNotFound {
			t.Errorf("missing token: %d", r.Status)
		}
	})
}

func itoa(n int64) string { return strconvFormat(n) }

func TestUsersAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.Store) {
		a := newAuthAPI(t, db, nil)
		root := a.user("root", "correct horse battery", RoleAdmin)
		admin := a.loginJWT("root", "correct horse battery")

		r := a.do(http.MethodPost, "/api/v1/users", map[string]any{"username": "Op.One", "password": "operator password", "role": "operator"}, withBearer(admin))
		var op store.User
		r.json(t, &op)
		if r.Status != http.StatusCreated || op.Username != "op.one" || op.Role != RoleOperator || strings.Contains(string(r.Body), "argon2") {
			t.Fatalf("create user: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodPost, "/api/v1/users", map[string]any{"username": "op.one", "password": "operator password", "role": "operator"}, withBearer(admin)); r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "taken") {
			t.Errorf("duplicate: %d %s", r.Status, r.Body)
		}
		r = a.do(http.MethodPost, "/api/v1/users", map[string]any{"username": "x", "password": "short", "role": "root"}, withBearer(admin))
		for _, want := range []string{`"username"`, "at least 10 characters", `"role"`} {
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), want) {
				t.Errorf("invalid user: %d %s (want %s)", r.Status, r.Body, want)
			}
		}
		var list struct{ Total int }
		a.do(http.MethodGet, "/api/v1/users", nil, withBearer(admin)).json(t, &list)
		if list.Total != 2 {
			t.Errorf("list users: %+v", list)
		}
		if r := a.do(http.MethodGet, "/api/v1/users/"+itoa(op.ID), nil, withBearer(admin)); r.Status != http.StatusOK {
			t.Errorf("get user: %d", r.Status)
		}

		// The operator signs in on a browser; a new password ends that
		// session, and the old password stops working.
		r = a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "op.one", "password": "operator password", "session": true})
		if r.Status != http.StatusOK {
			t.Fatalf("operator login: %d %s", r.Status, r.Body)
		}
		cookie := r.Cookie[0]
		if r := a.do(http.MethodPatch, "/api/v1/users/"+itoa(op.ID), map[string]any{"password": "tiny"}, withBearer(admin)); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("weak new password: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodPatch, "/api/v1/users/"+itoa(op.ID), map[string]any{"password": "a new operator password"}, withBearer(admin)); r.Status != http.StatusOK {
			t.Fatalf("set password: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodGet, "/api/v1/auth/me", nil, withSession(cookie)); r.Status != http.StatusUnauthorized {
			t.Errorf("session after the password changed: %d", r.Status)
		}
		if r := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "op.one", "password": "operator password"}); r.Status != http.StatusUnauthorized {
			t.Errorf("old password: %d", r.Status)
		}
		opTok := a.loginJWT("op.one", "a new operator password")

		// Disabling refuses at once; the operator cannot manage users.
		if r := a.do(http.MethodPatch, "/api/v1/users/"+itoa(op.ID), map[string]any{"role": "admin"}, withBearer(opTok)); r.Status != http.StatusForbidden {
			t.Errorf("operator promotes self: %d", r.Status)
		}
		r = a.do(http.MethodPatch, "/api/v1/users/"+itoa(op.ID), map[string]any{"disabled": true}, withBearer(admin))
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"disabled": true`) {
			t.Fatalf("disable: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodGet, "/api/v1/auth/me", nil, withBearer(opTok)); r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "disabled") {
			t.Errorf("disabled user's token: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodPost, "/api/v1/auth/login", map[string]any{"username": "op.one", "password": "a new operator password"}); r.Status != http.StatusForbidden || r.code() != "account_disabled" {
			t.Errorf("disabled user signs in: %d %s", r.Status, r.Body)
		}

		// The last enabled admin stays.
		for _, change := range []map[string]any{{"role": "viewer"}, {"disabled": true}} {
			if r := a.do(http.MethodPatch, "/api/v1/users/"+itoa(root.ID), change, withBearer(admin)); r.Status != http.StatusConflict || r.code() != "last_admin" {
				t.Errorf("demote the last admin with %v: %d %s", change, r.Status, r.Body)
			}
		}
		if r := a.do(http.MethodDelete, "/api/v1/users/"+itoa(root.ID), nil, withBearer(admin)); r.Status != http.StatusConflict || r.code() != "self_delete" {
			t.Errorf("delete self: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodPatch, "/api/v1/users/"+itoa(op.ID), map[string]any{"role": "admin", "disabled": false}, withBearer(admin)); r.Status != http.StatusOK {
			t.Fatalf("promote: %d %s", r.Status, r.Body)
		}
		// Now root may step down, and the other admin may delete root.
		if r := a.do(http.MethodPatch, "/api/v1/users/"+itoa(root.ID), map[string]any{"role": "operator"}, withBearer(admin)); r.Status != http.StatusOK {
			t.Errorf("step down with another admin: %d %s", r.Status, r.Body)
		}
		// (root's JWT predates the change and is refused from the next
		// second on: auth's tests check that with a clock of their own.)
		newAdmin := a.loginJWT("op.one", "a new operator password")
		if r := a.do(http.MethodDelete, "/api/v1/users/"+itoa(root.ID), nil, withBearer(newAdmin)); r.Status != http.StatusNoContent {
			t.Errorf("delete root: %d %s", r.Status, r.Body)
		}
		if r := a.do(http.MethodDelete, "/api/v1/users/"+itoa(root.ID), nil, withBearer(newAdmin)); r.Status != http.StatusNotFound {
			t.Errorf("delete twice: %d", r.Status)
		}
		if r := a.do(http.MethodPatch, "/api/v1/users/"+itoa(op.ID), map[string]any{}, withBearer(newAdmin)); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("empty update: %d", r.Status)
		}
	})
}
