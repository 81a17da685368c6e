package ui

// Plans: the list, and the form that creates or edits one (the API's
// POST and PUT /plans rules, through Billing.SavePlan).

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

func init() {
	pageFiles = append(pageFiles, "plans.html", "plan_form.html", "locations.html", "customers.html", "customer_form.html",
		"invoices.html", "invoice_form.html", "invoice.html")
}

// plansData is the plan list's.
type plansData struct {
	Plans []store.Plan
}

// Plans serves GET /plans.
func (u *UI) Plans(w http.ResponseWriter, r *http.Request) error {
	plans, err := u.deps.Billing.Plans(r.Context())
	if err != nil {
		return err
	}
	v := view{Title: "plans.title", Data: plansData{plans}}
	if r.URL.Query().Has("saved") {
		v.Notice, v.NoticeArg = "plans.saved", r.URL.Query().Get("saved")
	}
	return u.render(w, r, http.StatusOK, "plans.html", v)
}

// planForm is the plan form's: the plan as typed, and what is wrong.
type planForm struct {
	ID                              int64
	Name, Kind, RateLimit, Currency string
	Profile, IsolationProfile       string
	Price, SharedUsers, Validity    int64
	ValidityUnit                    string // "hours" or "days"
	TimeLimitHours, DataLimitMB     int64
	Active                          bool
	BillingType                     string // "prepaid" or "postpaid"
	Errs                            fieldErrors
}

func planFormOf(p *store.Plan) *planForm {
	f := &planForm{ID: p.ID, Name: p.Name, Kind: p.Kind, RateLimit: p.RateLimit, Currency: p.Currency, Profile: p.Profile,
		IsolationProfile: p.IsolationProfile, Price: p.Price, SharedUsers: int64(p.SharedUsers), Active: p.Active,
		TimeLimitHours: int64(p.TimeLimit / time.Hour), DataLimitMB: p.DataLimitBytes >> 20, BillingType: p.BillingType, Errs: fieldErrors{}}
	if f.BillingType == "" {
		f.BillingType = store.BillingPrepaid
	}
	if h := int64(p.Validity / time.Hour); h%24 == 0 && h > 0 {
		f.Validity, f.ValidityUnit = h/24, "days"
	} else {
		f.Validity, f.ValidityUnit = h, "hours"
	}
	return f
}

// NewPlanForm serves GET /plans/new.
func (u *UI) NewPlanForm(w http.ResponseWriter, r *http.Request) error {
	p := &store.Plan{Kind: store.PlanHotspot, SharedUsers: 1, Validity: 24 * time.Hour, Currency: "IDR", Active: true}
	return u.planPage(w, r, http.StatusOK, planFormOf(p))
}

// EditPlanForm serves GET /plans/{id}/edit.
func (u *UI) EditPlanForm(w http.ResponseWriter, r *http.Request) error {
	p, err := u.plan(w, r)
	if p == nil {
		return err
	}
	return u.planPage(w, r, http.StatusOK, planFormOf(p))
}

// plan reads the plan of the path's id; nil when the answer is given.
func (u *UI) plan(w http.ResponseWriter, r *http.Request) (*store.Plan, error) {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil
	}
	p, err := u.deps.Billing.Plan(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil
	}
	return p, err
}

func (u *UI) planPage(w http.ResponseWriter, r *http.Request, status int, f *planForm) error {
	v := view{Title: "plans.new", Data: f}
	if f.ID != 0 {
		v.Title = "plans.edit"
	}
	if len(f.Errs) > 0 {
		v.Problem = "form.refused"
	}
	return u.render(w, r, status, "plan_form.html", v)
}

// CreatePlan serves POST /plans and UpdatePlan POST /plans/{id}.
func (u *UI) CreatePlan(w http.ResponseWriter, r *http.Request) error {
	return u.savePlan(w, r, &store.Plan{})
}

// UpdatePlan: see CreatePlan.
func (u *UI) UpdatePlan(w http.ResponseWriter, r *http.Request) error {
	p, err := u.plan(w, r)
	if p == nil {
		return err
	}
	return u.savePlan(w, r, p)
}

func (u *UI) savePlan(w http.ResponseWriter, r *http.Request, p *store.Plan) error {
	f := newForm(r, "plans")
	p.Name, p.Kind, p.RateLimit, p.Currency = f.str("name"), f.str("kind"), f.str("rate_limit"), f.str("currency")
	p.Profile, p.IsolationProfile = f.str("profile"), f.str("isolation_profile")
	p.Price, p.SharedUsers = f.int64("price", 0), int(f.int64("shared_users", 1))
	p.TimeLimit = time.Duration(f.int64("time_limit_hours", 0)) * time.Hour
	p.DataLimitBytes = f.int64("data_limit_mb", 0) << 20
	unit, unitName := time.Hour, "hours"
	if f.str("validity_unit") == "days" {
		unit, unitName = 24*time.Hour, "days"
	}
	validity := f.int64("validity", 0)
	p.Validity = time.Duration(validity) * unit
	p.Active = f.str("active") == "on"
	p.BillingType = f.str("billing_type")
	back := func(status int) error {
		pf := planFormOf(p)
		pf.Validity, pf.ValidityUnit = validity, unitName // as typed
		for k, v := range f.errs {
			pf.Errs[k] = v
		}
		return u.planPage(w, r, status, pf)
	}
	if len(f.errs) > 0 {
		return back(http.StatusUnprocessableEntity)
	}
	err := u.deps.Billing.SavePlan(r, p)
	if errs, ok := refused(err, "plans"); ok {
		f.errs = renameFields(errs, map[string]string{"time_limit_seconds": "time_limit_hours", "validity_seconds": "validity", "data_limit_bytes": "data_limit_mb"})
		return back(http.StatusUnprocessableEntity)
	}
	if err != nil {
		return err
	}
	u.log.Info("plan saved", "plan", p.ID, "user", userFrom(r).Username)
	redirect(w, r, "/plans?saved="+strconv.FormatInt(p.ID, 10))
	return nil
}

// renameFields maps the API's field names to the form's.
func renameFields(errs fieldErrors, names map[string]string) fieldErrors {
	out := fieldErrors{}
	for k, v := range errs {
		if n, ok := names[k]; ok {
			k = n
			if v == "form.wrong" {
				if _, ok := catalogs["en"]["plans.err."+n]; ok {
					v = "plans.err." + n
				}
			}
		}
		out[k] = v
	}
	return out
}
