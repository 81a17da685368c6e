package web

// Customers.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

// customerInput is a customer as the API takes it. RouterPassword is write
// only: required at creation; on update, leaving it out (or null) keeps
// the stored one.
type customerInput struct {
	Name           string  `json:"name"`
	Phone          string  `json:"phone"`
	Email          string  `json:"email"`
	RouterUsername string  `json:"router_username"`
	RouterPassword *string `json:"router_password"`
	LocationID     int64   `json:"location_id"`
	Notes          string  `json:"notes"`
}

// routerLoginOK reports whether s can be a router user name or password:
// 1 to 64 printable characters without spaces.
func routerLoginOK(s string) bool {
	if s == "" || !textOK(s, 64, false) {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsSpace)
}

func (s *Server) validateCustomer(ctx context.Context, in *customerInput, creating bool) error {
	var v validation
	checkName(&v, "name", in.Name, 200)
	if in.Phone != "" {
		if err := notify.ValidateE164(in.Phone); err != nil {
			v.check(false, "phone", err.Error())
		}
	}
	v.check(in.Email == "" || (len(in.Email) <= 254 && emailOK(in.Email)), "email", "an email address such as budi@example.com, or empty")
	v.check(routerLoginOK(in.RouterUsername), "router_username", "required: 1 to 64 characters without spaces")
	switch {
	case in.RouterPassword == nil:
		v.check(!creating, "router_password", "required: 1 to 64 characters without spaces")
	default:
		v.check(routerLoginOK(*in.RouterPassword), "router_password", "1 to 64 characters without spaces; leave the field out to keep the current password")
	}
	v.check(textOK(in.Notes, 2000, true), "notes", "at most 2000 characters")
	var lerr error
	if in.LocationID > 0 {
		_, lerr = s.catalogQ().GetLocation(ctx, in.LocationID)
	}
	if err := checkRef(&v, "location_id", "location", in.LocationID, lerr); err != nil {
		return err
	}
	return v.err()
}

func (in *customerInput) apply(c *store.Customer) {
	c.Name, c.Phone, c.Email = strings.TrimSpace(in.Name), in.Phone, in.Email
	c.RouterUsername, c.LocationID, c.Notes = in.RouterUsername, in.LocationID, in.Notes
	if in.RouterPassword != nil {
		c.RouterPassword = *in.RouterPassword
	}
}

// customerEvent records a customer change: who, where, and whether the
// router password was set (never the password).
func customerEvent(action string, c *store.Customer, passwordSet bool) *auditEvent {
	meta := map[string]string{"name": c.Name, "router_username": c.RouterUsername, "location_id": strconv.FormatInt(c.LocationID, 10)}
	if passwordSet {
		meta["router_password"] = "set"
	}
	return event(action, "customer", c.ID, meta)
}

// saveCustomer validates in, applies it to c and writes c with its audit
// event: a new customer when c.ID is 0, else an update of c as read
// (decrypted) with cip. The router password is cleared from c after.
// The API and the admin UI save customers through it.
func (s *Server) saveCustomer(r *http.Request, c *store.Customer, in *customerInput, cip *store.Cipher) error {
	creating := c.ID == 0
	if err := s.validateCustomer(r.Context(), in, creating); err != nil {
		return err
	}
	if cip == nil {
		var err error
		if cip, err = s.catalogCipher(); err != nil {
			return err
		}
	}
	in.apply(c)
	err := s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if creating {
			if err := q.CreateCustomer(r.Context(), c, cip); err != nil {
				return nil, err
			}
			return customerEvent("customer.created", c, true), nil
		}
		if err := q.UpdateCustomer(r.Context(), c, cip); err != nil {
			return nil, err
		}
		return customerEvent("customer.updated", c, in.RouterPassword != nil), nil
	})
	c.RouterPassword = ""
	return err
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) error {
	var v validation
	f := store.CustomerFilter{LocationID: queryID(r, &v, "location_id"), Query: r.URL.Query().Get("q")}
	v.check(textOK(f.Query, 100, false), "q", "at most 100 characters")
	if err := v.err(); err != nil {
		return err
	}
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	items, total, err := s.catalogQ().ListCustomers(r.Context(), f, page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	c, err := s.catalogQ().GetCustomer(r.Context(), id, nil) // the API never shows the password
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request) error {
	var in customerInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var c store.Customer
	if err := s.saveCustomer(r, &c, &in, nil); err != nil {
		return err
	}
	writeCreated(w, r, c.ID, &c)
	return nil
}

func (s *Server) updateCustomer(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	cip, err := s.catalogCipher()
	if err != nil {
		return err
	}
	c, err := s.catalogQ().GetCustomer(r.Context(), id, cip) // decrypted, to be kept unless replaced
	if err != nil {
		return err
	}
	in := customerInput{Name: c.Name, Phone: c.Phone, Email: c.Email, RouterUsername: c.RouterUsername, LocationID: c.LocationID, Notes: c.Notes}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.saveCustomer(r, c, &in, cip); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) deleteCustomer(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		return event("customer.deleted", "customer", id, nil), q.DeleteCustomer(r.Context(), id)
	})
	if err != nil {
		if errors.Is(err, store.ErrReferenced) {
			return &apiError{http.StatusConflict, "in_use", "this customer has subscriptions, invoices or redeemed vouchers; cancel their subscriptions instead", nil}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
