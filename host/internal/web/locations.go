package web

// Router locations.

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

type locationInput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Plugin      string `json:"plugin"`
	// Router is the location's router connection (location_routers.go).
	Router routerField `json:"router"`
}

func (in *locationInput) validate() error {
	var v validation
	if in.Router.Input != nil {
		in.Router.Input.normalize()
		in.Router.Input.validate(&v)
	}
	v.check(store.ValidLocationName(in.Name), "name", `the router plugin's location id: a lower case letter, then up to 62 lower case letters, digits or hyphens, such as "main"`)
	v.check(store.ValidLocationName(in.Plugin), "plugin", fmt.Sprintf("a router plugin's name, such as %q", store.DefaultRouterPlugin))
	v.check(textOK(in.Description, 500, true), "description", "at most 500 characters")
	return v.err()
}

func (in *locationInput) apply(l *store.Location) {
	l.Name, l.Description, l.Plugin = in.Name, in.Description, in.Plugin
}

// locationEvent is a location's audit event; router says what happened
// to its router connection ("set", "removed"; never the password).
func locationEvent(action string, l *store.Location, router string) *auditEvent {
	meta := map[string]string{"name": l.Name, "plugin": l.Plugin}
	if router != "" {
		meta["router"] = router
	}
	return event(action, "location", l.ID, meta)
}

func (s *Server) listLocations(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	locs, total, err := s.catalogQ().ListLocations(r.Context(), page)
	if err != nil {
		return err
	}
	items, err := s.locationViews(r.Context(), locs)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

func (s *Server) getLocation(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	l, err := s.catalogQ().GetLocation(r.Context(), id)
	if err != nil {
		return err
	}
	return s.writeLocation(w, r, http.StatusOK, l, nil)
}

// writeLocation answers with a location and its router.
func (s *Server) writeLocation(w http.ResponseWriter, r *http.Request, status int, l *store.Location, warnings []string) error {
	views, err := s.locationViews(r.Context(), []store.Location{*l})
	if err != nil {
		return err
	}
	views[0].Warnings = warnings
	if status == http.StatusCreated {
		writeCreated(w, r, l.ID, views[0])
		return nil
	}
	writeJSON(w, status, views[0])
	return nil
}

func (s *Server) createLocation(w http.ResponseWriter, r *http.Request) error {
	in := locationInput{Plugin: store.DefaultRouterPlugin}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var l store.Location
	warnings, err := s.addLocation(r, &l, &in)
	if err != nil {
		return err
	}
	return s.writeLocation(w, r, http.StatusCreated, &l, warnings)
}

// addLocation validates in and creates the location with its audit event
// and, when in has one, its router, handed to the router plugin (the
// API's and the admin UI's). It returns the router plugin's warnings.
func (s *Server) addLocation(r *http.Request, l *store.Location, in *locationInput) ([]string, error) {
	if err := checkRouterRole(r, in.Router); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	in.apply(l)
	if in.Router.Input == nil {
		return nil, s.change(r, func(q *store.Queries) (*auditEvent, error) {
			if err := q.CreateLocation(r.Context(), l); err != nil {
				return nil, err
			}
			return locationEvent("location.created", l, ""), nil
		})
	}
	conn := in.Router.Input.connection(0, nil)
	ch, _ := routerChangeFor(l, "", false, conn)
	cip, err := s.catalogCipher()
	if err != nil {
		return nil, err
	}
	return s.applyRouterChange(r, ch, func(q *store.Queries) (*auditEvent, error) {
		if err := q.CreateLocation(r.Context(), l); err != nil {
			return nil, err
		}
		conn.LocationID = l.ID
		if err := q.SetRouterConnection(r.Context(), conn, cip); err != nil {
			return nil, err
		}
		return locationEvent("location.created", l, "set"), nil
	})
}

func (s *Server) updateLocation(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	q := s.catalogQ()
	l, err := q.GetLocation(r.Context(), id)
	if err != nil {
		return err
	}
	in := locationInput{Name: l.Name, Description: l.Description, Plugin: l.Plugin}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	warnings, err := s.changeLocation(r, l, &in)
	if err != nil {
		return err
	}
	return s.writeLocation(w, r, http.StatusOK, l, warnings)
}

// changeLocation validates in and updates l with its audit event; its
// router is set or removed as in says (kept when in has no "router"), and
// the router plugins are handed their routers when they change (a rename
// changes the router's id too). It returns the router plugins' warnings.
func (s *Server) changeLocation(r *http.Request, l *store.Location, in *locationInput) ([]string, error) {
	if err := checkRouterRole(r, in.Router); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	oldName, oldPlugin := l.Name, l.Plugin
	var prev *store.RouterConnection
	had, err := s.catalogQ().HasRouterConnection(r.Context(), l.ID)
	if err != nil {
		return nil, err
	}
	var cip *store.Cipher
	if had || in.Router.Input != nil {
		if cip, err = s.catalogCipher(); err != nil {
			return nil, err
		}
	}
	if had {
		if prev, err = s.catalogQ().GetRouterConnection(r.Context(), l.ID, cip); err != nil {
			return nil, err
		}
	}
	in.apply(l)
	conn, what := prev, ""
	if in.Router.Sent {
		conn, what = nil, "removed"
		if in.Router.Input != nil {
			conn, what = in.Router.Input.connection(l.ID, prev), "set"
		}
	}
	ch, touches := routerChangeFor(l, oldPlugin, had, conn)
	if !touches || (!in.Router.Sent && l.Name == oldName && l.Plugin == oldPlugin) {
		return nil, s.change(r, func(q *store.Queries) (*auditEvent, error) {
			if err := q.UpdateLocation(r.Context(), l); err != nil {
				return nil, err
			}
			return locationEvent("location.updated", l, ""), nil
		})
	}
	return s.applyRouterChange(r, ch, func(q *store.Queries) (*auditEvent, error) {
		if err := q.UpdateLocation(r.Context(), l); err != nil {
			return nil, err
		}
		switch {
		case conn != nil && in.Router.Sent:
			if err := q.SetRouterConnection(r.Context(), conn, cip); err != nil {
				return nil, err
			}
		case conn == nil && had:
			if err := q.DeleteRouterConnection(r.Context(), l.ID); err != nil {
				return nil, err
			}
		}
		return locationEvent("location.updated", l, what), nil
	})
}

func (s *Server) deleteLocation(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	err = s.removeLocation(r, id)
	if err != nil {
		if errors.Is(err, store.ErrReferenced) {
			return &apiError{http.StatusConflict, "in_use", "customers or voucher batches belong to this location; move or delete them first", nil}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeLocation deletes a location and its router, which its router
// plugin is then no longer handed.
func (s *Server) removeLocation(r *http.Request, id int64) error {
	del := func(q *store.Queries) (*auditEvent, error) {
		return event("location.deleted", "location", id, nil), q.DeleteLocation(r.Context(), id)
	}
	l, err := s.catalogQ().GetLocation(r.Context(), id)
	if err != nil {
		return err
	}
	had, err := s.catalogQ().HasRouterConnection(r.Context(), id)
	if err != nil {
		return err
	}
	if !had {
		return s.change(r, del)
	}
	ch, _ := routerChangeFor(l, "", true, nil)
	_, err = s.applyRouterChange(r, ch, del)
	return err
}
