package web

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/billing"
)

// pluginRoutes is the plugin control API: anyone signed in sees the
// plugins; operators restart one; admins disable and enable them.
func (s *Server) pluginRoutes(api *mux.Router) {
	s.route(api, http.MethodGet, "/plugins", RoleViewer, s.listPlugins)
	s.route(api, http.MethodGet, "/plugins/{name}", RoleViewer, s.getPlugin)
	s.route(api, http.MethodPost, "/plugins/{name}/restart", RoleOperator, s.pluginAction("restart", s.deps.Plugins.Restart))
	s.route(api, http.MethodPost, "/plugins/{name}/disable", RoleAdmin, s.pluginAction("disable", s.deps.Plugins.Disable))
	s.route(api, http.MethodPost, "/plugins/{name}/enable", RoleAdmin, s.pluginAction("enable", s.deps.Plugins.Enable))
}

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

// pluginAction runs restart, disable or enable and answers with the
// plugin's status afterwards.
func (s *Server) pluginAction(verb string, action func(name string) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := mux.Vars(r)["name"]
		err := action(name)
		if _, known := s.deps.Plugins.Plugin(name); known && s.deps.Billing != nil {
			outcome, meta := "success", map[string]string{"remote": r.RemoteAddr}
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
		p, _ := s.deps.Plugins.Plugin(name)
		s.log.Info("plugin action", "plugin", name, "action", verb, "by", actor(r), "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"plugin": p.Status()})
		return nil
	}
}
