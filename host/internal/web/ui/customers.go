package ui

// Customers: the list, searched on the server and paged by keyset (name,
// then id), and the form that adds or edits one (the API's POST and PUT
// /customers rules, through Billing.SaveCustomer). The router password is
// write-only: the form says whether one is set.

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// customersData is the customer list's.
type customersData struct {
	Query     string
	Customers []store.Customer
	// Next is the link to the next page ("" on the last); First is set
	// when this is not the first page.
	Next, First string
	Errs        fieldErrors
}

// Customers serves GET /customers: ?q= searches name, phone and router
// username; ?after_name= and ?after_id= are the previous page's last
// customer. An htmx request (the search box) gets the list alone.
func (u *UI) Customers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := customersData{Query: q.Get("q")}
	after := store.CustomerCursor{Name: q.Get("after_name")}
	after.ID, _ = strconv.ParseInt(q.Get("after_id"), 10, 64)
	list, err := u.deps.Billing.Customers(r.Context(), store.CustomerFilter{Query: d.Query}, after, listLimit+1)
	if errs, ok := refused(err, "customers"); ok {
		d.Errs = errs
	} else if err != nil {
		return err
	}
	if len(list) > listLimit {
		list = list[:listLimit]
		last := list[listLimit-1]
		d.Next = "/customers?" + url.Values{"q": {d.Query}, "after_name": {last.Name}, "after_id": {strconv.FormatInt(last.ID, 10)}}.Encode()
	}
	if after.ID != 0 {
		d.First = "/customers?" + url.Values{"q": {d.Query}}.Encode()
	}
	d.Customers = list
	v := view{Title: "customers.title", Data: d}
	if q.Has("saved") {
		v.Notice, v.NoticeArg = "customers.saved", q.Get("saved")
	}
	if r.Header.Get("HX-Request") == "true" {
		return u.renderPart(w, r, http.StatusOK, "customers.html", "list", v)
	}
	return u.render(w, r, http.StatusOK, "customers.html", v)
}

// customerForm is the customer form's.
type customerForm struct {
	store.Customer
	Locations []store.Location
	Errs      fieldErrors
}

// NewCustomerForm serves GET /customers/new.
func (u *UI) NewCustomerForm(w http.ResponseWriter, r *http.Request) error {
	return u.customerPage(w, r, http.StatusOK, &customerForm{Errs: fieldErrors{}})
}

// EditCustomerForm serves GET /customers/{id}/edit.
func (u *UI) EditCustomerForm(w http.ResponseWriter, r *http.Request) error {
	c, err := u.customer(w, r)
	if c == nil {
		return err
	}
	return u.customerPage(w, r, http.StatusOK, &customerForm{Customer: *c, Errs: fieldErrors{}})
}

// customer reads the customer of the path's id; nil when the answer is
// given.
func (u *UI) customer(w http.ResponseWriter, r *http.Request) (*store.Customer, error) {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil
	}
	c, err := u.deps.Billing.Customer(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil
	}
	return c, err
}

func (u *UI) customerPage(w http.ResponseWriter, r *http.Request, status int, f *customerForm) error {
	locs, err := u.deps.Billing.Locations(r.Context())
	if err != nil {
		return err
	}
	f.Locations = locs
	v := view{Title: "customers.new", Data: f}
	if f.ID != 0 {
		v.Title = "customers.edit"
	}
	if len(f.Errs) > 0 {
		v.Problem = "form.refused"
	}
	return u.render(w, r, status, "customer_form.html", v)
}

// CreateCustomer serves POST /customers and UpdateCustomer POST
// /customers/{id}.
func (u *UI) CreateCustomer(w http.ResponseWriter, r *http.Request) error {
	return u.saveCustomer(w, r, &store.Customer{})
}

// UpdateCustomer: see CreateCustomer.
func (u *UI) UpdateCustomer(w http.ResponseWriter, r *http.Request) error {
	c, err := u.customer(w, r)
	if c == nil {
		return err
	}
	return u.saveCustomer(w, r, c)
}

func (u *UI) saveCustomer(w http.ResponseWriter, r *http.Request, c *store.Customer) error {
	f := newForm(r, "customers")
	c.Name, c.Phone, c.Email, c.Notes = f.str("name"), f.str("phone"), f.str("email"), r.PostFormValue("notes")
	c.RouterUsername, c.LocationID = f.str("router_username"), f.int64("location_id", 0)
	var password *string
	if p := r.PostFormValue("router_password"); p != "" || c.ID == 0 {
		password = &p
	}
	var err error
	if len(f.errs) == 0 {
		err = u.deps.Billing.SaveCustomer(r, c, password)
	}
	if errs, ok := refused(err, "customers"); ok || len(f.errs) > 0 {
		for k, v := range errs {
			f.errs[k] = v
		}
		return u.customerPage(w, r, http.StatusUnprocessableEntity, &customerForm{Customer: *c, Errs: f.errs})
	}
	if err != nil {
		return err
	}
	u.log.Info("customer saved", "customer", c.ID, "user", userFrom(r).Username)
	redirect(w, r, "/customers?"+url.Values{"q": {c.RouterUsername}, "saved": {c.Name}}.Encode())
	return nil
}
