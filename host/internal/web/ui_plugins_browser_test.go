package web_test

// The plugin pages in a real browser (see ui_browser_test.go for the
// browser and its helpers): a host with the bundled payment-manual and
// payment-tripay, a store with an encryption key for their settings.

import (
	"context"
	"encoding/json"
	"errors"
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

// pluginUIHost is a UI host whose plugins read their saved settings.
type pluginUIHost struct {
	uiHost
	pm  *plugins.Manager
	cip *store.Cipher
}

func newPluginUIHost(t *testing.T) *pluginUIHost {
	t.Helper()
	cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.SQLite(t)
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	d.AddBundled("payment-tripay")
	pm, cfg := web.StartPlugins(t, d.Dir, plugins.Deps{Store: db,
		SavedSettings: func(ctx context.Context, name string) (json.RawMessage, error) {
			raw, err := db.Q().LoadPluginSettings(ctx, name, cip)
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return raw, err
		}}, func(cfg *config.Config) {
		cfg.Plugins.HistoryInterval = time.Second
		cfg.Security.RateLimitMax = 1000
	})
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.New(web.Deps{Config: cfg, Metrics: metrics.New(), DB: db, Cipher: cip, Plugins: pm, Accounts: acc}).Handler())
	t.Cleanup(srv.Close)
	return &pluginUIHost{uiHost: uiHost{url: srv.URL, db: db}, pm: pm, cip: cip}
}

// saved returns a plugin's stored settings, decrypted (nil: none).
func (h *pluginUIHost) saved(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := h.db.Q().LoadPluginSettings(context.Background(), name, h.cip)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitJS waits until a JavaScript expression is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	run(t, ctx, what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)))
}

// TestUIBrowserPluginListAndPage: the list shows every plugin with its
// kind, version, state, health, restarts and circuit; a plugin's page
// shows its status, manifest and routes, and uPlot draws a canvas of
// non-zero size for each sparkline from the history endpoint. Restarting
// from the page changes its status in place (no reload), and so does a
// restart made elsewhere, which the page's polling picks up.
func TestUIBrowserPluginListAndPage(t *testing.T) {
	h := newPluginUIHost(t)
	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	ctx := browser(t)
	signIn(t, ctx, h.url, "ana", "correct horse battery")

	run(t, ctx, "open the plugin list", chromedp.Navigate(h.url+"/plugin"))
	run(t, ctx, "wait for payment-manual running", chromedp.WaitVisible(chromedp.CSS(`tr[data-plugin="payment-manual"].state-running`)))
	if got := text(t, ctx, `tr[data-plugin="payment-tripay"] .state`); got != "not configured" {
		t.Errorf("payment-tripay without settings is %q in the list; want not configured", got)
	}
	row := text(t, ctx, `tr[data-plugin="payment-manual"]`)
	for _, want := range []string{"payment-manual", "payment", "0.1.0", "running", "closed"} {
		if !strings.Contains(row, want) {
			t.Errorf("payment-manual's row %q lacks %q", row, want)
		}
	}
	screenshot(t, ctx, "plugins")

	click(t, ctx, "open payment-manual's page", `tr[data-plugin="payment-manual"] a`)
	run(t, ctx, "wait for its status", chromedp.WaitVisible(chromedp.CSS(`#status.state-running`)))
	waitJS(t, ctx, "wait for a sample in the charts", `Number(document.getElementById("history").dataset.samples || 0) >= 2`)
	sizes := value(t, ctx, "measure the sparklines", chromedp.Evaluate[map[string][]float64](`Object.fromEntries(
		Array.from(document.querySelectorAll("#history [data-chart]")).map(el => {
			const c = el.querySelector("canvas");
			return [el.dataset.chart, c ? [c.width, c.height, c.getBoundingClientRect().width] : []];
		}))`))
	for _, chart := range []string{"health", "restarts", "rss", "cpu", "latency"} {
		if s := sizes[chart]; len(s) != 3 || s[0] <= 0 || s[1] <= 0 || s[2] <= 0 {
			t.Errorf("sparkline %s: canvas %v; want one of non-zero size", chart, s)
		}
	}
	page := text(t, ctx, "main")
	for _, want := range []string{"Cash or bank transfer that an operator confirms", "GET /plugins/payment-manual/payments", "POST /plugins/payment-manual/payments/{id}/confirm", "Required by the host"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	screenshot(t, ctx, "plugin")

	restarts := func() int {
		t.Helper()
		n, err := strconv.Atoi(text(t, ctx, "#status .restarts"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := restarts()
	run(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.mikrobillMark = "kept"`))
	click(t, ctx, "restart from the page", "#status button.restart")
	waitJS(t, ctx, "wait for the restart in the status", `document.querySelector("#status .restarts").textContent.trim() === "`+strconv.Itoa(before+1)+`" && document.querySelector("#status.state-running") !== null`)
	// Someone else restarts it: the page's polling shows it.
	if err := h.pm.Restart("payment-manual"); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "wait for the other restart in the status", `document.querySelector("#status .restarts").textContent.trim() === "`+strconv.Itoa(before+2)+`" && document.querySelector("#status.state-running") !== null`)
	if mark := value(t, ctx, "read the mark", chromedp.Evaluate[string](`window.mikrobillMark || ""`)); mark != "kept" {
		t.Error("the page reloaded to show the restart; want it updated in place")
	}
	screenshot(t, ctx, "plugin-restarted")

	// Disabled with "keep disabled after restarts": recorded in the store
	// for the next start; enabling forgets it.
	click(t, ctx, "tick keep disabled", `#status input[name="lasting"]`)
	click(t, ctx, "disable from the page", "#status button.disable")
	run(t, ctx, "wait for it disabled", chromedp.WaitVisible(chromedp.CSS("#status.state-disabled")))
	if d, err := h.db.Q().PluginsDisabled(context.Background()); err != nil || d["payment-manual"].By != "user:ana" {
		t.Errorf("lasting disables after the page's disable: %+v, %v", d, err)
	}
	click(t, ctx, "enable from the page", "#status button.enable")
	run(t, ctx, "wait for it running", chromedp.WaitVisible(chromedp.CSS("#status.state-running")))
	if d, err := h.db.Q().PluginsDisabled(context.Background()); err != nil || len(d) != 0 {
		t.Errorf("lasting disables after enable: %+v, %v", d, err)
	}
}

// TestUIBrowserPluginSettings: payment-manual's settings through the form
// generated from its config_schema: the host's refusals (expiry_hours 0, a
// confirm_secret under 16 characters) next to their fields and nothing
// saved; good values saved, the secret then shown as set and kept when
// left empty; a bank account added with the add button. payment-tripay,
// failed for want of its keys, runs once they are saved through its form,
// and a value its running plugin refuses is explained next to its field.
func TestUIBrowserPluginSettings(t *testing.T) {
	h := newPluginUIHost(t)
	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	ctx := browser(t)
	signIn(t, ctx, h.url, "ana", "correct horse battery")

	run(t, ctx, "open payment-manual's settings", chromedp.Navigate(h.url+"/plugin/payment-manual/settings"))
	run(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#f-expiry_hours")))
	if got := text(t, ctx, "#f-confirm_secret-state"); got != "Secret: not set" {
		t.Errorf("confirm_secret before saving: %q", got)
	}
	if n := value(t, ctx, "look at currencies", chromedp.Evaluate[string](`document.getElementById("f-currencies").tagName`)); n != "TEXTAREA" {
		t.Errorf("currencies is a %s; want a textarea, one per line", n)
	}
	screenshot(t, ctx, "plugin-settings")

	run(t, ctx, "type expiry_hours 0", chromedp.SetValue(chromedp.CSS("#f-expiry_hours"), "0"))
	run(t, ctx, "type a short confirm_secret", chromedp.SendKeys(chromedp.CSS("#f-confirm_secret"), "short"))
	click(t, ctx, "save", "#save")
	run(t, ctx, "wait for the refusal", chromedp.WaitVisible(chromedp.CSS("#f-expiry_hours-error")))
	if got := text(t, ctx, "#f-expiry_hours-error"); !strings.Contains(got, "1") {
		t.Errorf("expiry_hours 0 explained as %q; want its minimum", got)
	}
	if got := text(t, ctx, "#f-confirm_secret-error"); got == "" {
		t.Error("a short confirm_secret is not explained next to its field")
	}
	if got := value(t, ctx, "read expiry_hours", chromedp.Value(chromedp.CSS("#f-expiry_hours"))); got != "0" {
		t.Errorf("after the refusal expiry_hours shows %q; want what was typed", got)
	}
	if s := h.saved(t, "payment-manual"); s != nil {
		t.Errorf("refused settings were saved: %v", s)
	}
	screenshot(t, ctx, "plugin-settings-refused")

	const secret = "a-confirm-secret-of-32-characters"
	run(t, ctx, "type expiry_hours 72", chromedp.SetValue(chromedp.CSS("#f-expiry_hours"), "72"))
	run(t, ctx, "type the currencies", chromedp.SetValue(chromedp.CSS("#f-currencies"), "IDR\nUSD"))
	run(t, ctx, "type a good confirm_secret", chromedp.SendKeys(chromedp.CSS("#f-confirm_secret"), secret))
	click(t, ctx, "save", "#save")
	run(t, ctx, "wait for the plugin's page", chromedp.WaitVisible(chromedp.CSS("#status")))
	if got := text(t, ctx, "main .notice"); !strings.Contains(got, "payment-manual are saved") {
		t.Errorf("after saving: %q", got)
	}
	s := h.saved(t, "payment-manual")
	if s["expiry_hours"] != float64(72) || s["confirm_secret"] != secret || len(s["currencies"].([]any)) != 2 {
		t.Errorf("saved %v; want expiry_hours 72, the secret, two currencies", s)
	}

	// The secret is set; left empty it is kept. A bank account is added.
	run(t, ctx, "open the settings again", chromedp.Navigate(h.url+"/plugin/payment-manual/settings"))
	run(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#f-expiry_hours")))
	if got := text(t, ctx, "#f-confirm_secret-state"); got != "Secret: set" {
		t.Errorf("confirm_secret after saving: %q", got)
	}
	if got := value(t, ctx, "read confirm_secret", chromedp.Value(chromedp.CSS("#f-confirm_secret"))); got != "" {
		t.Errorf("the secret's input shows %q; want it empty", got)
	}
	click(t, ctx, "add a bank account", `button.add[value="add:bank_accounts"]`)
	run(t, ctx, "wait for its fields", chromedp.WaitVisible(chromedp.CSS("#f-bank_accounts-0-bank")))
	run(t, ctx, "type the bank", chromedp.SendKeys(chromedp.CSS("#f-bank_accounts-0-bank"), "BCA"))
	run(t, ctx, "type the account number", chromedp.SendKeys(chromedp.CSS("#f-bank_accounts-0-account_number"), "1234567890"))
	run(t, ctx, "type the account name", chromedp.SendKeys(chromedp.CSS("#f-bank_accounts-0-account_name"), "PT Contoh"))
	screenshot(t, ctx, "plugin-settings-list")
	click(t, ctx, "save", "#save")
	run(t, ctx, "wait for the plugin's page", chromedp.WaitVisible(chromedp.CSS("#status")))
	s = h.saved(t, "payment-manual")
	accounts, _ := s["bank_accounts"].([]any)
	if s["confirm_secret"] != secret || len(accounts) != 1 || accounts[0].(map[string]any)["bank"] != "BCA" {
		t.Errorf("saved %v; want the secret kept and the bank account", s)
	}

	// payment-tripay: not configured until its keys are saved.
	run(t, ctx, "open payment-tripay's page", chromedp.Navigate(h.url+"/plugin/payment-tripay"))
	run(t, ctx, "wait for it not configured", chromedp.WaitVisible(chromedp.CSS("#status.state-disabled")))
	if got := text(t, ctx, "#status .not-configured"); !strings.Contains(got, "api_key") {
		t.Errorf("tripay's not-configured line %q; want the missing keys named", got)
	}
	if got := text(t, ctx, "#status .health"); strings.Contains(got, "api_key") {
		t.Errorf("tripay's health line %q repeats the not-configured line; the page should say it once", got)
	}
	screenshot(t, ctx, "plugin-not-configured")
	run(t, ctx, "narrow to a phone", chromedp.EmulateViewport(360, 780))
	run(t, ctx, "reload", chromedp.Reload())
	run(t, ctx, "wait for it again", chromedp.WaitVisible(chromedp.CSS("#status .not-configured")))
	if wide := value(t, ctx, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); wide > 360 {
		t.Errorf("the not-configured plugin's page is %d pixels wide on a 360-pixel phone", wide)
	}
	// A long label must not squeeze its value to a sliver: on a phone
	// each value takes the card's width below its label.
	if w := value(t, ctx, "measure the not-configured line", chromedp.Evaluate[int](`Math.round(document.querySelector("#status .not-configured").getBoundingClientRect().width)`)); w < 250 {
		t.Errorf("the not-configured line is %d pixels wide on a 360-pixel phone; want the card's width", w)
	}
	screenshot(t, ctx, "plugin-not-configured-phone")
	run(t, ctx, "back to the desktop's width", chromedp.EmulateViewport(1280, 900))
	click(t, ctx, "open its settings", `#status a[href="/plugin/payment-tripay/settings"]`)
	run(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#f-api_key")))
	if got := value(t, ctx, "read the mode's options", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#f-mode option")).map(o => o.value)`)); strings.Join(got, ",") != ",sandbox,production" {
		t.Errorf("mode's options %q; want the enum as a select", got)
	}
	run(t, ctx, "type the API key", chromedp.SendKeys(chromedp.CSS("#f-api_key"), "DEV-key"))
	run(t, ctx, "type the private key", chromedp.SendKeys(chromedp.CSS("#f-private_key"), "private-key-123"))
	run(t, ctx, "type the merchant code", chromedp.SendKeys(chromedp.CSS("#f-merchant_code"), "T0001"))
	run(t, ctx, "type the base URL", chromedp.SendKeys(chromedp.CSS("#f-base_url"), "http://127.0.0.1:9/"))
	click(t, ctx, "save", "#save")
	run(t, ctx, "wait for the plugin's page", chromedp.WaitVisible(chromedp.CSS("#status")))
	waitJS(t, ctx, "wait for tripay running", `document.querySelector("#status.state-running") !== null`)
	if got := text(t, ctx, "#status .state"); !strings.HasPrefix(got, "running") {
		t.Errorf("tripay after saving its keys: %q", got)
	}
	screenshot(t, ctx, "plugin-running-after-settings")

	// The running plugin refuses a base URL over plain http elsewhere.
	run(t, ctx, "open its settings again", chromedp.Navigate(h.url+"/plugin/payment-tripay/settings"))
	run(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#f-base_url")))
	if got := text(t, ctx, "#f-api_key-state"); got != "Secret: set" {
		t.Errorf("api_key after saving: %q", got)
	}
	run(t, ctx, "type a base URL the plugin refuses", chromedp.SetValue(chromedp.CSS("#f-base_url"), "http://10.1.2.3/"))
	click(t, ctx, "save", "#save")
	run(t, ctx, "wait for the refusal", chromedp.WaitVisible(chromedp.CSS("#f-base_url-error")))
	if got := text(t, ctx, "#f-base_url-error"); !strings.Contains(got, "https") {
		t.Errorf("the plugin's refusal next to base_url: %q", got)
	}
	if s := h.saved(t, "payment-tripay"); s["base_url"] != "http://127.0.0.1:9/" || s["api_key"] != "DEV-key" {
		t.Errorf("after the refusal tripay's settings are %v; want the saved ones unchanged", s)
	}
	screenshot(t, ctx, "plugin-settings-plugin-refused")
}

// TestUIBrowserPluginPageViewer: a viewer sees a plugin's page without
// any button it may not press (no restart, disable, enable or settings),
// and the server refuses the restart and the settings form anyway.
func TestUIBrowserPluginPageViewer(t *testing.T) {
	h := newUIHost(t)
	h.user(t, "vera", "correct horse battery", store.UserRoleViewer)
	ctx := browser(t)
	signIn(t, ctx, h.url, "vera", "correct horse battery")
	run(t, ctx, "open payment-brief's page", chromedp.Navigate(h.url+"/plugin/payment-brief"))
	run(t, ctx, "wait for its status", chromedp.WaitVisible(chromedp.CSS("#status")))
	n := value(t, ctx, "count the actions", chromedp.Evaluate[int](`document.querySelectorAll('#status button, #status a.button').length`))
	if n != 0 {
		t.Errorf("a viewer sees %d plugin actions; want none", n)
	}
	codes := value(t, ctx, "try them anyway", chromedp.Evaluate[[]int](`Promise.all([
		fetch("/plugin/payment-brief/restart", {method: "POST", redirect: "manual"}).then(r => r.status),
		fetch("/plugin/payment-brief/settings", {redirect: "manual"}).then(r => r.status),
		fetch("/plugin/payment-brief/settings", {method: "POST", redirect: "manual"}).then(r => r.status)])`, chromedp.EvalAwaitPromise))
	for i, c := range codes {
		if c != 403 {
			t.Errorf("a viewer's request %d: %d; want 403", i, c)
		}
	}
	screenshot(t, ctx, "plugin-viewer")
}
