package web

// The users and API tokens pages over the server: a user made through the
// form, refusals next to their fields, the last admin kept, the roles.

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

func TestUserAndTokenPages(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	ctx := context.Background()
	user := url.Values{"username": {"budi"}, "password": {"a long enough passphrase 42"}, "role": {"admin"}}
	if code, _ := page(t, h, http.MethodPost, "/users", RoleViewer, user, false); code != http.StatusForbidden {
		t.Errorf("a viewer's POST /users: %d, want 403", code)
	}
	if code, _ := page(t, h, http.MethodGet, "/users", RoleOperator, nil, false); code != http.StatusForbidden {
		t.Errorf("an operator's GET /users: %d, want 403", code)
	}
	if code, body := page(t, h, http.MethodPost, "/users", RoleAdmin, user, false); code != http.StatusSeeOther {
		t.Fatalf("a user through the form: %d %.1500s", code, body)
	}
	users, _, err := s.deps.DB.Q().ListUsers(ctx, store.Page{})
	if err != nil || len(users) != 1 || users[0].Username != "budi" || users[0].Role != RoleAdmin {
		t.Fatalf("users after the form: %+v %v", users, err)
	}
	if code, body := page(t, h, http.MethodPost, "/users", RoleAdmin, user, false); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="username-err"`) {
		t.Errorf("a taken username: %d, want 422 with the error next to the username:\n%.2500s", code, body)
	}
	weak := url.Values{"username": {"siti"}, "password": {"short"}, "role": {"viewer"}}
	if code, body := page(t, h, http.MethodPost, "/users", RoleAdmin, weak, false); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="password-err"`) || !strings.Contains(body, `value="siti"`) {
		t.Errorf("a weak password: %d, want 422 with the error next to the password and the name kept:\n%.2500s", code, body)
	}
	// budi is the only enabled admin: neither disabled nor made a viewer.
	one := "/users/" + strconv.FormatInt(users[0].ID, 10)
	for _, change := range []url.Values{{"disabled": {"true"}}, {"role": {"viewer"}}} {
		code, body := page(t, h, http.MethodPost, one, RoleAdmin, change, false)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "row-"+strconv.FormatInt(users[0].ID, 10)+"-err") || !strings.Contains(body, "only enabled admin") {
			t.Errorf("the last admin %v: %d, want 422 with the refusal on the row:\n%.3000s", change, code, body)
		}
	}
	if u, _ := s.deps.DB.Q().GetUser(ctx, users[0].ID); u.Disabled || u.Role != RoleAdmin {
		t.Errorf("the last admin changed: %+v", u)
	}
	// Another admin: now budi may become an operator.
	if code, _ := page(t, h, http.MethodPost, "/users", RoleAdmin, url.Values{"username": {"siti"}, "password": {"another long passphrase 7"}, "role": {"admin"}}, false); code != http.StatusSeeOther {
		t.Fatalf("a second admin: %d", code)
	}
	if code, body := page(t, h, http.MethodPost, one, RoleAdmin, url.Values{"role": {"operator"}}, false); code != http.StatusSeeOther {
		t.Fatalf("a role change: %d %.1500s", code, body)
	}
	if u, _ := s.deps.DB.Q().GetUser(ctx, users[0].ID); u.Role != RoleOperator {
		t.Errorf("after the role change: %+v", u)
	}
	_, list := page(t, h, http.MethodGet, "/", RoleOperator, nil, false)
	if strings.Contains(list, `href="/users"`) {
		t.Error("an operator sees the users link")
	}

	// Tokens: the caller (user 1, budi) makes one; it is shown once.
	if code, body := page(t, h, http.MethodPost, "/tokens", RoleViewer, url.Values{"name": {""}}, false); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="name-err"`) {
		t.Errorf("a token without a name: %d:\n%.2000s", code, body)
	}
	code, body := page(t, h, http.MethodPost, "/tokens", RoleViewer, url.Values{"name": {"backup script"}}, false)
	if code != http.StatusCreated || !strings.Contains(body, `id="token-value"`) || !strings.Contains(body, "cannot be shown again") {
		t.Fatalf("a token through the form: %d:\n%.2500s", code, body)
	}
	toks, _, err := s.deps.DB.Q().ListAPITokens(ctx, 0, store.Page{})
	if err != nil || len(toks) != 1 || toks[0].Name != "backup script" {
		t.Fatalf("tokens after the form: %+v %v", toks, err)
	}
	if _, again := page(t, h, http.MethodGet, "/tokens", RoleViewer, nil, false); strings.Contains(again, `id="token-value"`) || !strings.Contains(again, "backup script") {
		t.Errorf("the token list shows the token again, or not its name:\n%.2500s", again)
	}
	if code, _ := page(t, h, http.MethodPost, "/tokens/"+strconv.FormatInt(toks[0].ID, 10)+"/revoke", RoleViewer, url.Values{}, false); code != http.StatusSeeOther {
		t.Errorf("revoking: %d", code)
	}
	if tok, _ := s.deps.DB.Q().GetAPIToken(ctx, toks[0].ID); tok == nil || tok.RevokedAt.IsZero() {
		t.Errorf("the token is not revoked: %+v", tok)
	}
}
