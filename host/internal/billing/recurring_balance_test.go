package billing_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// payByWebhook starts paying inv at the fake gateway and sends its paid
// webhook.
func (e *env) payByWebhook(inv *store.Invoice) {
	e.t.Helper()
	start, err := e.svc.StartPayment(context.Background(), inv.ID, "payment-fake", "", "user:test")
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.webhook(start.Payment.ID, "paid")
	if err != nil || !res.Credited {
		e.t.Fatalf("webhook: %+v, %v", res, err)
	}
}

func (e *env) invoice(id int64) *store.Invoice {
	e.t.Helper()
	inv, err := e.st.Q().GetInvoice(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

func (e *env) subscriptions() []store.Subscription {
	e.t.Helper()
	subs, _, err := e.st.Q().ListSubscriptions(context.Background(), store.SubscriptionFilter{CustomerID: e.cust.ID}, store.Page{})
	if err != nil {
		e.t.Fatal(err)
	}
	return subs
}

// TestRenewalExtendsFromTheEnd: a second invoice for the plan renews the
// customer's subscription from its end; a parallel one starts only when
// the invoice asks for it.
func TestRenewalExtendsFromTheEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		first, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 0, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if first.SubscriptionID != 0 {
			t.Fatalf("a first invoice renews subscription %d", first.SubscriptionID)
		}
		e.payByWebhook(first)
		sub := e.invoice(first.ID).SubscriptionID
		before, _ := st.Q().GetSubscription(ctx, sub)

		renew, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 0, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if renew.SubscriptionID != sub || renew.NewSubscription {
			t.Fatalf("second invoice renews %d (new %v), want %d", renew.SubscriptionID, renew.NewSubscription, sub)
		}
		e.payByWebhook(renew)
		after, _ := st.Q().GetSubscription(ctx, sub)
		if want := before.ExpiresAt.Add(e.plan.Validity); !after.ExpiresAt.Equal(want) {
			t.Fatalf("renewed until %v, want %v (from the end, not from now)", after.ExpiresAt, want)
		}
		if n := len(e.subscriptions()); n != 1 {
			t.Fatalf("%d subscriptions after a renewal, want 1", n)
		}

		parallel, err := e.svc.NewInvoice(ctx, billing.InvoiceRequest{CustomerID: e.cust.ID, PlanID: e.plan.ID, NewSubscription: true, Actor: "user:test"})
		if err != nil {
			t.Fatal(err)
		}
		if parallel.SubscriptionID != 0 || !parallel.NewSubscription {
			t.Fatalf("parallel invoice: %+v", parallel)
		}
		e.payByWebhook(parallel)
		subs := e.subscriptions()
		if len(subs) != 2 || e.invoice(parallel.ID).SubscriptionID == sub {
			t.Fatalf("subscriptions after a parallel purchase: %+v", subs)
		}
		if again, _ := st.Q().GetSubscription(ctx, sub); !again.ExpiresAt.Equal(after.ExpiresAt) {
			t.Fatalf("the parallel purchase changed the first subscription: %v", again.ExpiresAt)
		}
		if _, err := e.svc.NewInvoice(ctx, billing.InvoiceRequest{CustomerID: e.cust.ID, PlanID: e.plan.ID, SubscriptionID: sub, NewSubscription: true}); err == nil {
			t.Fatal("an invoice both renewing and starting a subscription was accepted")
		}
	})
}

// postpaid makes e's plan postpaid.
func (e *env) postpaid() {
	e.t.Helper()
	e.plan.BillingType = store.BillingPostpaid
	if err := e.st.Q().UpdatePlan(context.Background(), e.plan); err != nil {
		e.t.Fatal(err)
	}
}

// TestPostpaidPeriodRollsOver: the next period's bill is made once however
// often the job runs, sent with its link; the customer keeps the service
// through the grace, is isolated on the router after it, and paying the
// bill puts them back and extends from the end of the period.
func TestPostpaidPeriodRollsOver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		grace := 2 * 24 * time.Hour
		e := setup(t, st, func(c *billing.Config) { c.PostpaidGrace = &grace })
		ctx := context.Background()
		e.postpaid()
		first, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 0, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		e.payByWebhook(first)
		e.waitJobs("provision", "notify", "audit")
		sub := e.invoice(first.ID).SubscriptionID
		s, _ := st.Q().GetSubscription(ctx, sub)
		if want := s.StartsAt.AddDate(0, 1, 0); !s.ExpiresAt.Equal(want) {
			t.Fatalf("a postpaid period ends %v, want a month after %v", s.ExpiresAt, s.StartsAt)
		}
		if made, _ := e.svc.BillPostpaid(ctx); len(made) != 0 {
			t.Fatalf("billed a month ahead: %+v", made)
		}

		// The period ended a day ago: within the grace, the bill is made
		// (once), and the customer keeps the service.
		end := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
		setExpiry(t, st, sub, end)
		var bills []*store.Invoice
		for range 2 {
			made, err := e.svc.BillPostpaid(ctx)
			if err != nil {
				t.Fatal(err)
			}
			bills = append(bills, made...)
		}
		if len(bills) != 1 {
			t.Fatalf("%d bills from two runs, want 1", len(bills))
		}
		bill := e.invoice(bills[0].ID)
		if bill.SubscriptionID != sub || !bill.PeriodStart.Equal(end) || bill.Status != store.InvoiceUnpaid ||
			!strings.Contains(bill.PaymentURL, "/pay/"+bill.Number) || !bill.DueAt.Equal(end.Add(grace)) {
			t.Fatalf("bill: %+v", bill)
		}
		e.waitJobs("notify", "audit")
		sent := 0
		for _, m := range e.nt.messages() {
			if m.key == "bill-"+bill.Number && strings.Contains(m.text, bill.PaymentURL) {
				sent++
			}
		}
		if sent != 1 {
			t.Fatalf("%d bill messages with the link, want 1: %+v", sent, e.nt.messages())
		}
		if _, err := e.q.Insert(ctx, billing.ExpiryScanArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("expiry_scan", "expire")
		if s, _ := st.Q().GetSubscription(ctx, sub); s.Status != store.SubscriptionActive {
			t.Fatalf("isolated within the grace: %s", s.Status)
		}

		// Past the grace, unpaid: isolated on the router.
		end = time.Now().Add(-3 * 24 * time.Hour).Truncate(time.Millisecond)
		setExpiry(t, st, sub, end)
		if _, err := st.Q().DB().Exec(ctx, "UPDATE invoices SET period_start = ? WHERE id = ?", store.Millis(end), bill.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.q.Insert(ctx, billing.ExpiryScanArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("expiry_scan", "expire", "notify")
		if s, _ := st.Q().GetSubscription(ctx, sub); s.Status != store.SubscriptionIsolated {
			t.Fatalf("after the grace: %s, want isolated", s.Status)
		}
		if u, _ := e.rt.user("main", "budi"); u.Profile != "isolir" {
			t.Fatalf("router profile after the grace %q, want isolir", u.Profile)
		}

		// Paying late reconnects and extends from the period's end.
		e.payByWebhook(bill)
		e.waitJobs("provision")
		if u, _ := e.rt.user("main", "budi"); u.Profile != "mb-home-10m" {
			t.Fatalf("router profile after paying %q", u.Profile)
		}
		s, _ = st.Q().GetSubscription(ctx, sub)
		if want := end.AddDate(0, 1, 0); s.Status != store.SubscriptionActive || !s.ExpiresAt.Equal(want) {
			t.Fatalf("after paying: %s until %v, want active until %v", s.Status, s.ExpiresAt, want)
		}
		if made, _ := e.svc.BillPostpaid(ctx); len(made) != 0 {
			t.Fatalf("billed again right after paying: %+v", made)
		}
	})
}

// TestPostpaidBilledOnceByTwoHosts: two billing services on one PostgreSQL
// database run the bill job at the same time, 10 times each: one bill.
func TestPostpaidBilledOnceByTwoHosts(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set: this PostgreSQL-only test is skipped", storetest.EnvPostgres)
	}
	url := storetest.PostgresURL(t)
	open := func() *store.Store {
		s, err := store.Open(context.Background(), store.Options{URL: url, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	st1 := open()
	if _, err := st1.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := setup(t, st1)
	ctx := context.Background()
	e.postpaid()
	first, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 0, "user:test")
	if err != nil {
		t.Fatal(err)
	}
	e.payByWebhook(first)
	sub := e.invoice(first.ID).SubscriptionID
	setExpiry(t, st1, sub, time.Now().Add(2*24*time.Hour))

	other, err := billing.NewWithQueue(open(), e.cipher, e.plugs, e.cfg, nil, billing.QueueConfig{Jobs: jobs.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	var made atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Go(func() {
			invs, err := svc.BillPostpaid(ctx)
			if err != nil {
				t.Error(err)
			}
			made.Add(int32(len(invs)))
		})
	}
	wg.Wait()
	invs, _, err := st1.Q().ListInvoices(ctx, store.InvoiceFilter{CustomerID: e.cust.ID}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if made.Load() != 1 || len(invs) != 2 {
		t.Fatalf("%d bills reported made, %d invoices in all; want 1 bill beside the first invoice", made.Load(), len(invs))
	}
}

// cash adds an operator's cash entry.
func (e *env) cash(amount int64) {
	e.t.Helper()
	if _, err := e.svc.ChangeBalance(context.Background(), billing.BalanceChange{CustomerID: e.cust.ID, Amount: amount, Currency: "IDR",
		Kind: store.BalanceCash, Reason: "paid at the counter", Actor: "user:test"}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) balance() int64 {
	e.t.Helper()
	b, err := e.st.Q().BalanceOf(context.Background(), e.cust.ID, "IDR")
	if err != nil {
		e.t.Fatal(err)
	}
	sum, err := e.st.Q().LedgerSum(context.Background(), e.cust.ID, "IDR")
	if err != nil || sum != b {
		e.t.Fatalf("ledger sums to %d (%v), the balance is %d", sum, err, b)
	}
	return b
}

// TestPayFromBalanceOnce: 20 concurrent requests pay an invoice from the
// balance once; every entry is in the ledger and the audit log.
func TestPayFromBalanceOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 0, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.PayFromBalance(ctx, inv.ID, "user:test"); !errors.Is(err, billing.ErrInsufficientBalance) {
			t.Fatalf("paying from an empty balance = %v", err)
		}
		e.cash(2 * e.plan.Price)
		var paid, already atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				_, err := e.svc.PayFromBalance(ctx, inv.ID, "user:test")
				switch {
				case err == nil:
					paid.Add(1)
				case errors.Is(err, billing.ErrAlreadyPaid):
					already.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if paid.Load() != 1 || already.Load() != 19 {
			t.Fatalf("%d paid, %d already paid; want 1 and 19", paid.Load(), already.Load())
		}
		if b := e.balance(); b != e.plan.Price {
			t.Fatalf("balance %d, want %d", b, e.plan.Price)
		}
		if got := e.invoice(inv.ID); got.Status != store.InvoicePaid || got.SubscriptionID == 0 {
			t.Fatalf("invoice: %+v", got)
		}
		entries, err := st.Q().ListBalanceEntries(ctx, e.cust.ID, 0, 10)
		if err != nil || len(entries) != 2 || entries[0].Kind != store.BalanceInvoicePayment || entries[0].Amount != -e.plan.Price ||
			entries[0].InvoiceID != inv.ID || entries[1].Kind != store.BalanceCash || entries[1].Reason != "paid at the counter" {
			t.Fatalf("ledger: %+v, %v", entries, err)
		}
		e.waitJobs("audit", "provision")
		actions := strings.Join(e.au.actions(), ",")
		for _, want := range []string{"balance.cash", "balance.invoice_payment", "invoice.paid"} {
			if !strings.Contains(actions, want) {
				t.Errorf("audit has no %s: %s", want, actions)
			}
		}
		if _, ok := e.rt.user("main", "budi"); !ok {
			t.Error("paying from the balance did not provision the customer")
		}
	})
}

// TestTopUpThroughGatewayOnce: a top-up invoice paid through the gateway
// adds to the balance once under 20 concurrent webhooks; the next invoice
// is then paid from the balance as it is made.
func TestTopUpThroughGatewayOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		top, err := e.svc.CreateTopUp(ctx, e.cust.ID, 200000, "IDR", 0, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		start, err := e.svc.StartPayment(ctx, top.ID, "payment-fake", "", "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if n := creditedOf(t, 20, start.Payment.ID, e.svc); n != 1 {
			t.Fatalf("%d webhooks credited the top-up, want 1", n)
		}
		if b := e.balance(); b != 200000 {
			t.Fatalf("balance after the top-up %d, want 200000", b)
		}
		if n := len(e.subscriptions()); n != 0 {
			t.Fatalf("a top-up started %d subscriptions", n)
		}

		inv, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 0, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		if inv.Status != store.InvoicePaid || inv.SubscriptionID == 0 {
			t.Fatalf("an invoice the balance covers was not paid from it: %+v", inv)
		}
		if b := e.balance(); b != 200000-e.plan.Price {
			t.Fatalf("balance %d, want %d", b, 200000-e.plan.Price)
		}
		// The rest does not cover another: it stays unpaid.
		next, err := e.svc.CreateInvoice(ctx, e.cust.ID, e.plan.ID, 0, 0, "user:test")
		if err != nil || next.Status != store.InvoiceUnpaid {
			t.Fatalf("invoice beyond the balance: %+v, %v", next, err)
		}
		if _, err := e.svc.PayFromBalance(ctx, top.ID, "user:test"); err == nil {
			t.Fatal("a top-up was paid from the balance")
		}
	})
}

// TestBalanceRacesWebhook: webhooks and pay-from-balance race on one
// invoice: one credit, and at most one debit (none when a webhook won).
func TestBalanceRacesWebhook(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		inv, payID := e.invoiceAndPayment()
		e.cash(5 * e.plan.Price)
		var wg sync.WaitGroup
		var byBalance, byWebhook atomic.Int32
		for i := range 20 {
			wg.Go(func() {
				if i%2 == 0 {
					if _, err := e.svc.PayFromBalance(ctx, inv.ID, "user:test"); err == nil {
						byBalance.Add(1)
					} else if !errors.Is(err, billing.ErrAlreadyPaid) {
						t.Error(err)
					}
					return
				}
				res, err := e.webhook(payID, "paid")
				if err != nil {
					t.Error(err)
					return
				}
				if res.Credited {
					byWebhook.Add(1)
				}
			})
		}
		wg.Wait()
		if byBalance.Load()+byWebhook.Load() != 1 {
			t.Fatalf("%d credits by the balance, %d by webhooks; want 1 in all", byBalance.Load(), byWebhook.Load())
		}
		if n, _ := st.Q().InvoiceCredits(ctx, inv.ID); n != 1 {
			t.Fatalf("%d credits", n)
		}
		want := 5 * e.plan.Price
		if byBalance.Load() == 1 {
			want -= e.plan.Price
		}
		if b := e.balance(); b != want {
			t.Fatalf("balance %d, want %d", b, want)
		}
	})
}

// TestChangeBalanceRules: what an operator's entry must be.
func TestChangeBalanceRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		for _, c := range []billing.BalanceChange{
			{CustomerID: e.cust.ID, Amount: -100, Currency: "IDR", Kind: store.BalanceCash, Reason: "x"},
			{CustomerID: e.cust.ID, Amount: 100, Currency: "IDR", Kind: store.BalanceRefund, Reason: "x"},
			{CustomerID: e.cust.ID, Amount: 100, Currency: "idr", Kind: store.BalanceCash, Reason: "x"},
			{CustomerID: e.cust.ID, Amount: 100, Currency: "IDR", Kind: store.BalanceCash},
			{CustomerID: e.cust.ID, Amount: 100, Currency: "IDR", Kind: store.BalanceInvoicePayment, Reason: "x"},
		} {
			if _, err := e.svc.ChangeBalance(ctx, c); err == nil {
				t.Errorf("%+v was accepted", c)
			}
		}
		e.cash(1000)
		if _, err := e.svc.ChangeBalance(ctx, billing.BalanceChange{CustomerID: e.cust.ID, Amount: -1001, Currency: "IDR", Kind: store.BalanceAdjustment, Reason: "typo", Actor: "user:admin"}); !errors.Is(err, billing.ErrInsufficientBalance) {
			t.Fatalf("an adjustment below zero = %v", err)
		}
		if _, err := e.svc.ChangeBalance(ctx, billing.BalanceChange{CustomerID: e.cust.ID, Amount: -1000, Currency: "IDR", Kind: store.BalanceAdjustment, Reason: "typo", Actor: "user:admin"}); err != nil {
			t.Fatal(err)
		}
		if b := e.balance(); b != 0 {
			t.Fatalf("balance %d", b)
		}
	})
}
