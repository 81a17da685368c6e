package ui

// A location's router on the locations page: its connection (add, edit,
// remove; admins, as POST and PUT /api/v1/locations with "router"), the
// connection test (operators, POST /api/v1/locations/{id}/test), and who
// is online now with the disconnect button (operators, GET
// /api/v1/locations/{id}/sessions and POST .../disconnect), the table
// reloaded by htmx every few seconds for a bounded time.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/router"
)

func init() {
	pageFiles = append(pageFiles, "location_edit.html", "location_sessions.html")
	// The router's fields, on the locations page and the edit page.
	partials = append(partials, "templates/location_router_fields.html")
}

// RouterForm is a location's router as a form sends it.
type RouterForm struct {
	// Remove takes the router away (the other fields are ignored).
	Remove                                  bool
	Address                                 string
	Port                                    int
	TLS                                     bool
	CAPEM, CertSHA256, ServerName, Username string
	// Password nil keeps the stored one.
	Password *string
}

// LocationRouters are the API's functions for a location's router
// (host/internal/web/location_routers.go), so the pages and the API check
// and change alike. A refused field comes back as *Invalid, named as the
// API names it ("router.address").
type LocationRouters struct {
	Location func(ctx context.Context, id int64) (*store.Location, error)
	// Connections are the routers by location id, without passwords.
	Connections func(ctx context.Context) (map[int64]store.RouterConnection, error)
	// Save creates l (ID 0) or updates it, with its router as rf says
	// (nil: unchanged).
	Save       func(r *http.Request, l *store.Location, rf *RouterForm) error
	Delete     func(r *http.Request, id int64) error
	Test       func(r *http.Request, l *store.Location) (*billing.RouterTestResult, error)
	Sessions   func(r *http.Request, l *store.Location) ([]router.Session, error)
	Disconnect func(r *http.Request, l *store.Location, sid, service, user string) (int, error)
}

// routerForm reads the router fields of a posted form: nil when none is
// filled in (no router, or on the edit page the router unchanged), Remove
// when the remove box is ticked. On the edit page (keepPassword) an empty
// password keeps the stored one.
func routerForm(f *form, keepPassword bool) *RouterForm {
	if f.str("router.remove") == "on" {
		return &RouterForm{Remove: true}
	}
	rf := &RouterForm{Address: f.str("router.address"), Port: int(f.int64("router.port", 0)), TLS: f.str("router.tls") == "on",
		CAPEM: f.str("router.ca_pem"), CertSHA256: f.str("router.cert_sha256"), ServerName: f.str("router.server_name"), Username: f.str("router.username")}
	p := f.r.PostFormValue("router.password")
	if p != "" || !keepPassword {
		rf.Password = &p
	}
	if rf.Address == "" && rf.Username == "" && rf.CAPEM == "" && rf.CertSHA256 == "" && rf.ServerName == "" && rf.Port == 0 && p == "" {
		return nil
	}
	return rf
}

// routerFieldsView is the "router_fields" template's
// (templates/location_router_fields.html).
type routerFieldsView struct {
	Router store.RouterConnection
	Errs   fieldErrors
	// Edit: a stored password is kept when the field is left empty.
	Edit bool
}

// Fields are the edit page's router fields.
func (d locationEditData) Fields() routerFieldsView {
	return routerFieldsView{Router: d.Router, Errs: d.Errs, Edit: true}
}

// NewRouterFields are the new location form's router fields.
func (d locationsData) NewRouterFields() routerFieldsView {
	return routerFieldsView{Router: d.NewRouter, Errs: d.Errs}
}

// locationEditData is the edit page's.
type locationEditData struct {
	Location  store.Location
	Router    store.RouterConnection
	HasRouter bool
	Errs      fieldErrors
}

// location reads the location of the path's id; nil when the answer is
// given.
func (u *UI) location(w http.ResponseWriter, r *http.Request) (*store.Location, error) {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil
	}
	l, err := u.deps.LocationRouters.Location(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil
	}
	return l, err
}

// EditLocationForm serves GET /locations/{id}/edit.
func (u *UI) EditLocationForm(w http.ResponseWriter, r *http.Request) error {
	l, err := u.location(w, r)
	if l == nil || err != nil {
		return err
	}
	conns, err := u.deps.LocationRouters.Connections(r.Context())
	if err != nil {
		return err
	}
	c, has := conns[l.ID]
	return u.render(w, r, http.StatusOK, "location_edit.html", view{Title: "locations.edit", Data: locationEditData{Location: *l, Router: c, HasRouter: has, Errs: fieldErrors{}}})
}

// UpdateLocation serves POST /locations/{id}.
func (u *UI) UpdateLocation(w http.ResponseWriter, r *http.Request) error {
	l, err := u.location(w, r)
	if l == nil || err != nil {
		return err
	}
	f := newForm(r, "locations")
	l.Name, l.Description, l.Plugin = f.str("name"), f.str("description"), f.str("plugin")
	rf := routerForm(f, true)
	if len(f.errs) == 0 {
		err = u.deps.LocationRouters.Save(r, l, rf)
	}
	if f.refusedBy(err) {
		d := locationEditData{Location: *l, HasRouter: rf != nil && !rf.Remove, Errs: f.errs}
		if rf != nil && !rf.Remove {
			d.Router = store.RouterConnection{Address: rf.Address, Port: rf.Port, TLS: rf.TLS, CAPEM: rf.CAPEM, CertSHA256: rf.CertSHA256, ServerName: rf.ServerName, Username: rf.Username}
		}
		return u.render(w, r, http.StatusUnprocessableEntity, "location_edit.html", view{Title: "locations.edit", Problem: "form.refused", Data: d})
	}
	if err != nil {
		return err
	}
	u.log.Info("location changed", "location", l.Name, "router_removed", rf != nil && rf.Remove, "user", userFrom(r).Username)
	redirect(w, r, "/locations?saved="+url.QueryEscape(l.Name))
	return nil
}

// DeleteLocation serves POST /locations/{id}/delete.
func (u *UI) DeleteLocation(w http.ResponseWriter, r *http.Request) error {
	l, err := u.location(w, r)
	if l == nil || err != nil {
		return err
	}
	err = u.deps.LocationRouters.Delete(r, l.ID)
	if errors.Is(err, store.ErrReferenced) {
		return u.locationsPage(w, r, http.StatusConflict, view{Problem: "locations.in_use", ProblemArg: l.Name}, locationsData{New: store.Location{Plugin: store.DefaultRouterPlugin}})
	}
	if err != nil {
		return err
	}
	u.log.Info("location deleted", "location", l.Name, "user", userFrom(r).Username)
	redirect(w, r, "/locations?deleted="+url.QueryEscape(l.Name))
	return nil
}

// TestLocationRouter serves POST /locations/{id}/test: the locations page
// with the test's outcome.
func (u *UI) TestLocationRouter(w http.ResponseWriter, r *http.Request) error {
	l, err := u.location(w, r)
	if l == nil || err != nil {
		return err
	}
	res, err := u.deps.LocationRouters.Test(r, l)
	if err != nil {
		return err
	}
	v := view{}
	if res.OK {
		v.Notice, v.NoticeArg = "locations.test_ok", testedRouter{l.Name, res.Resources.Version, res.Resources.BoardName}
	} else {
		v.Problem, v.ProblemArg = "locations.test_failed."+res.Failure, testedRouter{l.Name, res.Message, ""}
	}
	return u.locationsPage(w, r, http.StatusOK, v, locationsData{New: store.Location{Plugin: store.DefaultRouterPlugin}})
}

// testedRouter is a test's outcome as its message's argument.
type testedRouter struct{ Location, Detail, Board string }

func (t testedRouter) String() string {
	return strings.TrimSpace(fmt.Sprintf("%s: %s %s", t.Location, t.Detail, t.Board))
}

// Polling of the sessions table: every 10 seconds (the template's
// hx-trigger), at most maxSessionPolls times (10 minutes), then a refresh
// button, so a forgotten tab does not ask the router forever.
const maxSessionPolls = 60

// sessionsData is the sessions page's (and its table's).
type sessionsData struct {
	Location store.Location
	Rows     []sessionRow
	// Poll is the number of the table's next reload; Live says whether
	// it reloads.
	Poll    int
	Live    bool
	Problem string
	// ProblemArg is the router plugin's message when the list failed.
	ProblemArg    string
	CanDisconnect bool
}

// sessionRow is one session as the table shows it.
type sessionRow struct {
	ID, Service, User, Address, MAC, Uptime, BytesIn, BytesOut string
}

// LocationSessions serves GET /locations/{id}/sessions: the page, or, to
// htmx, its table (?poll= counts the reloads).
func (u *UI) LocationSessions(w http.ResponseWriter, r *http.Request) error {
	l, err := u.location(w, r)
	if l == nil || err != nil {
		return err
	}
	poll, err := strconv.Atoi(r.URL.Query().Get("poll"))
	if err != nil || poll < 0 {
		poll = 0
	}
	lang := languageOf(r)
	d := sessionsData{Location: *l, Poll: poll + 1, Live: poll < maxSessionPolls, CanDisconnect: userFrom(r).Can("operator")}
	sessions, err := u.deps.LocationRouters.Sessions(r, l)
	if err != nil {
		// The table says why; the reloads go on, the router may come back.
		d.Problem, d.ProblemArg = "sessions.failed", err.Error()
		u.log.Warn("sessions not listed", "location", l.Name, "error", err)
	}
	for _, s := range sessions {
		d.Rows = append(d.Rows, sessionRow{ID: s.ID, Service: string(s.Kind), User: s.User, Address: s.Address, MAC: s.MACAddress,
			Uptime: uptime(lang, s.Uptime), BytesIn: formatBytes(lang, s.BytesIn), BytesOut: formatBytes(lang, s.BytesOut)})
	}
	v := view{Title: "sessions.title", Data: d}
	if r.Header.Get("HX-Request") == "true" {
		return u.renderPart(w, r, http.StatusOK, "location_sessions.html", "sessions_part", v)
	}
	if q := r.URL.Query(); q.Has("disconnected") {
		v.Notice, v.NoticeArg = "sessions.disconnected", q.Get("disconnected")
	}
	return u.render(w, r, http.StatusOK, "location_sessions.html", v)
}

// DisconnectLocationSession serves POST
// /locations/{id}/sessions/{sid}/disconnect.
func (u *UI) DisconnectLocationSession(w http.ResponseWriter, r *http.Request) error {
	l, err := u.location(w, r)
	if l == nil || err != nil {
		return err
	}
	f := newForm(r, "sessions")
	user := f.str("user")
	if _, err := u.deps.LocationRouters.Disconnect(r, l, mux.Vars(r)["sid"], f.str("service"), user); err != nil {
		return err
	}
	redirect(w, r, fmt.Sprintf("/locations/%d/sessions?disconnected=%s", l.ID, url.QueryEscape(user)))
	return nil
}

// uptime writes a session's time online for people: days, hours and
// minutes, or minutes and seconds under an hour.
func uptime(lang string, d time.Duration) string {
	d = d.Round(time.Second)
	days, hours, mins, secs := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	var s string
	var err error
	switch {
	case days > 0:
		s, err = translate(lang, "sessions.uptime_dhm", days, hours, mins)
	case hours > 0:
		s, err = translate(lang, "sessions.uptime_hm", hours, mins)
	default:
		s, err = translate(lang, "sessions.uptime_ms", mins, secs)
	}
	if err != nil {
		return d.String()
	}
	return s
}

// formatBytes writes a byte count in binary units (KiB, MiB, ...), with
// the language's decimal mark.
func formatBytes(lang string, n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v, i = v/1024, i+1
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if lang == "id" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " " + units[i]
}
