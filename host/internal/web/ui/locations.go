package ui

// Locations: the list and, for operators, the form that adds one (the
// API's POST /locations rules, through Billing.CreateLocation).

import (
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// locationsData is the locations page's: the list and the new
// location's form.
type locationsData struct {
	Locations []store.Location
	New       store.Location
	Errs      fieldErrors
}

// Locations serves GET /locations.
func (u *UI) Locations(w http.ResponseWriter, r *http.Request) error {
	v := view{}
	if r.URL.Query().Has("added") {
		v.Notice, v.NoticeArg = "locations.added", r.URL.Query().Get("added")
	}
	return u.locationsPage(w, r, http.StatusOK, v, locationsData{New: store.Location{Plugin: store.DefaultRouterPlugin}})
}

func (u *UI) locationsPage(w http.ResponseWriter, r *http.Request, status int, v view, d locationsData) error {
	locs, err := u.deps.Billing.Locations(r.Context())
	if err != nil {
		return err
	}
	d.Locations = locs
	v.Title, v.Data = "locations.title", d
	return u.render(w, r, status, "locations.html", v)
}

// CreateLocation serves POST /locations.
func (u *UI) CreateLocation(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "locations")
	l := store.Location{Name: f.str("name"), Description: f.str("description"), Plugin: f.str("plugin")}
	err := u.deps.Billing.CreateLocation(r, &l)
	if errs, ok := refused(err, "locations"); ok {
		return u.locationsPage(w, r, http.StatusUnprocessableEntity, view{Problem: "form.refused"}, locationsData{New: l, Errs: errs})
	}
	if err != nil {
		return err
	}
	u.log.Info("location added", "location", l.Name, "user", userFrom(r).Username)
	redirect(w, r, "/locations?added="+l.Name)
	return nil
}
