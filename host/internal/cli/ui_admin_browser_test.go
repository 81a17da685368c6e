package cli

// The routers, users and API tokens pages in a real browser against the
// whole host (see ui_billing_browser_test.go for the browser helpers and
// ui_every_page_browser_test.go for startUIHost).

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestUIBrowserRouters: the routers page compares the store with the fake
// router over the RouterOS API: a subscriber's login removed by hand is
// missing, six logins of ours nobody accounts for are orphans. A repair
// that would remove the six, more than the safe five, is refused with the
// plan shown and the router untouched; allowing six removals repairs it.
func TestUIBrowserRouters(t *testing.T) {
	h := startUIHost(t)
	rt := h.rt
	sdktest.WaitFor(t, 20*time.Second, "andi on the router", func() bool {
		_, ok := rt.Find("/ppp/secret", "andi")
		return ok && h.provisionsDone()
	})
	andi, _ := rt.Find("/ppp/secret", "andi")
	rt.Remove("/ppp/secret", andi[".id"])
	for i := range 6 {
		rt.Add("/ppp/secret", map[string]string{"name": fmt.Sprintf("stale-%d", i), "password": "x", "profile": "default", "comment": "mikrobill: from another store"})
	}

	ctx := uiBrowser(t)
	uiSignIn(t, ctx, h.base, "admin", "correct horse battery")
	do(t, ctx, "open the routers page", chromedp.Navigate(h.base+"/routers"))
	do(t, ctx, "wait for the location", chromedp.WaitVisible(chromedp.CSS(`section[data-location="default"]`)))
	if got := textOf(t, ctx, "#routers-summary"); got != "7 difference(s) found; a repair would remove 6 login(s); 0 location(s) could not be compared." {
		t.Errorf("summary %q", got)
	}
	if n := count(t, ctx, `section[data-location="default"] tr[data-problem="orphan"]`); n != 6 {
		t.Errorf("%d orphans listed; want the 6 stale logins", n)
	}
	if got := textOf(t, ctx, `section[data-location="default"] tr[data-problem="missing"]`); !strings.Contains(got, "andi") || !strings.Contains(got, "should be mb-rumah-10m") || strings.Contains(got, ", is") {
		t.Errorf("the missing row %q; want andi's, with the profile it should have (and none it has)", got)
	}
	if got := textOf(t, ctx, `section[data-location="default"] tr[data-problem="orphan"]`); !strings.Contains(got, "is default") || strings.Contains(got, "should be") {
		t.Errorf("an orphan's row %q; want the profile it has (and none it should have)", got)
	}
	shot(t, ctx, "routers")

	click(t, ctx, "repair without allowing removals", "#repair")
	do(t, ctx, "wait for the refusal", chromedp.WaitVisible(chromedp.CSS("main > p.problem")))
	if got := textOf(t, ctx, "main > p.problem"); !strings.HasPrefix(got, "The repair would remove 6 login(s), more than allowed, and changed nothing.") {
		t.Errorf("the refused repair says %q", got)
	}
	if n := count(t, ctx, `tr[data-problem="orphan"]`); n != 6 {
		t.Errorf("the refused repair shows %d orphans in its plan; want 6", n)
	}
	if _, ok := rt.Find("/ppp/secret", "stale-0"); !ok {
		t.Fatal("a refused repair removed a login")
	}
	if _, ok := rt.Find("/ppp/secret", "andi"); ok {
		t.Fatal("a refused repair changed the router")
	}

	do(t, ctx, "allow six removals", chromedp.SetValue(chromedp.CSS("#allow_removals"), "6"))
	click(t, ctx, "repair", "#repair")
	do(t, ctx, "wait for the notice", chromedp.WaitVisible(chromedp.CSS("main > p.notice")))
	if got := textOf(t, ctx, "main > p.notice"); got != "Repair done: 7 difference(s) repaired." {
		t.Errorf("after the repair: %q", got)
	}
	if a, ok := rt.Find("/ppp/secret", "andi"); !ok || a["profile"] != "mb-rumah-10m" {
		t.Errorf("andi after the repair: %v", a)
	}
	for i := range 6 {
		if _, ok := rt.Find("/ppp/secret", fmt.Sprintf("stale-%d", i)); ok {
			t.Errorf("stale-%d is still on the router", i)
		}
	}
	do(t, ctx, "compare again", chromedp.Navigate(h.base+"/routers"))
	do(t, ctx, "wait for the location", chromedp.WaitVisible(chromedp.CSS(`section[data-location="default"]`)))
	if n := count(t, ctx, "tr[data-problem]"); n != 0 {
		t.Errorf("%d differences left after the repair", n)
	}
}

// TestUIBrowserUsersAndTokens: an admin makes a user through the form; a
// weak password is refused next to its field with the name kept; the
// user made signs in. The admin makes an API token, shown once, which
// works against the API; the list shows it without its value; revoked,
// it no longer works.
func TestUIBrowserUsersAndTokens(t *testing.T) {
	h := startHost(t, testenv.NewPluginDir(t).Dir)
	h.adminToken() // the user "admin", password "correct horse battery"
	base := "http://" + h.addr
	ctx := uiBrowser(t)
	uiSignIn(t, ctx, base, "admin", "correct horse battery")

	do(t, ctx, "open the users page", chromedp.Navigate(base+"/users"))
	do(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#user-form")))
	do(t, ctx, "type the username", chromedp.SendKeys(chromedp.CSS("#user-form #username"), "siti"))
	do(t, ctx, "type a weak password", chromedp.SendKeys(chromedp.CSS("#user-form #password"), "short"))
	do(t, ctx, "choose operator", chromedp.SetValue(chromedp.CSS("#user-form #role"), "operator"))
	do(t, ctx, "create the user", chromedp.Submit(chromedp.CSS("#user-form")))
	do(t, ctx, "wait for the password's error", chromedp.WaitVisible(chromedp.CSS("#password-err")))
	if got := textOf(t, ctx, "#password-err"); !strings.Contains(got, "at least 10 characters") {
		t.Errorf("the weak password's error says %q", got)
	}
	if got := get(t, ctx, "read the field's description", chromedp.Evaluate[string](`document.querySelector('#user-form #password').getAttribute('aria-describedby') + ' ' + document.querySelector('#user-form #password').getAttribute('aria-invalid')`)); got != "password-err true" {
		t.Errorf("the password field is %q; want described by its error, invalid", got)
	}
	if got := get(t, ctx, "read the username kept", chromedp.Value(chromedp.CSS("#user-form #username"))); got != "siti" {
		t.Errorf("the refused form lost the username: %q", got)
	}
	if code, _ := h.api(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "siti", "password": "short"}, nil); code != http.StatusUnauthorized {
		t.Errorf("siti signs in after the refusal: %d", code)
	}
	do(t, ctx, "type a good password", chromedp.SendKeys(chromedp.CSS("#user-form #password"), "a long operator passphrase 7"))
	do(t, ctx, "operator still chosen", chromedp.SetValue(chromedp.CSS("#user-form #role"), "operator"))
	do(t, ctx, "create the user", chromedp.Submit(chromedp.CSS("#user-form")))
	do(t, ctx, "wait for the notice", chromedp.WaitVisible(chromedp.CSS("main > p.notice")))
	if got := textOf(t, ctx, "main > p.notice"); got != "The user siti is created." {
		t.Errorf("after creating: %q", got)
	}
	row := get(t, ctx, "read siti's row", chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#users tr[data-user]')).map(r => r.innerText).find(t => t.includes('siti')) || ''`))
	if !strings.Contains(row, "Operator") {
		t.Errorf("siti's row %q; want the role Operator", row)
	}
	if code, raw := h.api(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "siti", "password": "a long operator passphrase 7"}, nil); code != http.StatusOK {
		t.Errorf("siti cannot sign in: %d %s", code, raw)
	}
	shot(t, ctx, "users")

	do(t, ctx, "open the tokens page", chromedp.Navigate(base+"/tokens"))
	do(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#token-form")))
	do(t, ctx, "name the token", chromedp.SendKeys(chromedp.CSS("#token-form #name"), "backup script"))
	do(t, ctx, "create the token", chromedp.Submit(chromedp.CSS("#token-form")))
	do(t, ctx, "wait for the token", chromedp.WaitVisible(chromedp.CSS("#token-value")))
	tok := get(t, ctx, "read the token", chromedp.Value(chromedp.CSS("#token-value")))
	if !strings.HasPrefix(tok, "mbt_") {
		t.Fatalf("the token shown is %q; want mbt_...", tok)
	}
	if got := textOf(t, ctx, "#new-token"); !strings.Contains(got, "cannot be shown again") {
		t.Errorf("the new token's box says %q; want that it is shown once", got)
	}
	if code, raw := h.api(http.MethodGet, "/api/v1/auth/me", tok, nil, nil); code != http.StatusOK || !strings.Contains(string(raw), `"admin"`) {
		t.Errorf("the new token against the API: %d %s", code, raw)
	}
	shot(t, ctx, "tokens")

	do(t, ctx, "open the tokens page again", chromedp.Navigate(base+"/tokens"))
	do(t, ctx, "wait for the list", chromedp.WaitVisible(chromedp.CSS("#tokens")))
	if n := count(t, ctx, "#token-value"); n != 0 {
		t.Error("the token is shown a second time")
	}
	if body := textOf(t, ctx, "body"); strings.Contains(body, tok) || !strings.Contains(body, "backup script") {
		t.Errorf("the list shows the token's value, or not its name:\n%s", body)
	}
	revoke := `button[aria-label="Revoke the token backup script"]`
	click(t, ctx, "revoke it", revoke)
	do(t, ctx, "wait for the notice", chromedp.WaitVisible(chromedp.CSS("main > p.notice")))
	if got := textOf(t, ctx, "main > p.notice"); got != "The API token is revoked." {
		t.Errorf("after revoking: %q", got)
	}
	if n := count(t, ctx, revoke); n != 0 {
		t.Error("the revoked token can still be revoked")
	}
	if code, _ := h.api(http.MethodGet, "/api/v1/auth/me", tok, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("the revoked token against the API: %d, want 401", code)
	}
}

// textOf is the visible text of the first element matching sel.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}
