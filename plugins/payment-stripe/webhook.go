package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
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

// VerifyNotification checks the Stripe-Signature header over the raw body
// with the plugin's clock, before anything is read.
func (a *api) VerifyNotification(r *sdk.HTTPRequest) error {
	return verifySignature(r.Header.Get(SignatureHeader), r.Body, a.cfg.WebhookSecrets, a.now())
}

// ParseNotification reads a verified Stripe event. A Checkout event is what
// it claims about its session; any other event is acknowledged and
// ignored (nil); an event of the other mode (live or test) than the
// plugin's is refused. The SDK then confirms the session with Stripe's
// API: its order, amount and currency must agree, and a paid event the API
// does not back yet is payment.ErrUnconfirmed (Stripe sends it again).
func (a *api) ParseNotification(r *sdk.HTTPRequest) (*gateway.Notification, error) {
	ev, evSession, err := parseEvent(r.Body)
	if err != nil {
		return nil, err
	}
	if ev.Livemode != (a.cfg.Mode == "live") {
		return nil, fmt.Errorf("%w: event %s is from Stripe's %s mode; the plugin is in %s mode; check the webhook endpoint and webhook_secrets",
			sdk.ErrFailedPrecondition, ev.ID, modeName(ev.Livemode), a.cfg.Mode)
	}
	if evSession == nil {
		a.log.Debug("event ignored", "event", ev.ID, "type", string(ev.Type))
		return nil, nil
	}
	amount, err := fromStripe(evSession.AmountTotal, string(evSession.Currency))
	if err != nil {
		return nil, fmt.Errorf("%w: event %s: %v", payment.ErrMalformedPayload, ev.ID, err)
	}
	n := &gateway.Notification{
		ID:            ev.ID,
		PaymentID:     evSession.ID,
		OrderID:       orderOf(evSession),
		Status:        claimedStatus(string(ev.Type), evSession),
		Amount:        amount,
		GatewayStatus: string(ev.Type),
	}
	if ev.Created != 0 {
		n.OccurredAt = time.Unix(ev.Created, 0).UTC()
	}
	return n, nil
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

func modeName(live bool) string {
	if live {
		return "live"
	}
	return "test"
}
