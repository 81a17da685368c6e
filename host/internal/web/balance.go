package web

// Customer balances: the ledger, operators' cash entries, top-ups and
// paying invoices from the balance (billing/balance.go has the rules).

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// balanceView is a customer's balances and a page of their ledger.
type balanceView struct {
	CustomerID int64                `json:"customer_id"`
	Balances   []store.Balance      `json:"balances"`
	Entries    []store.BalanceEntry `json:"entries"`
	// NextBefore is the "before" of the next page (0: no more).
	NextBefore int64 `json:"next_before,omitempty"`
}

// customerBalance reads a customer's balances and a keyset page of their
// ledger (the API's and the admin UI's).
func (s *Server) customerBalance(r *http.Request, id int64) (*balanceView, error) {
	var v validation
	before, limit := int64(0), 50
	if b := r.URL.Query().Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		v.check(err == nil && n > 0, "before", "an entry id: the next_before of the previous page")
		before = n
	}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		v.check(err == nil && n > 0 && n <= store.MaxLimit, "limit", "from 1 to "+strconv.Itoa(store.MaxLimit))
		limit = n
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	q := s.deps.DB.Q()
	if _, err := q.GetCustomer(r.Context(), id, nil); err != nil {
		return nil, err
	}
	bal, err := q.Balances(r.Context(), id)
	if err != nil {
		return nil, err
	}
	entries, err := q.ListBalanceEntries(r.Context(), id, before, limit)
	if err != nil {
		return nil, err
	}
	out := &balanceView{CustomerID: id, Balances: bal, Entries: entries}
	if len(entries) == limit {
		out.NextBefore = entries[len(entries)-1].ID
	}
	return out, nil
}

func (s *Server) getCustomerBalance(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	view, err := s.customerBalance(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

// balanceBody is an operator's ledger entry.
type balanceBody struct {
	// Amount is signed, in the currency's minor units.
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// Kind is "cash" (default for a positive amount), "refund" or
	// "adjustment" (default for a negative amount).
	Kind      string `json:"kind"`
	Reason    string `json:"reason"`
	Reference string `json:"reference"`
}

// changeBalance checks b and the caller's role and has billing add the
// entry (the API's and the admin UI's). Operators add cash; taking money
// off (a refund, an adjustment of either sign) needs an administrator.
func (s *Server) changeBalance(r *http.Request, customerID int64, b balanceBody) (*store.BalanceEntry, error) {
	if b.Kind == "" {
		b.Kind = store.BalanceCash
		if b.Amount < 0 {
			b.Kind = store.BalanceAdjustment
		}
	}
	c := billing.BalanceChange{CustomerID: customerID, Amount: b.Amount, Currency: b.Currency, Kind: b.Kind,
		Reason: b.Reason, Reference: b.Reference, Actor: actor(r)}
	if errs := c.Validate(); len(errs) > 0 {
		return nil, (&validation{errs: FieldErrors(errs)}).err()
	}
	if b.Kind != store.BalanceCash {
		if p := PrincipalFrom(r.Context()); p == nil || !RoleAtLeast(p.Role, RoleAdmin) {
			return nil, &apiError{http.StatusForbidden, "forbidden", "refunds and adjustments need the admin role; operators add cash entries (a positive amount)", nil}
		}
	}
	if _, err := s.deps.DB.Q().GetCustomer(r.Context(), customerID, nil); err != nil {
		return nil, err
	}
	e, err := s.deps.Billing.ChangeBalance(r.Context(), c)
	if errors.Is(err, billing.ErrInsufficientBalance) {
		return nil, (&validation{errs: FieldErrors{"amount": err.Error()}}).err()
	}
	return e, err
}

func (s *Server) postCustomerBalance(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	var b balanceBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	e, err := s.changeBalance(r, id, b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

// topUpBody is a top-up invoice to make.
type topUpBody struct {
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	DueInHours int    `json:"due_in_hours"`
}

func (s *Server) createTopUp(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	var b topUpBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	inv, err := s.topUp(r, id, b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inv)
	return nil
}

// topUp checks b and has billing make the customer's top-up invoice (the
// API's and the admin UI's).
func (s *Server) topUp(r *http.Request, customerID int64, b topUpBody) (*store.Invoice, error) {
	var v validation
	v.check(b.Amount > 0, "amount", "required: a positive amount in the currency's minor units")
	v.check(currencyRE.MatchString(b.Currency), "currency", `three upper case letters (ISO 4217), such as "IDR"`)
	v.check(b.DueInHours >= 0 && b.DueInHours <= 24*90, "due_in_hours", "between 0 and 2160")
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, err := s.deps.DB.Q().GetCustomer(r.Context(), customerID, nil); err != nil {
		return nil, err
	}
	return s.deps.Billing.CreateTopUp(r.Context(), customerID, b.Amount, b.Currency, time.Duration(b.DueInHours)*time.Hour, actor(r))
}

func (s *Server) payInvoiceFromBalance(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	inv, err := s.deps.Billing.PayFromBalance(r.Context(), id, actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}
