package billing

import (
	"context"
	"errors"
	"fmt"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Redemption is what redeeming a voucher gives.
type Redemption struct {
	Voucher *store.Voucher `json:"voucher"`
	Invoice *store.Invoice `json:"invoice"`
}

// Redeem redeems a voucher for a customer: in one transaction the voucher
// is used (once), an invoice for its plan is recorded and credited, the
// subscription starts or is extended, and the provision, notify and audit
// jobs are queued.
//
// Refusals are *store.FieldErrors worded for the operator: a customer that
// does not exist is store.ErrReferenced on "customer_id"; an unknown code
// store.ErrNotFound and a used one store.ErrConflict, both on "code"; a
// voucher of another location than the customer's store.ErrInvalid on
// "code", naming both locations.
func (s *Service) Redeem(ctx context.Context, code string, customerID int64, actor string) (*Redemption, error) {
	var out Redemption
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		cust, err := q.GetCustomer(ctx, customerID, s.cipher)
		if errors.Is(err, store.ErrNotFound) {
			return &store.FieldError{Kind: store.ErrReferenced, Field: "customer_id", Message: "no such customer", Err: err}
		}
		if err != nil {
			return err
		}
		v, err := q.RedeemVoucher(ctx, code, customerID)
		if err != nil {
			return err
		}
		batch, err := q.GetVoucherBatch(ctx, v.BatchID)
		if err != nil {
			return err
		}
		if cust.LocationID != batch.LocationID {
			return otherLocation(ctx, q, cust, batch)
		}
		plan, err := q.GetPlan(ctx, batch.PlanID)
		if err != nil {
			return err
		}
		// The customer's router login has one subscription: a voucher
		// extends (or renews) the latest one that is not cancelled.
		subID, err := currentSubscription(ctx, q, customerID)
		if err != nil {
			return err
		}
		// Invoices are positive: a free plan's voucher records the smallest
		// unit of its currency.
		inv := &store.Invoice{CustomerID: customerID, PlanID: plan.ID, SubscriptionID: subID, Amount: max(plan.Price, 1), Currency: plan.Currency, Gateway: "voucher"}
		if err := q.CreateInvoice(ctx, inv); err != nil {
			return err
		}
		if _, err := s.credit(ctx, tx, inv, 0, v.ID, actor, "voucher"); err != nil {
			return err
		}
		if err := q.LinkVoucherSubscription(ctx, v.ID, inv.SubscriptionID); err != nil {
			return err
		}
		v.SubscriptionID = inv.SubscriptionID
		paid, err := q.GetInvoice(ctx, inv.ID)
		if err != nil {
			return err
		}
		out = Redemption{Voucher: v, Invoice: paid}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// otherLocation is the refusal of a voucher made for another location than
// the customer's, naming both.
func otherLocation(ctx context.Context, q *store.Queries, cust *store.Customer, batch *store.VoucherBatch) error {
	voucherAt, err := q.GetLocation(ctx, batch.LocationID)
	if err != nil {
		return err
	}
	customerAt, err := q.GetLocation(ctx, cust.LocationID)
	if err != nil {
		return err
	}
	return &store.FieldError{Kind: store.ErrInvalid, Field: "code", Message: fmt.Sprintf(
		"this voucher is for location %q, but customer %q is at location %q; give them a voucher made for %q",
		voucherAt.Name, cust.Name, customerAt.Name, customerAt.Name)}
}

// currentSubscription is the customer's latest subscription that is not
// cancelled (0 when there is none).
func currentSubscription(ctx context.Context, q *store.Queries, customerID int64) (int64, error) {
	for page := (store.Page{Limit: 50}); ; page.Offset += page.Limit {
		subs, total, err := q.ListSubscriptions(ctx, store.SubscriptionFilter{CustomerID: customerID}, page)
		if err != nil {
			return 0, err
		}
		for _, sub := range subs { // newest first
			if sub.Status != store.SubscriptionCancelled {
				return sub.ID, nil
			}
		}
		if len(subs) == 0 || page.Offset+len(subs) >= total {
			return 0, nil
		}
	}
}
