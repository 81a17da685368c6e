package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// SignatureHeader is the header Stripe signs webhooks in:
// "t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=...]". See
// https://docs.stripe.com/webhooks#verify-manually.
const SignatureHeader = "Stripe-Signature"

// signatureTolerance is how far a signature's timestamp may be from now
// (Stripe's default tolerance).
const signatureTolerance = 300 * time.Second

// The Checkout events the plugin handles; others are acknowledged and
// ignored.
const (
	eventCompleted      = "checkout.session.completed"
	eventAsyncSucceeded = "checkout.session.async_payment_succeeded"
	eventAsyncFailed    = "checkout.session.async_payment_failed"
	eventExpired        = "checkout.session.expired"
)

// verifySignature checks a Stripe-Signature header over the raw body: a
// timestamp t within the tolerance of now, and at least one v1 signature
// equal to HMAC-SHA256("<t>.<body>") under at least one of the secrets.
// Stripe sends several v1 signatures while an endpoint's secret is rolled;
// several secrets let the operator rotate on this side. Comparisons are in
// constant time. It returns an error wrapping payment.ErrInvalidSignature.
func verifySignature(header string, body []byte, secrets []string, now time.Time) error {
	if header == "" {
		return fmt.Errorf("%w: no %s header", payment.ErrInvalidSignature, SignatureHeader)
	}
	var (
		ts      string
		sigs    [][]byte
		haveTS  bool
		seconds int64
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS {
				return fmt.Errorf("%w: %s has a bad or repeated timestamp", payment.ErrInvalidSignature, SignatureHeader)
			}
			ts, seconds, haveTS = v, n, true
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
	}
	if !haveTS {
		return fmt.Errorf("%w: %s has no timestamp (t=)", payment.ErrInvalidSignature, SignatureHeader)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: %s has no v1 signature", payment.ErrInvalidSignature, SignatureHeader)
	}
	if age := now.Sub(time.Unix(seconds, 0)); age > signatureTolerance || age < -signatureTolerance {
		return fmt.Errorf("%w: the signature's timestamp is %s from now, beyond the tolerance of %s (a replayed request, or a clock that is off)",
			payment.ErrInvalidSignature, age.Round(time.Second).Abs(), signatureTolerance)
	}
	matched := false
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			// Every pair is compared: the time taken does not tell which
			// secret or signature matched.
			if hmac.Equal(want, sig) {
				matched = true
			}
		}
	}
	if !matched {
		return fmt.Errorf("%w: no v1 signature matches a configured webhook secret; check webhook_secrets against the endpoint's signing secret in Stripe's Dashboard", payment.ErrInvalidSignature)
	}
	return nil
}

// HandleWebhook implements payment.Gateway for Stripe's webhook events. In
// order: the signature over the raw body, then parsing, then the replay
// record (the event id and the session it was about, in the host's durable
// store), then the session as Stripe's API reports it now, which must agree
// with the event on order, amount and currency. A paid event is reported
// paid only when the API says paid too (Event.Confirmed); one the API does
// not back yet is payment.ErrUnconfirmed.
//
// An event recorded before for the same session is reported again from its
// payload, marked Duplicate, without asking Stripe's API (the host confirms
// with GetPayment unless its store shows the payment applied); one recorded
// for another session is payment.ErrReplay.
func (g *Gateway) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	st, err := g.state()
	if err != nil {
		return nil, err
	}
	body := req.Request.Body
	if err := verifySignature(req.Request.Header.Get(SignatureHeader), body, st.cfg.WebhookSecrets, g.now()); err != nil {
		g.stats.webhook("invalid_signature")
		return nil, err
	}
	ev, evSession, err := parseEvent(body)
	if err != nil {
		g.stats.webhook("malformed")
		return nil, err
	}
	log := g.Logger().With("event", ev.ID, "type", string(ev.Type))
	if ev.Livemode != (st.cfg.Mode == "live") {
		g.stats.webhook("wrong_mode")
		return nil, fmt.Errorf("%w: event %s is from Stripe's %s mode; the plugin is in %s mode; check the webhook endpoint and webhook_secrets",
			sdk.ErrFailedPrecondition, ev.ID, modeName(ev.Livemode), st.cfg.Mode)
	}
	if evSession == nil {
		g.stats.webhook("ignored")
		log.Debug("event ignored")
		return &payment.WebhookResponse{Response: received()}, nil
	}

	replays := payment.ReplayRecords{Host: g.Host(), Prefix: eventKVKey(""), TTL: replayTTL}
	duplicate, err := replays.Record(ctx, ev.ID, evSession.ID)
	if errors.Is(err, payment.ErrReplay) {
		g.stats.webhook("replay")
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if duplicate {
		out, err := duplicateEvent(ev, evSession, body)
		if err != nil {
			return nil, err
		}
		g.stats.webhook("duplicate")
		log.Info("webhook event repeated", "session", out.PaymentID, "order_id", out.OrderID, "status", string(out.Status))
		return &payment.WebhookResponse{Response: received(), Event: out}, nil
	}
	out, err := g.confirmEvent(ctx, st, ev, evSession, body)
	if err != nil {
		// Forget the event, so Stripe's next delivery of it is checked
		// afresh rather than reported as a duplicate.
		if derr := replays.Forget(context.WithoutCancel(ctx), ev.ID); derr != nil {
			log.Warn("could not forget a refused event; its redelivery will be reported as a duplicate, for the host to confirm", "error", derr)
		}
		g.stats.webhook("refused")
		return nil, err
	}
	g.stats.webhook(string(out.Status))
	log.Info("webhook event", "session", out.PaymentID, "order_id", out.OrderID, "status", string(out.Status), "confirmed", out.Confirmed)
	return &payment.WebhookResponse{Response: received(), Event: out}, nil
}

// confirmEvent checks a Checkout event against the session as Stripe's
// API reports it and returns the event to report.
func (g *Gateway) confirmEvent(ctx context.Context, st state, ev *stripe.Event, evSession *stripe.CheckoutSession, body []byte) (*payment.Event, error) {
	s, err := g.retrieveSession(ctx, st, evSession.ID)
	if err != nil {
		return nil, err
	}
	if orderOf(evSession) != orderOf(s) {
		return nil, fmt.Errorf("%w: event %s names order %q, Stripe's API says session %s is for %q", payment.ErrUnknownOrder, ev.ID, orderOf(evSession), s.ID, orderOf(s))
	}
	if evSession.AmountTotal != s.AmountTotal || !strings.EqualFold(string(evSession.Currency), string(s.Currency)) {
		return nil, fmt.Errorf("%w: event %s says %d %s, Stripe's API says session %s is %d %s", payment.ErrAmountMismatch, ev.ID,
			evSession.AmountTotal, strings.ToUpper(string(evSession.Currency)), s.ID, s.AmountTotal, strings.ToUpper(string(s.Currency)))
	}
	p, err := toPayment(s)
	if err != nil {
		return nil, err
	}
	claimed := claimedStatus(string(ev.Type), evSession)
	actual := p.Status
	status, confirmed := claimed, actual == claimed
	switch {
	case actual == payment.StatusPaid:
		// Whatever the event (events arrive out of order), the API's paid
		// is the truth.
		status, confirmed = payment.StatusPaid, true
	case claimed == payment.StatusPaid && actual == payment.StatusPending:
		return nil, fmt.Errorf("%w: event %s says session %s is paid; Stripe's API says %s (not paid yet); Stripe sends the event again later",
			payment.ErrUnconfirmed, ev.ID, s.ID, p.GatewayStatus)
	case claimed == payment.StatusPaid:
		// Paid, then refunded, failed or expired: report what is true now.
		status, confirmed = actual, true
	}
	return &payment.Event{
		EventID:       ev.ID,
		PaymentID:     s.ID,
		OrderID:       p.OrderID,
		Status:        status,
		Amount:        p.Amount,
		OccurredAt:    time.Unix(ev.Created, 0).UTC(),
		Confirmed:     confirmed,
		GatewayStatus: string(ev.Type),
		Raw:           body,
	}, nil
}

// duplicateEvent is a repeated event reported from its own payload, not
// confirmed: the host confirms with GetPayment.
func duplicateEvent(ev *stripe.Event, evSession *stripe.CheckoutSession, body []byte) (*payment.Event, error) {
	p, err := toPayment(evSession)
	if err != nil {
		return nil, err
	}
	return &payment.Event{
		EventID:       ev.ID,
		PaymentID:     evSession.ID,
		OrderID:       p.OrderID,
		Status:        claimedStatus(string(ev.Type), evSession),
		Amount:        p.Amount,
		OccurredAt:    time.Unix(ev.Created, 0).UTC(),
		GatewayStatus: string(ev.Type),
		Raw:           body,
		Duplicate:     true,
	}, nil
}

// claimedStatus is the status a Checkout event claims.
func claimedStatus(eventType string, s *stripe.CheckoutSession) payment.Status {
	switch eventType {
	case eventAsyncSucceeded:
		return payment.StatusPaid
	case eventAsyncFailed:
		return payment.StatusFailed
	case eventExpired:
		return payment.StatusExpired
	default: // eventCompleted
		if s.PaymentStatus == stripe.CheckoutSessionPaymentStatusPaid || s.PaymentStatus == stripe.CheckoutSessionPaymentStatusNoPaymentRequired {
			return payment.StatusPaid
		}
		// An async method (bank debit, ...) is still processing.
		return payment.StatusPending
	}
}

// parseEvent parses a verified body as a Stripe event. For the Checkout
// events the plugin handles it also returns the session in the event; for
// other events the session is nil.
func parseEvent(body []byte) (*stripe.Event, *stripe.CheckoutSession, error) {
	var ev stripe.Event
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ev); err != nil {
		return nil, nil, fmt.Errorf("%w: not a Stripe event: %v", payment.ErrMalformedPayload, err)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("%w: data after the event", payment.ErrMalformedPayload)
	}
	if ev.Object != "event" || ev.ID == "" || ev.Type == "" || ev.Data == nil || len(ev.Data.Raw) == 0 {
		return nil, nil, fmt.Errorf("%w: not a Stripe event (object \"event\" with id, type and data.object)", payment.ErrMalformedPayload)
	}
	switch string(ev.Type) {
	case eventCompleted, eventAsyncSucceeded, eventAsyncFailed, eventExpired:
	default:
		return &ev, nil, nil
	}
	var s stripe.CheckoutSession
	if err := json.Unmarshal(ev.Data.Raw, &s); err != nil {
		return nil, nil, fmt.Errorf("%w: event %s: data.object is not a Checkout Session: %v", payment.ErrMalformedPayload, ev.ID, err)
	}
	if s.Object != "checkout.session" || !strings.HasPrefix(s.ID, "cs_") || s.Currency == "" {
		return nil, nil, fmt.Errorf("%w: event %s: data.object is not a Checkout Session", payment.ErrMalformedPayload, ev.ID)
	}
	return &ev, &s, nil
}

func received() sdk.HTTPResponse {
	return sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"received":true}`)}
}

func modeName(live bool) string {
	if live {
		return "live"
	}
	return "test"
}
