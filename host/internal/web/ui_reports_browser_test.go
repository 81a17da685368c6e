package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

// TestUIBrowserReportsCharts: with 60 days of payments in two currencies,
// the reports page draws an income chart per currency and the
// subscribers' chart (uPlot canvases with a size) from the API, for a
// viewer; grouping by plan by month through the form draws them again;
// the tables for screen readers hold the numbers.
func TestUIBrowserReportsCharts(t *testing.T) {
	var svc *billing.Service
	h := newUIHost(t, withBilling(&svc, func(t *testing.T, db *store.Store) {
		web.SeedPaymentsOver(t, db, 400, 60, time.Now(), "payment-manual", "payment-midtrans", "payment-stripe")
	}))
	h.user(t, "vera", "correct horse battery", store.UserRoleViewer)
	ctx := browser(t)
	signIn(t, ctx, h.url, "vera", "correct horse battery")
	from := time.Now().UTC().AddDate(0, 0, -59).Format(time.DateOnly)
	run(t, ctx, "open the reports", chromedp.Navigate(h.url+"/reports?from="+from))
	run(t, ctx, "wait for the charts", chromedp.WaitVisible(chromedp.CSS(`#report-charts[data-drawn="true"]`)))
	charts := func() []string {
		t.Helper()
		return value(t, ctx, "measure the charts", chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll('#report-charts .chart')).map(c => { const k = c.querySelector('canvas'); return c.dataset.chart + ':' + (c.dataset.currency || '') + ':' + (k ? k.width + 'x' + k.height : 'none'); })`))
	}
	check := func(sizes []string) {
		t.Helper()
		if len(sizes) != 3 {
			t.Fatalf("charts %q; want income in IDR and USD and subscribers", sizes)
		}
		for _, s := range sizes {
			if strings.HasSuffix(s, ":none") || strings.Contains(s, ":0x") || strings.HasSuffix(s, "x0") {
				t.Errorf("chart %s has no canvas with a size", s)
			}
		}
	}
	check(charts())
	rows := value(t, ctx, "count the table rows", chromedp.Evaluate[int](`document.querySelectorAll('#report-charts .sr-only table tbody tr').length`))
	if rows < 60+2*55 {
		t.Errorf("%d rows in the charts' tables; want a row per day with payments in each currency and one per day of subscribers", rows)
	}
	screenshot(t, ctx, "reports")

	run(t, ctx, "choose months", chromedp.SetValue(chromedp.CSS("#interval"), "month"))
	run(t, ctx, "choose plans", chromedp.SetValue(chromedp.CSS("#by"), "plan"))
	click(t, ctx, "show", "#report-submit")
	// The form is a GET: wait for the new page before its charts (the
	// old page's are drawn too).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if value(t, ctx, "read the address", chromedp.Evaluate[bool](`location.search.includes("interval=month") && document.readyState === "complete"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the monthly report's page did not load in 30s")
		}
	}
	run(t, ctx, "wait for the monthly charts", chromedp.WaitVisible(chromedp.CSS(`#report-charts[data-drawn="true"]`)))
	check(charts())
	if got := text(t, ctx, "#income-heading"); !strings.Contains(got, "plan") {
		t.Errorf("income heading %q; want by plan", got)
	}
	if got := value(t, ctx, "read the CSV link", chromedp.Evaluate[string](`document.getElementById('income-csv').getAttribute('href')`)); !strings.Contains(got, "interval=month") || !strings.Contains(got, "by=plan") {
		t.Errorf("CSV link %q; want the monthly report by plan", got)
	}
}
