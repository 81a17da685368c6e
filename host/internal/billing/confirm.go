package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Payments whose webhook never came are not lost: a payment plugin that
// learns of a payment by other means (payment-manual's confirm route)
// publishes "payment.confirmed", a periodic scan asks the gateways about
// payments still pending, and a webhook that a plugin refuses as a replay
// has that gateway's pending payments checked at once (reconcile_gateway).
// All queue confirm_payment jobs, which ask the gateway and apply its
// answer the way a webhook is applied.

// EventPaymentConfirmed is the event a payment plugin publishes when it
// learns that a payment is paid outside a webhook. Its data holds
// {"payment_id": "<the gateway's id>"}.
const EventPaymentConfirmed = "payment.confirmed"

// Reconciliation bounds: payments older than reconcileMaxAge are not asked
// about any more (Config.ReconcileAfter is the youngest asked about).
const (
	reconcileMaxAge = 30 * 24 * time.Hour
	reconcileBatch  = 500
)

// HandleEvent takes the events plugins publish that concern billing: a
// payment plugin's payment.confirmed queues a confirm_payment job (the
// job, not the event, credits, so nothing is lost if the host stops).
func (s *Service) HandleEvent(ctx context.Context, e sdk.Event) error {
	if e.Type != EventPaymentConfirmed {
		return nil
	}
	if _, err := s.plugins.Payment(e.Source); err != nil {
		return fmt.Errorf("%s from %q, which is not a payment plugin: ignored", e.Type, e.Source)
	}
	var data struct {
		PaymentID string `json:"payment_id"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil || data.PaymentID == "" {
		return fmt.Errorf("%s from %s without a payment_id in its data: ignored", e.Type, e.Source)
	}
	if s.queue == nil {
		return errors.New("the job queue is not set up")
	}
	_, err := s.queue.Insert(ctx, ConfirmPaymentArgs{Gateway: e.Source, PaymentID: data.PaymentID}, nil)
	return err
}

// ConfirmPaymentArgs asks a gateway where a payment stands and applies the
// answer: paid credits the invoice (exactly once), failed or expired marks
// it, pending changes nothing.
type ConfirmPaymentArgs struct {
	Gateway   string `json:"gateway" river:"unique"`
	PaymentID string `json:"payment_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (ConfirmPaymentArgs) Kind() string { return "confirm_payment" }

// InsertOpts keeps one check per payment queued at a time; once it has run,
// the next event or scan queues another.
func (ConfirmPaymentArgs) InsertOpts() river.InsertOpts {
	return uniqueWhileQueued()
}

type confirmPaymentWorker struct {
	river.WorkerDefaults[ConfirmPaymentArgs]
	s *Service
}

func (w *confirmPaymentWorker) Work(ctx context.Context, job *river.Job[ConfirmPaymentArgs]) error {
	s, a := w.s, job.Args
	q := s.st.Q()
	rec, err := q.GetPaymentByExternalID(ctx, a.Gateway, a.PaymentID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn("confirm_payment: no such payment here", "gateway", a.Gateway, "payment", a.PaymentID)
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	inv, err := q.GetInvoice(ctx, rec.InvoiceID)
	if err != nil {
		return err
	}
	gw, err := s.plugins.Payment(a.Gateway)
	if err != nil {
		return err // not running now: retried
	}
	got, err := gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: a.PaymentID, OrderID: inv.Number})
	if err != nil {
		return fmt.Errorf("ask %s about payment %s: %w", a.Gateway, a.PaymentID, err)
	}
	p := got.Payment
	// No Raw: a payment's raw event is the gateway's last notification, and
	// this is a status answer.
	ev := &payment.Event{EventID: "confirm-" + a.PaymentID, PaymentID: p.ID, OrderID: inv.Number, Status: p.Status,
		Amount: p.Amount, OccurredAt: p.PaidAt, Confirmed: true, GatewayStatus: p.GatewayStatus}
	switch p.Status {
	case payment.StatusPaid:
		credited, err := s.paid(ctx, gw, a.Gateway, inv, ev)
		if credited {
			s.log.Info("payment confirmed outside a webhook", "gateway", a.Gateway, "payment", a.PaymentID, "invoice", inv.Number)
		}
		return err
	case payment.StatusFailed, payment.StatusExpired, payment.StatusCancelled:
		return s.unpaid(ctx, a.Gateway, inv, ev)
	}
	return nil
}

// ReconcileScanArgs looks for pending payments to ask about (periodic).
type ReconcileScanArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileScanArgs) Kind() string { return "reconcile_scan" }

type reconcileScanWorker struct {
	river.WorkerDefaults[ReconcileScanArgs]
	s *Service
}

func (w *reconcileScanWorker) Work(ctx context.Context, _ *river.Job[ReconcileScanArgs]) error {
	s := w.s
	now := s.now()
	pending, err := s.st.Q().ListPendingPayments(ctx, now.Add(-reconcileMaxAge), now.Add(-s.cfg.ReconcileAfter), reconcileBatch)
	if err != nil {
		return err
	}
	for _, p := range pending {
		if _, err := s.queue.Insert(ctx, ConfirmPaymentArgs{Gateway: p.Gateway, PaymentID: p.ExternalID}, nil); err != nil {
			return err
		}
	}
	if len(pending) > 0 {
		s.log.Debug("reconcile: asking gateways about pending payments", "count", len(pending))
	}
	return nil
}

// reconcileGateway queues a check of a gateway's pending payments.
func (s *Service) reconcileGateway(ctx context.Context, gateway string) error {
	if s.queue == nil {
		return errors.New("the job queue is not set up")
	}
	_, err := s.queue.Insert(ctx, ReconcileGatewayArgs{Gateway: gateway}, nil)
	return err
}

// ReconcileGatewayArgs asks one gateway about all its pending payments, of
// any age up to 30 days: queued when the gateway's plugin refuses a webhook
// as a replay, since a plugin built before payment.Event.Duplicate refuses
// a repeat whose first delivery failed on the host's side that way.
type ReconcileGatewayArgs struct {
	Gateway string `json:"gateway" river:"unique"`
}

// Kind implements river.JobArgs.
func (ReconcileGatewayArgs) Kind() string { return "reconcile_gateway" }

// InsertOpts keeps one check per gateway queued or running at a time: a
// burst of refused repeats queues one.
func (ReconcileGatewayArgs) InsertOpts() river.InsertOpts {
	return uniqueWhileQueued()
}

type reconcileGatewayWorker struct {
	river.WorkerDefaults[ReconcileGatewayArgs]
	s *Service
}

func (w *reconcileGatewayWorker) Work(ctx context.Context, job *river.Job[ReconcileGatewayArgs]) error {
	s, gateway := w.s, job.Args.Gateway
	now := s.now()
	pending, err := s.st.Q().ListPendingPaymentsOf(ctx, gateway, now.Add(-reconcileMaxAge), now.Add(time.Second), reconcileBatch)
	if err != nil {
		return err
	}
	for _, p := range pending {
		if _, err := s.queue.Insert(ctx, ConfirmPaymentArgs{Gateway: gateway, PaymentID: p.ExternalID}, nil); err != nil {
			return err
		}
	}
	s.log.Info("reconcile: asking a gateway about its pending payments after a refused replay", "gateway", gateway, "count", len(pending))
	return nil
}

// uniqueWhileQueued is the insert option of checks that need one job per
// subject at a time: another is refused while one is waiting or running,
// and may be queued again once it has finished.
func uniqueWhileQueued() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable,
	}}}
}
