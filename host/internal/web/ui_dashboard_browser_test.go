package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

// withBilling gives the host billing with a running job queue and no
// router plugins (so provisioning fails); seed runs first, before the
// queue starts.
func withBilling(svc **billing.Service, seed func(t *testing.T, db *store.Store)) func(t *testing.T, d *web.Deps) {
	return withBillingPlugins(svc, seed, testutil.Plugins{})
}

// withBillingPlugins is withBilling with billing reaching these plugins.
func withBillingPlugins(svc **billing.Service, seed func(t *testing.T, db *store.Store), plugs testutil.Plugins) func(t *testing.T, d *web.Deps) {
	return func(t *testing.T, d *web.Deps) {
		ctx := context.Background()
		if seed != nil {
			seed(t, d.DB)
		}
		if err := jobs.Migrate(ctx, d.DB); err != nil {
			t.Fatal(err)
		}
		cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := billing.NewWithQueue(d.DB, cip, plugs, billing.Config{}, nil, billing.QueueConfig{Jobs: jobs.Config{PollInterval: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Queue().Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.Queue().Stop(ctx)
		})
		d.Billing, d.Cipher, *svc = s, cip, s
	}
}

// TestUIBrowserDashboardCharts: with payments in two currencies, the
// dashboard draws a revenue chart per currency and the payments chart
// (uPlot canvases with a size), shows the subscribers, and holds the
// numbers in tables for screen readers; on a 360-pixel phone too.
func TestUIBrowserDashboardCharts(t *testing.T) {
	var svc *billing.Service
	h := newUIHost(t, withBilling(&svc, func(t *testing.T, db *store.Store) {
		web.SeedPayments(t, db, 600, time.Now(), "payment-manual", "payment-midtrans", "payment-stripe")
	}))
	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	ctx := browser(t)
	signIn(t, ctx, h.url, "ana", "correct horse battery")
	run(t, ctx, "wait for the charts", chromedp.WaitVisible(chromedp.CSS(`#charts[data-drawn="true"]`)))
	sizes := value(t, ctx, "measure the charts", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('.chart')).map(c => { const k = c.querySelector('canvas'); return c.dataset.chart + ':' + (c.dataset.currency || '') + ':' + (k ? k.width + 'x' + k.height : 'none'); })`))
	if len(sizes) != 3 {
		t.Fatalf("charts %q; want revenue in IDR and USD and payments", sizes)
	}
	for _, s := range sizes {
		if strings.HasSuffix(s, ":none") || strings.Contains(s, ":0x") || strings.HasSuffix(s, "x0") {
			t.Errorf("chart %s has no canvas with a size", s)
		}
	}
	if got := text(t, ctx, "#stat-active"); got != "2" {
		t.Errorf("active subscribers %q; want 2", got)
	}
	if got := text(t, ctx, "#stat-expiring"); got != "1" {
		t.Errorf("expiring %q; want 1", got)
	}
	rows := value(t, ctx, "count the table rows", chromedp.Evaluate[int](`document.querySelectorAll('.chart-box .sr-only table tbody tr').length`))
	if rows < 3*28 {
		t.Errorf("%d rows in the charts' tables; want a row per day with payments in each of the three", rows)
	}
	screenshot(t, ctx, "dashboard-charts")

	run(t, ctx, "narrow to a phone", chromedp.EmulateViewport(360, 780))
	run(t, ctx, "reload", chromedp.Reload())
	run(t, ctx, "wait for the charts", chromedp.WaitVisible(chromedp.CSS(`#charts[data-drawn="true"]`)))
	wide := value(t, ctx, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if wide > 360 {
		t.Errorf("the dashboard is %d pixels wide on a 360-pixel phone: %s", wide, value(t, ctx, "find the wide elements", chromedp.Evaluate[string](
			`Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 360).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`)))
	}
	screenshot(t, ctx, "dashboard-charts-phone")
}

// TestUIBrowserJobsRetry: a provision job that failed (no router plugin
// for its location) is listed with its error; an admin retries it and it
// runs again; a viewer sees no retry button.
func TestUIBrowserJobsRetry(t *testing.T) {
	var svc *billing.Service
	var subID int64
	h := newUIHost(t, withBilling(&svc, func(t *testing.T, db *store.Store) {
		web.SeedPayments(t, db, 1, time.Now(), "payment-manual")
		subs, _, err := db.Q().ListSubscriptions(context.Background(), store.SubscriptionFilter{}, store.Page{})
		if err != nil || len(subs) == 0 {
			t.Fatalf("subscriptions: %v %v", subs, err)
		}
		subID = subs[0].ID
	}))
	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	h.user(t, "vera", "correct horse battery", store.UserRoleViewer)
	ctx := context.Background()
	res, err := svc.Queue().Insert(ctx, billing.ProvisionArgs{SubscriptionID: subID}, &river.InsertOpts{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Job.ID
	attempts := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			j, err := svc.Queue().Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State == "discarded" && j.Attempt == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %d is %s after %d attempts; want discarded after %d", id, j.State, j.Attempt, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	attempts(1)

	b := browser(t)
	signIn(t, b, h.url, "ana", "correct horse battery")
	run(t, b, "open the jobs page", chromedp.Navigate(h.url+"/jobs"))
	row := fmt.Sprintf(`tr[data-job="%d"]`, id)
	run(t, b, "wait for the failed job", chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(t, b, row+" .error"); !strings.Contains(got, "mikrotik") {
		t.Errorf("the job's error %q; want the provisioning's, about the absent router plugin mikrotik", got)
	}
	if got := text(t, b, row+" .attempts"); got != "1 of 1" {
		t.Errorf("attempts %q; want 1 of 1", got)
	}
	if got := text(t, b, "#job-counts .count-discarded dd"); got != "1" {
		t.Errorf("discarded count %q; want 1", got)
	}
	screenshot(t, b, "jobs")
	click(t, b, "retry the job", row+" button.retry")
	run(t, b, "wait for the notice", chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := text(t, b, ".notice"); got != fmt.Sprintf("Job %d will run again now.", id) {
		t.Errorf("after retrying: %q", got)
	}
	attempts(2)
	run(t, b, "reload the jobs page", chromedp.Navigate(h.url+"/jobs"))
	run(t, b, "wait for the failed job", chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(t, b, row+" .attempts"); got != "2 of 2" {
		t.Errorf("attempts after the retry %q; want 2 of 2", got)
	}

	v := browser(t)
	signIn(t, v, h.url, "vera", "correct horse battery")
	run(t, v, "open the jobs page", chromedp.Navigate(h.url+"/jobs"))
	run(t, v, "wait for the failed job", chromedp.WaitVisible(chromedp.CSS(row)))
	if n := value(t, v, "count the retry buttons", chromedp.Evaluate[int](`document.querySelectorAll('button.retry').length`)); n != 0 {
		t.Errorf("a viewer sees %d retry buttons; want none", n)
	}
	screenshot(t, v, "jobs-viewer")
}
