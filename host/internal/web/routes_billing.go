package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// billingRoutes installs invoices, payments, voucher redemption, jobs, the
// host's audit log, and the payment webhooks (root, outside /api/v1).
func (s *Server) billingRoutes(root, api *mux.Router) {
	if s.deps.Billing == nil {
		return
	}
	root.Handle("/webhooks/{plugin}", s.handle(s.webhook)).Methods(http.MethodPost, http.MethodGet, http.MethodPut)
	root.Handle("/pay/{number}", s.handle(s.payPage)).Methods(http.MethodGet, http.MethodHead)

	s.route(api, http.MethodGet, "/invoices", RoleViewer, s.listInvoices)
	s.route(api, http.MethodPost, "/invoices", RoleOperator, s.createInvoice)
	s.route(api, http.MethodGet, "/invoices/{id}", RoleViewer, s.getInvoice)
	s.route(api, http.MethodPost, "/invoices/{id}/pay", RoleOperator, s.payInvoice)
	s.route(api, http.MethodPost, "/invoices/{id}/cancel", RoleOperator, s.cancelInvoice)
	s.route(api, http.MethodPost, "/vouchers/redeem", RoleOperator, s.redeemVoucher)
	s.route(api, http.MethodGet, "/jobs", RoleViewer, s.listJobs)
	s.route(api, http.MethodGet, "/jobs/{id}", RoleViewer, s.getJob)
	s.route(api, http.MethodPost, "/jobs/{id}/retry", RoleAdmin, s.retryJob)
	s.route(api, http.MethodGet, "/audit", RoleAdmin, s.listAudit)
	s.route(api, http.MethodGet, "/routers/drift", RoleOperator, s.routerDrift)
	s.route(api, http.MethodPost, "/routers/sync", RoleAdmin, s.repairRouters)
}

// actor names the caller in audit records.
func actor(r *http.Request) string {
	if p := PrincipalFrom(r.Context()); p != nil {
		return "user:" + p.Username
	}
	return "anonymous"
}

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
	// DueInHours, when set, is when the payment should expire.
	DueInHours int `json:"due_in_hours"`
}

func (s *Server) createInvoice(w http.ResponseWriter, r *http.Request) error {
	var b createInvoiceBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	var v validation
	v.check(b.CustomerID > 0, "customer_id", "required")
	v.check(b.PlanID > 0, "plan_id", "required")
	v.check(b.SubscriptionID >= 0, "subscription_id", "a subscription id, or leave it out to start a new one")
	v.check(b.DueInHours >= 0 && b.DueInHours <= 24*90, "due_in_hours", "between 0 and 2160")
	if err := v.err(); err != nil {
		return err
	}
	q := s.deps.DB.Q()
	if _, err := q.GetCustomer(r.Context(), b.CustomerID, s.deps.Cipher); err != nil {
		return fieldNotFound(err, "customer_id", "no such customer")
	}
	if _, err := q.GetPlan(r.Context(), b.PlanID); err != nil {
		return fieldNotFound(err, "plan_id", "no such plan")
	}
	if b.SubscriptionID != 0 {
		sub, err := q.GetSubscription(r.Context(), b.SubscriptionID)
		if err != nil {
			return fieldNotFound(err, "subscription_id", "no such subscription")
		}
		if sub.CustomerID != b.CustomerID {
			return (&validation{errs: FieldErrors{"subscription_id": "belongs to another customer"}}).err()
		}
	}
	inv, err := s.deps.Billing.CreateInvoice(r.Context(), b.CustomerID, b.PlanID, b.SubscriptionID, time.Duration(b.DueInHours)*time.Hour, actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inv)
	return nil
}

// fieldNotFound turns a missing referenced record into a 422 on its field.
func fieldNotFound(err error, field, msg string) error {
	if errors.Is(err, store.ErrNotFound) {
		return (&validation{errs: FieldErrors{field: msg}}).err()
	}
	return err
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	q := s.deps.DB.Q()
	inv, err := q.GetInvoice(r.Context(), id)
	if err != nil {
		return err
	}
	payments, err := q.ListPayments(r.Context(), id)
	if err != nil {
		return err
	}
	if payments == nil {
		payments = []store.Payment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"invoice": inv, "payments": payments})
	return nil
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
	var v validation
	v.check(b.Gateway != "", "gateway", "the payment plugin to pay with, for example payment-manual")
	if err := v.err(); err != nil {
		return err
	}
	start, err := s.deps.Billing.StartPayment(r.Context(), id, b.Gateway, b.Method, actor(r))
	if errors.Is(err, billing.ErrNoPlugin) {
		return (&validation{errs: FieldErrors{"gateway": err.Error()}}).err()
	}
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

type redeemBody struct {
	Code       string `json:"code"`
	CustomerID int64  `json:"customer_id"`
}

func (s *Server) redeemVoucher(w http.ResponseWriter, r *http.Request) error {
	var b redeemBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	var v validation
	v.check(b.Code != "", "code", "required")
	v.check(b.CustomerID > 0, "customer_id", "required")
	if err := v.err(); err != nil {
		return err
	}
	red, err := s.deps.Billing.Redeem(r.Context(), b.Code, b.CustomerID, actor(r))
	// Billing words its refusals (*store.FieldError): an unknown customer
	// or a voucher of another location is a 422 on its field, an unknown
	// code a 404, a used one voucher_used.
	var fe *store.FieldError
	switch {
	case errors.As(err, &fe) && fe.Field == "code" && errors.Is(fe.Kind, store.ErrConflict):
		return &apiError{http.StatusConflict, "voucher_used", fe.Message, FieldErrors{"code": fe.Message}}
	case err != nil:
		return refusal(err)
	}
	writeJSON(w, http.StatusOK, red)
	return nil
}

// jobBody is a job as the API shows it.
type jobBody struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Args        json.RawMessage `json:"args"`
	LastError   string          `json:"last_error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	ScheduledAt time.Time       `json:"scheduled_at"`
	FinalizedAt *time.Time      `json:"finalized_at,omitempty"`
}

func toJobBody(j *rivertype.JobRow) jobBody {
	b := jobBody{ID: j.ID, Kind: j.Kind, State: string(j.State), Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		Args: j.EncodedArgs, CreatedAt: j.CreatedAt, ScheduledAt: j.ScheduledAt, FinalizedAt: j.FinalizedAt}
	if n := len(j.Errors); n > 0 {
		b.LastError = j.Errors[n-1].Error
	}
	return b
}

var jobStates = map[string]rivertype.JobState{
	"available": rivertype.JobStateAvailable, "cancelled": rivertype.JobStateCancelled, "completed": rivertype.JobStateCompleted,
	"discarded": rivertype.JobStateDiscarded, "pending": rivertype.JobStatePending, "retryable": rivertype.JobStateRetryable,
	"running": rivertype.JobStateRunning, "scheduled": rivertype.JobStateScheduled,
}

// listJobs lists jobs, by default the ones that need an operator's eye:
// discarded (out of attempts), cancelled, and retryable (failing now).
// ?state= names others (repeatable), or "all".
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	params := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc)
	var v validation
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		v.check(err == nil && n >= 1 && n <= 1000, "limit", "a whole number from 1 to 1000")
		limit = n
	}
	states := r.URL.Query()["state"]
	if len(states) == 0 {
		states = []string{"discarded", "cancelled", "retryable"}
	}
	if slices.Contains(states, "all") {
		states = slices.Sorted(maps.Keys(jobStates))
	}
	var want []rivertype.JobState
	for _, st := range states {
		js, ok := jobStates[st]
		v.check(ok, "state", "one of all, available, cancelled, completed, discarded, pending, retryable, running, scheduled")
		want = append(want, js)
	}
	if err := v.err(); err != nil {
		return err
	}
	params = params.States(want...).First(limit)
	if kinds := r.URL.Query()["kind"]; len(kinds) > 0 {
		params = params.Kinds(kinds...)
	}
	res, err := s.deps.Billing.Queue().List(r.Context(), params)
	if err != nil {
		return err
	}
	items := make([]jobBody, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		items = append(items, toJobBody(j))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	j, err := s.deps.Billing.Queue().Get(r.Context(), id)
	if errors.Is(err, river.ErrNotFound) {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no job %d", id), nil}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJobBody(j))
	return nil
}

// retryJob makes a failed, cancelled or waiting job run again now.
func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	j, err := s.deps.Billing.Queue().Retry(r.Context(), id)
	if errors.Is(err, river.ErrNotFound) {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no job %d", id), nil}
	}
	if err != nil {
		return err
	}
	s.log.Info("job retried", "job", id, "kind", j.Kind, "by", actor(r))
	writeJSON(w, http.StatusOK, toJobBody(j))
	return nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	items, total, err := s.deps.DB.Q().ListAudit(r.Context(), page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

// webhook hands the gateway's raw request to its payment plugin and writes
// the plugin's answer back.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["plugin"]
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req := sdk.HTTPRequest{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body,
		RemoteAddr: r.RemoteAddr, Host: r.Host, ReceivedAt: time.Now(), RequestID: r.Header.Get("X-Request-ID"),
	}
	res, err := s.deps.Billing.HandleWebhook(r.Context(), name, req)
	switch {
	case errors.Is(err, billing.ErrNoPlugin):
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no payment plugin %q takes webhooks here", name), nil}
	case errors.Is(err, billing.ErrUnconfirmed):
		// The gateway will send it again; by then its status may agree.
		// (payment.ErrUnconfirmed from the plugin itself is the same error.)
		return &apiError{http.StatusConflict, "unconfirmed", err.Error(), nil}
	case errors.Is(err, payment.ErrReplay):
		// Never acknowledged: a notification id reused for another payment
		// pays nothing, and an old plugin's "seen before" may hide a credit
		// that failed here (billing has queued a check of the gateway).
		s.log.Warn("webhook refused as a replay", "plugin", name, "remote", r.RemoteAddr, "error", err)
		return &apiError{http.StatusConflict, "replay", err.Error() +
			"; nothing was credited for this notification (a notification id belongs to one payment: give another payment's notification an id of its own); the host is asking the gateway about its pending payments", nil}
	case err != nil:
		s.log.Warn("webhook refused", "plugin", name, "remote", r.RemoteAddr, "error", err)
		return err
	}
	// As for plugin routes: the host's security headers stay, cookies and
	// framing headers of the plugin go, and the status must be final.
	return writePluginResponse(w, name, res.Response)
}

// readBody reads a raw request body (for a plugin), limited by the body
// limit.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit), nil}
		}
		return nil, &apiError{http.StatusBadRequest, "bad_body", "could not read the body", nil}
	}
	return body, nil
}
