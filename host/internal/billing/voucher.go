package billing

import (
	"context"
	"fmt"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Redemption is what redeeming a voucher gives.
type Redemption struct {
	Voucher *store.Voucher `json:"voucher"`
	Invoice *store.Invoice `json:"invoice"`
}

// Redeem redeems a voucher for a customer: in one transaction the voucher
// is used (once: a second redemption is store.ErrConflict), an invoice for
// its plan is recorded and credited, the subscription starts or is
// extended, and the provision, notify and audit jobs are queued.
func (s *Service) Redeem(ctx context.Context, code string, customerID int64, actor string) (*Redemption, error) {
	var out Redemption
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		v, err := q.RedeemVoucher(ctx, code, customerID)
		if err != nil {
			return err
		}
		batch, err := q.GetVoucherBatch(ctx, v.BatchID)
		if err != nil {
			return err
		}
		cust, err := q.GetCustomer(ctx, customerID, s.cipher)
		if err != nil {
			return err
		}
		if cust.LocationID != batch.LocationID {
			return fmt.Errorf("%w: this voucher is for another location than the customer's", store.ErrInvalid)
		}
		plan, err := q.GetPlan(ctx, batch.PlanID)
		if err != nil {
			return err
		}
		inv := &store.Invoice{CustomerID: customerID, PlanID: plan.ID, Amount: max(plan.Price, 1), Currency: plan.Currency, Gateway: "voucher"}
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
		inv.Status = store.InvoicePaid
		out = Redemption{Voucher: v, Invoice: inv}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
