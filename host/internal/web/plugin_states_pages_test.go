package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestPagesShowWhatEachPluginStateAllows: the dashboard, the plugin list
// and a plugin's page offer only the actions a plugin in its state can
// take. A gateway waiting for its settings reads "not configured" (not
// "disabled", which is what an operator did) and offers its settings, not
// an Enable that can only fail; a disabled plugin offers Enable and no
// Restart (which the host refuses for it); a running one Restart and
// Disable.
func TestPagesShowWhatEachPluginStateAllows(t *testing.T) {
	db := storetest.SQLite(t)
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-stripe") // needs its keys: not configured
	d.Add(testenv.Plugin{Name: "payment-off", Kind: "payment"})
	d.Add(testenv.Plugin{Name: "payment-on", Kind: "payment"})
	pm, _ := StartPlugins(t, d.Dir, plugins.Deps{}, nil)
	if p, _ := pm.Plugin("payment-stripe"); !p.NotConfigured() {
		t.Fatalf("payment-stripe without settings is %s; want it waiting for its settings", p.State())
	}
	if err := pm.Disable("payment-off"); err != nil {
		t.Fatal(err)
	}
	a := newBilledAPI(t, db, func(d *Deps) { d.Plugins = pm })
	a.user("ana", "admin password 1", RoleAdmin)
	session := a.signInPage("ana", "admin password 1")
	page := func(path string) string {
		t.Helper()
		r := a.do(http.MethodGet, path, nil, withSession(session))
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %.500s", path, r.Status, r.Body)
		}
		return string(r.Body)
	}
	type want struct {
		state string
		has   []string // what the plugin's actions must offer
		lacks []string // and must not
	}
	restart := `action="/plugin/%s/restart"`
	enable := `action="/plugin/%s/enable"`
	disable := `action="/plugin/%s/disable"`
	settings := `href="/plugin/%s/settings"`
	wants := map[string]want{
		"payment-stripe": {"not configured", []string{settings}, []string{restart, enable, disable}},
		"payment-off":    {"disabled", []string{enable}, []string{restart, disable}},
		"payment-on":     {"running", []string{restart, disable}, []string{enable}},
	}
	check := func(where, name, html string, w want, actions bool) {
		t.Helper()
		state := regexp.MustCompile(`class="state">([^<]*)`).FindStringSubmatch(html)
		if state == nil || strings.TrimSpace(state[1]) != w.state {
			t.Errorf("%s: %s's state reads %q; want %q", where, name, state, w.state)
		}
		if !actions {
			return
		}
		for _, s := range w.has {
			if s := strings.ReplaceAll(s, "%s", name); !strings.Contains(html, s) {
				t.Errorf("%s: %s offers no %s", where, name, s)
			}
		}
		for _, s := range w.lacks {
			if s := strings.ReplaceAll(s, "%s", name); strings.Contains(html, s) {
				t.Errorf("%s: %s (%s) offers %s, which it cannot take", where, name, w.state, s)
			}
		}
	}

	dashboard := page("/")
	list := page("/plugin")
	for name, w := range wants {
		tile := regexp.MustCompile(`(?s)<article[^>]*data-plugin="` + name + `".*?</article>`).FindString(dashboard)
		if tile == "" {
			t.Fatalf("the dashboard has no tile for %s", name)
		}
		check("dashboard", name, tile, w, true)
		row := regexp.MustCompile(`(?s)<tr[^>]*data-plugin="` + name + `".*?</tr>`).FindString(list)
		if row == "" {
			t.Fatalf("the plugin list has no row for %s", name)
		}
		check("plugin list", name, row, w, false)
		status := regexp.MustCompile(`(?s)<section id="status".*?</section>`).FindString(page("/plugin/" + name))
		check("plugin page", name, status, w, true)
	}
}
