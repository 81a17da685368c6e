package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Recurring bills for postpaid plans. A periodic job (on River's leader)
// makes the next period's invoice of every active postpaid subscription
// jobs.invoice_lead_days before its period ends, sends it with its payment
// link (the "invoice_created" template) and pays it from the balance when
// the balance covers it. The store makes each bill once per subscription
// and period (a unique key), so a second run, or a second host running the
// job at the same moment, makes nothing more. Reminders go out as for any
// subscription. An unpaid customer keeps the service for
// jobs.postpaid_grace_days after the period ends, then is isolated (or
// removed) on the router by the expiry job; paying the bill later puts
// them back (the provision job) and extends the subscription from the end
// of the period it paid for.

// PostpaidBillArgs makes the next period's bills (periodic).
type PostpaidBillArgs struct{}

// Kind implements river.JobArgs.
func (PostpaidBillArgs) Kind() string { return "postpaid_bill" }

type postpaidBillWorker struct {
	river.WorkerDefaults[PostpaidBillArgs]
	s *Service
}

// Work makes the bills that are due.
func (w *postpaidBillWorker) Work(ctx context.Context, _ *river.Job[PostpaidBillArgs]) error {
	_, err := w.s.BillPostpaid(ctx)
	return err
}

// leadTime is how long before a period ends its next bill is made.
func (s *Service) leadTime() time.Duration {
	return time.Duration(*s.cfg.InvoiceLeadDays) * 24 * time.Hour
}

// BillPostpaid makes the next period's invoice of each active postpaid
// subscription whose period ends within the lead time, at most scanBatch
// per call (the rest come with the next run), and returns the invoices it
// made. Safe to run twice, or on two hosts at once: each bill is made once.
func (s *Service) BillPostpaid(ctx context.Context) ([]*store.Invoice, error) {
	subs, err := s.st.Q().ListPostpaidToBill(ctx, s.now().Add(s.leadTime()), scanBatch)
	if err != nil {
		return nil, err
	}
	var made []*store.Invoice
	for _, sub := range subs {
		inv, err := s.billPeriod(ctx, sub)
		if err != nil {
			// One customer's problem does not hold up the others' bills; the
			// next run tries again.
			s.log.Error("could not bill a postpaid period", "subscription", sub.ID, "error", err)
			continue
		}
		if inv != nil {
			made = append(made, inv)
		}
	}
	if len(made) > 0 {
		s.log.Info("postpaid bills made", "count", len(made))
	}
	return made, nil
}

// billPeriod makes one subscription's bill for the period that starts at
// its end; nil when another run made it first.
func (s *Service) billPeriod(ctx context.Context, sub store.Subscription) (*store.Invoice, error) {
	plan, err := s.st.Q().GetPlan(ctx, sub.PlanID)
	if err != nil {
		return nil, err
	}
	if plan.Price <= 0 {
		return nil, fmt.Errorf("plan %q is postpaid but free: give it a price or make it prepaid", plan.Name)
	}
	inv := &store.Invoice{CustomerID: sub.CustomerID, PlanID: plan.ID, SubscriptionID: sub.ID, Amount: plan.Price,
		Currency: plan.Currency, PeriodStart: sub.ExpiresAt, DueAt: sub.ExpiresAt.Add(*s.cfg.PostpaidGrace)}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		made, err := q.CreatePeriodInvoice(ctx, inv)
		if err != nil || !made {
			if err == nil {
				err = errBilled
			}
			return err
		}
		link := s.PayLink(inv.Number)
		if err := q.SetInvoicePayment(ctx, inv.ID, "", link); err != nil {
			return err
		}
		inv.PaymentURL = link
		period := sub.ExpiresAt.UTC().Format(time.DateOnly) + " to " + store.NextPeriodEnd(plan, sub.ExpiresAt).UTC().Format(time.DateOnly)
		if err := s.AuditTx(ctx, tx, AuditEvent{Actor: "system", Action: "invoice.created", ResourceType: "invoice", ResourceID: inv.Number,
			Metadata: map[string]string{"customer_id": strconv.FormatInt(sub.CustomerID, 10), "plan": plan.Name, "amount": money(inv.Amount, inv.Currency),
				"subscription_id": strconv.FormatInt(sub.ID, 10), "period": period, "billing": store.BillingPostpaid}}); err != nil {
			return err
		}
		if err := s.autoPay(ctx, tx, inv, "system"); err != nil {
			return err
		}
		if inv.Status == store.InvoicePaid {
			return nil // the payment message tells the customer
		}
		_, err = s.queue.InsertTx(ctx, tx, NotifyArgs{Template: "invoice_created", CustomerID: inv.CustomerID, InvoiceID: inv.ID,
			SubscriptionID: sub.ID, Key: "bill-" + inv.Number}, nil)
		return err
	})
	if errors.Is(err, errBilled) || store.PeriodBilled(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// errBilled rolls back a bill another run made first.
var errBilled = errors.New("billed already")
