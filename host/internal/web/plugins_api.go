package web

import (
	"fmt"
	"net"
	"net/http"

	"github.com/gorilla/mux"
)

// localOnly lets only loopback clients through. The plugin control API has
// no authentication yet, so it answers only on the machine itself.
func (s *Server) localOnly(next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return &apiError{http.StatusForbidden, "forbidden", "the plugin API answers on loopback only until authentication is configured; run the command on the host's machine", nil}
		}
		next.ServeHTTP(w, r)
		return nil
	})
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
func (s *Server) pluginAction(action func(name string) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := mux.Vars(r)["name"]
		if err := action(name); err != nil {
			return err
		}
		p, _ := s.deps.Plugins.Plugin(name)
		s.log.Info("plugin action", "plugin", name, "action", mux.CurrentRoute(r).GetName(), "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"plugin": p.Status()})
		return nil
	}
}
