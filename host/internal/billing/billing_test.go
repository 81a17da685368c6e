package billing_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// fastRetry retries failed jobs after 100ms, so router outages pass quickly.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}

type env struct {
	t    *testing.T
	st   *store.Store
	svc  *billing.Service
	q    *jobs.Queue
	gw   *fakeGateway
	rt   *fakeRouter
	nt   *fakeNotifier
	au   *fakeAudit
	cust *store.Customer
	plan *store.Plan
	// plugs and cipher make a second service on the store (twin).
	plugs  testutil.Plugins
	cipher *store.Cipher
	cfg    billing.Config
}

func setup(t *testing.T, st *store.Store, opts ...func(*billing.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, st: st,
		gw: newFakeGateway(),
		rt: &fakeRouter{users: map[string]*routerUser{}, profiles: map[string]router.Profile{}},
		nt: &fakeNotifier{keys: map[string]bool{}},
		au: &fakeAudit{},
	}
	gwh := sdktest.Serve(t, e.gw)
	// Configure hands the plugin its host services (the store its replay
	// records live in).
	if _, err := gwh.Configure(ctx, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	plugs := testutil.Plugins{
		Payments:  map[string]payment.Gateway{"payment-fake": gwh.Payment()},
		Routers:   map[string]router.Router{"mikrotik": sdktest.Serve(t, e.rt).Router()},
		Notifiers: map[string]notify.Notifier{"whatsapp": sdktest.Serve(t, e.nt).Notifier()},
		AuditSink: sdktest.Serve(t, e.au).Audit(),
	}
	cipher, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	q := st.Q()
	if _, err := q.SeedTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	loc := &store.Location{Name: "main", Plugin: "mikrotik"}
	if err := q.CreateLocation(ctx, loc); err != nil {
		t.Fatal(err)
	}
	e.plan = &store.Plan{Name: "Home 10M", Kind: store.PlanPPPoE, RateLimit: "5M/10M", SharedUsers: 1, Validity: 30 * 24 * time.Hour,
		Price: 150000, Currency: "IDR", IsolationProfile: "isolir", Active: true}
	if err := q.CreatePlan(ctx, e.plan); err != nil {
		t.Fatal(err)
	}
	e.cust = &store.Customer{Name: "Budi", Phone: "+6281234567890", RouterUsername: "budi", RouterPassword: "rahasia-123", LocationID: loc.ID}
	if err := q.CreateCustomer(ctx, e.cust, cipher); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	cfg := billing.Config{PublicURL: "https://billing.example.net"}
	for _, o := range opts {
		o(&cfg)
	}
	e.plugs, e.cipher, e.cfg = plugs, cipher, cfg
	e.svc, err = billing.NewWithQueue(st, cipher, plugs, cfg, nil, billing.QueueConfig{Jobs: jobs.Config{PollInterval: 100 * time.Millisecond, RetryPolicy: fastRetry{}}})
	if err != nil {
		t.Fatal(err)
	}
	e.q = e.svc.Queue()
	if err := e.q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.q.Stop(ctx)
	})
	return e
}

// webhook sends the fake gateway's notification through billing.
func (e *env) webhook(paymentID, status string) (*billing.WebhookResult, error) {
	return webhookTo(e.svc, paymentID, status)
}

// creditedOf sends n copies of the fake gateway's signed webhook for
// paymentID at once, copy i to hosts[i%len(hosts)], and returns how many
// credited. A webhook that fails is a test error.
func creditedOf(t *testing.T, n int, paymentID string, hosts ...*billing.Service) int {
	t.Helper()
	var credited atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := webhookTo(hosts[i%len(hosts)], paymentID, "paid")
			if err != nil {
				t.Error(err)
				return
			}
			if res.Credited {
				credited.Add(1)
			}
		})
	}
	wg.Wait()
	return int(credited.Load())
}

// webhookTo sends the fake gateway's signed webhook to svc (one host of
// several).
func webhookTo(svc *billing.Service, paymentID, status string) (*billing.WebhookResult, error) {
	body := fmt.Sprintf(`{"payment_id":%q,"status":%q}`, paymentID, status)
	return svc.HandleWebhook(context.Background(), "payment-fake", sdk.HTTPRequest{
		Method: http.MethodPost, Path: "/webhooks/payment-fake", Header: http.Header{"X-Fake-Signature": {"ok"}}, Body: []byte(body),
	})
}

// waitJobs waits until no job of the given kinds is left to run. Waiting
// for "audit" waits for the drain that delivers the events too.
func (e *env) waitJobs(kinds ...string) {
	e.t.Helper()
	if slices.Contains(kinds, "audit") {
		kinds = append(kinds, "audit_drain")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		counts, err := e.q.Counts(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		pending := 0
		for k, n := range counts {
			for _, kind := range kinds {
				if k[0] == kind && (k[1] == "available" || k[1] == "running" || k[1] == "retryable" || k[1] == "scheduled" || k[1] == "pending") {
					pending += n
				}
			}
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("jobs %v still pending after 20s: %v", kinds, counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) count(kind, state string) int {
	e.t.Helper()
	counts, err := e.q.Counts(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return counts[[2]string{kind, state}]
}

func (e *env) invoiceAndPayment() (*store.Invoice, string) {
	e.t.Helper()
	ctx := context.Background()
	inv, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 24*time.Hour, "user:test")
	if err != nil {
		e.t.Fatal(err)
	}
	start, err := e.svc.StartPayment(ctx, inv.ID, "payment-fake", "", "user:test")
	if err != nil {
		e.t.Fatal(err)
	}
	if start.Payment.CheckoutURL == "" || start.Invoice.PaymentURL != start.Payment.CheckoutURL {
		e.t.Fatalf("StartPayment: %+v", start)
	}
	return inv, start.Payment.ID
}

func TestPaidWebhookCreditsOnceAndProvisions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, payID := e.invoiceAndPayment()

		// A webhook replayed 100 times credits the invoice once.
		credited := 0
		for range 100 {
			res, err := e.webhook(payID, "paid")
			if err != nil {
				t.Fatal(err)
			}
			if res.Credited {
				credited++
			}
			if res.Response.StatusCode != http.StatusOK {
				t.Fatalf("webhook answered %d", res.Response.StatusCode)
			}
		}
		if credited != 1 {
			t.Errorf("%d webhooks credited the invoice, want 1", credited)
		}
		if n, _ := st.Q().InvoiceCredits(ctx, inv.ID); n != 1 {
			t.Errorf("%d credits", n)
		}
		got, _ := st.Q().GetInvoice(ctx, inv.ID)
		if got.Status != store.InvoicePaid || got.SubscriptionID == 0 {
			t.Fatalf("invoice after payment: %+v", got)
		}

		e.waitJobs("provision", "notify", "audit")
		if n := e.count("provision", "completed"); n != 1 {
			t.Errorf("%d provision jobs completed, want 1", n)
		}
		u, ok := e.rt.user("main", "budi")
		if !ok || u.Profile != "mb-home-10m" || u.Password != "rahasia-123" || u.Kind != router.KindPPP {
			t.Errorf("router user: %+v (found %v)", u, ok)
		}
		msgs := e.nt.messages()
		var paidMsg *sentMessage
		for i, m := range msgs {
			if m.key == "paid-"+inv.Number {
				paidMsg = &msgs[i]
			}
		}
		if paidMsg == nil || paidMsg.to != "+6281234567890" || !strings.Contains(paidMsg.text, "Budi") || !strings.Contains(paidMsg.text, "Home 10M") ||
			paidMsg.location != "main" {
			t.Errorf("payment message: %+v (all: %+v); want it to Budi's phone, from location main", paidMsg, msgs)
		}
		for _, want := range []string{"invoice.created", "payment.started", "invoice.paid"} {
			if !strings.Contains(strings.Join(e.au.actions(), ","), want) {
				t.Errorf("audit plugin did not receive %s: %v", want, e.au.actions())
			}
		}
		log, total, err := st.Q().ListAudit(ctx, store.Page{})
		if err != nil || total < 3 || !log[0].Delivered {
			t.Errorf("host audit log: %d entries, %v", total, err)
		}
	})
}

func TestConcurrentIdenticalWebhooksCreditOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		inv, payID := e.invoiceAndPayment()
		if n := creditedOf(t, 20, payID, e.svc); n != 1 {
			t.Errorf("%d of 20 concurrent webhooks credited, want 1", n)
		}
		if n, _ := st.Q().InvoiceCredits(context.Background(), inv.ID); n != 1 {
			t.Errorf("%d credits", n)
		}
		e.waitJobs("provision", "notify")
		if n := e.count("provision", "completed"); n != 1 {
			t.Errorf("%d provision jobs, want 1", n)
		}
	})
}

func TestWebhookIsConfirmedAndChecked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, payID := e.invoiceAndPayment()

		// The status query must confirm a paid webhook: a plugin that only
		// parses notifications is asked with GetPayment
		// (TestConfirmedEventIsNotAskedAgain: one that confirms).
		e.gw.mu.Lock()
		e.gw.parseOnly = true
		e.gw.statusOverride = payment.StatusPending
		e.gw.mu.Unlock()
		if _, err := e.webhook(payID, "paid"); !errors.Is(err, billing.ErrUnconfirmed) {
			t.Errorf("unconfirmed payment: %v", err)
		}
		// The amount must match the invoice.
		e.gw.mu.Lock()
		e.gw.statusOverride, e.gw.amountOverride = "", 1000
		e.gw.mu.Unlock()
		if _, err := e.webhook(payID, "paid"); !errors.Is(err, payment.ErrAmountMismatch) {
			t.Errorf("wrong amount: %v", err)
		}
		if got, _ := st.Q().GetInvoice(ctx, inv.ID); got.Status != store.InvoiceUnpaid {
			t.Errorf("invoice %s after refused webhooks, want unpaid", got.Status)
		}
		// Bad signatures and unknown payments are the plugin's refusals.
		_, err := e.svc.HandleWebhook(ctx, "payment-fake", sdk.HTTPRequest{Method: "POST", Body: []byte(`{}`)})
		if !errors.Is(err, payment.ErrInvalidSignature) || !errors.Is(err, sdk.ErrUnauthenticated) {
			t.Errorf("bad signature: %v", err)
		}
		if _, err := e.webhook("PAY-nope", "paid"); !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("unknown payment: %v", err)
		}
		if _, err := e.svc.HandleWebhook(ctx, "payment-none", sdk.HTTPRequest{}); !errors.Is(err, billing.ErrNoPlugin) {
			t.Errorf("unknown gateway: %v", err)
		}
		// A failed payment leaves the invoice failed; a later paid one wins.
		e.gw.mu.Lock()
		e.gw.amountOverride = 0
		e.gw.mu.Unlock()
		if _, err := e.webhook(payID, "failed"); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.Q().GetInvoice(ctx, inv.ID); got.Status != store.InvoiceFailed {
			t.Errorf("invoice %s after a failed payment", got.Status)
		}
		if res, err := e.webhook(payID, "paid"); err != nil || !res.Credited {
			t.Errorf("paid after failed: %+v %v", res, err)
		}
		if _, err := e.webhook(payID, "expired"); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.Q().GetInvoice(ctx, inv.ID); got.Status != store.InvoicePaid {
			t.Errorf("a late expired webhook moved a paid invoice to %s", got.Status)
		}
		if _, err := e.svc.StartPayment(ctx, inv.ID, "payment-fake", "", "x"); !errors.Is(err, billing.ErrAlreadyPaid) {
			t.Errorf("paying a paid invoice: %v", err)
		}
	})
}

func TestRouterDownRetriesUntilProvisioned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		e.rt.down.Store(3)
		_, payID := e.invoiceAndPayment()
		if _, err := e.webhook(payID, "paid"); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("provision")
		if _, ok := e.rt.user("main", "budi"); !ok {
			t.Fatal("the subscriber never reached the router")
		}
		if n := e.count("provision", "completed"); n != 1 {
			t.Errorf("%d provision jobs completed", n)
		}
		if e.rt.calls.Load() < 4 {
			t.Errorf("the router was called %d times; the outage should have cost retries", e.rt.calls.Load())
		}
	})
}

func TestExpiryIsolatesAndReminders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, payID := e.invoiceAndPayment()
		if _, err := e.webhook(payID, "paid"); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("provision", "notify", "audit")
		got, _ := st.Q().GetInvoice(ctx, inv.ID)
		sub := got.SubscriptionID

		// Three days before expiry: one reminder, however often the scan runs.
		setExpiry(t, st, sub, time.Now().Add(3*24*time.Hour-time.Hour))
		for range 2 {
			if _, err := e.q.Insert(ctx, billing.ReminderScanArgs{}, nil); err != nil {
				t.Fatal(err)
			}
			e.waitJobs("reminder_scan", "notify")
		}
		reminders := 0
		for _, m := range e.nt.messages() {
			if strings.HasPrefix(m.key, fmt.Sprintf("reminder-%d-", sub)) && strings.HasSuffix(m.key, "-3d") {
				reminders++
				// No open invoice: the reminder links to the portal,
				// where the customer renews.
				if !strings.Contains(m.text, "https://billing.example.net/portal\n") || m.location != "main" {
					t.Errorf("reminder %q (location %q); want the portal's link, from location main", m.text, m.location)
				}
			}
		}
		if reminders != 1 {
			t.Errorf("%d three-day reminders, want 1: %+v", reminders, e.nt.messages())
		}

		// With a renewal invoice open, the next reminder links to it.
		renewal, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, sub, 24*time.Hour, "test")
		if err != nil {
			t.Fatal(err)
		}
		setExpiry(t, st, sub, time.Now().Add(24*time.Hour-time.Hour))
		if _, err := e.q.Insert(ctx, billing.ReminderScanArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("reminder_scan", "notify")
		link := ""
		for _, m := range e.nt.messages() {
			if strings.HasPrefix(m.key, fmt.Sprintf("reminder-%d-", sub)) && strings.HasSuffix(m.key, "-1d") {
				link = m.text
			}
		}
		if want := e.svc.PayLink(renewal.Number); renewal.PaymentURL != "" && !strings.Contains(link, renewal.PaymentURL) ||
			renewal.PaymentURL == "" && !strings.Contains(link, want) {
			t.Errorf("one-day reminder %q; want the renewal invoice's link (%q or %q)", link, renewal.PaymentURL, want)
		}

		// Past expiry: the scan queues the expiry, which isolates and
		// disconnects, once.
		setExpiry(t, st, sub, time.Now().Add(-time.Minute))
		for range 2 {
			if _, err := e.q.Insert(ctx, billing.ExpiryScanArgs{}, nil); err != nil {
				t.Fatal(err)
			}
			e.waitJobs("expiry_scan", "expire", "notify", "audit")
		}
		svc, err := st.Q().GetSubscriptionView(ctx, sub)
		if err != nil || svc.Status != store.SubscriptionIsolated {
			t.Fatalf("subscription after expiry: %+v %v", svc, err)
		}
		u, _ := e.rt.user("main", "budi")
		if u.Profile != "isolir" {
			t.Errorf("router profile after expiry %q, want the isolation profile", u.Profile)
		}
		e.rt.mu.Lock()
		disc := append([]string(nil), e.rt.disconnected...)
		e.rt.mu.Unlock()
		if len(disc) != 1 || disc[0] != "budi" {
			t.Errorf("disconnected %v, want budi once", disc)
		}
		if n := e.count("expire", "completed"); n != 1 {
			t.Errorf("%d expire jobs, want 1", n)
		}

		// Paying again brings the subscriber back from isolation.
		inv2, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, sub, 0, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		start, err := e.svc.StartPayment(ctx, inv2.ID, "payment-fake", "", "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.webhook(start.Payment.ID, "paid"); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("provision")
		if u, _ := e.rt.user("main", "budi"); u.Profile != "mb-home-10m" {
			t.Errorf("profile after renewal %q", u.Profile)
		}
		svc, _ = st.Q().GetSubscriptionView(ctx, sub)
		if svc.Status != store.SubscriptionActive || !svc.ExpiresAt.After(time.Now().Add(29*24*time.Hour)) {
			t.Errorf("renewed subscription: %s until %s", svc.Status, svc.ExpiresAt)
		}
	})
}

func setExpiry(t *testing.T, st *store.Store, sub int64, at time.Time) {
	t.Helper()
	if _, err := st.Q().DB().Exec(context.Background(), "UPDATE subscriptions SET expires_at = ? WHERE id = ?", store.Millis(at), sub); err != nil {
		t.Fatal(err)
	}
}

func TestVoucherRedemption(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		batch := &store.VoucherBatch{PlanID: e.plan.ID, LocationID: e.cust.LocationID, Prefix: "HS"}
		vs, err := st.Q().CreateVoucherBatch(ctx, batch, 2)
		if err != nil {
			t.Fatal(err)
		}
		red, err := e.svc.Redeem(ctx, strings.ToLower(vs[0].Code), e.cust.ID, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if red.Invoice.Status != store.InvoicePaid || red.Invoice.PaidAt.IsZero() || red.Voucher.SubscriptionID == 0 || red.Invoice.Gateway != "voucher" {
			t.Errorf("redemption: %+v %+v", red.Invoice, red.Voucher)
		}
		// The second voucher extends the same subscription by the plan's
		// validity instead of starting another.
		first, err := st.Q().GetSubscription(ctx, red.Voucher.SubscriptionID)
		if err != nil {
			t.Fatal(err)
		}
		red2, err := e.svc.Redeem(ctx, vs[1].Code, e.cust.ID, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		second, _ := st.Q().GetSubscription(ctx, red2.Voucher.SubscriptionID)
		if red2.Voucher.SubscriptionID != first.ID || !second.ExpiresAt.Equal(first.ExpiresAt.Add(e.plan.Validity)) {
			t.Errorf("second voucher: subscription %d expiring %s; want subscription %d extended to %s",
				red2.Voucher.SubscriptionID, second.ExpiresAt, first.ID, first.ExpiresAt.Add(e.plan.Validity))
		}
		if _, err := e.svc.Redeem(ctx, vs[0].Code, e.cust.ID, "user:test"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second redemption: %v", err)
		}
		if _, err := e.svc.Redeem(ctx, "HS-NOPE-NOPE", e.cust.ID, "user:test"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown code: %v", err)
		}
		e.waitJobs("provision")
		if _, ok := e.rt.user("main", "budi"); !ok {
			t.Error("a redeemed voucher did not provision the subscriber")
		}
	})
}
