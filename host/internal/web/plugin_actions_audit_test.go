package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestPluginActionsFromTheUIAreAudited: a restart, a disable and a refused
// restart (the plugin is disabled) pressed in the admin UI reach the audit
// log with the signed-in user as the actor and their outcome, exactly as
// the same actions through the API do.
func TestPluginActionsFromTheUIAreAudited(t *testing.T) {
	db := storetest.SQLite(t)
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "payment-brief", Kind: "payment"})
	pm, _ := StartPlugins(t, d.Dir, plugins.Deps{}, nil)
	a := newBilledAPI(t, db, func(d *Deps) { d.Plugins = pm })
	a.user("ana", "admin password 1", RoleAdmin)
	admin := a.loginJWT("ana", "admin password 1")

	session := a.signInPage("ana", "admin password 1")
	press := func(action string, hx bool, want int) {
		t.Helper()
		opts := []func(*http.Request){withSession(session), withHeader("Content-Type", "application/x-www-form-urlencoded")}
		if hx {
			opts = append(opts, withHeader("HX-Request", "true"))
		}
		r := a.do(http.MethodPost, "/plugin/payment-brief/"+action, "back=plugin", opts...)
		if r.Status != want {
			t.Fatalf("the UI's %s: %d, want %d: %.800s", action, r.Status, want, r.Body)
		}
	}
	press("restart", true, http.StatusOK)
	press("disable", false, http.StatusSeeOther)
	press("restart", true, http.StatusUnprocessableEntity) // disabled: refused, and audited as a failure
	// The same action through the API, for comparison.
	if r := a.do(http.MethodPost, "/api/v1/plugins/payment-brief/enable", nil, withBearer(admin)); r.Status != http.StatusOK {
		t.Fatalf("the API's enable: %d %s", r.Status, r.Body)
	}

	got, raw := a.waitForAudit(admin, 4)
	type entry struct{ Actor, Action, Resource, Outcome string }
	var entries []entry
	for _, e := range got {
		entries = append(entries, entry{e.Actor, e.Action, e.ResourceType + "/" + e.ResourceID, e.Outcome})
		if e.Outcome == "failure" && !strings.Contains(e.Metadata["error"], "disabled") {
			t.Errorf("the refused %s is audited without its reason: %v", e.Action, e.Metadata)
		}
	}
	want := []entry{
		{"user:ana", "plugin.restart", "plugin/payment-brief", "success"},
		{"user:ana", "plugin.disable", "plugin/payment-brief", "success"},
		{"user:ana", "plugin.restart", "plugin/payment-brief", "failure"},
		{"user:ana", "plugin.enable", "plugin/payment-brief", "success"},
	}
	// The audit jobs run in the background, not quite in order.
	byKey := func(x, y entry) int { return strings.Compare(x.Action+x.Outcome, y.Action+y.Outcome) }
	slices.SortFunc(want, byKey)
	slices.SortFunc(entries, byKey)
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("audit log (-want +got):\n%s\n%s", diff, raw)
	}
}
