package ui

// The plugin pages: the list of every plugin (and of every host sharing
// the database, with its plugins' states), and a plugin's page with its
// status (reloaded every few seconds by htmx), its last hour as sparklines
// (static/plugin.js draws GET /api/v1/plugins/{name}/history with uPlot),
// its manifest and the actions its buttons post (dashboard.go). The
// settings form is plugin_settings.go's.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
)

// pluginListData is the list's.
type pluginListData struct {
	Plugins []plugins.Status
	// Hosts are the hosts sharing the database (nil: no registry).
	Hosts []hostRow
}

// hostRow is one host as the plugin list shows it.
type hostRow struct {
	hosts.Host
	// Ago is how long ago it was last heard from ("3s", "2m5s").
	Ago string
	// PluginStates are its plugins at its last heartbeat (this host's:
	// as they are now, hosts.Registry.View).
	PluginStates []struct {
		Name          string        `json:"name"`
		State         plugins.State `json:"state"`
		NotConfigured bool          `json:"not_configured"`
	}
}

// hostRows reads the hosts for the plugin list.
func (u *UI) hostRows(r *http.Request) ([]hostRow, error) {
	v, err := u.deps.Hosts(r.Context())
	if err != nil {
		return nil, err
	}
	var out []hostRow
	for _, h := range v.Hosts {
		row := hostRow{Host: h, Ago: max(time.Since(h.HeartbeatAt), 0).Truncate(time.Second).String()}
		if err := json.Unmarshal(h.Plugins, &row.PluginStates); err != nil {
			return nil, fmt.Errorf("host %q's plugins: %w", h.ID, err)
		}
		out = append(out, row)
	}
	return out, nil
}

// PluginList serves GET /plugin: every plugin in a table, whose rows htmx
// reloads every few seconds from the same route (an htmx request gets the
// table alone).
func (u *UI) PluginList(w http.ResponseWriter, r *http.Request) error {
	var d pluginListData
	if u.deps.Plugins != nil {
		d.Plugins = u.deps.Plugins.Statuses()
		sort.Slice(d.Plugins, func(i, j int) bool { return d.Plugins[i].Name < d.Plugins[j].Name })
	}
	if u.deps.Hosts != nil {
		var err error
		if d.Hosts, err = u.hostRows(r); err != nil {
			return err
		}
	}
	v := view{Title: "plugins.title", Data: d}
	if r.Header.Get("HX-Request") == "true" {
		return u.renderPart(w, r, http.StatusOK, "plugins.html", "table", v)
	}
	return u.render(w, r, http.StatusOK, "plugins.html", v)
}

// pluginData is a plugin page's.
type pluginData struct {
	Status plugins.Status
	// Manifest is nil when the plugin's could not be read.
	Manifest *manifest.Manifest
	// Details are the health check's details, sorted by key.
	Details []detail
	// Settings says whether the plugin has a settings form (a schema and a
	// settings store).
	Settings bool
	// Done is the action just done ("restart", "disable", "enable"), for
	// the status's notice.
	Done string
	// Warnings are the plugin's, on accepting new settings.
	Warnings []string
}

// detail is one of a health check's details.
type detail struct {
	Key   string
	Value string
}

// PluginPage serves GET /plugin/{name}.
func (u *UI) PluginPage(w http.ResponseWriter, r *http.Request) error {
	d, ok := u.pluginData(mux.Vars(r)["name"])
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	v := view{Title: "plugins.page_title", Data: d}
	switch done := r.URL.Query().Get("done"); done {
	case "settings":
		v.Notice, v.NoticeArg = "plugins.settings_saved", d.Status.Name
	default:
		if key, ok := pluginNotices[done]; ok {
			v.Notice, v.NoticeArg = key, d.Status.Name
		}
	}
	return u.render(w, r, http.StatusOK, "plugin.html", v)
}

// PluginStatus serves GET /plugin/{name}/status: the page's status part,
// which htmx reloads every few seconds.
func (u *UI) PluginStatus(w http.ResponseWriter, r *http.Request) error {
	d, ok := u.pluginData(mux.Vars(r)["name"])
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	return u.renderPart(w, r, http.StatusOK, "plugin.html", "status", view{Data: d})
}

func (u *UI) pluginData(name string) (pluginData, bool) {
	if u.deps.Plugins == nil {
		return pluginData{}, false
	}
	p, ok := u.deps.Plugins.Plugin(name)
	if !ok {
		return pluginData{}, false
	}
	d := pluginData{Status: p.Status(), Manifest: p.Manifest()}
	for k, v := range d.Status.Details {
		d.Details = append(d.Details, detail{k, detailValue(v)})
	}
	sort.Slice(d.Details, func(i, j int) bool { return d.Details[i].Key < d.Details[j].Key })
	d.Settings = u.deps.PluginSettings != nil && d.Manifest != nil && len(d.Manifest.ConfigSchema) > 0
	return d, true
}

// detailValue is a health detail as text: a string as it is, anything
// else (numbers, lists, objects) as JSON, not Go's map[...] notation.
func detailValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// pluginActionDone answers a plugin action posted from the plugin's page:
// its status part for htmx (the page stays), else the page again.
func (u *UI) pluginActionDone(w http.ResponseWriter, r *http.Request, name, action string) error {
	if r.Header.Get("HX-Request") != "true" {
		redirect(w, r, "/plugin/"+name+"?done="+action)
		return nil
	}
	d, ok := u.pluginData(name)
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	d.Done = action
	return u.renderPart(w, r, http.StatusOK, "plugin.html", "status", view{Data: d})
}
