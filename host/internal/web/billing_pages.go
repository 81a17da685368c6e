package web

// The admin UI's billing pages (package ui: plans, locations, customers,
// invoices) reach the host through ui.Billing, which billingPages
// implements with the API handlers' own functions: the same validation,
// the same store calls, the same audit events, the same billing service.

import (
	"context"
	"errors"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// billingPages is ui.Billing over the server.
type billingPages struct{ s *Server }

var _ ui.Billing = billingPages{}

// pageRefusal turns the API's refusal of fields (422, or 409 and 404 with
// the field named) into ui.Invalid, which the page shows next to each
// field; other errors are returned as they are.
func pageRefusal(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	fields, ok := ae.details.(FieldErrors)
	if !ok || len(fields) == 0 {
		return err
	}
	kind := ui.Wrong
	switch ae.status {
	case http.StatusConflict:
		kind = ui.Taken
	case http.StatusNotFound:
		kind = ui.Missing
	case http.StatusUnprocessableEntity:
	default:
		return err
	}
	inv := &ui.Invalid{Fields: map[string]ui.Problem{}}
	for f := range fields {
		inv.Fields[f] = kind
	}
	return inv
}

func (b billingPages) Plans(ctx context.Context) ([]store.Plan, error) {
	plans, _, err := b.s.catalogQ().ListPlans(ctx, store.Page{Limit: store.MaxLimit})
	return plans, err
}

func (b billingPages) Plan(ctx context.Context, id int64) (*store.Plan, error) {
	return b.s.catalogQ().GetPlan(ctx, id)
}

func (b billingPages) SavePlan(r *http.Request, p *store.Plan) error {
	in := planInputOf(p)
	return pageRefusal(b.s.savePlan(r, p, &in))
}

func (b billingPages) Locations(ctx context.Context) ([]store.Location, error) {
	locs, _, err := b.s.catalogQ().ListLocations(ctx, store.Page{Limit: store.MaxLimit})
	return locs, err
}

func (b billingPages) CreateLocation(r *http.Request, l *store.Location) error {
	in := locationInput{Name: l.Name, Description: l.Description, Plugin: l.Plugin}
	if in.Plugin == "" {
		in.Plugin = store.DefaultRouterPlugin
	}
	_, err := b.s.addLocation(r, l, &in)
	return pageRefusal(err)
}

func (b billingPages) Customers(ctx context.Context, f store.CustomerFilter, after store.CustomerCursor, limit int) ([]store.Customer, error) {
	var v validation
	v.check(textOK(f.Query, 100, false), "q", "at most 100 characters")
	if err := v.err(); err != nil {
		return nil, pageRefusal(err)
	}
	return b.s.catalogQ().ListCustomersAfter(ctx, f, after, limit)
}

func (b billingPages) Customer(ctx context.Context, id int64) (*store.Customer, error) {
	return b.s.catalogQ().GetCustomer(ctx, id, nil) // pages never show the password
}

func (b billingPages) SaveCustomer(r *http.Request, c *store.Customer, password *string) error {
	var cip *store.Cipher
	if c.ID != 0 {
		var err error
		if cip, err = b.s.catalogCipher(); err != nil {
			return err
		}
		stored, err := b.s.catalogQ().GetCustomer(r.Context(), c.ID, cip) // the password to keep
		if err != nil {
			return err
		}
		c.RouterPassword, c.CreatedAt = stored.RouterPassword, stored.CreatedAt
	}
	in := customerInput{Name: c.Name, Phone: c.Phone, Email: c.Email, RouterUsername: c.RouterUsername,
		RouterPassword: password, LocationID: c.LocationID, Notes: c.Notes}
	return pageRefusal(b.s.saveCustomer(r, c, &in, cip))
}

func (b billingPages) Invoices(ctx context.Context, f store.InvoiceFilter, before int64, limit int) ([]store.Invoice, error) {
	if f.Status != "" && !validInvoiceStatus(f.Status) {
		return nil, &ui.Invalid{Fields: map[string]ui.Problem{"status": ui.Wrong}}
	}
	return b.s.deps.DB.Q().ListInvoicesBefore(ctx, f, before, limit)
}

func (b billingPages) Invoice(ctx context.Context, id int64) (*store.Invoice, []store.Payment, error) {
	return invoiceWithPayments(ctx, b.s.deps.DB, id)
}

func (b billingPages) CreateInvoice(r *http.Request, customerID, planID int64, dueInHours int, newSubscription bool) (*store.Invoice, error) {
	inv, err := b.s.newInvoice(r, createInvoiceBody{CustomerID: customerID, PlanID: planID, DueInHours: dueInHours, NewSubscription: newSubscription})
	return inv, pageRefusal(err)
}

func (b billingPages) PayInvoice(r *http.Request, id int64, gateway string) (*billing.PaymentStart, error) {
	start, err := b.s.startPayment(r, id, payBody{Gateway: gateway})
	return start, pageRefusal(err)
}
