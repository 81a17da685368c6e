package web

// The income report over 10,000 payments in 90 days: the reports page
// (rendered by the server: the form, a table per currency behind the
// charts, the subscribers, the expiring list) against the same income from
// the JSON API, in the style of BenchmarkCustomerListPage.

import (
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// BenchmarkIncomeReport serves GET /api/v1/reports/income and GET /reports
// over the 90 days by day (and by month, by plan), and reports the page's
// time as a ratio to the API's (x-api).
func BenchmarkIncomeReport(b *testing.B) {
	db := storetest.SQLite(b)
	now := time.Now()
	SeedPaymentsOver(b, db, 10000, 90, now, "payment-manual", "payment-midtrans", "payment-xendit", "payment-stripe")
	h := matrixServerOn(b, db, nil).Handler()
	from := now.UTC().AddDate(0, 0, -89).Format(time.DateOnly)
	for _, c := range []struct{ name, query string }{
		{"day-gateway", "from=" + from + "&interval=day&by=gateway"},
		{"month-plan", "from=" + from + "&interval=month&by=plan"},
	} {
		var apiNs float64
		b.Run(c.name+"/api", func(b *testing.B) {
			serve(b, h, "/api/v1/reports/income?"+c.query, `"currencies"`)
			apiNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run(c.name+"/page", func(b *testing.B) {
			serve(b, h, "/reports?"+c.query, `id="report-charts"`)
			pageNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if apiNs > 0 {
				b.ReportMetric(pageNs/apiNs, "x-api")
				b.Logf("%s: %.2f ms a page, %.2f ms the API's JSON: %.2fx", c.name, pageNs/1e6, apiNs/1e6, pageNs/apiNs)
			}
		})
	}
}
