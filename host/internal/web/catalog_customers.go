package web

// Customers and subscriptions.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

// --- customers ---

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

// catalogCipher returns the key for secrets at rest, or an error saying how to
// configure one.
func (s *Server) catalogCipher() (*store.Cipher, error) {
	if s.deps.Cipher == nil {
		return nil, &apiError{http.StatusServiceUnavailable, "no_encryption_key",
			"no encryption key is configured, so secrets cannot be stored or read; set security.encryption_key (MIKROBILL_ENCRYPTION_KEY) and restart", nil}
	}
	return s.deps.Cipher, nil
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
	if err := s.validateCustomer(r.Context(), &in, true); err != nil {
		return err
	}
	cip, err := s.catalogCipher()
	if err != nil {
		return err
	}
	var c store.Customer
	in.apply(&c)
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.CreateCustomer(r.Context(), &c, cip); err != nil {
			return nil, err
		}
		return customerEvent("customer.created", &c, true), nil
	})
	if err != nil {
		return err
	}
	c.RouterPassword = ""
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
	q := s.catalogQ()
	c, err := q.GetCustomer(r.Context(), id, cip) // decrypted, to be kept unless replaced
	if err != nil {
		return err
	}
	in := customerInput{Name: c.Name, Phone: c.Phone, Email: c.Email, RouterUsername: c.RouterUsername, LocationID: c.LocationID, Notes: c.Notes}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.validateCustomer(r.Context(), &in, false); err != nil {
		return err
	}
	in.apply(c)
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.UpdateCustomer(r.Context(), c, cip); err != nil {
			return nil, err
		}
		return customerEvent("customer.updated", c, in.RouterPassword != nil), nil
	})
	if err != nil {
		return err
	}
	c.RouterPassword = ""
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

// --- subscriptions ---

// subscriptionInput is a subscription as the API takes it. Times are RFC
// 3339; null clears one.
type subscriptionInput struct {
	CustomerID int64      `json:"customer_id"`
	PlanID     int64      `json:"plan_id"`
	Status     string     `json:"status"`
	StartsAt   *time.Time `json:"starts_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

func (s *Server) validateSubscription(ctx context.Context, in *subscriptionInput) error {
	var v validation
	v.check(store.ValidSubscriptionStatus(in.Status), "status", "one of "+strings.Join(store.SubscriptionStatuses, ", "))
	if in.StartsAt != nil && in.ExpiresAt != nil {
		v.check(in.ExpiresAt.After(*in.StartsAt), "expires_at", "must be after starts_at")
	}
	q := s.catalogQ()
	var cerr, perr error
	if in.CustomerID > 0 {
		_, cerr = q.GetCustomer(ctx, in.CustomerID, nil)
	}
	if err := checkRef(&v, "customer_id", "customer", in.CustomerID, cerr); err != nil {
		return err
	}
	if in.PlanID > 0 {
		_, perr = q.GetPlan(ctx, in.PlanID)
	}
	if err := checkRef(&v, "plan_id", "plan", in.PlanID, perr); err != nil {
		return err
	}
	return v.err()
}

func (in *subscriptionInput) apply(sub *store.Subscription) {
	sub.CustomerID, sub.PlanID, sub.Status = in.CustomerID, in.PlanID, in.Status
	sub.StartsAt, sub.ExpiresAt = time.Time{}, time.Time{}
	if in.StartsAt != nil {
		sub.StartsAt = *in.StartsAt
	}
	if in.ExpiresAt != nil {
		sub.ExpiresAt = *in.ExpiresAt
	}
}

func subscriptionEvent(action string, sub *store.Subscription) *auditEvent {
	return event(action, "subscription", sub.ID, map[string]string{
		"customer_id": strconv.FormatInt(sub.CustomerID, 10), "plan_id": strconv.FormatInt(sub.PlanID, 10), "status": sub.Status})
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	var v validation
	f := store.SubscriptionFilter{CustomerID: queryID(r, &v, "customer_id"), Status: r.URL.Query().Get("status")}
	v.check(f.Status == "" || store.ValidSubscriptionStatus(f.Status), "status", "one of "+strings.Join(store.SubscriptionStatuses, ", "))
	if err := v.err(); err != nil {
		return err
	}
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	items, total, err := s.catalogQ().ListSubscriptions(r.Context(), f, page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	sub, err := s.catalogQ().GetSubscription(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sub)
	return nil
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request) error {
	in := subscriptionInput{Status: store.SubscriptionPending}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.validateSubscription(r.Context(), &in); err != nil {
		return err
	}
	var sub store.Subscription
	in.apply(&sub)
	err := s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.CreateSubscription(r.Context(), &sub); err != nil {
			return nil, err
		}
		return subscriptionEvent("subscription.created", &sub), nil
	})
	if err != nil {
		return err
	}
	writeCreated(w, r, sub.ID, &sub)
	return nil
}

func (s *Server) updateSubscription(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	q := s.catalogQ()
	sub, err := q.GetSubscription(r.Context(), id)
	if err != nil {
		return err
	}
	in := subscriptionInput{CustomerID: sub.CustomerID, PlanID: sub.PlanID, Status: sub.Status,
		StartsAt: optionalTime(sub.StartsAt), ExpiresAt: optionalTime(sub.ExpiresAt)}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.validateSubscription(r.Context(), &in); err != nil {
		return err
	}
	in.apply(sub)
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.UpdateSubscription(r.Context(), sub); err != nil {
			return nil, err
		}
		return subscriptionEvent("subscription.updated", sub), nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sub)
	return nil
}

func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		return event("subscription.deleted", "subscription", id, nil), q.DeleteSubscription(r.Context(), id)
	})
	if err != nil {
		if errors.Is(err, store.ErrReferenced) {
			return &apiError{http.StatusConflict, "in_use", "invoices or vouchers refer to this subscription; cancel it instead (PUT with \"status\": \"cancelled\")", nil}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
