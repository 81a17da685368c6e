package web_test

// The Marketplace page in a real browser: install from a folder source
// with its progress, upgrade (blue-green on the running host) and roll
// back, each followed live on the page; the table follows.

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

func TestUIBrowserMarketplaceInstallUpgradeRollback(t *testing.T) {
	db := storetest.SQLite(t)
	d := testenv.NewPluginDir(t)
	pm, cfg := web.StartPlugins(t, d.Dir, plugins.Deps{Store: db}, func(cfg *config.Config) {
		cfg.Plugins.UpgradeGrace = time.Second
		cfg.Security.RateLimitMax = 1000
	})
	// The source: a folder of plugin folders, two versions of one plugin.
	src := t.TempDir()
	for _, v := range []string{"1.0.0", "2.0.0"} {
		p := testenv.NewPluginDir(t)
		dir := p.Add(testenv.Plugin{Name: "market-demo", Version: v, NoLock: true, Manifest: map[string]any{"description": "A demo plugin"}})
		if err := os.Rename(dir, filepath.Join(src, "market-demo-"+v)); err != nil {
			t.Fatal(err)
		}
	}
	source := pluginstall.DirSource{Dir: src}
	runner := pluginstall.NewRunner(pluginstall.New(pluginstall.Config{
		Dir: d.Dir, HostVersion: "1.0.0", LockSkip: plugins.LockSkip(cfg), Host: pm,
		Sources: func(context.Context) ([]pluginstall.Source, error) { return []pluginstall.Source{source}, nil },
	}), nil)
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.New(web.Deps{Config: cfg, Metrics: metrics.New(), DB: db, Plugins: pm, Accounts: acc, Installs: runner}).Handler())
	t.Cleanup(srv.Close)
	h := uiHost{url: srv.URL, db: db}
	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	ctx := browser(t)
	signIn(t, ctx, h.url, "ana", "correct horse battery")

	row := `tr[data-plugin="market-demo"]`
	step := func(what, form, offer string, done int, installed, kept string) {
		t.Helper()
		run(t, ctx, "open the marketplace", chromedp.Navigate(h.url+"/marketplace"))
		run(t, ctx, "wait for the plugin's row", chromedp.WaitVisible(chromedp.CSS(row)))
		if offer != "" {
			run(t, ctx, "pick "+offer, chromedp.SetValue(chromedp.CSS(`#offer-market-demo`), offer+"|"+src))
		}
		run(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.__old = true`))
		click(t, ctx, what, row+" button."+form)
		// The form's answer is a new page: wait until it has loaded.
		for i := 0; ; i++ {
			_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`!window.__old && document.readyState === "complete" && document.querySelector(".plugin-action") !== null`,
				chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
			if i == 10 || !(strings.Contains(err.Error(), "navigated") || strings.Contains(err.Error(), "context with specified id")) {
				t.Fatalf("wait for the page after the %s: %v", what, err)
			}
		}
		waitJS(t, ctx, "wait for the "+what+" to end", `document.querySelectorAll(".plugin-action.state-done").length >= `+strconv.Itoa(done)+
			` || document.querySelector(".plugin-action.state-failed") !== null`)
		if failed := value(t, ctx, "look for a failure", chromedp.Evaluate[string](`(document.querySelector(".plugin-action.state-failed") || {}).textContent || ""`)); failed != "" {
			t.Fatalf("%s failed: %s", what, failed)
		}
		panel := text(t, ctx, ".plugin-action.state-done")
		if !strings.Contains(panel, installed) {
			t.Errorf("%s: the action's panel %q does not name version %s", what, panel, installed)
		}
		run(t, ctx, "open the marketplace again", chromedp.Navigate(h.url+"/marketplace"))
		run(t, ctx, "wait for the plugin's row", chromedp.WaitVisible(chromedp.CSS(row)))
		if got := text(t, ctx, row+" .installed"); got != installed {
			t.Errorf("after the %s: installed %q, want %s", what, got, installed)
		}
		if got := text(t, ctx, row+" .kept"); got != kept {
			t.Errorf("after the %s: previous version %q, want %s", what, got, kept)
		}
	}
	run(t, ctx, "open the marketplace", chromedp.Navigate(h.url+"/marketplace"))
	run(t, ctx, "wait for the plugin's row", chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(t, ctx, row+" .installed"); got != "not installed" {
		t.Errorf("before the install: %q", got)
	}
	step("install", "install", "1.0.0", 1, "1.0.0", "none")
	// The install's panel showed its download to the end.
	if got := value(t, ctx, "read the progress", chromedp.Evaluate[string](`(document.querySelector(".plugin-action.state-done progress") || {}).value + ""`)); got != "100" {
		t.Errorf("the install's progress bar ends at %s, want 100", got)
	}
	if st := pm.Statuses(); len(st) != 1 || st[0].State != plugins.StateRunning || st[0].Version != "1.0.0" {
		t.Fatalf("the host runs %+v; want market-demo 1.0.0 running", st)
	}
	step("upgrade", "upgrade", "2.0.0", 2, "2.0.0", "1.0.0")
	if p, _ := pm.Plugin("market-demo"); p.Status().Version != "2.0.0" || p.Status().Switch == nil || p.Status().Switch.State != plugins.SwitchDone {
		t.Errorf("after the upgrade the host runs %+v", p.Status())
	}
	step("rollback", "rollback", "", 3, "1.0.0", "2.0.0")
	screenshot(t, ctx, "marketplace")
	if p, _ := pm.Plugin("market-demo"); p.Status().Version != "1.0.0" {
		t.Errorf("after the rollback the host runs %s", p.Status().Version)
	}
}
