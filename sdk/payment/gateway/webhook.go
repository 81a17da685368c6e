package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// replayPrefix starts the keys of replay records in the durable store.
const replayPrefix = "replay:"

// DerivedEventID is the replay key of a notification that carries no event
// id: what it claims (its payment or order, the gateway's status word, the
// amount). A resend of the notification gets the same key; the next status
// of the payment, or a notification claiming another amount, another one,
// so that it is checked afresh rather than repeated.
func DerivedEventID(n *Notification) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{n.PaymentID, n.OrderID, n.GatewayStatus, string(n.Status), n.Amount.String()}, "\x00")))
	return "derived-" + hex.EncodeToString(sum[:16])
}

// HandleWebhook implements payment.Gateway. The steps, in this order:
// verify over the raw request; parse; the replay record (a repeat about the
// same payment is reported again, marked Duplicate, without a status
// query; an id recorded for another payment is payment.ErrReplay); the
// status query; the order and the amount; a paid claim the status query
// does not back is payment.ErrUnconfirmed; the replay record is written
// once every check passed, so a notification refused for a passing reason
// is checked afresh when resent.
func (g *Gateway[S]) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	inst, err := g.api()
	if err != nil {
		g.metrics.notifications.Inc("not_configured")
		// Without the secret nothing can be verified: refuse as unsigned.
		return nil, fmt.Errorf("%w: %v", payment.ErrInvalidSignature, err)
	}
	resp, err := g.handleWebhook(ctx, inst, req)
	g.metrics.notification(resp, err)
	return resp, err
}

func (g *Gateway[S]) handleWebhook(ctx context.Context, inst *instance, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	ctx, cancel := g.deadline(ctx)
	defer cancel()
	r := &req.Request
	if err := inst.api.VerifyNotification(r); err != nil {
		if !errors.Is(err, payment.ErrInvalidSignature) {
			err = fmt.Errorf("%w: %v", payment.ErrInvalidSignature, err)
		}
		g.Log().Warn("notification refused: signature", "remote", r.RemoteAddr, "request_id", r.RequestID, "error", err)
		return nil, err
	}
	n, err := inst.api.ParseNotification(r)
	if err != nil {
		if !isSentinel(err) {
			err = fmt.Errorf("%w: %v", payment.ErrMalformedPayload, err)
		}
		return nil, err
	}
	if n == nil {
		g.Log().Debug("notification acknowledged: not about a payment", "request_id", r.RequestID)
		return &payment.WebhookResponse{Response: g.spec.Ack}, nil
	}
	if n.PaymentID == "" && n.OrderID == "" {
		return nil, fmt.Errorf("%w: the notification names no payment and no order", payment.ErrMalformedPayload)
	}
	if c, ok := inst.api.(NotificationChecker); ok {
		if err := c.CheckNotification(ctx, n); err != nil {
			return nil, err
		}
	}
	eventID := n.ID
	if eventID == "" {
		eventID = DerivedEventID(n)
	}
	subject := cmpOr(n.PaymentID, "order:"+n.OrderID)
	replays := payment.ReplayRecords{Host: g.Host(), Prefix: replayPrefix, TTL: g.spec.ReplayTTL}
	dup, err := replays.Check(ctx, eventID, subject)
	if err == nil && !dup {
		dup, err = g.legacyReplay(ctx, eventID, subject)
	}
	if err == nil && !dup {
		dup, err = g.legacyHandled(ctx, n)
	}
	if err != nil {
		return nil, err
	} else if dup {
		g.Log().Info("notification repeated", "event", eventID, "payment", n.PaymentID, "order", n.OrderID)
		return &payment.WebhookResponse{Response: g.spec.Ack, Event: &payment.Event{
			EventID: eventID, PaymentID: n.PaymentID, OrderID: n.OrderID, Status: n.Status, Amount: n.Amount,
			OccurredAt: cmpTime(n, r), GatewayStatus: n.GatewayStatus, Raw: r.Body, Duplicate: true,
		}}, nil
	}

	got, err := g.lookup(ctx, inst.api, n.PaymentID, "")
	if n.PaymentID == "" {
		got, err = g.lookup(ctx, inst.api, "", n.OrderID)
	}
	if err != nil {
		return nil, fmt.Errorf("confirm payment %s with the gateway: %w", subject, err)
	}
	if n.OrderID != "" && got.OrderID != n.OrderID {
		return nil, fmt.Errorf("%w: notification %s names order %s, the gateway's payment %s belongs to order %s", payment.ErrUnknownOrder, eventID, n.OrderID, got.ID, got.OrderID)
	}
	if !n.Amount.IsZero() && n.Amount != got.Amount {
		return nil, fmt.Errorf("%w: notification %s says %s, the gateway's record of payment %s says %s", payment.ErrAmountMismatch, eventID, n.Amount, got.ID, got.Amount)
	}
	if n.Status == payment.StatusPaid && got.Status != payment.StatusPaid && (!g.spec.ReportFinalStatus || got.Status == payment.StatusPending) {
		return nil, fmt.Errorf("%w: notification %s says payment %s is paid, the gateway's status query says %s; not reported as paid",
			payment.ErrUnconfirmed, eventID, got.ID, cmpOr(got.GatewayStatus, string(got.Status)))
	}
	duplicate, err := replays.Record(ctx, eventID, subject)
	if err != nil {
		return nil, err
	}
	g.Log().Info("notification accepted", "event", eventID, "payment", got.ID, "order", got.OrderID, "status", got.Status, "duplicate", duplicate)
	return &payment.WebhookResponse{Response: g.spec.Ack, Event: &payment.Event{
		EventID: eventID, PaymentID: got.ID, OrderID: got.OrderID, Status: got.Status, Amount: got.Amount,
		OccurredAt: cmpTime(n, r), Confirmed: true, GatewayStatus: got.GatewayStatus, Raw: r.Body, Duplicate: duplicate,
	}}, nil
}

func cmpTime(n *Notification, r *sdk.HTTPRequest) time.Time {
	if !n.OccurredAt.IsZero() {
		return n.OccurredAt
	}
	return r.ReceivedAt
}

// isSentinel reports whether err wraps one of the errors the host tells
// apart (any payment or sdk sentinel).
func isSentinel(err error) bool {
	for _, s := range []error{payment.ErrInvalidSignature, payment.ErrMalformedPayload, payment.ErrUnknownOrder, payment.ErrAmountMismatch,
		payment.ErrUnsupportedCurrency, payment.ErrReplay, payment.ErrUnconfirmed, sdk.ErrInvalidArgument, sdk.ErrUnavailable,
		sdk.ErrFailedPrecondition, sdk.ErrNotFound} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
