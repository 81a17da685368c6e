package web

// Subscriptions.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

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
