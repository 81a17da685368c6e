package ui

// Routers: the comparison of the store with the routers (the API's GET
// /routers/drift) and its repair (POST /routers/sync), through
// Deps.SyncRouters. The page is the plan; a repair that would remove more
// logins than it may is refused, shows the plan and changes nothing.

import (
	"errors"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/billing"
)

func init() {
	pageFiles = append(pageFiles, "routers.html")
}

// routersData is the routers page's: the location asked for (empty:
// every one), the report, and the repair form as typed.
type routersData struct {
	Location      string
	Report        *billing.SyncReport
	AllowRemovals string
	SafeRemovals  int
	Errs          fieldErrors
}

// Routers serves GET /routers (?location= for one): nothing changes.
func (u *UI) Routers(w http.ResponseWriter, r *http.Request) error {
	loc := r.URL.Query().Get("location")
	rep, err := u.deps.SyncRouters(r, loc, false, 0)
	if err != nil {
		return err
	}
	d := &routersData{Location: loc, Report: rep, SafeRemovals: billing.SafeRemovals, Errs: fieldErrors{}}
	return u.render(w, r, http.StatusOK, "routers.html", view{Title: "routers.title", Data: d})
}

// RepairRouters serves POST /routers/sync: the form's location (empty:
// every one) and allow_removals, how many logins the repair may remove.
func (u *UI) RepairRouters(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "routers")
	loc, typed := f.str("location"), f.str("allow_removals")
	allow := f.int64("allow_removals", 0)
	if allow < 0 || allow > 1<<31-1 {
		f.wrong("allow_removals")
	}
	d := &routersData{Location: loc, AllowRemovals: typed, SafeRemovals: billing.SafeRemovals, Errs: f.errs}
	v := view{Title: "routers.title", Data: d}
	if len(f.errs) > 0 {
		// The plan again, with what is wrong with the form.
		rep, err := u.deps.SyncRouters(r, loc, false, 0)
		if err != nil {
			return err
		}
		d.Report, v.Problem = rep, "form.refused"
		return u.render(w, r, http.StatusUnprocessableEntity, "routers.html", v)
	}
	rep, err := u.deps.SyncRouters(r, loc, true, int(allow))
	if errors.Is(err, billing.ErrRemovalsNotAllowed) {
		d.Report, v.Problem, v.ProblemArg = rep, "routers.refused", rep.Removals
		return u.render(w, r, http.StatusConflict, "routers.html", v)
	}
	if err != nil {
		return err
	}
	u.log.Info("routers repaired", "location", loc, "repaired", rep.Repaired, "allow_removals", allow, "user", userFrom(r).Username)
	d.Report, d.AllowRemovals, v.Notice, v.NoticeArg = rep, "", "routers.repaired", rep.Repaired
	return u.render(w, r, http.StatusOK, "routers.html", v)
}
