package web

// Controlling the plugins: their status and last hour's history, and
// restarting, disabling and enabling one (audited).

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/billing"
)

func (s *Server) listPlugins(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"plugins": s.deps.Plugins.Statuses()})
	return nil
}

func (s *Server) getPlugin(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["name"]
	p, ok := s.deps.Plugins.Plugin(name)
	if !ok {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no plugin %q", name), nil}
	}
	writeJSON(w, http.StatusOK, map[string]any{"plugin": p.Status()})
	return nil
}

// pluginHistory answers a plugin's last hour as column arrays, oldest
// first (history.Series), for the plugin page's sparklines; ?since= (Unix
// seconds, as the answer's time) keeps only the samples after it.
func (s *Server) pluginHistory(w http.ResponseWriter, r *http.Request) error {
	var v validation
	var sinceMilli int64
	if raw := r.URL.Query().Get("since"); raw != "" {
		since, err := strconv.ParseFloat(raw, 64)
		ok := err == nil && since >= 0 && since < math.MaxInt64/1000
		v.check(ok, "since", "a time in Unix seconds, such as the last value of time in the previous answer")
		if ok {
			sinceMilli = int64(math.Round(since * 1000))
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	h, err := s.deps.Plugins.History(mux.Vars(r)["name"], sinceMilli)
	if err != nil {
		return err // an unknown plugin is sdk.ErrNotFound: 404
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

func (s *Server) restartPlugin(w http.ResponseWriter, r *http.Request) error {
	return s.pluginAction(w, r, "restart", false)
}

func (s *Server) disablePlugin(w http.ResponseWriter, r *http.Request) error {
	lasting, err := persistParam(r)
	if err != nil {
		return err
	}
	return s.pluginAction(w, r, "disable", lasting)
}

func (s *Server) enablePlugin(w http.ResponseWriter, r *http.Request) error {
	return s.pluginAction(w, r, "enable", false)
}

// pluginAction runs restart, disable or enable and answers with the
// plugin's status afterwards.
func (s *Server) pluginAction(w http.ResponseWriter, r *http.Request, verb string, lasting bool) error {
	name := mux.Vars(r)["name"]
	if err := s.controlPlugin(r, name, verb, lasting); err != nil {
		return err
	}
	p, _ := s.deps.Plugins.Plugin(name)
	writeJSON(w, http.StatusOK, map[string]any{"plugin": p.Status()})
	return nil
}

// controlPlugin runs a plugin action, verb being restart, disable or
// enable (a lasting disable keeps the plugin disabled across restarts
// until enabled, plugin_lasting.go), for the request's user and records it in the audit log, success
// or failure (action "plugin.<verb>"). The API's plugin routes and the
// admin UI's plugin buttons (ui.Deps.PluginAction) both come here, so an
// action is done and audited the same way whichever way it came.
func (s *Server) controlPlugin(r *http.Request, name, verb string, lasting bool) error {
	var action func(string) error
	switch verb {
	case "restart":
		action = s.deps.Plugins.Restart
	case "disable":
		action = func(name string) error { return s.disablePluginFor(r.Context(), name, actor(r), lasting) }
	case "enable":
		action = func(name string) error { return s.enablePluginFor(r.Context(), name) }
	default:
		return fmt.Errorf("no plugin action %q: restart, disable or enable", verb)
	}
	err := action(name)
	if _, known := s.deps.Plugins.Plugin(name); known && s.deps.Billing != nil {
		outcome, meta := "success", map[string]string{"remote": r.RemoteAddr}
		if verb == "disable" && lasting {
			meta["lasting"] = "true"
		}
		if err != nil {
			outcome, meta["error"] = "failure", err.Error()
		}
		ev := billing.AuditEvent{Actor: actor(r), Action: "plugin." + verb, ResourceType: "plugin", ResourceID: name, Outcome: outcome, Metadata: meta}
		if aerr := s.deps.Billing.Audit(r.Context(), ev); aerr != nil {
			s.log.Error("plugin action not audited", "plugin", name, "action", verb, "error", aerr)
		}
	}
	if err != nil {
		return err
	}
	s.log.Info("plugin action", "plugin", name, "action", verb, "by", actor(r), "remote", r.RemoteAddr)
	return nil
}
