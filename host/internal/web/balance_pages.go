package web

// The admin UI's balance pages (package ui, balance.go) reach the host
// through ui.Balances, which balancePages implements with the API
// handlers' own functions (balance.go).

import (
	"errors"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// balancePages is ui.Balances over the server.
type balancePages struct{ s *Server }

var _ ui.Balances = balancePages{}

func (b balancePages) Ledger(r *http.Request, customerID, before int64, limit int) (*ui.Ledger, error) {
	q := b.s.deps.DB.Q()
	bal, err := q.Balances(r.Context(), customerID)
	if err != nil {
		return nil, err
	}
	entries, err := q.ListBalanceEntries(r.Context(), customerID, before, limit)
	if err != nil {
		return nil, err
	}
	return &ui.Ledger{Balances: bal, Entries: entries}, nil
}

func (b balancePages) AddEntry(r *http.Request, customerID int64, e ui.BalanceEntry) error {
	_, err := b.s.changeBalance(r, customerID, balanceBody{Amount: e.Amount, Currency: e.Currency, Kind: e.Kind, Reason: e.Reason, Reference: e.Reference})
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusForbidden {
		return ui.ErrForbidden
	}
	return pageRefusal(err)
}

func (b balancePages) PayFromBalance(r *http.Request, invoiceID int64) (*store.Invoice, error) {
	return b.s.deps.Billing.PayFromBalance(r.Context(), invoiceID, actor(r))
}

func (b balancePages) TopUp(r *http.Request, customerID int64, t ui.TopUp) (*store.Invoice, error) {
	inv, err := b.s.topUp(r, customerID, topUpBody{Amount: t.Amount, Currency: t.Currency})
	return inv, pageRefusal(err)
}
