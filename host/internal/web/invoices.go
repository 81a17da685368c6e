package web

// Invoices and starting their payments.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	f := store.InvoiceFilter{Status: r.URL.Query().Get("status")}
	var v validation
	if c := r.URL.Query().Get("customer_id"); c != "" {
		id, err := strconv.ParseInt(c, 10, 64)
		v.check(err == nil && id > 0, "customer_id", "a customer id")
		f.CustomerID = id
	}
	v.check(f.Status == "" || validInvoiceStatus(f.Status), "status", "one of unpaid, paid, failed, expired, cancelled")
	if err := v.err(); err != nil {
		return err
	}
	items, total, err := s.deps.DB.Q().ListInvoices(r.Context(), f, page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

func validInvoiceStatus(st string) bool {
	switch st {
	case store.InvoiceUnpaid, store.InvoicePaid, store.InvoiceFailed, store.InvoiceExpired, store.InvoiceCancelled:
		return true
	}
	return false
}

type createInvoiceBody struct {
	CustomerID     int64 `json:"customer_id"`
	PlanID         int64 `json:"plan_id"`
	SubscriptionID int64 `json:"subscription_id"`
	// NewSubscription asks for a parallel subscription instead of renewing
	// the customer's current one on the plan.
	NewSubscription bool `json:"new_subscription"`
	// DueInHours, when set, is when the payment should expire.
	DueInHours int `json:"due_in_hours"`
}

func (s *Server) createInvoice(w http.ResponseWriter, r *http.Request) error {
	var b createInvoiceBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	inv, err := s.newInvoice(r, b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inv)
	return nil
}

// newInvoice checks b and has billing create the invoice (the API's and the
// admin UI's).
func (s *Server) newInvoice(r *http.Request, b createInvoiceBody) (*store.Invoice, error) {
	var v validation
	v.check(b.CustomerID > 0, "customer_id", "required")
	v.check(b.PlanID > 0, "plan_id", "required")
	v.check(b.SubscriptionID >= 0, "subscription_id", "a subscription id, or leave it out to renew the customer's subscription on the plan (or start one)")
	v.check(b.SubscriptionID == 0 || !b.NewSubscription, "new_subscription", "a new subscription renews none: leave out subscription_id, or new_subscription")
	v.check(b.DueInHours >= 0 && b.DueInHours <= 24*90, "due_in_hours", "between 0 and 2160")
	if err := v.err(); err != nil {
		return nil, err
	}
	q := s.deps.DB.Q()
	if _, err := q.GetCustomer(r.Context(), b.CustomerID, s.deps.Cipher); err != nil {
		return nil, fieldNotFound(err, "customer_id", "no such customer")
	}
	if _, err := q.GetPlan(r.Context(), b.PlanID); err != nil {
		return nil, fieldNotFound(err, "plan_id", "no such plan")
	}
	if b.SubscriptionID != 0 {
		sub, err := q.GetSubscription(r.Context(), b.SubscriptionID)
		if err != nil {
			return nil, fieldNotFound(err, "subscription_id", "no such subscription")
		}
		if sub.CustomerID != b.CustomerID {
			return nil, (&validation{errs: FieldErrors{"subscription_id": "belongs to another customer"}}).err()
		}
	}
	return s.deps.Billing.NewInvoice(r.Context(), billing.InvoiceRequest{CustomerID: b.CustomerID, PlanID: b.PlanID, SubscriptionID: b.SubscriptionID,
		NewSubscription: b.NewSubscription, DueIn: time.Duration(b.DueInHours) * time.Hour, Actor: actor(r)})
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	inv, payments, err := invoiceWithPayments(r.Context(), s.deps.DB, id)
	if err != nil {
		return err
	}
	if payments == nil {
		payments = []store.Payment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"invoice": inv, "payments": payments})
	return nil
}

// invoiceWithPayments reads an invoice and its payments in one snapshot
// (store.ReadTx): never an invoice still unpaid beside the payment that
// paid it, nor the other way round.
func invoiceWithPayments(ctx context.Context, st *store.Store, id int64) (inv *store.Invoice, payments []store.Payment, err error) {
	err = st.ReadTx(ctx, func(q *store.Queries) error {
		if inv, err = q.GetInvoice(ctx, id); err != nil {
			return err
		}
		payments, err = q.ListPayments(ctx, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return inv, payments, nil
}

type payBody struct {
	Gateway string `json:"gateway"`
	Method  string `json:"method"`
}

func (s *Server) payInvoice(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	var b payBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	start, err := s.startPayment(r, id, b)
	if err != nil {
		return err
	}
	p := start.Payment
	writeJSON(w, http.StatusOK, payStarted{Invoice: start.Invoice, Payment: gatewayPayment{
		ID: p.ID, OrderID: p.OrderID, Status: string(p.Status), Amount: p.Amount.Amount, Currency: p.Amount.Currency,
		Method: p.Method, CheckoutURL: p.CheckoutURL, Token: p.Token, PayCode: p.PayCode, QRString: p.QRString,
		Instructions: p.Instructions, ExpiresAt: p.ExpiresAt, GatewayStatus: p.GatewayStatus,
	}})
	return nil
}

// startPayment checks b and has billing start paying invoice id at the
// gateway (the API's and the admin UI's).
func (s *Server) startPayment(r *http.Request, id int64, b payBody) (*billing.PaymentStart, error) {
	var v validation
	v.check(b.Gateway != "", "gateway", "the payment plugin to pay with, for example payment-manual")
	if err := v.err(); err != nil {
		return nil, err
	}
	start, err := s.deps.Billing.StartPayment(r.Context(), id, b.Gateway, b.Method, actor(r))
	if errors.Is(err, billing.ErrNoPlugin) {
		return nil, (&validation{errs: FieldErrors{"gateway": err.Error()}}).err()
	}
	return start, err
}

// payStarted answers POST /invoices/{id}/pay.
type payStarted struct {
	Invoice *store.Invoice `json:"invoice"`
	Payment gatewayPayment `json:"payment"`
}

// gatewayPayment is the gateway's payment as the API shows it: what the
// customer needs to pay (a link, a code, a QRIS string or instructions).
type gatewayPayment struct {
	ID            string    `json:"id"`
	OrderID       string    `json:"order_id"`
	Status        string    `json:"status"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	Method        string    `json:"method,omitempty"`
	CheckoutURL   string    `json:"checkout_url,omitempty"`
	Token         string    `json:"token,omitempty"`
	PayCode       string    `json:"pay_code,omitempty"`
	QRString      string    `json:"qr_string,omitempty"`
	Instructions  string    `json:"instructions,omitempty"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	GatewayStatus string    `json:"gateway_status,omitempty"`
}

func (s *Server) cancelInvoice(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Billing.CancelInvoice(r.Context(), id, actor(r)); err != nil {
		return err
	}
	inv, err := s.deps.DB.Q().GetInvoice(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}
