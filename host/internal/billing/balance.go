package billing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
)

// Balances. A customer holds a balance per currency: the sum of their
// ledger (store.BalanceEntry), kept beside it in customer_balances in the
// same transaction, never below zero. It grows by a top-up invoice paid
// through a gateway (CreateTopUp, then StartPayment; crediting it adds a
// "topup" entry instead of a subscription) or by an operator's cash entry
// (ChangeBalance); it pays invoices (PayFromBalance, and NewInvoice by
// itself when the balance covers a new invoice). Every entry names who and
// why, and is audited in its transaction.

// ErrInsufficientBalance: the customer's balance does not cover the
// invoice or the debit.
var ErrInsufficientBalance = fmt.Errorf("%w: %w", sdk.ErrFailedPrecondition, store.ErrInsufficientBalance)

// BalanceChange is an operator's entry in a customer's ledger.
type BalanceChange struct {
	CustomerID int64
	// Amount is signed, in the currency's minor units.
	Amount   int64
	Currency string
	// Kind is store.BalanceCash (money received, positive),
	// store.BalanceRefund (money given back, negative) or
	// store.BalanceAdjustment (a correction, either sign).
	Kind string
	// Reason says why; required.
	Reason string
	// Reference is optional: a receipt number.
	Reference string
	Actor     string
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// Validate reports what is wrong with the change, by field.
func (c BalanceChange) Validate() map[string]string {
	errs := map[string]string{}
	switch c.Kind {
	case store.BalanceCash:
		if c.Amount <= 0 {
			errs["amount"] = "a cash entry adds money: a positive amount in minor units; take money off with an adjustment (administrators)"
		}
	case store.BalanceRefund:
		if c.Amount >= 0 {
			errs["amount"] = "a refund takes money off: a negative amount in minor units"
		}
	case store.BalanceAdjustment:
		if c.Amount == 0 {
			errs["amount"] = "an amount other than zero, in minor units"
		}
	default:
		errs["kind"] = "one of cash, refund, adjustment"
	}
	if !currencyCode.MatchString(c.Currency) {
		errs["currency"] = "a three-letter currency code such as IDR"
	}
	if r := strings.TrimSpace(c.Reason); r == "" || len(r) > 500 {
		errs["reason"] = "required: why the balance changes, at most 500 characters"
	}
	if len(c.Reference) > 200 {
		errs["reference"] = "at most 200 characters"
	}
	return errs
}

// ChangeBalance adds an operator's entry to a customer's ledger and audits
// it, in one transaction. A debit the balance does not cover is
// ErrInsufficientBalance. Who may make which entry is the caller's to
// check (the API lets operators add cash, administrators anything).
func (s *Service) ChangeBalance(ctx context.Context, c BalanceChange) (*store.BalanceEntry, error) {
	if errs := c.Validate(); len(errs) > 0 {
		var parts []string
		for f, m := range errs {
			parts = append(parts, f+": "+m)
		}
		return nil, fmt.Errorf("%w: %s", sdk.ErrInvalidArgument, strings.Join(parts, "; "))
	}
	e := &store.BalanceEntry{CustomerID: c.CustomerID, Amount: c.Amount, Currency: c.Currency, Kind: c.Kind,
		Reference: c.Reference, Actor: c.Actor, Reason: strings.TrimSpace(c.Reason)}
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Q().GetCustomer(ctx, c.CustomerID, s.cipher); err != nil {
			return err
		}
		return s.addEntry(ctx, tx, e)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// addEntry adds e to the ledger and audits it in tx.
func (s *Service) addEntry(ctx context.Context, tx *store.Tx, e *store.BalanceEntry) error {
	err := tx.Q().AddBalanceEntry(ctx, e)
	if errors.Is(err, store.ErrInsufficientBalance) {
		return fmt.Errorf("%w: customer %d's balance in %s is less than %s", ErrInsufficientBalance, e.CustomerID,
			e.Currency, money(-e.Amount, e.Currency))
	}
	if err != nil {
		return err
	}
	meta := map[string]string{"customer_id": strconv.FormatInt(e.CustomerID, 10), "kind": e.Kind,
		"amount": money(e.Amount, e.Currency), "entry_id": strconv.FormatInt(e.ID, 10)}
	if e.Reason != "" {
		meta["reason"] = e.Reason
	}
	if e.Reference != "" {
		meta["reference"] = e.Reference
	}
	if e.InvoiceID != 0 {
		meta["invoice_id"] = strconv.FormatInt(e.InvoiceID, 10)
	}
	return s.AuditTx(ctx, tx, AuditEvent{Actor: e.Actor, Action: "balance." + e.Kind, ResourceType: "customer",
		ResourceID: strconv.FormatInt(e.CustomerID, 10), Metadata: meta})
}

// CreateTopUp records a top-up invoice: paid through a gateway
// (StartPayment, the pay page), it adds its amount to the customer's
// balance.
func (s *Service) CreateTopUp(ctx context.Context, customerID, amount int64, currency string, dueIn time.Duration, actor string) (*store.Invoice, error) {
	if amount <= 0 {
		return nil, fmt.Errorf("%w: a top-up is a positive amount in minor units", sdk.ErrInvalidArgument)
	}
	if !currencyCode.MatchString(currency) {
		return nil, fmt.Errorf("%w: a three-letter currency code such as IDR", sdk.ErrInvalidArgument)
	}
	inv := &store.Invoice{CustomerID: customerID, Kind: store.InvoiceTopUp, Amount: amount, Currency: currency}
	if dueIn > 0 {
		inv.DueAt = s.now().Add(dueIn)
	}
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Q().GetCustomer(ctx, customerID, s.cipher); err != nil {
			return err
		}
		if err := tx.Q().CreateInvoice(ctx, inv); err != nil {
			return err
		}
		return s.AuditTx(ctx, tx, AuditEvent{Actor: actor, Action: "invoice.created", ResourceType: "invoice", ResourceID: inv.Number,
			Metadata: map[string]string{"customer_id": strconv.FormatInt(customerID, 10), "kind": store.InvoiceTopUp, "amount": money(amount, currency)}})
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// topUp applies a credited top-up invoice: a "topup" entry (once per
// invoice: a unique key), the payment message and the audit event.
func (s *Service) topUp(ctx context.Context, tx *store.Tx, inv *store.Invoice, actor, how string) error {
	e := &store.BalanceEntry{CustomerID: inv.CustomerID, Amount: inv.Amount, Currency: inv.Currency, Kind: store.BalanceTopUp,
		InvoiceID: inv.ID, Reference: inv.Number, Actor: actor, Reason: "top-up " + inv.Number + " (" + how + ")"}
	if err := s.addEntry(ctx, tx, e); err != nil {
		return err
	}
	if _, err := s.queue.InsertTx(ctx, tx, NotifyArgs{Template: "payment_received", CustomerID: inv.CustomerID, InvoiceID: inv.ID, Key: "paid-" + inv.Number}, nil); err != nil {
		return err
	}
	return s.AuditTx(ctx, tx, AuditEvent{Actor: actor, Action: "invoice.paid", ResourceType: "invoice", ResourceID: inv.Number,
		Metadata: map[string]string{"how": how, "amount": money(inv.Amount, inv.Currency), "kind": store.InvoiceTopUp}})
}

// PayFromBalance pays an invoice from the customer's balance: exactly
// once, however many requests (or webhooks for the same invoice) race. In
// one transaction the balance is locked (a row lock on PostgreSQL,
// SQLite's single writer), the invoice credited (its conditional update
// and invoice_credits' key let one credit through) and the balance debited
// (an "invoice_payment" entry, unique per invoice). A paid invoice is
// ErrAlreadyPaid, a cancelled one ErrNotPayable, a top-up or a balance
// that does not cover it ErrInsufficientBalance or ErrInvalidArgument.
func (s *Service) PayFromBalance(ctx context.Context, invoiceID int64, actor string) (*store.Invoice, error) {
	var out *store.Invoice
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		inv, err := q.GetInvoice(ctx, invoiceID)
		if err != nil {
			return err
		}
		if inv.Kind == store.InvoiceTopUp {
			return fmt.Errorf("%w: invoice %s tops up the balance; pay it through a gateway", sdk.ErrInvalidArgument, inv.Number)
		}
		switch inv.Status {
		case store.InvoicePaid:
			return ErrAlreadyPaid
		case store.InvoiceCancelled:
			return ErrNotPayable
		}
		have, err := q.LockBalance(ctx, inv.CustomerID, inv.Currency)
		if err != nil {
			return err
		}
		if have < inv.Amount {
			return fmt.Errorf("%w: customer %d holds %s, invoice %s is %s; top the balance up first", ErrInsufficientBalance,
				inv.CustomerID, money(have, inv.Currency), inv.Number, money(inv.Amount, inv.Currency))
		}
		paid, err := s.payFromBalance(ctx, tx, inv, actor)
		if err != nil {
			return err
		}
		if !paid {
			now, err := q.GetInvoice(ctx, inv.ID)
			if err == nil && now.Status == store.InvoiceCancelled {
				return ErrNotPayable
			}
			return ErrAlreadyPaid
		}
		out, err = q.GetInvoice(ctx, inv.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// payFromBalance credits inv and debits the balance for it in tx; false
// when the invoice was credited before (nothing is debited then).
func (s *Service) payFromBalance(ctx context.Context, tx *store.Tx, inv *store.Invoice, actor string) (bool, error) {
	credited, err := s.credit(ctx, tx, inv, 0, 0, actor, "balance")
	if err != nil || !credited {
		return false, err
	}
	e := &store.BalanceEntry{CustomerID: inv.CustomerID, Amount: -inv.Amount, Currency: inv.Currency, Kind: store.BalanceInvoicePayment,
		InvoiceID: inv.ID, Reference: inv.Number, Actor: actor, Reason: "invoice " + inv.Number}
	if err := s.addEntry(ctx, tx, e); err != nil {
		return false, err
	}
	inv.Status = store.InvoicePaid
	return true, nil
}

// autoPay pays a new plan invoice from the balance when the balance covers
// it (NewInvoice, the postpaid bills); otherwise it leaves it unpaid.
func (s *Service) autoPay(ctx context.Context, tx *store.Tx, inv *store.Invoice, actor string) error {
	have, err := tx.Q().LockBalance(ctx, inv.CustomerID, inv.Currency)
	if err != nil || have < inv.Amount {
		return err
	}
	if _, err := s.payFromBalance(ctx, tx, inv, actor); err != nil {
		return err
	}
	paid, err := tx.Q().GetInvoice(ctx, inv.ID)
	if err != nil {
		return err
	}
	*inv = *paid
	return nil
}
