package ui

// The dashboard: one tile per plugin from the plugin manager's status (the
// data of /health/plugins and GET /api/v1/plugins), and the plugin actions
// its buttons post.

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/sdk"
)

// dashboardData is the dashboard's.
type dashboardData struct {
	Plugins []plugins.Status
	// Numbers are billing's (nil without billing).
	Numbers *numbersView
}

// pluginNotices are the notices a plugin action leaves, by action.
var pluginNotices = map[string]string{
	"restart": "plugin.done_restart",
	"disable": "plugin.done_disable",
	"enable":  "plugin.done_enable",
}

// Dashboard serves GET /.
func (u *UI) Dashboard(w http.ResponseWriter, r *http.Request) error {
	d := u.dashboard()
	if u.deps.Numbers != nil {
		n, err := u.deps.Numbers.Dashboard(r.Context())
		if err != nil {
			return err
		}
		d.Numbers = newNumbersView(n)
	}
	v := view{Title: "dashboard.title", Data: d}
	q := r.URL.Query()
	if key, ok := pluginNotices[q.Get("done")]; ok {
		v.Notice, v.NoticeArg = key, q.Get("plugin")
	}
	return u.render(w, r, http.StatusOK, "dashboard.html", v)
}

// PluginTiles serves GET /dashboard/plugins: the tiles alone, which the
// dashboard reloads every few seconds (htmx).
func (u *UI) PluginTiles(w http.ResponseWriter, r *http.Request) error {
	return u.renderPart(w, r, http.StatusOK, "dashboard.html", "tiles", view{Data: u.dashboard()})
}

func (u *UI) dashboard() dashboardData {
	if u.deps.Plugins == nil {
		return dashboardData{}
	}
	return dashboardData{Plugins: u.deps.Plugins.Statuses()}
}

// RestartPlugin, DisablePlugin and EnablePlugin serve POST
// /plugin/{name}/restart, /disable and /enable (the routes' roles are the
// API's) through Deps.PluginAction, which does and audits them as the
// API does, then go back to the dashboard, or to the plugin's page when
// the form says back=plugin.
func (u *UI) RestartPlugin(w http.ResponseWriter, r *http.Request) error {
	return u.pluginAction(w, r, "restart", false)
}

// DisablePlugin: see RestartPlugin.
// A form field lasting=on keeps the plugin disabled across restarts.
func (u *UI) DisablePlugin(w http.ResponseWriter, r *http.Request) error {
	return u.pluginAction(w, r, "disable", r.PostFormValue("lasting") == "on")
}

// EnablePlugin: see RestartPlugin. It also forgets a lasting disable.
func (u *UI) EnablePlugin(w http.ResponseWriter, r *http.Request) error {
	return u.pluginAction(w, r, "enable", false)
}

func (u *UI) pluginAction(w http.ResponseWriter, r *http.Request, action string, lasting bool) error {
	name := mux.Vars(r)["name"]
	if err := u.deps.PluginAction(r, name, action, lasting); err != nil {
		if errors.Is(err, sdk.ErrNotFound) {
			u.Fail(w, r, http.StatusNotFound, "")
			return nil
		}
		return err
	}
	if r.PostFormValue("back") == "plugin" {
		return u.pluginActionDone(w, r, name, action)
	}
	redirect(w, r, "/?done="+action+"&plugin="+url.QueryEscape(name))
	return nil
}
