package paymenttest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Timeouts of the suite. A fake on loopback answers in milliseconds; these
// only keep a hung plugin from hanging the test.
const (
	// callTimeout bounds every call but the cancel check's.
	callTimeout = 30 * time.Second
	// stall is how long the fake's API takes to answer in the cancel check.
	stall = 10 * time.Second
	// cancelDeadline is the deadline of the cancel check's CreatePayment.
	cancelDeadline = 200 * time.Millisecond
	// cancelWithin is how soon after it starts the cancelled call must have
	// ended, on the host's side and (in-process) on the plugin's.
	cancelWithin = 5 * time.Second
)

// Host values the suite sends, as the host would.
const (
	hostVersion = "0.0.0-paymenttest"
	environment = "test"
)

// suite is one Run: the subject, the fake and what the subtests share.
type suite struct {
	s Subject
	f Fake
	o Options

	dataDir    string
	configured bool
	// created is the payment made by "create"; the later subtests work on it.
	created *payment.Payment
	// createReq is the request that made it.
	createReq *payment.CreatePaymentRequest
	// paidNote is the notification "paid" handled and paidEvent what the
	// plugin reported for it; "replay" sends it again.
	paidNote  *sdk.HTTPRequest
	paidEvent *payment.Event
	paidOK    bool
	// replayDuplicate: "replay" saw the repeat marked Duplicate.
	replayDuplicate bool
	// unconfirmedPaid: "unconfirmed" saw the plugin report paid.
	unconfirmedPaid bool
}

// Run runs the suite as subtests of t, in order, on one Subject:
//
//  1. describe: Describe answers a non-empty name and version (those of
//     plugin.json for an Executable subject) and kind "payment".
//  2. configure: Fake.InvalidSettings are refused with
//     sdk.ErrInvalidArgument; Fake.Settings are accepted.
//  3. health: CheckHealth answers, and not with status "error" (the host
//     would hold the plugin unhealthy).
//  4. create: an amount of 0 is refused with sdk.ErrInvalidArgument; a
//     valid request gives a pending payment with an id, the request's amount
//     and order id; the same IdempotencyKey again gives the same payment.
//  5. currency: an amount in XTS (ISO 4217's test currency, which no
//     gateway takes) is refused with payment.ErrUnsupportedCurrency
//     (skipped, saying what happened, for a Fake that lists no Kinds).
//  6. cache_lost: the host's cache loses every entry (as Redis may, or an
//     eviction), and the same IdempotencyKey again still gives the same
//     payment: idempotency records belong in the durable store
//     (Host().StoreSet), not the cache. The host service the kit offers is
//     sdktest.FakeHost, with the host's limits.
//  7. status: GetPayment by id answers pending with the same amount; an
//     unknown id is payment.ErrUnknownOrder.
//  8. status_by_order: GetPayment with the order id alone (no id) answers
//     the same payment, as the host asks when it never learnt the id.
//  9. unconfirmed (unless Options.NotificationIsAuthoritative): a Paid
//     notification that the gateway's status API does not back (no
//     Fake.SetPaid yet) is not reported as a paid event; refused, it is
//     payment.ErrUnconfirmed.
//  10. paid: after Fake.SetPaid, the Paid notification gives an event with
//     status paid, the payment's id or order id, its amount, Confirmed true
//     (or Duplicate, when the plugin recorded the notification in step 9),
//     and a response status of 0 or 2xx.
//  11. replay: the same notification again is not an error: it gives the
//     same event (id, payment, order, status, amount), marked Duplicate
//     (not marked is accepted: the host decides exactly-once), with a
//     response status of 0 or 2xx. payment.ErrReplay fails: the host never
//     acknowledges it, and a repeat is what lets the host credit a payment
//     whose first delivery failed on its side.
//  12. concurrent_replays: 8 copies of a new paid payment's notification
//     at once are each answered with the paid event, none refused; a
//     plugin that marks repeats Duplicate marks all but exactly one.
//  13. reused_event (when the Fake is an EventReuser): a validly signed
//     notification that a second, paid payment is paid, carrying the event
//     id of the first payment's Paid notification, is payment.ErrReplay;
//     the second payment's own Paid notification is then accepted.
//  14. refusals: BadSignature, Unsigned, EmptySignature and TamperedAmount
//     are payment.ErrInvalidSignature, WrongAmount payment.ErrAmountMismatch,
//     UnknownOrder payment.ErrUnknownOrder and Malformed
//     payment.ErrMalformedPayload; an unsigned body of the host's default
//     body limit (HostBodyLimit, 10 MiB) is refused as
//     ErrInvalidSignature or ErrMalformedPayload, not a transport error.
//  15. unpaid: Failed, Cancelled, Expired and UnknownStatus notifications,
//     each about a new payment, are never reported paid (failed, cancelled
//     and expired are reported as such, or pending).
//  16. status_after: GetPayment answers paid.
//  17. hang (unless Options.NoRemoteAPI): with the fake's API stalled,
//     CheckHealth answers within 1 s, and CreatePayment, GetPayment and
//     HandleWebhook under a 200 ms deadline end within 5 s with an error
//     matching context.DeadlineExceeded or context.Canceled. For an
//     InProcess subject the plugin's own handler must have returned by then
//     too: a plugin that keeps waiting on the gateway's API after the host
//     gave up holds connections and goroutines for nothing.
//  18. restart_replay (Executable only): the plugin process is stopped and
//     started again on the same host service and data directory, the
//     host's cache dropped, and the paid notification sent again: a plugin
//     that marked the repeat Duplicate before still does (its replay
//     records are in the durable store).
//  19. limits: the host service refused none of the plugin's calls (the
//     host's limits: sdk.ValidateKV's key and value sizes and TTLs).
//  20. secrets: no value of a secret setting (plugin.json's config_schema:
//     "format": "password" or "writeOnly": true; InProcess reads
//     ./plugin.json) appears in what the plugin logged.
//
// The checks of kinds after Malformed run when the Fake lists them in
// Kinds (see Kind); else they are skipped, saying so.
//
// A subtest that needs an earlier one's result (a configured plugin, the
// created payment) is skipped, saying which, when that one failed; Run has
// failed by then.
func Run(t *testing.T, s Subject, f Fake, o Options) {
	t.Helper()
	if s.Plugin == nil || s.Gateway == nil {
		t.Fatal("paymenttest.Run: the Subject has no clients; get it from paymenttest.InProcess or paymenttest.Executable")
	}
	if f == nil {
		t.Fatal("paymenttest.Run: the Fake is nil; pass your fake gateway API (see the Fake interface)")
	}
	st := &suite{s: s, f: f, o: o, dataDir: s.dataDir}
	if st.dataDir == "" {
		st.dataDir = t.TempDir()
	}
	t.Run("describe", st.describe)
	t.Run("configure", st.configure)
	t.Run("health", st.health)
	t.Run("create", st.create)
	t.Run("currency", st.currency)
	t.Run("cache_lost", st.cacheLost)
	t.Run("status", st.status)
	t.Run("status_by_order", st.statusByOrder)
	t.Run("unconfirmed", st.unconfirmed)
	t.Run("paid", st.paid)
	t.Run("replay", st.replay)
	t.Run("concurrent_replays", st.concurrentReplays)
	t.Run("reused_event", st.reusedEvent)
	t.Run("refusals", st.refusals)
	t.Run("unpaid", st.unpaid)
	t.Run("status_after", st.statusAfter)
	t.Run("hang", st.hang)
	t.Run("restart_replay", st.restartReplay)
	t.Run("limits", st.limits)
	t.Run("secrets", st.secrets)
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (st *suite) describe(t *testing.T) {
	d, err := st.s.Plugin.Describe(callCtx(t), &sdk.DescribeRequest{HostVersion: hostVersion})
	if err != nil {
		t.Fatalf("Describe returned an error: %v\nDescribe must always answer, before and after Configure, with the plugin's name and version", err)
	}
	if d.Name == "" {
		t.Errorf("Describe answered an empty Name; answer the name of plugin.json (for example \"payment-acme\"), or the host refuses the plugin")
	}
	if d.Version == "" {
		t.Errorf("Describe answered an empty Version; answer the version of plugin.json (semver, for example \"1.0.0\"), or the host refuses the plugin")
	}
	if d.Kind != sdk.KindPayment {
		t.Errorf("Describe answered Kind %q, want %q; implement payment.Gateway (CreatePayment, GetPayment, HandleWebhook) and leave Kind empty or set it to %q", d.Kind, sdk.KindPayment, sdk.KindPayment)
	}
	if t.Failed() || (st.s.Name == "" && st.s.Version == "") {
		return
	}
	// The host's own check, in its words; a Name or Version the Subject
	// leaves empty is not checked.
	m := &client.Manifest{File: st.s.manifestFile, Name: cmp.Or(st.s.Name, d.Name), Version: cmp.Or(st.s.Version, d.Version), Kind: sdk.KindPayment}
	if err := m.CheckDescribe(d); err != nil {
		t.Error(err)
	}
}

func (st *suite) configureWith(t *testing.T, settings map[string]any) (*sdk.ConfigureResponse, error) {
	t.Helper()
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatalf("the Fake's settings do not marshal to JSON: %v; fix the Fake's Settings or InvalidSettings", err)
	}
	return st.s.Plugin.Configure(callCtx(t), &sdk.ConfigureRequest{
		Settings: raw, Environment: environment, HostVersion: hostVersion, DataDir: st.dataDir,
	})
}

func (st *suite) configure(t *testing.T) {
	invalid := st.f.InvalidSettings()
	if invalid == nil {
		t.Errorf("the Fake's InvalidSettings returned nil; return settings the plugin must refuse (a missing key, a bad base URL)")
	} else if _, err := st.configureWith(t, invalid); err == nil {
		t.Errorf("Configure accepted invalid settings (the Fake's InvalidSettings, keys %v); refuse settings the plugin cannot work with, wrapping sdk.ErrInvalidArgument and naming the problem: fmt.Errorf(\"%%w: server_key is required\", sdk.ErrInvalidArgument)", keys(invalid))
	} else if !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("Configure refused invalid settings with %v; wrap sdk.ErrInvalidArgument (sdk.DecodeConfig does), so the host tells the operator their settings are wrong rather than that the plugin failed", err)
	}

	resp, err := st.configureWith(t, st.f.Settings())
	if err != nil {
		t.Fatalf("Configure refused valid settings (the Fake's Settings, keys %v): %v\naccept them; if the plugin needs more, add it to the Fake's Settings and to plugin.json's config_schema", keys(st.f.Settings()), err)
	}
	for _, w := range resp.Warnings {
		t.Logf("Configure warning: %s", w)
	}
	st.configured = true
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (st *suite) needConfigured(t *testing.T) {
	t.Helper()
	if !st.configured {
		t.Skip("not run: the plugin is not configured (see the configure subtest)")
	}
}

func (st *suite) needPayment(t *testing.T) *payment.Payment {
	t.Helper()
	st.needConfigured(t)
	if st.created == nil {
		t.Skip("not run: no payment was created (see the create subtest)")
	}
	return st.created
}

func (st *suite) health(t *testing.T) {
	st.needConfigured(t)
	h, err := st.s.Plugin.CheckHealth(callCtx(t), &sdk.CheckHealthRequest{})
	if err != nil {
		t.Fatalf("CheckHealth returned an error after Configure: %v\nCheckHealth must answer; report trouble as Status sdk.HealthDegraded or sdk.HealthError with a Message", err)
	}
	if h.Status == sdk.HealthError {
		t.Errorf("CheckHealth reported status %q (%q) right after Configure with valid settings and a working gateway API; the host would hold the plugin unhealthy. Report sdk.HealthOK when the plugin can work (an empty Status reads as error)", h.Status, h.Message)
	}
}

// newID returns a random id for order ids and idempotency keys: short, and
// only letters, digits and '-', which every gateway takes.
func newID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (st *suite) request(amount payment.Money) *payment.CreatePaymentRequest {
	return &payment.CreatePaymentRequest{
		OrderID:        newID("pt-"),
		Amount:         amount,
		Description:    "mikrobill conformance kit",
		Customer:       payment.Customer{Name: "Conformance Kit", Email: "kit@example.com", Phone: "+6281234567890"},
		ReturnURL:      "https://billing.example.com/pay/return",
		CancelURL:      "https://billing.example.com/pay/cancel",
		CallbackURL:    "https://billing.example.com/webhooks/plugin",
		IdempotencyKey: newID("pt-key-"),
	}
}

func (st *suite) create(t *testing.T) {
	st.needConfigured(t)
	amount := st.f.Amount()

	zero := st.request(payment.Money{Amount: 0, Currency: amount.Currency})
	_, err := st.s.Gateway.CreatePayment(callCtx(t), zero)
	switch {
	case err == nil:
		t.Errorf("CreatePayment accepted an amount of 0; call req.Validate() first in CreatePayment, which refuses it with sdk.ErrInvalidArgument")
	case !errors.Is(err, sdk.ErrInvalidArgument):
		t.Errorf("CreatePayment refused an amount of 0 with %v; refuse it before calling the gateway, wrapping sdk.ErrInvalidArgument (req.Validate() does)", err)
	}

	req := st.request(amount)
	resp, err := st.s.Gateway.CreatePayment(callCtx(t), req)
	if err != nil {
		t.Fatalf("CreatePayment(order %s, %s) returned an error: %v\nit must create the payment at the gateway's API (the Fake) and return it pending", req.OrderID, amount, err)
	}
	p := resp.Payment
	if p.ID == "" {
		t.Fatalf("CreatePayment returned a payment without an ID; set Payment.ID to the gateway's id for it (the host asks GetPayment about it by this id)")
	}
	if p.Status != payment.StatusPending {
		t.Errorf("CreatePayment returned status %q, want %q: a new payment is pending until the gateway reports it paid", p.Status, payment.StatusPending)
	}
	if p.Amount != amount {
		t.Errorf("CreatePayment returned amount %s for a request of %s; return the amount the gateway holds, in minor units of the request's currency", p.Amount, amount)
	}
	if p.OrderID != req.OrderID {
		t.Errorf("CreatePayment returned OrderID %q for order %q; return the request's OrderID: the host matches the payment to its invoice by it", p.OrderID, req.OrderID)
	}
	st.created, st.createReq = &p, req

	again := *req
	resp2, err := st.s.Gateway.CreatePayment(callCtx(t), &again)
	switch {
	case err != nil:
		t.Errorf("CreatePayment with an IdempotencyKey used before returned an error: %v\nthe host retries with the same key after a timeout; return the payment made the first time", err)
	case resp2.Payment.ID != p.ID:
		t.Errorf("CreatePayment with the same IdempotencyKey made a second payment %q (the first was %q); return the first payment for a key seen before (send the key to the gateway as its idempotency key, or remember it)", resp2.Payment.ID, p.ID)
	}
}

// cacheLost repeats create's request once the host's cache has lost every
// entry: a gateway that keeps its idempotency records in the cache makes a
// second payment (or fails) where the host retries after a Redis restart.
func (st *suite) cacheLost(t *testing.T) {
	p := st.needPayment(t)
	if st.s.host == nil {
		t.Skip("not run: the Subject has no host service the kit controls; get it from paymenttest.InProcess or paymenttest.Executable")
	}
	st.s.host.DropCache()
	again := *st.createReq
	resp, err := st.s.Gateway.CreatePayment(callCtx(t), &again)
	const fix = "keep idempotency records in the host's durable store, Base.Host().StoreSet(ctx, key, record, sdk.StoreSetOptions{TTL: ..., OnlyIfAbsent: true}), or send the key to the gateway as its idempotency key: the host's cache (CacheSet, and the deprecated KVSet) may lose entries at any time (eviction, a Redis restart)"
	switch {
	case err != nil:
		t.Errorf("CreatePayment with an IdempotencyKey used before, once the host's cache had lost its entries, returned an error: %v\nthe host retries with the same key; %s", err, fix)
	case resp.Payment.ID != p.ID:
		t.Errorf("CreatePayment with the same IdempotencyKey made a second payment %q (the first was %q) once the host's cache had lost its entries; %s", resp.Payment.ID, p.ID, fix)
	}
}

func (st *suite) status(t *testing.T) {
	p := st.needPayment(t)
	resp, err := st.s.Gateway.GetPayment(callCtx(t), &payment.GetPaymentRequest{ID: p.ID})
	if err != nil {
		t.Errorf("GetPayment(ID %q) of the payment just created returned an error: %v\nit must ask the gateway's status API and return the payment", p.ID, err)
	} else {
		got := resp.Payment
		if got.Status != payment.StatusPending {
			t.Errorf("GetPayment(ID %q) answered status %q for a payment nobody paid, want %q; map the gateway's unpaid status word (%q) to payment.StatusPending", p.ID, got.Status, payment.StatusPending, got.GatewayStatus)
		}
		if got.Amount != p.Amount {
			t.Errorf("GetPayment(ID %q) answered amount %s, CreatePayment said %s; report the same amount in the same minor units", p.ID, got.Amount, p.Amount)
		}
	}

	unknown := newID("pt-unknown-")
	_, err = st.s.Gateway.GetPayment(callCtx(t), &payment.GetPaymentRequest{ID: unknown})
	switch {
	case err == nil:
		t.Errorf("GetPayment(ID %q) of a payment that does not exist returned no error; return payment.ErrUnknownOrder when the gateway does not know the payment (its API answers not found)", unknown)
	case !errors.Is(err, payment.ErrUnknownOrder):
		t.Errorf("GetPayment(ID %q) of a payment that does not exist returned %v; wrap payment.ErrUnknownOrder when the gateway's API answers not found, so the host can tell \"no such payment\" from \"try again\"", unknown, err)
	}
}

// describeEvent formats an event for failure messages.
func describeEvent(ev *payment.Event) string {
	if ev == nil {
		return "no event"
	}
	return fmt.Sprintf("event{Status: %q, PaymentID: %q, OrderID: %q, Amount: %s, Confirmed: %t, Duplicate: %t, EventID: %q}",
		ev.Status, ev.PaymentID, ev.OrderID, ev.Amount, ev.Confirmed, ev.Duplicate, ev.EventID)
}

func (st *suite) webhook(t *testing.T, req sdk.HTTPRequest) (*payment.WebhookResponse, error) {
	t.Helper()
	return st.s.Gateway.HandleWebhook(callCtx(t), &payment.WebhookRequest{Request: req})
}

func (st *suite) unconfirmed(t *testing.T) {
	if st.o.NotificationIsAuthoritative {
		t.Skip("Options.NotificationIsAuthoritative: the gateway has no status API apart from its notifications")
	}
	p := st.needPayment(t)
	note := st.f.Notification(t, *p, Paid)
	resp, err := st.webhook(t, note)
	if err != nil {
		if !errors.Is(err, payment.ErrUnconfirmed) {
			t.Errorf("HandleWebhook refused a validly signed notification that says paid, while the gateway's status API still says unpaid, with %v; either report the status the API gives (pending), or refuse it wrapping payment.ErrUnconfirmed, which the host answers 409 unconfirmed so that the gateway sends it again", err)
		}
		return
	}
	if resp.Event != nil && resp.Event.Status == payment.StatusPaid {
		st.unconfirmedPaid = true
		t.Errorf("HandleWebhook reported %s for a validly signed notification that says paid, while the gateway's status API still says the payment is unpaid; a signed notification is not enough: ask the status API (GetPayment) and report paid only when it says paid, with Confirmed true", describeEvent(resp.Event))
	}
}

func (st *suite) paid(t *testing.T) {
	p := st.needPayment(t)
	st.f.SetPaid(t, *p)
	note := st.f.Notification(t, *p, Paid)
	st.paidNote = &note
	resp, err := st.webhook(t, note)
	if err != nil {
		msg := fmt.Sprintf("HandleWebhook refused a validly signed notification that payment %q (order %q, %s) is paid, which the gateway's status API confirms: %v\nverify the signature over the raw body as the gateway signs it, confirm with the status API, and report the event", p.ID, p.OrderID, p.Amount, err)
		switch {
		case errors.Is(err, payment.ErrReplay) && st.unconfirmedPaid:
			msg += "\nit answered ErrReplay because it reported this notification paid before the gateway's API said so (see the unconfirmed subtest)"
		case errors.Is(err, payment.ErrReplay):
			msg += "\nit answered ErrReplay to a notification it had seen for the same payment (the unconfirmed subtest sent it before the gateway's API said paid): a repeat about the same payment is not an error. Report it, confirmed with the status API, or marked Event.Duplicate; keep ErrReplay for a notification id seen before for another payment"
		}
		t.Fatal(msg)
	}
	ev := resp.Event
	if ev == nil {
		t.Fatalf("HandleWebhook answered a paid notification with no event; return WebhookResponse.Event describing the payment, or the host never credits the invoice")
	}
	if ev.Status != payment.StatusPaid {
		t.Errorf("HandleWebhook answered %s for a notification that the payment is paid (confirmed by the status API); set Event.Status to payment.StatusPaid", describeEvent(ev))
	}
	if ev.PaymentID != p.ID && ev.OrderID != p.OrderID {
		t.Errorf("HandleWebhook answered %s, but the payment is ID %q, order %q; set Event.PaymentID to the payment's ID (as CreatePayment returned it) or Event.OrderID to its order id, so the host can find the invoice", describeEvent(ev), p.ID, p.OrderID)
	}
	if ev.Amount != p.Amount {
		t.Errorf("HandleWebhook answered %s for a payment of %s; report the paid amount in minor units with its currency", describeEvent(ev), p.Amount)
	}
	if !ev.Confirmed && !ev.Duplicate {
		t.Errorf("HandleWebhook answered %s with Confirmed false; confirm the status with the gateway's status API before reporting paid, and set Event.Confirmed", describeEvent(ev))
	}
	if c := resp.Response.StatusCode; c != 0 && (c < 200 || c > 299) {
		t.Errorf("HandleWebhook answered HTTP status %d to an accepted notification; answer 2xx (or leave StatusCode 0 for 200), or the gateway keeps retrying it", c)
	}
	st.paidEvent = ev
	st.paidOK = !t.Failed()
}

func (st *suite) replay(t *testing.T) {
	st.needPayment(t)
	if st.paidNote == nil || !st.paidOK {
		t.Skip("not run: the paid notification was not accepted (see the paid subtest)")
	}
	resp, err := st.webhook(t, *st.paidNote)
	if err != nil {
		msg := fmt.Sprintf("HandleWebhook refused the same paid notification a second time with %v\na repeat is not an error: return the same event again with Event.Duplicate set. The host decides exactly-once in its own store and answers the gateway 2xx only once the credit is committed; if its first credit failed (a database restart, the plugin killed during GetPayment), the gateway's repeat is the only way the invoice gets credited now", err)
		if errors.Is(err, payment.ErrReplay) {
			msg += "\npayment.ErrReplay is for a notification id seen before for another payment; the host answers it 409 and credits nothing"
		}
		t.Fatal(msg)
	}
	ev, first := resp.Event, st.paidEvent
	if ev == nil {
		t.Fatalf("HandleWebhook answered the same paid notification a second time with no event; return the event again, marked Event.Duplicate, or the host cannot credit a payment whose first delivery failed on its side")
	}
	if ev.EventID != first.EventID || ev.PaymentID != first.PaymentID || ev.OrderID != first.OrderID || ev.Status != first.Status || ev.Amount != first.Amount {
		t.Errorf("HandleWebhook answered the same paid notification a second time with %s, the first time with %s; report the same event (id, payment, order, status and amount), marked Event.Duplicate", describeEvent(ev), describeEvent(first))
	}
	if c := resp.Response.StatusCode; c != 0 && (c < 200 || c > 299) {
		t.Errorf("HandleWebhook answered HTTP status %d to a repeated notification; answer 2xx (or leave StatusCode 0 for 200): the host answers the gateway non-2xx itself when it could not apply the event", c)
	}
	st.replayDuplicate = ev.Duplicate
	if !ev.Duplicate {
		t.Logf("the repeat was not marked Event.Duplicate: accepted (the host confirms it with GetPayment and credits once), but a replay record (sdk.Host.StoreSet with OnlyIfAbsent) saves the status query and lets the plugin refuse an id reused for another payment")
	}
}

// EventReuser is an optional part of a Fake, for the reused_event check:
// a Fake that implements it lets the kit send a notification that reuses
// another payment's event id. Implement it when the gateway's event ids
// come from the sender (an operator's tool, a gateway that reuses ids);
// without it the check is skipped, saying so.
type EventReuser interface {
	// ReusedEvent is a notification, validly signed, that says second is
	// paid (with second's amount) and carries the event id of the Paid
	// notification about first (the last one made, for a Fake that gives
	// every call a new id).
	ReusedEvent(t testing.TB, first, second payment.Payment) sdk.HTTPRequest
}

func (st *suite) reusedEvent(t *testing.T) {
	first := st.needPayment(t)
	if st.paidEvent == nil || !st.paidOK {
		t.Skip("not run: the paid notification was not accepted (see the paid subtest)")
	}
	reuser, ok := st.f.(EventReuser)
	if !ok {
		t.Skip("the Fake is not a paymenttest.EventReuser: implement ReusedEvent to check that an event id used for one payment is refused for another")
	}
	req := st.request(st.f.Amount())
	created, err := st.s.Gateway.CreatePayment(callCtx(t), req)
	if err != nil {
		t.Fatalf("CreatePayment of a second payment (order %s) returned an error: %v", req.OrderID, err)
	}
	second := created.Payment
	st.f.SetPaid(t, second)
	resp, err := st.webhook(t, reuser.ReusedEvent(t, *first, second))
	switch {
	case err == nil:
		t.Errorf("HandleWebhook accepted a notification about payment %q that reuses the event id of payment %q's notification and answered %s; keep a replay record per event id naming its payment (sdk.Host.StoreSet(ctx, \"event:\"+id, paymentID, OnlyIfAbsent)) and refuse an id recorded for another payment with payment.ErrReplay, naming both payments", second.ID, first.ID, describeEvent(resp.Event))
	case !errors.Is(err, payment.ErrReplay):
		t.Errorf("HandleWebhook refused a notification about payment %q that reuses the event id of payment %q's notification with %v; wrap payment.ErrReplay, naming both payments, so the host answers 409 and the sender learns the id is taken", second.ID, first.ID, err)
	}
	resp, err = st.webhook(t, st.f.Notification(t, second, Paid))
	switch {
	case err != nil:
		t.Errorf("HandleWebhook refused payment %q's own paid notification after refusing the reused id: %v; refusing a reused id must not record anything for the payment it named", second.ID, err)
	case resp.Event == nil || resp.Event.Status != payment.StatusPaid || resp.Event.Duplicate:
		t.Errorf("HandleWebhook answered payment %q's own paid notification, after refusing the reused id, with %s; want a paid event, not a duplicate", second.ID, describeEvent(resp.Event))
	}
}

func (st *suite) refusals(t *testing.T) {
	p := st.needPayment(t)
	for _, c := range []struct {
		name string
		kind Kind
		want error
		what string
		fix  string
	}{
		{"bad_signature", BadSignature, payment.ErrInvalidSignature,
			"a notification whose signature does not verify",
			"verify the signature over the raw body before anything else, in constant time (hmac.Equal), and refuse a mismatch with payment.ErrInvalidSignature"},
		{"wrong_amount", WrongAmount, payment.ErrAmountMismatch,
			"a validly signed notification that says the payment is paid with another amount",
			"compare the notified amount and currency with the payment's and refuse a difference with payment.ErrAmountMismatch"},
		{"unknown_order", UnknownOrder, payment.ErrUnknownOrder,
			"a validly signed notification about an order the gateway never made",
			"refuse it with payment.ErrUnknownOrder (the gateway's status API answers not found for it)"},
		{"malformed", Malformed, payment.ErrMalformedPayload,
			"a notification whose body does not parse",
			"refuse a body that does not parse as the gateway's notification with payment.ErrMalformedPayload"},
	} {
		t.Run(c.name, func(t *testing.T) {
			note := st.f.Notification(t, *p, c.kind)
			resp, err := st.webhook(t, note)
			switch {
			case err == nil:
				t.Errorf("HandleWebhook accepted %s (Fake.Notification kind %s) and answered %s; %s", c.what, c.kind, describeEvent(resp.Event), c.fix)
			case !errors.Is(err, c.want):
				msg := fmt.Sprintf("HandleWebhook refused %s (Fake.Notification kind %s) with %v; %s", c.what, c.kind, err, c.fix)
				if errors.Is(err, payment.ErrReplay) {
					msg += "\nit answered ErrReplay: if the Fake gives this notification the same event id as the paid one, give each Kind its own id; otherwise check the signature, body, order and amount before the replay guard"
				}
				t.Error(msg)
			}
		})
	}
	for _, c := range signatureRefusals {
		t.Run(c.name, func(t *testing.T) { st.signatureRefusal(t, *p, c.kind, c.what) })
	}
	t.Run("oversized", st.oversized)
}

func (st *suite) statusAfter(t *testing.T) {
	p := st.needPayment(t)
	if !st.paidOK {
		t.Skip("not run: the paid notification was not accepted (see the paid subtest)")
	}
	resp, err := st.s.Gateway.GetPayment(callCtx(t), &payment.GetPaymentRequest{ID: p.ID})
	if err != nil {
		t.Fatalf("GetPayment(ID %q) of a payment the gateway's API reports paid returned an error: %v\nit must ask the status API and answer the payment, paid: the host confirms every paid event this way before it credits the invoice", p.ID, err)
	}
	if resp.Payment.Status != payment.StatusPaid {
		t.Errorf("GetPayment(ID %q) answered status %q (gateway status %q) for a payment the gateway's API reports paid; map the gateway's paid status word to payment.StatusPaid: the host confirms with GetPayment every paid event HandleWebhook did not confirm (a duplicate) before it credits the invoice", p.ID, resp.Payment.Status, resp.Payment.GatewayStatus)
	}
	if resp.Payment.Amount != p.Amount {
		t.Errorf("GetPayment(ID %q) answered amount %s for a payment of %s; report the amount the gateway holds, in the same minor units as CreatePayment", p.ID, resp.Payment.Amount, p.Amount)
	}
}
