package web

// Plans: what a subscription buys.

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// planJSON is a plan as the API shows it: durations in seconds.
type planJSON struct {
	*store.Plan
	TimeLimitSeconds int64 `json:"time_limit_seconds"`
	ValiditySeconds  int64 `json:"validity_seconds"`
}

func newPlanJSON(p *store.Plan) planJSON {
	return planJSON{Plan: p, TimeLimitSeconds: int64(p.TimeLimit / time.Second), ValiditySeconds: int64(p.Validity / time.Second)}
}

type planInput struct {
	Name             string `json:"name"`
	Kind             string `json:"kind"`
	RateLimit        string `json:"rate_limit"`
	SharedUsers      int    `json:"shared_users"`
	TimeLimitSeconds int64  `json:"time_limit_seconds"`
	DataLimitBytes   int64  `json:"data_limit_bytes"`
	ValiditySeconds  int64  `json:"validity_seconds"`
	Price            int64  `json:"price"`
	Currency         string `json:"currency"`
	Profile          string `json:"profile"`
	IsolationProfile string `json:"isolation_profile"`
	Active           bool   `json:"active"`
	// BillingType is "prepaid" (empty: prepaid) or "postpaid" (monthly
	// recurring bills).
	BillingType string `json:"billing_type"`
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// maxSeconds keeps durations within what time.Duration holds.
const maxSeconds = int64(100 * 365 * 24 * 3600)

func (in *planInput) validate() error {
	var v validation
	checkName(&v, "name", in.Name, 100)
	v.check(in.Kind == store.PlanHotspot || in.Kind == store.PlanPPPoE, "kind", fmt.Sprintf("%q or %q", store.PlanHotspot, store.PlanPPPoE))
	if err := router.ValidateRateLimit(in.RateLimit); err != nil {
		v.check(false, "rate_limit", err.Error())
	}
	v.check(in.SharedUsers >= 0, "shared_users", "0 or more")
	v.check(in.TimeLimitSeconds >= 0 && in.TimeLimitSeconds <= maxSeconds, "time_limit_seconds", "0 (unlimited) or more seconds, at most 100 years")
	v.check(in.DataLimitBytes >= 0, "data_limit_bytes", "0 (unlimited) or more bytes")
	v.check(in.ValiditySeconds > 0 && in.ValiditySeconds <= maxSeconds, "validity_seconds", "required: how long a purchase lasts, in seconds (more than 0, at most 100 years)")
	v.check(in.Price >= 0, "price", "0 or more, in the currency's minor units")
	v.check(currencyRE.MatchString(in.Currency), "currency", `three upper case letters (ISO 4217), such as "IDR"`)
	v.check(textOK(in.Profile, 64, false), "profile", "at most 64 characters")
	v.check(textOK(in.IsolationProfile, 64, false), "isolation_profile", "at most 64 characters")
	v.check(in.BillingType == "" || store.ValidBillingType(in.BillingType), "billing_type",
		`"prepaid" (paid before each period) or "postpaid" (a bill made before each month ends)`)
	return v.err()
}

// planInputOf is a stored plan as input, for an update to start from.
func planInputOf(p *store.Plan) planInput {
	return planInput{Name: p.Name, Kind: p.Kind, RateLimit: p.RateLimit, SharedUsers: p.SharedUsers,
		TimeLimitSeconds: int64(p.TimeLimit / time.Second), DataLimitBytes: p.DataLimitBytes, ValiditySeconds: int64(p.Validity / time.Second),
		Price: p.Price, Currency: p.Currency, Profile: p.Profile, IsolationProfile: p.IsolationProfile, Active: p.Active,
		BillingType: p.BillingType}
}

func (in *planInput) apply(p *store.Plan) {
	p.Name, p.Kind, p.RateLimit, p.SharedUsers = strings.TrimSpace(in.Name), in.Kind, in.RateLimit, in.SharedUsers
	p.TimeLimit, p.DataLimitBytes = time.Duration(in.TimeLimitSeconds)*time.Second, in.DataLimitBytes
	p.Validity, p.Price, p.Currency = time.Duration(in.ValiditySeconds)*time.Second, in.Price, in.Currency
	p.Profile, p.IsolationProfile, p.Active = in.Profile, in.IsolationProfile, in.Active
	p.BillingType = in.BillingType
	if p.BillingType == "" {
		p.BillingType = store.BillingPrepaid
	}
}

func planEvent(action string, p *store.Plan) *auditEvent {
	return event(action, "plan", p.ID, map[string]string{
		"name": p.Name, "price": strconv.FormatInt(p.Price, 10), "currency": p.Currency, "active": strconv.FormatBool(p.Active),
		"billing_type": p.BillingType})
}

func (s *Server) listPlans(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	plans, total, err := s.catalogQ().ListPlans(r.Context(), page)
	if err != nil {
		return err
	}
	items := make([]planJSON, len(plans))
	for i := range plans {
		items[i] = newPlanJSON(&plans[i])
	}
	writeList(w, items, total, page)
	return nil
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	p, err := s.catalogQ().GetPlan(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPlanJSON(p))
	return nil
}

func (s *Server) createPlan(w http.ResponseWriter, r *http.Request) error {
	in := planInput{SharedUsers: 1, Active: true}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var p store.Plan
	if err := s.savePlan(r, &p, &in); err != nil {
		return err
	}
	writeCreated(w, r, p.ID, newPlanJSON(&p))
	return nil
}

// savePlan validates in, applies it to p and writes p with its audit
// event: a new plan when p.ID is 0, else an update. The API and the admin
// UI save plans through it.
func (s *Server) savePlan(r *http.Request, p *store.Plan, in *planInput) error {
	if err := in.validate(); err != nil {
		return err
	}
	in.apply(p)
	return s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if p.ID == 0 {
			if err := q.CreatePlan(r.Context(), p); err != nil {
				return nil, err
			}
			return planEvent("plan.created", p), nil
		}
		if err := q.UpdatePlan(r.Context(), p); err != nil {
			return nil, err
		}
		return planEvent("plan.updated", p), nil
	})
}

func (s *Server) updatePlan(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	q := s.catalogQ()
	p, err := q.GetPlan(r.Context(), id)
	if err != nil {
		return err
	}
	in := planInputOf(p)
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.savePlan(r, p, &in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPlanJSON(p))
	return nil
}

func (s *Server) deletePlan(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		return event("plan.deleted", "plan", id, nil), q.DeletePlan(r.Context(), id)
	})
	if err != nil {
		if errors.Is(err, store.ErrReferenced) {
			return &apiError{http.StatusConflict, "in_use", "subscriptions, invoices or voucher batches use this plan; deactivate it instead (PUT with \"active\": false)", nil}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
