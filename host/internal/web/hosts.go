package web

import (
	"context"
	"net/http"
)

// Several hosts on one store (package hosts): GET /api/v1/hosts lists them,
// and announce tells the others what an operator changed through this one.

// listHosts answers GET /api/v1/hosts: every host that registered, alive,
// gone or stopped, its version, start and last heartbeat, its plugins'
// states, and which is the job queue's leader.
func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Hosts == nil {
		return &apiError{http.StatusNotFound, "no_host_registry", "this host keeps no registry of hosts (it runs without a store)", nil}
	}
	v, err := s.deps.Hosts.View(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// announce tells the other hosts that kind changed for plugin; a failure
// only delays them until their resync.
func (s *Server) announce(ctx context.Context, kind, plugin string) {
	if s.deps.Hosts == nil {
		return
	}
	if err := s.deps.Hosts.Changed(ctx, kind, plugin); err != nil {
		s.log.Warn("the other hosts were not told of the change; they apply it at their next resync", "what", kind, "plugin", plugin, "error", err)
	}
}
