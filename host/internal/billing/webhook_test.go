package billing_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// failCredits makes every credit of an invoice fail inside its transaction
// until the returned function is called. On PostgreSQL a deferred trigger
// terminates the transaction's own connection at COMMIT, as a database
// restart mid-request does; on SQLite a trigger aborts the insert of the
// credit.
func failCredits(t *testing.T, st *store.Store) (restore func()) {
	t.Helper()
	ctx := context.Background()
	db := st.Q().DB()
	var stmts, drop []string
	if st.Dialect() == store.Postgres {
		stmts = []string{
			`CREATE FUNCTION test_drop_connection() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$`,
			`CREATE CONSTRAINT TRIGGER test_drop_connection AFTER INSERT ON invoice_credits
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_drop_connection()`,
		}
		drop = []string{"DROP TRIGGER test_drop_connection ON invoice_credits", "DROP FUNCTION test_drop_connection()"}
	} else {
		stmts = []string{`CREATE TRIGGER test_fail_credit BEFORE INSERT ON invoice_credits
			BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected by the test)'); END`}
		drop = []string{"DROP TRIGGER test_fail_credit"}
	}
	for _, s := range stmts {
		if _, err := db.Exec(ctx, s); err != nil {
			t.Fatalf("install the fault: %v", err)
		}
	}
	return func() {
		t.Helper()
		for _, s := range drop {
			if _, err := db.Exec(ctx, s); err != nil {
				t.Fatalf("remove the fault: %v", err)
			}
		}
	}
}

// webhookEvent sends a notification with its own event id.
func (e *env) webhookEvent(eventID, paymentID, status string) (*billing.WebhookResult, error) {
	body := fmt.Sprintf(`{"event_id":%q,"payment_id":%q,"status":%q}`, eventID, paymentID, status)
	return e.svc.HandleWebhook(context.Background(), "payment-fake", sdk.HTTPRequest{
		Method: http.MethodPost, Path: "/webhooks/payment-fake", Header: http.Header{"X-Fake-Signature": {"ok"}}, Body: []byte(body),
	})
}

func (e *env) invoiceStatus(id int64) (string, int) {
	e.t.Helper()
	ctx := context.Background()
	inv, err := e.st.Q().GetInvoice(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	n, err := e.st.Q().InvoiceCredits(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv.Status, n
}

// TestCreditFailureThenRetryCreditsOnce (issue point 1): the plugin has
// recorded the notification (its replay guard) when the host's credit fails
// before the commit. The webhook is answered with an error, never a
// result the HTTP layer would turn into 2xx; the gateway's retry, which the
// plugin now reports as a Duplicate, credits the invoice at once, once; a
// further repeat is answered as settled without asking the gateway again.
func TestCreditFailureThenRetryCreditsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		inv, payID := e.invoiceAndPayment()

		restore := failCredits(t, st)
		res, err := e.webhook(payID, "paid")
		if err == nil {
			t.Fatalf("the webhook whose credit failed returned a result (%+v); it must return an error so the gateway retries", res)
		}
		restore()
		if status, n := e.invoiceStatus(inv.ID); status != store.InvoiceUnpaid || n != 0 {
			t.Fatalf("after the failed credit: invoice %s with %d credits, want unpaid with none", status, n)
		}

		res, err = e.webhook(payID, "paid")
		if err != nil {
			t.Fatalf("the gateway's retry: %v", err)
		}
		if !res.Event.Duplicate {
			t.Errorf("the fake gateway did not report the retry as a duplicate; the test does not test what it says")
		}
		if !res.Credited || res.Response.StatusCode != http.StatusOK {
			t.Errorf("the retry: credited %v, status %d; want credited with 200", res.Credited, res.Response.StatusCode)
		}
		if status, n := e.invoiceStatus(inv.ID); status != store.InvoicePaid || n != 1 {
			t.Errorf("after the retry: invoice %s with %d credits, want paid once", status, n)
		}

		gets := e.gw.gets.Load()
		res, err = e.webhook(payID, "paid")
		if err != nil || !res.Settled || res.Credited || res.Response.StatusCode != http.StatusOK {
			t.Errorf("a repeat of the applied event: %+v %v; want settled, 200, nothing credited", res, err)
		}
		if got := e.gw.gets.Load(); got != gets {
			t.Errorf("a repeat of an applied event asked the gateway again (%d GetPayment calls)", got-gets)
		}
		if _, n := e.invoiceStatus(inv.ID); n != 1 {
			t.Errorf("%d credits, want 1", n)
		}
		e.waitJobs("provision")
		if n := e.count("provision", "completed"); n != 1 {
			t.Errorf("%d provision jobs, want 1", n)
		}
	})
}

// TestPluginFailsDuringConfirmThenRetryCredits (issue point 1): the plugin
// recorded the notification and then failed in the confirming GetPayment
// (it was killed: the host sees it unavailable). The retry credits.
func TestPluginFailsDuringConfirmThenRetryCredits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		inv, payID := e.invoiceAndPayment()
		e.gw.mu.Lock()
		e.gw.parseOnly = true // its events are confirmed with GetPayment
		e.gw.getErr = fmt.Errorf("%w: the plugin exited", sdk.ErrPluginUnavailable)
		e.gw.mu.Unlock()
		if res, err := e.webhook(payID, "paid"); !errors.Is(err, sdk.ErrPluginUnavailable) {
			t.Fatalf("webhook while GetPayment fails: %+v %v; want the plugin's unavailability", res, err)
		}
		e.gw.mu.Lock()
		e.gw.getErr = nil
		e.gw.mu.Unlock()
		res, err := e.webhook(payID, "paid")
		if err != nil || !res.Credited || !res.Event.Duplicate {
			t.Fatalf("the retry: %+v %v; want a duplicate that credits", res, err)
		}
		if status, n := e.invoiceStatus(inv.ID); status != store.InvoicePaid || n != 1 {
			t.Errorf("invoice %s with %d credits, want paid once", status, n)
		}
	})
}

// TestConfirmedEventIsNotAskedAgain: an event the plugin confirmed with
// the gateway's status API (Event.Confirmed) is credited without the host
// asking the plugin, and so the gateway, again; what the plugin's status
// query said is still checked against the invoice. A repeat of an event not
// applied here (Duplicate: the plugin made no status query for it) is
// confirmed with GetPayment.
func TestConfirmedEventIsNotAskedAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		inv, payID := e.invoiceAndPayment()

		e.gw.mu.Lock()
		e.gw.amountOverride = inv.Amount + 1
		e.gw.mu.Unlock()
		if _, err := e.webhookEvent("ev-1", payID, "paid"); !errors.Is(err, payment.ErrAmountMismatch) {
			t.Fatalf("a confirmed event for another amount: %v; want payment.ErrAmountMismatch", err)
		}
		e.gw.mu.Lock()
		e.gw.amountOverride = 0
		e.gw.statusOverride = payment.StatusPending
		e.gw.mu.Unlock()
		if res, err := e.webhookEvent("ev-2", payID, "paid"); err != nil || res.Credited || res.Event.Status != payment.StatusPending {
			t.Fatalf("a notification that says paid, its plugin's status query pending: %+v %v; want recorded, not credited", res, err)
		}
		e.gw.mu.Lock()
		e.gw.statusOverride = ""
		e.gw.mu.Unlock()

		// The first paid delivery fails here after the plugin recorded it;
		// the repeat comes back Duplicate, unconfirmed, and is asked about.
		restore := failCredits(t, st)
		if _, err := e.webhookEvent("ev-3", payID, "paid"); err == nil {
			t.Fatal("the webhook whose credit failed returned no error")
		}
		restore()
		if n := e.gw.gets.Load(); n != 0 {
			t.Fatalf("%d GetPayment calls for confirmed events; want none", n)
		}
		res, err := e.webhookEvent("ev-3", payID, "paid")
		if err != nil || !res.Credited || !res.Event.Duplicate || res.Event.Confirmed {
			t.Fatalf("the repeat: %+v %v; want an unconfirmed duplicate that credits", res, err)
		}
		if n := e.gw.gets.Load(); n != 1 {
			t.Errorf("%d GetPayment calls for the unconfirmed repeat; want 1", n)
		}
		if status, n := e.invoiceStatus(inv.ID); status != store.InvoicePaid || n != 1 {
			t.Errorf("invoice %s with %d credits, want paid once", status, n)
		}
	})
}

// TestOldPluginReplayIsRefusedAndReconciled (issue point 1, plugins built
// before Event.Duplicate): such a plugin answers a retry with
// payment.ErrReplay. The host does not acknowledge it (the gateway keeps
// resending) and checks the gateway's pending payments at once, which
// credits the payment whose first delivery failed here.
func TestOldPluginReplayIsRefusedAndReconciled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		e.gw.mu.Lock()
		e.gw.oldContract = true
		e.gw.mu.Unlock()
		inv, payID := e.invoiceAndPayment()

		restore := failCredits(t, st)
		if _, err := e.webhook(payID, "paid"); err == nil {
			t.Fatal("the webhook whose credit failed succeeded")
		}
		restore()
		res, err := e.webhook(payID, "paid")
		if !errors.Is(err, payment.ErrReplay) {
			t.Fatalf("an old plugin's replay: %+v %v; want payment.ErrReplay returned, never a result", res, err)
		}
		e.waitJobs("reconcile_gateway", "confirm_payment")
		if status, n := e.invoiceStatus(inv.ID); status != store.InvoicePaid || n != 1 {
			t.Errorf("after the gateway check: invoice %s with %d credits, want paid once", status, n)
		}
		if n := e.count("reconcile_gateway", "completed"); n != 1 {
			t.Errorf("%d reconcile_gateway jobs completed, want 1", n)
		}
	})
}

// TestReusedEventIDIsRefused (issue point 11a): a notification id the
// plugin saw for one payment, sent again about another payment, is
// payment.ErrReplay: nothing is credited, the first invoice stays paid
// once.
func TestReusedEventIDIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		inv1, pay1 := e.invoiceAndPayment()
		inv2, pay2 := e.invoiceAndPayment()
		if res, err := e.webhookEvent("conf-1", pay1, "paid"); err != nil || !res.Credited {
			t.Fatalf("first payment: %+v %v", res, err)
		}
		res, err := e.webhookEvent("conf-1", pay2, "paid")
		if !errors.Is(err, payment.ErrReplay) {
			t.Fatalf("the reused id: %+v %v; want payment.ErrReplay", res, err)
		}
		if status, n := e.invoiceStatus(inv2.ID); status != store.InvoiceUnpaid || n != 0 {
			t.Errorf("second invoice %s with %d credits, want unpaid", status, n)
		}
		if status, n := e.invoiceStatus(inv1.ID); status != store.InvoicePaid || n != 1 {
			t.Errorf("first invoice %s with %d credits, want paid once", status, n)
		}
	})
}

// TestRawEventHoldsOnlyNotifications (issue point 13): the pending
// payment's raw_event is empty, the create call's answer is kept apart in
// create_response; a notification fills raw_event and keeps the create
// answer; a confirmation by status query (confirm_payment) does not
// overwrite the notification.
func TestRawEventHoldsOnlyNotifications(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, payID := e.invoiceAndPayment()
		rec, err := st.Q().GetPaymentByExternalID(ctx, "payment-fake", payID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.RawEvent != "" || rec.CreateResponse != `{"created":true}` {
			t.Errorf("pending payment: raw_event %q create_response %q; want no raw event and the create answer apart", rec.RawEvent, rec.CreateResponse)
		}
		if _, err := e.webhook(payID, "pending"); err != nil {
			t.Fatal(err)
		}
		note := fmt.Sprintf(`{"payment_id":%q,"status":"pending"}`, payID)
		if rec, _ = st.Q().GetPaymentByExternalID(ctx, "payment-fake", payID); rec.RawEvent != note || rec.CreateResponse != `{"created":true}` {
			t.Errorf("after a notification: raw_event %q create_response %q", rec.RawEvent, rec.CreateResponse)
		}
		e.gw.mu.Lock()
		e.gw.payments[payID].Status = payment.StatusPaid
		e.gw.payments[payID].Raw = []byte(`{"status_api":"paid"}`)
		e.gw.mu.Unlock()
		if _, err := e.q.Insert(ctx, billing.ConfirmPaymentArgs{Gateway: "payment-fake", PaymentID: payID}, nil); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("confirm_payment")
		if status, _ := e.invoiceStatus(inv.ID); status != store.InvoicePaid {
			t.Fatalf("confirm_payment left the invoice %s", status)
		}
		if rec, _ = st.Q().GetPaymentByExternalID(ctx, "payment-fake", payID); rec.RawEvent != note || rec.Status != store.PaymentPaid {
			t.Errorf("after confirm_payment: status %s raw_event %q; want paid with the notification kept", rec.Status, rec.RawEvent)
		}
	})
}
