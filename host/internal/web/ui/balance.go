package ui

// Customer balances: a customer's balance page (balances, the ledger paged
// by keyset, the cash-entry form) and paying an invoice from the balance
// (the API's /customers/{id}/balance and /invoices/{id}/pay-from-balance
// rules, through Balances).

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

func init() {
	pageFiles = append(pageFiles, "customer_balance.html")
}

// Balances is what the balance pages ask of the host, with the API's
// rules. A refused field comes back as *Invalid.
type Balances interface {
	// Ledger reads a customer's balances and a page of their ledger below
	// the entry id before (0: the newest), limit entries.
	Ledger(r *http.Request, customerID, before int64, limit int) (*Ledger, error)
	// AddEntry adds an entry: operators add cash, admins also refunds and
	// adjustments.
	AddEntry(r *http.Request, customerID int64, e BalanceEntry) error
	// PayFromBalance pays an invoice from its customer's balance, once.
	PayFromBalance(r *http.Request, invoiceID int64) (*store.Invoice, error)
	// TopUp makes the customer's top-up invoice, paid through a gateway
	// from its page (the API's POST /customers/{id}/topups).
	TopUp(r *http.Request, customerID int64, t TopUp) (*store.Invoice, error)
}

// TopUp is the "top up through a gateway" form's.
type TopUp struct {
	Amount   int64
	Currency string
}

// Ledger is a customer's balances and a page of their ledger.
type Ledger struct {
	Balances []store.Balance
	Entries  []store.BalanceEntry
}

// BalanceEntry is the cash-entry form's.
type BalanceEntry struct {
	Amount                            int64
	Currency, Kind, Reason, Reference string
}

// balanceData is the balance page's.
type balanceData struct {
	Customer *store.Customer
	Ledger   *Ledger
	Form     BalanceEntry
	Kinds    []string
	Errs     fieldErrors
	// TopUp and TopUpErrs are the top-up form's.
	TopUp     TopUp
	TopUpErrs fieldErrors
	// Next is the link to the ledger's next page ("" on the last); First
	// is set when this is not the first page.
	Next, First string
}

// CustomerBalance serves GET /customers/{id}/balance: ?before= is the
// previous page's last entry id.
func (u *UI) CustomerBalance(w http.ResponseWriter, r *http.Request) error {
	v := view{}
	if r.URL.Query().Get("done") == "added" {
		v.Notice = "balance.added"
	}
	return u.balancePage(w, r, http.StatusOK, v, balanceData{Form: BalanceEntry{Currency: "IDR", Kind: store.BalanceCash}})
}

// balancePage shows the page with d's forms (Form, Errs, TopUp, TopUpErrs).
func (u *UI) balancePage(w http.ResponseWriter, r *http.Request, status int, v view, d balanceData) error {
	id, ok := idVar(r, "id")
	if !ok || u.deps.Balances == nil {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	c, err := u.deps.Billing.Customer(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	l, err := u.deps.Balances.Ledger(r, id, max(before, 0), listLimit+1)
	if err != nil {
		return err
	}
	d.Customer, d.Ledger, d.Kinds = c, l, []string{store.BalanceCash, store.BalanceRefund, store.BalanceAdjustment}
	if d.TopUp.Currency == "" && len(d.TopUpErrs) == 0 {
		d.TopUp.Currency = "IDR"
	}
	base := "/customers/" + strconv.FormatInt(id, 10) + "/balance"
	if len(l.Entries) > listLimit {
		l.Entries = l.Entries[:listLimit]
		d.Next = base + "?" + url.Values{"before": {strconv.FormatInt(l.Entries[listLimit-1].ID, 10)}}.Encode()
	}
	if before > 0 {
		d.First = base
	}
	v.Title, v.Data, v.NoticeArg = "balance.title", d, c.Name
	if len(d.Errs)+len(d.TopUpErrs) > 0 && v.Problem == "" {
		v.Problem = "form.refused"
	}
	return u.render(w, r, status, "customer_balance.html", v)
}

// AddBalance serves POST /customers/{id}/balance: the cash-entry form.
func (u *UI) AddBalance(w http.ResponseWriter, r *http.Request) error {
	id, ok := idVar(r, "id")
	if !ok || u.deps.Balances == nil {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	f := newForm(r, "balance")
	e := BalanceEntry{Amount: f.int64("amount", 0), Currency: f.str("currency"), Kind: f.str("kind"), Reason: f.str("reason"), Reference: f.str("reference")}
	if e.Kind == "" {
		e.Kind = store.BalanceCash
	}
	var err error
	if len(f.errs) == 0 {
		err = u.deps.Balances.AddEntry(r, id, e)
	}
	if f.refusedBy(err) {
		return u.balancePage(w, r, http.StatusUnprocessableEntity, view{}, balanceData{Form: e, Errs: f.errs})
	}
	if errors.Is(err, ErrForbidden) {
		return u.balancePage(w, r, http.StatusForbidden, view{Problem: "balance.admin_only"}, balanceData{Form: e})
	}
	if err != nil {
		return err
	}
	u.log.Info("balance entry added", "customer", id, "kind", e.Kind, "user", userFrom(r).Username)
	redirect(w, r, "/customers/"+strconv.FormatInt(id, 10)+"/balance?done=added")
	return nil
}

// TopUpBalance serves POST /customers/{id}/topups: the "top up through a
// gateway" form makes a top-up invoice and goes to its page, whose pay
// form chooses the gateway and shows the pay link and QR.
func (u *UI) TopUpBalance(w http.ResponseWriter, r *http.Request) error {
	id, ok := idVar(r, "id")
	if !ok || u.deps.Balances == nil {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	f := newForm(r, "balance.topup")
	t := TopUp{Amount: f.int64("amount", 0), Currency: f.str("currency")}
	var inv *store.Invoice
	var err error
	if len(f.errs) == 0 {
		inv, err = u.deps.Balances.TopUp(r, id, t)
	}
	if f.refusedBy(err) {
		return u.balancePage(w, r, http.StatusUnprocessableEntity, view{}, balanceData{Form: BalanceEntry{Currency: "IDR", Kind: store.BalanceCash}, TopUp: t, TopUpErrs: f.errs})
	}
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	if err != nil {
		return err
	}
	u.log.Info("top-up invoice made", "customer", id, "invoice", inv.ID, "user", userFrom(r).Username)
	redirect(w, r, "/invoices/"+strconv.FormatInt(inv.ID, 10))
	return nil
}

// ErrForbidden is what Balances.AddEntry returns when the caller's role
// may not make the entry (a refund or an adjustment by an operator).
var ErrForbidden = errors.New("this entry needs the admin role")

// PayInvoiceFromBalance serves POST /invoices/{id}/pay-from-balance.
func (u *UI) PayInvoiceFromBalance(w http.ResponseWriter, r *http.Request) error {
	id, ok := idVar(r, "id")
	if !ok || u.deps.Balances == nil {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	_, err := u.deps.Balances.PayFromBalance(r, id)
	switch {
	case errors.Is(err, billing.ErrAlreadyPaid):
		return u.invoicePage(w, r, http.StatusConflict, view{Problem: "invoices.already_paid"}, nil)
	case errors.Is(err, billing.ErrNotPayable):
		return u.invoicePage(w, r, http.StatusConflict, view{Problem: "invoices.not_payable"}, nil)
	case errors.Is(err, billing.ErrInsufficientBalance):
		return u.invoicePage(w, r, http.StatusUnprocessableEntity, view{Problem: "balance.not_enough"}, nil)
	case err != nil:
		return err
	}
	u.log.Info("invoice paid from the balance", "invoice", id, "user", userFrom(r).Username)
	redirect(w, r, "/invoices/"+strconv.FormatInt(id, 10)+"?done=paid_from_balance")
	return nil
}

// invoiceBalance is the customer's balance in the invoice's currency, for
// the invoice page's "pay from balance" button (0 without Balances).
func (u *UI) invoiceBalance(r *http.Request, inv *store.Invoice) (int64, error) {
	if u.deps.Balances == nil || inv.Kind == store.InvoiceTopUp {
		return 0, nil
	}
	l, err := u.deps.Balances.Ledger(r, inv.CustomerID, 0, 1)
	if err != nil {
		return 0, err
	}
	for _, b := range l.Balances {
		if b.Currency == inv.Currency {
			return b.Amount, nil
		}
	}
	return 0, nil
}
