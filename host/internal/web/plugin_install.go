package web

// Installing, upgrading, rolling back and removing plugins on the running
// host (pluginstall.Runner): each request is checked, started in the
// background and answered 202 with the action, whose progress (step,
// bytes done of total) and outcome GET /api/v1/plugin-actions/{id}
// returns. Each is audited when it ends (the runner's record, made in
// serve) and recorded in the store for the other hosts.

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// pluginActionRequest is the body of POST /api/v1/plugins/{install,
// upgrade,rollback,remove}.
type pluginActionRequest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Source is a trusted marketplace's name; From a folder on the host.
	Source    string `json:"source"`
	From      string `json:"from"`
	Force     bool   `json:"force"`
	PurgeData bool   `json:"purge_data"`
}

func (s *Server) pluginInstallAction(action string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body pluginActionRequest
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
		var v validation
		v.check(strings.TrimSpace(body.Name) != "", "name", "required: the plugin's name, such as payment-midtrans")
		if action == pluginstall.ActionInstall || action == pluginstall.ActionUpgrade {
			v.check(body.Source == "" || body.From == "", "source", "give a marketplace (source) or a folder on the host (from), not both")
		}
		if err := v.err(); err != nil {
			return err
		}
		a, err := s.startPluginAction(r, pluginstall.Request{Action: action, Name: strings.TrimSpace(body.Name), Version: body.Version,
			Source: body.Source, From: body.From, Force: body.Force, PurgeData: body.PurgeData})
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/v1/plugin-actions/"+a.ID)
		writeJSON(w, http.StatusAccepted, map[string]any{"action": a})
		return nil
	}
}

// startPluginAction starts req for the caller; the API and the UI share it.
func (s *Server) startPluginAction(r *http.Request, req pluginstall.Request) (pluginstall.Action, error) {
	req.By = actor(r)
	a, err := s.deps.Installs.Start(r.Context(), req)
	if err != nil {
		return a, err
	}
	s.log.Info("plugin action started", "id", a.ID, "action", req.Action, "plugin", req.Name, "version", req.Version, "by", req.By, "remote", r.RemoteAddr)
	return a, nil
}

func (s *Server) listPluginActions(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"actions": s.deps.Installs.List()})
	return nil
}

func (s *Server) getPluginAction(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	a, ok := s.deps.Installs.Get(id)
	if !ok {
		return &apiError{http.StatusNotFound, "not_found", "no plugin action " + id + " on this host (a host keeps its latest 100 until it restarts)", nil}
	}
	writeJSON(w, http.StatusOK, map[string]any{"action": a})
	return nil
}

// installed lists the plugins this host runs, for the marketplace view.
func (s *Server) installed() []pluginstall.Installed {
	var out []pluginstall.Installed
	for _, p := range s.deps.Plugins.Plugins() {
		if man := p.Manifest(); man != nil {
			out = append(out, pluginstall.Installed{Name: man.Name, Version: man.Version, Kind: man.Kind, Description: man.Description})
		}
	}
	return out
}

func (s *Server) marketplace(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.deps.Installs.Installer().Market(r.Context(), r.URL.Query().Get("q"), s.installed()))
	return nil
}
