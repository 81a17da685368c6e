package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// routerSyncTimeout bounds one comparison of every router: each router
// plugin answers within its own command timeout per call.
const routerSyncTimeout = 2 * time.Minute

// routerDrift compares the store with the routers and reports the
// differences (?location= for one); nothing changes.
func (s *Server) routerDrift(w http.ResponseWriter, r *http.Request) error {
	return s.routerSync(w, r, false)
}

// repairRouters compares the store with the routers and makes the routers
// match (?location= for one). Entries mikrobill did not create are
// reported, never changed.
func (s *Server) repairRouters(w http.ResponseWriter, r *http.Request) error {
	return s.routerSync(w, r, true)
}

func (s *Server) routerSync(w http.ResponseWriter, r *http.Request, repair bool) error {
	loc := r.URL.Query().Get("location")
	if loc != "" && !store.ValidLocationName(loc) {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "location must be a location's name, such as \"main\"", map[string]string{"location": "not a location name"}}
	}
	ctx, cancel := context.WithTimeout(r.Context(), routerSyncTimeout)
	defer cancel()
	rep, err := s.deps.Billing.SyncRouters(ctx, billing.SyncOptions{Location: loc, Repair: repair, Actor: actor(r)})
	if errors.Is(err, billing.ErrUnknownLocation) {
		return &apiError{http.StatusNotFound, "not_found", err.Error(), nil}
	}
	if err != nil {
		return err
	}
	s.log.Info("routers compared", "location", loc, "repair", repair, "summary", rep.DriftSummary(), "by", actor(r))
	writeJSON(w, http.StatusOK, rep)
	return nil
}
