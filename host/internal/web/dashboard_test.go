package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// SeedPayments records n paid payments spread over the dashboard's 30 days up to now,
// through the gateways in turn, each crediting an invoice of its own, as
// the billing flow does (the store's RecordPayment and CreditInvoice in
// one transaction); and two active subscriptions, one expiring in three
// days. Exported for the browser tests (package web_test).
func SeedPayments(tb testing.TB, db *store.Store, n int, now time.Time, gateways ...string) {
	tb.Helper()
	SeedPaymentsOver(tb, db, n, billing.DashboardDays, now, gateways...)
}

// SeedPaymentsOver is SeedPayments over the days days up to now (UTC
// days; today included).
func SeedPaymentsOver(tb testing.TB, db *store.Store, n, days int, now time.Time, gateways ...string) {
	tb.Helper()
	ctx := context.Background()
	q := db.Q()
	cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	loc := &store.Location{Name: "main"}
	if err := q.CreateLocation(ctx, loc); err != nil {
		tb.Fatal(err)
	}
	plan := &store.Plan{Name: "Daily", Kind: store.PlanHotspot, Validity: 24 * time.Hour, Price: 5000, Currency: "IDR", Active: true}
	if err := q.CreatePlan(ctx, plan); err != nil {
		tb.Fatal(err)
	}
	var custs []int64
	for i, expires := range []time.Duration{3 * 24 * time.Hour, 20 * 24 * time.Hour} {
		c := &store.Customer{Name: fmt.Sprintf("Pelanggan %d", i), RouterUsername: fmt.Sprintf("user%d", i), RouterPassword: "pw", LocationID: loc.ID}
		if err := q.CreateCustomer(ctx, c, cip); err != nil {
			tb.Fatal(err)
		}
		sub := &store.Subscription{CustomerID: c.ID, PlanID: plan.ID, Status: store.SubscriptionActive, StartsAt: now.Add(-time.Hour), ExpiresAt: now.Add(expires)}
		if err := q.CreateSubscription(ctx, sub); err != nil {
			tb.Fatal(err)
		}
		custs = append(custs, c.ID)
	}
	clock := db.Now
	defer func() { db.Now = clock }()
	var at time.Time
	db.Now = func() time.Time { return at }
	// From the start of the first day (UTC, billing's default zone) to now.
	u := now.UTC()
	first := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1-days)
	span := now.Sub(first)
	err = db.Tx(ctx, func(tx *store.Tx) error {
		for i := range n {
			at = first.Add(time.Duration(i) * span / time.Duration(n))
			gw := gateways[i%len(gateways)]
			currency, amount := "IDR", int64(5000+1000*(i%7))
			if gw == "payment-stripe" {
				currency, amount = "USD", int64(199+i%300)
			}
			inv := &store.Invoice{CustomerID: custs[i%len(custs)], PlanID: plan.ID, Amount: amount, Currency: currency}
			if err := tx.Q().CreateInvoice(ctx, inv); err != nil {
				return err
			}
			p := &store.Payment{InvoiceID: inv.ID, Gateway: gw, ExternalID: inv.Number, Amount: amount, Currency: currency, Status: store.PaymentPaid}
			if err := tx.Q().RecordPayment(ctx, p); err != nil {
				return err
			}
			if _, err := tx.Q().CreditInvoice(ctx, inv.ID, p.ID, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seed %d payments: %v", n, err)
	}
}

// dashboardRig is the host's handler over a store with billing (without a
// job queue) and a signed-in admin's bearer token.
type dashboardRig struct {
	h   http.Handler
	tok string
}

func newDashboardRig(tb testing.TB, db *store.Store) *dashboardRig {
	tb.Helper()
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &cheapParams})
	if err != nil {
		tb.Fatal(err)
	}
	u, err := auth.NewUser(context.Background(), cheapParams.Hash, "ana", "correct horse battery", store.UserRoleAdmin)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Q().CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.Security.RateLimitMax = 1 << 30
	s := New(Deps{Config: cfg, Metrics: metrics.New(), DB: db, Accounts: acc, RateLimiter: newFakeLimiter(),
		Plugins: plugins.New(cfg, plugins.Deps{HostVersion: "1.0.0"}),
		Billing: billing.New(db, nil, nil, billing.Config{}, nil)})
	r := &dashboardRig{h: s.Handler()}
	rec := r.get(tb, http.MethodPost, "/api/v1/auth/login", `{"username": "ana", "password": "correct horse battery"}`)
	var login struct{ Token string }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &login) != nil || login.Token == "" {
		tb.Fatalf("sign in: %d %s", rec.Code, rec.Body)
	}
	r.tok = login.Token
	return r
}

func (r *dashboardRig) get(tb testing.TB, method, path, body string) *httptest.ResponseRecorder {
	req := NewJSONRequest(tb, method, path, body)
	if r.tok != "" {
		req.Header.Set("Authorization", "Bearer "+r.tok)
	}
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	return rec
}

// TestDashboardNumbers: the API's numbers and the page's, from the same
// payments: per currency (IDR and USD apart), per gateway, the
// subscribers and their tables for screen readers.
func TestDashboardNumbers(t *testing.T) {
	db := storetest.SQLite(t)
	SeedPayments(t, db, 300, time.Now(), "payment-manual", "payment-midtrans", "payment-stripe")
	r := newDashboardRig(t, db)

	api := r.get(t, http.MethodGet, "/api/v1/dashboard", "")
	if api.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/dashboard: %d %s", api.Code, api.Body)
	}
	var d billing.Dashboard
	resp{Body: api.Body.Bytes()}.json(t, &d)
	if len(d.Days) != billing.DashboardDays || len(d.Revenue) != 2 || d.Revenue[0].Currency != "IDR" || d.Revenue[1].Currency != "USD" {
		t.Fatalf("days %d, revenue %+v; want 30 days and IDR and USD apart", len(d.Days), d.Revenue)
	}
	var payments int64
	for _, s := range d.Payments {
		payments += s.Total
		if len(s.Values) != billing.DashboardDays {
			t.Errorf("%s has %d values; want one per day", s.Gateway, len(s.Values))
		}
	}
	if payments != 300 || len(d.Payments) != 3 || len(d.Revenue[1].Gateways) != 1 || d.Revenue[1].Gateways[0].Gateway != "payment-stripe" {
		t.Errorf("payments %d over %+v; USD %+v; want 300 over three gateways, USD from payment-stripe only", payments, d.Payments, d.Revenue[1])
	}
	if d.Subscribers.Active != 2 || d.Subscribers.Expiring != 1 {
		t.Errorf("subscribers %+v; want 2 active, 1 expiring", d.Subscribers)
	}

	page := r.get(t, http.MethodGet, "/", "")
	body := page.Body.String()
	for _, want := range []string{
		`id="stat-active">2<`, `id="stat-expiring">1<`, `data-chart="revenue" data-currency="IDR"`, `data-currency="USD" data-exponent="2"`,
		`data-chart="payments"`, `<th scope="col">payment-midtrans</th>`, `data-src="/api/v1/dashboard"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the dashboard has no %s:\n%s", want, body)
		}
	}
}

// BenchmarkDashboardRatio renders the dashboard with 30 days of 10,000
// payments (server-side: the plugins, the figures, the tables behind the
// charts) and answers the same numbers from GET /api/v1/dashboard,
// interleaved, and reports each one's time and allocated bytes per call
// and the page's time over the API's.
func BenchmarkDashboardRatio(b *testing.B) {
	db := storetest.SQLite(b)
	SeedPayments(b, db, 10000, time.Now(), "payment-manual", "payment-midtrans", "payment-xendit", "payment-stripe")
	r := newDashboardRig(b, db)
	const rounds = 20
	measure := func(path string) (time.Duration, uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		rec := r.get(b, http.MethodGet, path, "")
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return took, after.TotalAlloc - before.TotalAlloc
	}
	b.ReportAllocs()
	var pageT, apiT time.Duration
	var pageB, apiB uint64
	for b.Loop() {
		for range rounds {
			t, n := measure("/")
			pageT, pageB = pageT+t, pageB+n
			t, n = measure("/api/v1/dashboard")
			apiT, apiB = apiT+t, apiB+n
		}
	}
	calls := float64(b.N * rounds)
	b.ReportMetric(float64(pageT.Microseconds())/calls/1000, "page-ms")
	b.ReportMetric(float64(apiT.Microseconds())/calls/1000, "api-ms")
	b.ReportMetric(float64(pageT)/float64(apiT), "page/api")
	b.ReportMetric(float64(pageB)/calls/1024, "page-KiB")
	b.ReportMetric(float64(apiB)/calls/1024, "api-KiB")
}
