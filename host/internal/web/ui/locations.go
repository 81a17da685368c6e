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
	// Routers are the locations' routers by id (location_routers.go),
	// NewRouter the new location's as typed; HasRouters says whether the
	// host keeps routers (the router columns and buttons).
	Routers    map[int64]store.RouterConnection
	NewRouter  store.RouterConnection
	HasRouters bool
}

// Locations serves GET /locations.
func (u *UI) Locations(w http.ResponseWriter, r *http.Request) error {
	v := view{}
	q := r.URL.Query()
	switch {
	case q.Has("added"):
		v.Notice, v.NoticeArg = "locations.added", q.Get("added")
	case q.Has("saved"):
		v.Notice, v.NoticeArg = "locations.saved", q.Get("saved")
	case q.Has("deleted"):
		v.Notice, v.NoticeArg = "locations.deleted", q.Get("deleted")
	}
	return u.locationsPage(w, r, http.StatusOK, v, locationsData{New: store.Location{Plugin: store.DefaultRouterPlugin}})
}

func (u *UI) locationsPage(w http.ResponseWriter, r *http.Request, status int, v view, d locationsData) error {
	locs, err := u.deps.Billing.Locations(r.Context())
	if err != nil {
		return err
	}
	d.Locations = locs
	if lr := u.deps.LocationRouters; lr != nil {
		if d.Routers, err = lr.Connections(r.Context()); err != nil {
			return err
		}
		d.HasRouters = true
	}
	v.Title, v.Data = "locations.title", d
	return u.render(w, r, status, "locations.html", v)
}

// CreateLocation serves POST /locations.
func (u *UI) CreateLocation(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "locations")
	l := store.Location{Name: f.str("name"), Description: f.str("description"), Plugin: f.str("plugin")}
	var rf *RouterForm
	if u.deps.LocationRouters != nil && userFrom(r).Can("admin") {
		rf = routerForm(f, false)
	}
	var err error
	if rf != nil {
		if l.Plugin == "" {
			l.Plugin = store.DefaultRouterPlugin
		}
		if len(f.errs) == 0 {
			err = u.deps.LocationRouters.Save(r, &l, rf)
		}
	} else {
		err = u.deps.Billing.CreateLocation(r, &l)
	}
	if f.refusedBy(err) {
		d := locationsData{New: l, Errs: f.errs}
		if rf != nil {
			d.NewRouter = store.RouterConnection{Address: rf.Address, Port: rf.Port, TLS: rf.TLS, CAPEM: rf.CAPEM, CertSHA256: rf.CertSHA256, ServerName: rf.ServerName, Username: rf.Username}
		}
		return u.locationsPage(w, r, http.StatusUnprocessableEntity, view{Problem: "form.refused"}, d)
	}
	if err != nil {
		return err
	}
	u.log.Info("location added", "location", l.Name, "user", userFrom(r).Username)
	redirect(w, r, "/locations?added="+l.Name)
	return nil
}
