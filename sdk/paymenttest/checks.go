package paymenttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Limits and timings of the checks added for the kinds after Malformed, the
// restart, the hung gateway and the logs.
const (
	// HostBodyLimit is the host's default limit of a request body
	// (server.body_limit, BODY_LIMIT: 10 MiB): the largest notification
	// the host forwards to a plugin unless the operator lowers it.
	HostBodyLimit = 10 << 20
	// concurrentDeliveries is how many copies of one notification the
	// concurrent_replays check sends at once.
	concurrentDeliveries = 8
	// healthWithin is how fast CheckHealth must answer while the gateway's
	// API hangs: half the host's default health_timeout (2 s), after which
	// the host counts the plugin hung and, a few in a row, kills it.
	healthWithin = time.Second
	// unsupportedCurrency is ISO 4217's code reserved for tests: no gateway
	// takes it.
	unsupportedCurrency = "XTS"
)

// kinds reports whether the Fake builds notifications of kind k.
func (st *suite) builds(k Kind) bool {
	if k <= Malformed {
		return true
	}
	lister, ok := st.f.(Kinds)
	return ok && slices.Contains(lister.Kinds(), k)
}

// needKind skips the check when the Fake does not build k, saying how to
// make it build k.
func (st *suite) needKind(t *testing.T, k Kind) {
	t.Helper()
	if !st.builds(k) {
		t.Skipf("not run: the Fake does not build %s notifications; list %s in the Fake's Kinds() (paymenttest.Kinds) and build it in Notification (see the Kind's doc)", k, k)
	}
}

// newPayment creates a payment of the Fake's amount for a check of its own.
func (st *suite) newPayment(t *testing.T) payment.Payment {
	t.Helper()
	req := st.request(st.f.Amount())
	resp, err := st.s.Gateway.CreatePayment(callCtx(t), req)
	if err != nil {
		t.Fatalf("CreatePayment of a new payment (order %s) returned an error: %v\nsee the create subtest", req.OrderID, err)
	}
	return resp.Payment
}

// currency: a currency the gateway does not take is refused with
// payment.ErrUnsupportedCurrency, before anything is asked of the gateway.
func (st *suite) currency(t *testing.T) {
	st.needConfigured(t)
	if st.f.Amount().Currency == unsupportedCurrency {
		t.Skipf("not run: the Fake's Amount is in %s, the currency this check uses as one no gateway takes", unsupportedCurrency)
	}
	req := st.request(payment.Money{Amount: st.f.Amount().Amount, Currency: unsupportedCurrency})
	resp, err := st.s.Gateway.CreatePayment(callCtx(t), req)
	if _, current := st.f.(Kinds); !current && !errors.Is(err, payment.ErrUnsupportedCurrency) {
		// A Fake written before this check may accept any currency, as
		// the gateway's real API would not; such a Fake lists no Kinds.
		t.Skipf("not enforced for a Fake that does not list its Kinds (paymenttest.Kinds): CreatePayment in %s answered %v (payment %q); refuse currencies the gateway does not take with payment.ErrUnsupportedCurrency, and make the Fake refuse them as the gateway does", unsupportedCurrency, err, paymentID(resp))
	}
	switch {
	case err == nil:
		t.Errorf("CreatePayment accepted an amount in %s (ISO 4217's test currency, which no gateway takes) and answered payment %q; check the currency against those the gateway takes and refuse others with payment.ErrUnsupportedCurrency, naming the ones it takes", unsupportedCurrency, resp.Payment.ID)
	case !errors.Is(err, payment.ErrUnsupportedCurrency):
		t.Errorf("CreatePayment refused an amount in %s (a currency the gateway does not take) with %v; wrap payment.ErrUnsupportedCurrency, so that the host tells the operator to pick another gateway for that currency rather than that this one failed", unsupportedCurrency, err)
	}
}

func paymentID(resp *payment.CreatePaymentResponse) string {
	if resp == nil {
		return ""
	}
	return resp.Payment.ID
}

// statusByOrder: GetPayment with the order id alone finds the payment. The
// host asks this way when it has no payment id (reconciliation after a
// create whose answer was lost).
func (st *suite) statusByOrder(t *testing.T) {
	p := st.needPayment(t)
	resp, err := st.s.Gateway.GetPayment(callCtx(t), &payment.GetPaymentRequest{OrderID: p.OrderID})
	if err != nil {
		t.Fatalf("GetPayment(OrderID %q) with no ID returned an error: %v\nthe host asks by order id alone when it never learnt the payment's id (CreatePayment's answer lost to a timeout); look the order up at the gateway (its search or by-reference API) and answer its latest payment", p.OrderID, err)
	}
	got := resp.Payment
	if got.ID != p.ID || got.OrderID != p.OrderID {
		t.Errorf("GetPayment(OrderID %q) answered payment %q of order %q; want the payment CreatePayment made for the order, %q", p.OrderID, got.ID, got.OrderID, p.ID)
	}
	if got.Amount != p.Amount {
		t.Errorf("GetPayment(OrderID %q) answered amount %s, CreatePayment said %s", p.OrderID, got.Amount, p.Amount)
	}
}

// concurrentReplays sends one paid notification of a new payment several
// times at once, as a gateway that retries fast (or two host instances)
// delivers it. Every copy is answered with the event; a plugin that marks
// repeats Duplicate marks all but one.
func (st *suite) concurrentReplays(t *testing.T) {
	st.needConfigured(t)
	if !st.paidOK {
		t.Skip("not run: the paid notification was not accepted (see the paid subtest)")
	}
	p := st.newPayment(t)
	st.f.SetPaid(t, p)
	note := st.f.Notification(t, p, Paid)

	type answer struct {
		resp *payment.WebhookResponse
		err  error
	}
	answers := make([]answer, concurrentDeliveries)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range answers {
		wg.Go(func() {
			<-start
			resp, err := st.webhook(t, note)
			answers[i] = answer{resp, err}
		})
	}
	close(start)
	wg.Wait()

	firsts := 0
	for i, a := range answers {
		switch {
		case a.err != nil:
			msg := fmt.Sprintf("delivery %d of %d concurrent copies of payment %q's paid notification was refused: %v\nevery copy must be answered with the event (marked Duplicate but one): the host credits once in its own store, and a copy refused while the first is still being confirmed may be the one whose credit commits", i+1, concurrentDeliveries, p.ID, a.err)
			if errors.Is(a.err, payment.ErrReplay) {
				msg += "\npayment.ErrReplay is for an id recorded for another payment: write the replay record with OnlyIfAbsent naming the payment, and treat a record naming this payment as a repeat"
			}
			t.Error(msg)
		case a.resp.Event == nil || a.resp.Event.Status != payment.StatusPaid:
			t.Errorf("delivery %d of %d concurrent copies of payment %q's paid notification was answered with %s; want the paid event", i+1, concurrentDeliveries, p.ID, describeEvent(a.resp.Event))
		case !a.resp.Event.Duplicate:
			firsts++
		}
	}
	if t.Failed() {
		return
	}
	// One more, after all: a plugin that keeps replay records marks it.
	again, err := st.webhook(t, note)
	if err != nil || again.Event == nil || !again.Event.Duplicate {
		if firsts == 0 {
			t.Errorf("all %d concurrent copies of payment %q's paid notification were marked Duplicate and none as the first delivery; exactly one is the first", concurrentDeliveries, p.ID)
		}
		return
	}
	if firsts > 1 {
		t.Errorf("%d of %d concurrent copies of payment %q's paid notification were answered as first deliveries (not Duplicate), though the plugin marks repeats; record the notification atomically (Host().StoreSet with OnlyIfAbsent, or payment.ReplayRecords.Record) and mark every copy that did not write the record Duplicate: a look-up followed by a write lets concurrent copies all pass", firsts, concurrentDeliveries, p.ID)
	}
	if firsts == 0 {
		t.Errorf("all %d concurrent copies of payment %q's paid notification were marked Duplicate and none as the first delivery; exactly one is the first", concurrentDeliveries, p.ID)
	}
}

// restartReplay stops the plugin process, starts it again on the same host
// service (the durable store kept, the cache dropped) and sends the paid
// notification again: a plugin that marked the repeat Duplicate before the
// restart must still know it.
func (st *suite) restartReplay(t *testing.T) {
	st.needPayment(t)
	if st.paidNote == nil || !st.paidOK {
		t.Skip("not run: the paid notification was not accepted (see the paid subtest)")
	}
	if st.s.restart == nil {
		t.Skip("not run: only a Subject from paymenttest.Executable can be restarted; run the suite on one too")
	}
	st.s.Plugin, st.s.Gateway = st.s.restart(t)
	st.configured = false
	if _, err := st.configureWith(t, st.f.Settings()); err != nil {
		t.Fatalf("Configure refused, after a restart, the settings it accepted before: %v", err)
	}
	st.configured = true
	st.s.host.DropCache()

	resp, err := st.webhook(t, *st.paidNote)
	if err != nil {
		t.Fatalf("HandleWebhook refused, after the plugin was restarted, the paid notification it accepted before: %v\na repeat is not an error, before or after a restart; keep replay records in the host's durable store", err)
	}
	ev := resp.Event
	if ev == nil || ev.Status != payment.StatusPaid || (ev.PaymentID != st.paidEvent.PaymentID && ev.OrderID != st.paidEvent.OrderID) {
		t.Fatalf("HandleWebhook answered the paid notification, after the plugin was restarted, with %s; before: %s", describeEvent(ev), describeEvent(st.paidEvent))
	}
	if st.replayDuplicate && !ev.Duplicate {
		t.Errorf("HandleWebhook marked the repeated paid notification Duplicate before the plugin was restarted, and not after: its replay records did not survive the restart (or the loss of the host's cache). Keep them in the host's durable store, Base.Host().StoreSet(ctx, key, paymentID, sdk.StoreSetOptions{TTL: ..., OnlyIfAbsent: true}) (payment.ReplayRecords does), never in memory, the cache, or a file outside the data directory")
	}
}

// signatureRefusals are the checks of notifications whose signature is
// missing, empty or does not cover the body: each must be
// payment.ErrInvalidSignature.
var signatureRefusals = []struct {
	name string
	kind Kind
	what string
}{
	{"unsigned", Unsigned, "a notification that says the payment is paid and carries no signature at all"},
	{"empty_signature", EmptySignature, "a notification that says the payment is paid with an empty signature"},
	{"tampered_amount", TamperedAmount, "a genuine notification's signature sent with the amount in the body changed"},
}

const signatureFix = "verify the signature first, over the raw body exactly as received, in constant time (hmac.Equal), and refuse with payment.ErrInvalidSignature when it is missing, empty or does not match; never skip the check because the signature is absent"

func (st *suite) signatureRefusal(t *testing.T, p payment.Payment, kind Kind, what string) {
	st.needKind(t, kind)
	resp, err := st.webhook(t, st.f.Notification(t, p, kind))
	switch {
	case err == nil:
		t.Errorf("HandleWebhook accepted %s (Fake.Notification kind %s) and answered %s; %s", what, kind, describeEvent(resp.Event), signatureFix)
	case !errors.Is(err, payment.ErrInvalidSignature):
		t.Errorf("HandleWebhook refused %s (Fake.Notification kind %s) with %v; %s", what, kind, err, signatureFix)
	}
}

// oversized sends a body as large as the host forwards by default. The
// plugin must answer it (a refusal), not fail the call: a gRPC server with
// a 4 MiB receive limit (the default of most gRPC libraries) answers
// ResourceExhausted, and the gateway's large notifications are lost.
func (st *suite) oversized(t *testing.T) {
	pad := HostBodyLimit - len(`{"padding":""}`)
	body := make([]byte, 0, HostBodyLimit)
	body = append(body, `{"padding":"`...)
	body = append(body, strings.Repeat("x", pad)...)
	body = append(body, `"}`...)
	req := sdk.HTTPRequest{
		Method: "POST", Path: "/webhooks/plugin", RemoteAddr: "127.0.0.1:5555", Host: "billing.example.com",
		Header: map[string][]string{"Content-Type": {"application/json"}}, Body: body, ReceivedAt: time.Now(),
	}
	resp, err := st.webhook(t, req)
	switch {
	case err == nil:
		t.Errorf("HandleWebhook accepted an unsigned %d-byte body that is no notification and answered %s; refuse it with payment.ErrInvalidSignature", len(body), describeEvent(resp.Event))
	case errors.Is(err, payment.ErrInvalidSignature), errors.Is(err, payment.ErrMalformedPayload):
	default:
		t.Errorf("HandleWebhook of an unsigned %d-byte body (the host's default body_limit, 10 MiB) failed with %v; the host forwards bodies up to its limit: accept gRPC messages of at least 64 MiB (sdk.Serve does; in other languages set the server's maximum receive message length) and refuse such a body with payment.ErrInvalidSignature", len(body), err)
	}
}

// unpaid sends, for one new payment each, notifications that it failed,
// was cancelled, expired or has a status word the gateway never
// documented; none may be reported paid.
func (st *suite) unpaid(t *testing.T) {
	st.needConfigured(t)
	for _, c := range []struct {
		name string
		kind Kind
		want payment.Status // "" for UnknownStatus: anything but paid
	}{
		{"failed", Failed, payment.StatusFailed},
		{"cancelled", Cancelled, payment.StatusCancelled},
		{"expired", Expired, payment.StatusExpired},
		{"unknown_status", UnknownStatus, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st.needKind(t, c.kind)
			p := st.newPayment(t)
			note := st.f.Notification(t, p, c.kind)
			defer st.unpaidStatus(t, p, c.kind, c.want)
			resp, err := st.webhook(t, note)
			if err != nil {
				if errors.Is(err, payment.ErrInvalidSignature) || errors.Is(err, payment.ErrMalformedPayload) {
					t.Errorf("HandleWebhook refused a validly signed %s notification with %v; verify and parse it like a paid one, and report the status the gateway's API gives", c.kind, err)
				}
				return
			}
			if ev := resp.Event; ev != nil {
				if ev.Status == payment.StatusPaid {
					t.Errorf("HandleWebhook reported %s for a %s notification, while the gateway's status API says the same as the notification; map every status word explicitly and let an unknown one count as pending, never as paid", describeEvent(ev), c.kind)
				} else if c.want != "" && ev.Status != c.want && ev.Status != payment.StatusPending {
					t.Errorf("HandleWebhook reported %s for a %s notification; report status %q (or pending)", describeEvent(ev), c.kind, c.want)
				}
			}
		})

	}
}

// unpaidStatus asks GetPayment about p, whose status the Fake's API now
// gives as kind says: never paid.
func (st *suite) unpaidStatus(t *testing.T, p payment.Payment, kind Kind, want payment.Status) {
	resp, err := st.s.Gateway.GetPayment(callCtx(t), &payment.GetPaymentRequest{ID: p.ID})
	switch {
	case err != nil:
		t.Errorf("GetPayment(ID %q), whose status the gateway's API gives as %s, returned an error: %v; map the gateway's status word and answer the payment", p.ID, kind, err)
	case resp.Payment.Status == payment.StatusPaid:
		t.Errorf("GetPayment(ID %q) answered status paid (gateway status %q) for a payment the gateway's API gives as %s; map every status word explicitly and let an unknown one count as pending, never as paid: the host credits invoices by GetPayment", p.ID, resp.Payment.GatewayStatus, kind)
	case want != "" && resp.Payment.Status != want:
		t.Errorf("GetPayment(ID %q) answered status %q (gateway status %q) for a payment the gateway's API gives as %s; map that word to %q", p.ID, resp.Payment.Status, resp.Payment.GatewayStatus, kind, want)
	}
}

// hang stalls the gateway's API: CheckHealth must still answer at once, and
// CreatePayment, GetPayment and HandleWebhook must end with the host's
// deadline (for an InProcess subject, on the plugin's side too).
func (st *suite) hang(t *testing.T) {
	if st.o.NoRemoteAPI {
		t.Skip("Options.NoRemoteAPI: the plugin calls no remote API")
	}
	st.needConfigured(t)
	// Made before the API stalls: the notification's confirmation is what
	// stalls.
	p := st.newPayment(t)
	note := st.f.Notification(t, p, Paid)
	st.f.Stall(stall)
	defer st.f.Stall(0)

	t.Run("health", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
		defer cancel()
		start := time.Now()
		h, err := st.s.Plugin.CheckHealth(ctx, &sdk.CheckHealthRequest{})
		took := time.Since(start)
		switch {
		case err != nil:
			t.Errorf("CheckHealth, while the gateway's API hangs, returned an error after %s: %v; answer from memory (the last call's outcome), with status degraded if the last call failed", took.Round(time.Millisecond), err)
		case took > healthWithin:
			t.Errorf("CheckHealth took %s to answer while the gateway's API hangs (status %q); answer within %s, from memory: the host's health check gives up after 2 s and kills a plugin that misses several in a row. Never call the gateway from CheckHealth", took.Round(time.Millisecond), h.Status, healthWithin)
		}
	})
	t.Run("create", func(t *testing.T) {
		req := st.request(st.f.Amount())
		st.deadlineCall(t, "CreatePayment", createPaymentFrame, false, func(ctx context.Context) error {
			_, err := st.s.Gateway.CreatePayment(ctx, req)
			return err
		})
	})
	t.Run("get", func(t *testing.T) {
		st.deadlineCall(t, "GetPayment", getPaymentFrame, false, func(ctx context.Context) error {
			_, err := st.s.Gateway.GetPayment(ctx, &payment.GetPaymentRequest{ID: p.ID})
			return err
		})
	})
	t.Run("webhook", func(t *testing.T) {
		st.deadlineCall(t, "HandleWebhook", handleWebhookFrame, st.o.NotificationIsAuthoritative, func(ctx context.Context) error {
			_, err := st.s.Gateway.HandleWebhook(ctx, &payment.WebhookRequest{Request: note})
			return err
		})
	})
}

// deadlineCall runs call under a cancelDeadline deadline while the
// gateway's API is stalled, and checks that it ended in time with the
// deadline's error and (in-process) that the plugin's handler, found on
// the stack by frame, returned too. mayAnswer: a call that needs no API
// may succeed.
func (st *suite) deadlineCall(t *testing.T, name, frame string, mayAnswer bool, call func(ctx context.Context) error) {
	var before map[int64]bool
	if st.s.inProcess {
		before = handlersRunning(frame)
	}
	ctx, cancel := context.WithTimeout(t.Context(), cancelDeadline)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(cancelWithin):
		t.Fatalf("%s under a %s deadline had not returned after %s while the gateway's API did not answer; pass the call's ctx to every request to the gateway (http.NewRequestWithContext) and return when it ends", name, cancelDeadline, cancelWithin)
	}
	switch {
	case err == nil && mayAnswer:
	case err == nil:
		t.Errorf("%s under a %s deadline succeeded in %s although the gateway's API was stalled for %s; the Fake's Stall must delay its API's answers", name, cancelDeadline, time.Since(start).Round(time.Millisecond), stall)
	case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
		t.Errorf("%s under a %s deadline, with the gateway's API stalled, returned %v; when ctx ends, return ctx.Err() (or an error wrapping it), so the host sees that its deadline ran out", name, cancelDeadline, err)
	}
	if !st.s.inProcess {
		return
	}
	// The host's side has given up; the plugin's handler must follow.
	for {
		stuck := newHandlers(before, handlersRunning(frame))
		if stuck == 0 {
			return
		}
		if time.Since(start) > cancelWithin {
			t.Errorf("the plugin's %s was still running %s after the host's %s deadline had passed (the gateway's API was stalled for %s): it ignores ctx. Pass the call's ctx to every request to the gateway (http.NewRequestWithContext, or the gateway SDK's context variant) and stop retrying when ctx is done", name, time.Since(start).Round(time.Millisecond), cancelDeadline, stall)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// limits fails when the host service refused any of the plugin's calls for
// breaking the host's limits (sdk.ValidateKV): the real host refuses the
// same calls, and what the plugin meant to keep is lost.
func (st *suite) limits(t *testing.T) {
	if st.s.host == nil {
		t.Skip("not run: the Subject has no host service the kit controls; get it from paymenttest.InProcess or paymenttest.Executable")
	}
	for _, err := range st.s.host.Refused() {
		t.Errorf("the host refused the plugin's %v\nkeep keys under %d bytes, values under %d bytes (larger data in the data directory), durable-store TTLs at most %s (sdk.MaxStoreTTL) and cache TTLs at most %s (sdk.MaxCacheTTL)", err, sdk.MaxKeyBytes, sdk.MaxValueBytes, sdk.MaxStoreTTL, sdk.MaxCacheTTL)
	}
}

// secrets fails when a secret setting's value appears in what the plugin
// logged during the run.
func (st *suite) secrets(t *testing.T) {
	if st.s.logs == nil {
		t.Skip("not run: the Subject's logs are not captured; get it from paymenttest.InProcess or paymenttest.Executable")
	}
	if st.s.secretKeys == nil {
		t.Skip("not run: no secret settings known; run the suite beside plugin.json (InProcess reads ./plugin.json) or on paymenttest.Executable, with the secrets marked \"format\": \"password\" or \"writeOnly\": true in config_schema")
	}
	logs := st.s.logs.String()
	settings := st.f.Settings()
	for _, key := range st.s.secretKeys {
		v, ok := settings[key].(string)
		if !ok || len(v) < 4 {
			continue
		}
		escaped, _ := json.Marshal(v)
		if strings.Contains(logs, v) || strings.Contains(logs, strings.Trim(string(escaped), `"`)) {
			t.Errorf("the plugin logged the value of its secret setting %q (plugin.json marks it secret); never log a secret's value at any level: log that it is set, or which one is used (\"credentials\", true)", key)
		}
	}
}
