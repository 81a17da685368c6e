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
}

func (in *locationInput) validate() error {
	var v validation
	v.check(store.ValidLocationName(in.Name), "name", `the router plugin's location id: a lower case letter, then up to 62 lower case letters, digits or hyphens, such as "main"`)
	v.check(store.ValidLocationName(in.Plugin), "plugin", fmt.Sprintf("a router plugin's name, such as %q", store.DefaultRouterPlugin))
	v.check(textOK(in.Description, 500, true), "description", "at most 500 characters")
	return v.err()
}

func (in *locationInput) apply(l *store.Location) {
	l.Name, l.Description, l.Plugin = in.Name, in.Description, in.Plugin
}

func locationEvent(action string, l *store.Location) *auditEvent {
	return event(action, "location", l.ID, map[string]string{"name": l.Name, "plugin": l.Plugin})
}

func (s *Server) listLocations(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	items, total, err := s.catalogQ().ListLocations(r.Context(), page)
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
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) createLocation(w http.ResponseWriter, r *http.Request) error {
	in := locationInput{Plugin: store.DefaultRouterPlugin}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var l store.Location
	if err := s.addLocation(r, &l, &in); err != nil {
		return err
	}
	writeCreated(w, r, l.ID, &l)
	return nil
}

// addLocation validates in and creates the location with its audit event
// (the API's and the admin UI's).
func (s *Server) addLocation(r *http.Request, l *store.Location, in *locationInput) error {
	if err := in.validate(); err != nil {
		return err
	}
	in.apply(l)
	return s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.CreateLocation(r.Context(), l); err != nil {
			return nil, err
		}
		return locationEvent("location.created", l), nil
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
	if err := in.validate(); err != nil {
		return err
	}
	in.apply(l)
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.UpdateLocation(r.Context(), l); err != nil {
			return nil, err
		}
		return locationEvent("location.updated", l), nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) deleteLocation(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		return event("location.deleted", "location", id, nil), q.DeleteLocation(r.Context(), id)
	})
	if err != nil {
		if errors.Is(err, store.ErrReferenced) {
			return &apiError{http.StatusConflict, "in_use", "customers or voucher batches belong to this location; move or delete them first", nil}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
