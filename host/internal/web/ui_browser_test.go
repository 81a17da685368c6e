package web_test

// The admin UI in a real browser: chromedp drives Chromium
// (/usr/bin/chromium, or $MIKROBILL_CHROMIUM) headless against an httptest
// server over web.New with a store, accounts and a plugin manager running
// two test plugins. Without Chromium the tests skip, or fail when CI is
// set. Screenshots of each page go to $MIKROBILL_TEST_SCREENSHOTS, or to
// the test's temporary folder.

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

// uiHost is a host serving the UI, with a store to make users in.
type uiHost struct {
	url string
	db  *store.Store
	srv *httptest.Server
}

// newUIHost starts the host; opts may add to its dependencies (the store
// is in d.DB) before it starts.
func newUIHost(t *testing.T, opts ...func(t *testing.T, d *web.Deps)) *uiHost {
	t.Helper()
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "payment-brief", Kind: "payment"})
	d.Add(testenv.Plugin{Name: "notify-brief", Kind: "generic"})
	pm, cfg := web.StartPlugins(t, d.Dir, plugins.Deps{}, func(cfg *config.Config) { cfg.Security.RateLimitMax = 1000 })
	db := storetest.SQLite(t)
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	deps := web.Deps{Config: cfg, Metrics: metrics.New(), DB: db, Plugins: pm, Accounts: acc}
	for _, o := range opts {
		o(t, &deps)
	}
	srv := httptest.NewServer(web.New(deps).Handler())
	t.Cleanup(srv.Close)
	return &uiHost{url: srv.URL, db: db, srv: srv}
}

func (h *uiHost) user(t *testing.T, name, password, role string) {
	t.Helper()
	u, err := auth.NewUser(context.Background(), auth.HashPassword, name, password, role)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.Q().CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

// browser starts a headless Chromium for the test; closing it (at cleanup)
// ends the browser's process.
func browser(t *testing.T) context.Context { return testenv.Browser(t, 2*time.Minute) }

// run runs one browser action, failing the test with what it was.
func run(t *testing.T, ctx context.Context, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	testenv.BrowserDo(t, ctx, what, a)
}

// value runs one browser action that returns a value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	return testenv.BrowserValue(t, ctx, what, a)
}

// text returns the visible text of the first element matching sel.
//
// It reads through one script rather than by node id, so a region htmx
// replaces between finding the node and reading it (a status that polls)
// is read again instead of failing with "no node with given id"; it waits
// up to 10 seconds for sel to exist.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	js := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); return e ? [true, e.innerText] : [false, ""]; })()`
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := value(t, ctx, "read "+sel, chromedp.Evaluate[[]any](js))
		if found, _ := got[0].(bool); found {
			s, _ := got[1].(string)
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s: no element matches it after 10s", sel)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot saves the page as name.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	testenv.BrowserScreenshot(t, ctx, name)
}

func signIn(t *testing.T, ctx context.Context, base, name, password string) {
	t.Helper()
	run(t, ctx, "open the sign-in page", chromedp.Navigate(base+"/signin"))
	run(t, ctx, "type the username", chromedp.SendKeys(chromedp.CSS("#username"), name))
	run(t, ctx, "type the password", chromedp.SendKeys(chromedp.CSS("#password"), password))
	run(t, ctx, "sign in", chromedp.Submit(chromedp.CSS("#password")))
	run(t, ctx, "wait for the dashboard", chromedp.WaitVisible(chromedp.CSS("#tiles")))
}

// TestUIBrowserSignInDashboardSignOut: the first-run hint without users;
// an admin signs in, sees a tile per plugin with its state and the admin
// buttons, changes language and back, and signs out.
func TestUIBrowserSignInDashboardSignOut(t *testing.T) {
	h := newUIHost(t)
	ctx := browser(t)

	run(t, ctx, "open the dashboard", chromedp.Navigate(h.url+"/"))
	run(t, ctx, "wait for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))
	if got := text(t, ctx, ".first-run"); !strings.Contains(got, "mikrobill user create --username NAME --role admin") {
		t.Errorf("first run without users: %q; want the command that makes the first administrator", got)
	}
	screenshot(t, ctx, "signin-first-run")

	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	signIn(t, ctx, h.url, "ana", "correct horse battery")
	for _, name := range []string{"payment-brief", "notify-brief"} {
		tile := `article[data-plugin="` + name + `"]`
		run(t, ctx, "wait for "+name+" running", chromedp.WaitVisible(chromedp.CSS(tile+`.state-running`)))
		if got := text(t, ctx, tile+" .state"); got != "running" {
			t.Errorf("%s state %q; want running", name, got)
		}
		for _, sel := range []string{" .health", " .restarts", " .circuit", " button.restart", " button.disable"} {
			n := value(t, ctx, "look for "+sel, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('`+tile+sel+`')).map(e => e.textContent)`))
			if len(n) != 1 {
				t.Errorf("%s: %d of %q; want one", name, len(n), sel)
			}
		}
	}
	screenshot(t, ctx, "dashboard")

	run(t, ctx, "open the password page", chromedp.Navigate(h.url+"/password"))
	run(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#current")))
	screenshot(t, ctx, "password")

	click(t, ctx, "sign out", "#signout")
	run(t, ctx, "wait for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))
	if got := text(t, ctx, ".notice"); got != "You are signed out." {
		t.Errorf("after signing out: %q", got)
	}
	run(t, ctx, "open the dashboard again", chromedp.Navigate(h.url+"/"))
	run(t, ctx, "wait for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))
	loc := value(t, ctx, "read the location", chromedp.Location())
	if !strings.Contains(loc, "/signin?next=") {
		t.Errorf("the dashboard after signing out is at %s; want the sign-in page", loc)
	}
}

// TestUIBrowserIndonesian: with the switch set to Bahasa Indonesia, the
// pages have none of the English strings left.
func TestUIBrowserIndonesian(t *testing.T) {
	h := newUIHost(t)
	h.user(t, "budi", "correct horse battery", store.UserRoleAdmin)
	ctx := browser(t)
	signIn(t, ctx, h.url, "budi", "correct horse battery")
	run(t, ctx, "choose Bahasa Indonesia", chromedp.SetValue(chromedp.CSS("#lang"), "id"))
	run(t, ctx, "apply the language", chromedp.Submit(chromedp.CSS("#lang")))
	run(t, ctx, "wait for the Indonesian page", chromedp.WaitVisible(chromedp.CSS(`html[lang="id"]`)))
	run(t, ctx, "wait for the plugins running", chromedp.WaitVisible(chromedp.CSS(`article[data-plugin="payment-brief"].state-running`)))
	english := []string{"Dashboard", "Sign out", "Change password", "Restarts", "Health", "State", "Circuit", "running", "Restart", "Disable", "Signed in as", "Plugins"}
	check := func(page string) {
		t.Helper()
		body := text(t, ctx, "body")
		for _, w := range english {
			if strings.Contains(body, w) {
				t.Errorf("%s in Indonesian still says %q:\n%s", page, w, body)
			}
		}
	}
	check("the dashboard")
	if got := text(t, ctx, "h1"); got != "Dasbor" {
		t.Errorf("dashboard title %q; want Dasbor", got)
	}
	screenshot(t, ctx, "dashboard-id")
	run(t, ctx, "open the password page", chromedp.Navigate(h.url+"/password"))
	run(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#current")))
	check("the password page")
	screenshot(t, ctx, "password-id")
}

// TestUIBrowserViewerSeesNoActions: a viewer sees the tiles and no button
// it may not press.
func TestUIBrowserViewerSeesNoActions(t *testing.T) {
	h := newUIHost(t)
	h.user(t, "vera", "correct horse battery", store.UserRoleViewer)
	ctx := browser(t)
	signIn(t, ctx, h.url, "vera", "correct horse battery")
	run(t, ctx, "wait for a tile", chromedp.WaitVisible(chromedp.CSS(`article[data-plugin="payment-brief"]`)))
	n := value(t, ctx, "count the action buttons", chromedp.Evaluate[int](`document.querySelectorAll('.actions button, button.restart, button.disable, button.enable').length`))
	if n != 0 {
		t.Errorf("a viewer sees %d plugin action buttons; want none", n)
	}
	screenshot(t, ctx, "dashboard-viewer")
}

// click clicks the first element matching sel (again when the page
// replaced it between finding and clicking; see testenv.BrowserClick).
func click(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	testenv.BrowserClick(t, ctx, what, sel)
}
