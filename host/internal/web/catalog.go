package web

// The catalog API's shared helpers, router locations and plans. Writes
// follow one pattern: POST takes every field (defaults for those left
// out), PUT starts from the stored record and changes the fields the body
// names; both validate the whole record and answer 422 with a message per
// field. Successful writes answer with the record as GET shows it.

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// catalogQ returns the queries outside a transaction.
func (s *Server) catalogQ() *store.Queries { return s.deps.DB.Q() }

// writeCreated answers 201 with the new record and where it lives.
func writeCreated(w http.ResponseWriter, r *http.Request, id int64, v any) {
	w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+strconv.FormatInt(id, 10))
	writeJSON(w, http.StatusCreated, v)
}

// textOK reports whether s is at most max characters without control
// characters (newlines and tabs allowed when multiline).
func textOK(s string, max int, multiline bool) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return false
		}
	}
	return true
}

// checkName records a field error unless s is a non-empty single-line text
// of at most max characters.
func checkName(v *validation, field, s string, max int) {
	v.check(strings.TrimSpace(s) != "", field, "required")
	v.check(textOK(s, max, false), field, fmt.Sprintf("at most %d characters on one line", max))
}

// emailOK reports whether e looks like a plain email address
// (name@domain.tld).
func emailOK(e string) bool {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(e, '@')
	return at > 0 && strings.Contains(e[at+1:], ".") && !strings.HasSuffix(e, ".")
}

// queryID reads an optional positive number from the query (0 when
// absent), recording a field error when it is malformed.
func queryID(r *http.Request, v *validation, name string) int64 {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return 0
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	v.check(err == nil && id > 0, name, "a positive number")
	return id
}

// checkRef records a field error when a referenced record is missing and
// returns any other error of the lookup.
func checkRef(v *validation, field, what string, id int64, err error) error {
	switch {
	case id <= 0:
		v.check(false, field, "required: the id of a "+what)
	case errors.Is(err, store.ErrNotFound):
		v.check(false, field, fmt.Sprintf("no %s has id %d", what, id))
	case err != nil:
		return err
	}
	return nil
}

// refusal answers a refusal the store worded for people (*store.FieldError)
// with its words: a value in use (a name taken) is 409 conflict, a record
// that is not there 404 not_found, anything else 422 validation_failed;
// details name the field. Other errors are returned as they are.
func refusal(err error) error {
	var fe *store.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	var details any // nil, not a nil map, so that "details" is left out
	if fe.Field != "" {
		details = FieldErrors{fe.Field: fe.Message}
	}
	switch {
	case errors.Is(fe.Kind, store.ErrConflict):
		return &apiError{http.StatusConflict, "conflict", fe.Message, details}
	case errors.Is(fe.Kind, store.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", fe.Message, details}
	default:
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", fe.Message, details}
	}
}

// --- router locations ---

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
	if err := in.validate(); err != nil {
		return err
	}
	var l store.Location
	in.apply(&l)
	err := s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.CreateLocation(r.Context(), &l); err != nil {
			return nil, err
		}
		return locationEvent("location.created", &l), nil
	})
	if err != nil {
		return err
	}
	writeCreated(w, r, l.ID, &l)
	return nil
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

// --- plans ---

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
	return v.err()
}

func (in *planInput) apply(p *store.Plan) {
	p.Name, p.Kind, p.RateLimit, p.SharedUsers = strings.TrimSpace(in.Name), in.Kind, in.RateLimit, in.SharedUsers
	p.TimeLimit, p.DataLimitBytes = time.Duration(in.TimeLimitSeconds)*time.Second, in.DataLimitBytes
	p.Validity, p.Price, p.Currency = time.Duration(in.ValiditySeconds)*time.Second, in.Price, in.Currency
	p.Profile, p.IsolationProfile, p.Active = in.Profile, in.IsolationProfile, in.Active
}

func planEvent(action string, p *store.Plan) *auditEvent {
	return event(action, "plan", p.ID, map[string]string{
		"name": p.Name, "price": strconv.FormatInt(p.Price, 10), "currency": p.Currency, "active": strconv.FormatBool(p.Active)})
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
	if err := in.validate(); err != nil {
		return err
	}
	var p store.Plan
	in.apply(&p)
	err := s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.CreatePlan(r.Context(), &p); err != nil {
			return nil, err
		}
		return planEvent("plan.created", &p), nil
	})
	if err != nil {
		return err
	}
	writeCreated(w, r, p.ID, newPlanJSON(&p))
	return nil
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
	in := planInput{Name: p.Name, Kind: p.Kind, RateLimit: p.RateLimit, SharedUsers: p.SharedUsers,
		TimeLimitSeconds: int64(p.TimeLimit / time.Second), DataLimitBytes: p.DataLimitBytes, ValiditySeconds: int64(p.Validity / time.Second),
		Price: p.Price, Currency: p.Currency, Profile: p.Profile, IsolationProfile: p.IsolationProfile, Active: p.Active}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	in.apply(p)
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.UpdatePlan(r.Context(), p); err != nil {
			return nil, err
		}
		return planEvent("plan.updated", p), nil
	})
	if err != nil {
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
