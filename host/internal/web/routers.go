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
// reported, never changed. The optional body {"allow_removals": N} lets
// the repair remove up to N logins; without it, a repair that would remove
// more than billing.SafeRemovals, or any at a location whose store side is
// empty, is refused (409 removals_not_allowed, the plan in details) and
// changes nothing.
func (s *Server) repairRouters(w http.ResponseWriter, r *http.Request) error {
	return s.routerSync(w, r, true)
}

// routerSyncBody is POST /routers/sync's optional body.
type routerSyncBody struct {
	AllowRemovals int `json:"allow_removals"`
}

func (s *Server) routerSync(w http.ResponseWriter, r *http.Request, repair bool) error {
	var body routerSyncBody
	if repair && r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	rep, err := s.syncRouters(r, r.URL.Query().Get("location"), repair, body.AllowRemovals)
	if errors.Is(err, billing.ErrRemovalsNotAllowed) {
		return &apiError{http.StatusConflict, "removals_not_allowed", err.Error(), rep}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// syncRouters is the comparison (and repair) of GET /routers/drift and
// POST /routers/sync, shared with the routers page: it checks the
// location's name (empty: every location) and allowRemovals, compares and
// logs. A repair refused for its removals returns the plan with an error
// wrapping billing.ErrRemovalsNotAllowed; other refusals are *apiError.
func (s *Server) syncRouters(r *http.Request, loc string, repair bool, allowRemovals int) (*billing.SyncReport, error) {
	if loc != "" && !store.ValidLocationName(loc) {
		return nil, &apiError{http.StatusUnprocessableEntity, "validation_failed", "location must be a location's name, such as \"main\"", map[string]string{"location": "not a location name"}}
	}
	var v validation
	v.check(allowRemovals >= 0, "allow_removals", "must be 0 or more: how many logins the repair may remove")
	if err := v.err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), routerSyncTimeout)
	defer cancel()
	rep, err := s.deps.Billing.SyncRouters(ctx, billing.SyncOptions{Location: loc, Repair: repair, AllowRemovals: allowRemovals, Actor: actor(r)})
	if errors.Is(err, billing.ErrUnknownLocation) {
		return nil, &apiError{http.StatusNotFound, "not_found", err.Error(), nil}
	}
	if errors.Is(err, billing.ErrRemovalsNotAllowed) {
		s.log.Warn("router repair refused", "location", loc, "summary", rep.DriftSummary(), "allow_removals", allowRemovals, "by", actor(r))
		return rep, err
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("routers compared", "location", loc, "repair", repair, "summary", rep.DriftSummary(), "by", actor(r))
	return rep, nil
}
