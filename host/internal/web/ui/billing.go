package ui

// The billing pages (plans.go, locations.go, customers.go, invoices.go)
// reach the host through Billing, which the web package implements with
// the API handlers' own functions, so a rule lives in one place. What a
// page adds is only reading its form.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Billing is what the billing pages ask of the host: the API's services
// with the API's rules. A refused field comes back as *Invalid.
type Billing interface {
	Plans(ctx context.Context) ([]store.Plan, error)
	Plan(ctx context.Context, id int64) (*store.Plan, error)
	// SavePlan creates p (ID 0) or updates it.
	SavePlan(r *http.Request, p *store.Plan) error
	Locations(ctx context.Context) ([]store.Location, error)
	CreateLocation(r *http.Request, l *store.Location) error
	// Customers is a keyset page of customers after the cursor.
	Customers(ctx context.Context, f store.CustomerFilter, after store.CustomerCursor, limit int) ([]store.Customer, error)
	Customer(ctx context.Context, id int64) (*store.Customer, error)
	// SaveCustomer creates c (ID 0) or updates it; a nil password keeps
	// the stored one.
	SaveCustomer(r *http.Request, c *store.Customer, password *string) error
	// Invoices is a keyset page of invoices, newest first, below before.
	Invoices(ctx context.Context, f store.InvoiceFilter, before int64, limit int) ([]store.Invoice, error)
	Invoice(ctx context.Context, id int64) (*store.Invoice, []store.Payment, error)
	// CreateInvoice bills a customer for a plan: renewing their
	// subscription on it, or a parallel one when newSubscription is set.
	CreateInvoice(r *http.Request, customerID, planID int64, dueInHours int, newSubscription bool) (*store.Invoice, error)
	PayInvoice(r *http.Request, id int64, gateway string) (*billing.PaymentStart, error)
}

// Problem is what is wrong with a refused field.
type Problem int

// The problems of a field.
const (
	// Wrong: the value breaks the field's rule.
	Wrong Problem = iota
	// Taken: another record has the value.
	Taken
	// Missing: the record the value names does not exist.
	Missing
)

// Invalid is the refusal of a form's fields, by the API's field name.
type Invalid struct{ Fields map[string]Problem }

func (e *Invalid) Error() string {
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	return "fields refused: " + strings.Join(names, ", ")
}

// listLimit is how many rows a list page shows.
const listLimit = 50

// fieldErrors maps each refused field to the catalog key of what to tell
// the person: "<group>.err.<field>" for a broken rule (form.wrong when
// the group has no message for it), form.taken, form.missing.
type fieldErrors map[string]string

// refused returns the field errors of err when it is a refusal of
// fields, and whether it is.
func refused(err error, group string) (fieldErrors, bool) {
	var inv *Invalid
	if !errors.As(err, &inv) {
		return nil, false
	}
	out := fieldErrors{}
	for f, p := range inv.Fields {
		switch p {
		case Taken:
			out[f] = "form.taken"
		case Missing:
			out[f] = "form.missing"
		default:
			key := group + ".err." + f
			if _, ok := catalogs["en"][key]; !ok {
				key = "form.wrong"
			}
			out[f] = key
		}
	}
	return out, true
}

// form reads a posted form's fields, noting those that are not numbers.
type form struct {
	r    *http.Request
	errs fieldErrors
	// group names the catalog's messages for the form's fields.
	group string
}

func newForm(r *http.Request, group string) *form {
	return &form{r: r, errs: fieldErrors{}, group: group}
}

func (f *form) str(name string) string { return strings.TrimSpace(f.r.PostFormValue(name)) }

// int64 reads a whole number (empty: def).
func (f *form) int64(name string, def int64) int64 {
	s := f.str(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f.wrong(name)
	}
	return n
}

// refusedBy adds the field refusals of err (see refused) to the form's
// own errors and reports whether the form has any: then the page shows
// the form again.
func (f *form) refusedBy(err error) bool {
	errs, _ := refused(err, f.group)
	for k, v := range errs {
		f.errs[k] = v
	}
	return len(f.errs) > 0
}

func (f *form) wrong(name string) {
	key := f.group + ".err." + name
	if _, ok := catalogs["en"][key]; !ok {
		key = "form.wrong"
	}
	f.errs[name] = key
}

// idVar reads a numeric path variable; a malformed one is not found.
func idVar(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(mux.Vars(r)[name], 10, 64)
	return id, err == nil && id > 0
}

// fieldView is a form's text field for the "field" template
// (templates/form.html): its name, translated label, value, input type,
// and the catalog key of what is wrong with it ("" when nothing is).
type fieldView struct {
	Name, Label string
	Value       any
	Type, Err   string
}

func newField(name, label string, value any, typ, errKey string) fieldView {
	return fieldView{Name: name, Label: label, Value: value, Type: typ, Err: errKey}
}

// duration words a plan's validity in days or hours ("1 day", not "1
// days").
func duration(lang string, d time.Duration) (string, error) {
	n, unit := int64(d/time.Hour), "hour"
	if n%24 == 0 && n > 0 {
		n, unit = n/24, "day"
	}
	if n == 1 {
		return translate(lang, "duration."+unit)
	}
	return translate(lang, "duration."+unit+"s", n)
}
