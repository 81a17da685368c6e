package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// WebhookResult is what happened to a webhook.
type WebhookResult struct {
	// Response is written back to the gateway.
	Response sdk.HTTPResponse
	// Event is what the plugin read from the request (nil for pings).
	Event *payment.Event
	// Credited is true when this webhook credited the invoice.
	Credited bool
	// Settled is true when the plugin reported the event as a duplicate and
	// the store shows it applied already: nothing was done.
	Settled bool
}

// HandleWebhook hands a gateway's raw request to its plugin, which checks
// the signature over the raw body. A paid event is then confirmed with the
// gateway's status query before anything is credited; crediting is exactly
// once however often, and however concurrently, the webhook arrives.
//
// The exactly-once decision is this store's, never the plugin's: a result
// (the gateway's 2xx) comes back only once what the event calls for is
// committed. An event the plugin marks Duplicate is answered without
// further work only when the store shows its payment settled already;
// otherwise it is handled as a first delivery, since the first may have
// failed here (the plugin killed during a confirming GetPayment, the
// database gone before the commit).
//
// Errors wrap the SDK's sentinels (payment.ErrInvalidSignature, ...), which
// the HTTP layer turns into statuses. payment.ErrReplay (a notification id
// the plugin saw for another payment, or, from a plugin built before
// Event.Duplicate, any repeat) is returned too, never acknowledged, and
// queues a check of the gateway's pending payments (reconcile_gateway), so
// that an old plugin's repeat of a notification whose first delivery
// failed here still credits its payment.
func (s *Service) HandleWebhook(ctx context.Context, gateway string, req sdk.HTTPRequest) (*WebhookResult, error) {
	gw, err := s.plugins.Payment(gateway)
	if err != nil {
		return nil, err
	}
	resp, err := gw.HandleWebhook(ctx, &payment.WebhookRequest{Request: req})
	if errors.Is(err, payment.ErrReplay) {
		s.log.Warn("webhook refused as a replay; checking the gateway's pending payments", "gateway", gateway, "error", err)
		if qerr := s.reconcileGateway(ctx, gateway); qerr != nil {
			s.log.Error("could not queue the check of the gateway's pending payments", "gateway", gateway, "error", qerr)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	res := &WebhookResult{Response: resp.Response, Event: resp.Event}
	if res.Response.StatusCode == 0 {
		res.Response.StatusCode = http.StatusOK
	}
	ev := resp.Event
	if ev == nil {
		return res, nil
	}
	if ev.Duplicate {
		settled, err := s.st.Q().PaymentSettled(ctx, gateway, ev.PaymentID, paymentStatus(ev.Status))
		if err != nil {
			return nil, err
		}
		if settled {
			s.log.Debug("webhook repeats an event already applied", "gateway", gateway, "payment", ev.PaymentID, "event", ev.EventID)
			res.Settled = true
			return res, nil
		}
		s.log.Info("webhook repeats an event not applied yet: handling it now", "gateway", gateway, "payment", ev.PaymentID, "event", ev.EventID, "status", ev.Status)
	}
	inv, err := s.st.Q().GetInvoiceByNumber(ctx, ev.OrderID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: no invoice %q here", payment.ErrUnknownOrder, ev.OrderID)
		}
		return nil, err
	}
	switch ev.Status {
	case payment.StatusPaid:
		res.Credited, err = s.paid(ctx, gw, gateway, inv, ev)
	case payment.StatusFailed, payment.StatusExpired, payment.StatusCancelled:
		err = s.unpaid(ctx, gateway, inv, ev)
	default:
		err = s.st.Q().RecordPayment(ctx, &store.Payment{InvoiceID: inv.ID, Gateway: gateway, ExternalID: ev.PaymentID,
			Amount: ev.Amount.Amount, Currency: ev.Amount.Currency, Status: paymentStatus(ev.Status), RawEvent: string(ev.Raw)})
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// paid credits the invoice of a paid event once the gateway's status API
// backs it: an event the plugin confirmed itself (Event.Confirmed, what it
// read from the status API while it handled the notification, as every
// gateway built on sdk/payment/gateway does) stands as it is; any other
// (a plugin that only parses notifications, a repeat it did not query
// again) is confirmed with the plugin's GetPayment. Asking the same plugin
// the same question twice would add no trust, only a second call to the
// gateway's API, which is far away and rate-limited.
func (s *Service) paid(ctx context.Context, gw payment.Gateway, gateway string, inv *store.Invoice, ev *payment.Event) (bool, error) {
	p := payment.Payment{ID: ev.PaymentID, OrderID: ev.OrderID, Status: ev.Status, Amount: ev.Amount, GatewayStatus: ev.GatewayStatus}
	if !ev.Confirmed || ev.Duplicate {
		got, err := gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: ev.PaymentID, OrderID: ev.OrderID})
		if err != nil {
			return false, fmt.Errorf("confirm payment %s with %s: %w", ev.PaymentID, gateway, err)
		}
		p = got.Payment
	}
	if p.Status != payment.StatusPaid {
		s.log.Warn("webhook said paid, the gateway's status query does not", "gateway", gateway, "invoice", inv.Number, "status", p.Status)
		return false, fmt.Errorf("%w: the webhook says paid, %s's status query says %s for %s", ErrUnconfirmed, gateway, p.Status, inv.Number)
	}
	if p.Amount.Amount != inv.Amount || p.Amount.Currency != inv.Currency {
		err := fmt.Errorf("%w: %s reports %s for invoice %s, which is %s", payment.ErrAmountMismatch, gateway,
			p.Amount, inv.Number, money(inv.Amount, inv.Currency))
		s.log.Error("payment amount does not match the invoice", "gateway", gateway, "invoice", inv.Number, "error", err)
		_, _ = s.queue.Insert(ctx, auditJob(AuditEvent{Actor: "gateway:" + gateway, Action: "payment.amount_mismatch", ResourceType: "invoice", ResourceID: inv.Number, Outcome: "failure",
			Metadata: map[string]string{"reported": p.Amount.String(), "invoice": money(inv.Amount, inv.Currency), "payment_id": p.ID}}, s.now()), nil)
		return false, err
	}
	var credited bool
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		rec := &store.Payment{InvoiceID: inv.ID, Gateway: gateway, ExternalID: p.ID, Amount: p.Amount.Amount,
			Currency: p.Amount.Currency, Status: store.PaymentPaid, RawEvent: string(ev.Raw)}
		if err := tx.Q().RecordPayment(ctx, rec); err != nil {
			return err
		}
		var err error
		credited, err = s.credit(ctx, tx, inv, rec.ID, 0, "gateway:"+gateway, "payment "+gateway+" "+p.ID)
		if err != nil || credited {
			return err
		}
		// Money arrived for an invoice that was cancelled: it is recorded
		// (above) and not applied; an operator refunds it or bills again.
		now, err := tx.Q().GetInvoice(ctx, inv.ID)
		if err != nil || now.Status != store.InvoiceCancelled {
			return err
		}
		s.log.Error("payment received for a cancelled invoice: recorded, not applied; refund it or make a new invoice",
			"invoice", inv.Number, "gateway", gateway, "payment", p.ID, "amount", p.Amount.String())
		_, err = s.queue.InsertTx(ctx, tx, auditJob(AuditEvent{Actor: "gateway:" + gateway, Action: "payment.unapplied", ResourceType: "invoice", ResourceID: inv.Number, Outcome: "failure",
			Metadata: map[string]string{"reason": "invoice cancelled", "payment_id": p.ID, "amount": p.Amount.String()}}, s.now()), nil)
		return err
	})
	if err != nil {
		return false, err
	}
	if credited {
		s.log.Info("invoice paid", "invoice", inv.Number, "gateway", gateway, "payment", p.ID)
	}
	return credited, nil
}

// unpaid records a failed, expired or cancelled payment; an unpaid invoice
// follows it, a paid one never does.
func (s *Service) unpaid(ctx context.Context, gateway string, inv *store.Invoice, ev *payment.Event) error {
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		rec := &store.Payment{InvoiceID: inv.ID, Gateway: gateway, ExternalID: ev.PaymentID, Amount: ev.Amount.Amount,
			Currency: ev.Amount.Currency, Status: paymentStatus(ev.Status), RawEvent: string(ev.Raw)}
		if err := tx.Q().RecordPayment(ctx, rec); err != nil {
			return err
		}
		if inv.Status != store.InvoiceUnpaid {
			return nil
		}
		to := store.InvoiceFailed
		switch ev.Status {
		case payment.StatusExpired:
			to = store.InvoiceExpired
		case payment.StatusCancelled:
			to = store.InvoiceUnpaid // the customer may try again
		}
		if _, err := tx.Q().SetInvoiceStatus(ctx, inv.ID, to); err != nil {
			return err
		}
		_, err := s.queue.InsertTx(ctx, tx, auditJob(AuditEvent{Actor: "gateway:" + gateway, Action: "payment." + string(ev.Status), ResourceType: "invoice", ResourceID: inv.Number, Outcome: "failure",
			Metadata: map[string]string{"payment_id": ev.PaymentID}}, s.now()), nil)
		return err
	})
}
