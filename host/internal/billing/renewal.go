package billing

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
)

// Renewals. Paying for the plan a customer already has renews it, as a
// voucher does: the invoice is for their latest subscription on that plan
// that is active, isolated or expired (store.RenewableSubscription), and
// paying extends it from its end, not from now (store.Activate has the
// whole rule). A second, parallel subscription starts only when the
// invoice asks for one (InvoiceRequest.NewSubscription, "new_subscription"
// in the API, a checkbox in the admin UI). The subscription to renew is
// looked up when the invoice is made, so the invoice shows it, and again
// when it is paid, for invoices made before the customer had one.

// InvoiceRequest is what NewInvoice bills.
type InvoiceRequest struct {
	CustomerID int64
	PlanID     int64
	// SubscriptionID is the subscription to renew (0: the customer's
	// current one on the plan, or a new one when they have none).
	SubscriptionID int64
	// NewSubscription asks for a parallel subscription: paying starts a new
	// one even when the customer has one on the plan.
	NewSubscription bool
	// DueIn, when set, is when the payment should expire.
	DueIn time.Duration
	// Actor is who asks ("user:3").
	Actor string
}

// NewInvoice records what a customer owes for a plan and queues its audit
// event. When the customer's balance in the plan's currency covers the
// invoice, it is paid from the balance at once, in the same transaction
// (payFromBalance): an operator who took cash in advance bills nothing by
// hand.
func (s *Service) NewInvoice(ctx context.Context, r InvoiceRequest) (*store.Invoice, error) {
	plan, err := s.st.Q().GetPlan(ctx, r.PlanID)
	if err != nil {
		return nil, err
	}
	if !plan.Active {
		return nil, fmt.Errorf("%w: plan %q is not active", sdk.ErrFailedPrecondition, plan.Name)
	}
	if plan.Price <= 0 {
		return nil, fmt.Errorf("%w: plan %q is free: give the customer a voucher instead", sdk.ErrFailedPrecondition, plan.Name)
	}
	if r.NewSubscription && r.SubscriptionID != 0 {
		return nil, fmt.Errorf("%w: an invoice renews subscription %d or starts a new one, not both; leave out subscription_id or new_subscription",
			sdk.ErrInvalidArgument, r.SubscriptionID)
	}
	inv := &store.Invoice{CustomerID: r.CustomerID, PlanID: r.PlanID, SubscriptionID: r.SubscriptionID, Amount: plan.Price,
		Currency: plan.Currency, NewSubscription: r.NewSubscription}
	if r.DueIn > 0 {
		inv.DueAt = s.now().Add(r.DueIn)
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		if err := s.renewal(ctx, q, inv); err != nil {
			return err
		}
		if err := q.CreateInvoice(ctx, inv); err != nil {
			return err
		}
		meta := map[string]string{"customer_id": strconv.FormatInt(r.CustomerID, 10), "plan": plan.Name, "amount": money(inv.Amount, inv.Currency)}
		if inv.SubscriptionID != 0 {
			meta["renews_subscription_id"] = strconv.FormatInt(inv.SubscriptionID, 10)
		}
		if inv.NewSubscription {
			meta["new_subscription"] = "true"
		}
		if err := s.AuditTx(ctx, tx, AuditEvent{Actor: r.Actor, Action: "invoice.created", ResourceType: "invoice", ResourceID: inv.Number, Metadata: meta}); err != nil {
			return err
		}
		return s.autoPay(ctx, tx, inv, r.Actor)
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// renewal names the subscription a plan invoice renews, when it names none
// and does not ask for a new one.
func (s *Service) renewal(ctx context.Context, q *store.Queries, inv *store.Invoice) error {
	if inv.SubscriptionID != 0 || inv.NewSubscription || inv.Kind == store.InvoiceTopUp {
		return nil
	}
	id, err := q.RenewableSubscription(ctx, inv.CustomerID, inv.PlanID)
	if err != nil {
		return err
	}
	if id == 0 || inv.ID == 0 {
		inv.SubscriptionID = id
		return nil
	}
	if _, err := q.LinkInvoiceSubscription(ctx, inv.ID, id); err != nil {
		return err
	}
	inv.SubscriptionID = id
	return nil
}
