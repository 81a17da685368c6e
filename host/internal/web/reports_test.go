package web

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
)

// report requests path as role with accept (empty: none).
func report(t *testing.T, h http.Handler, path, role, accept string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestReportsAPI: the three reports as JSON and CSV over the same seeded
// payments (IDR and USD apart, every payment once whatever the grouping),
// for viewers, refused to anonymous callers, and 422 with a message per
// bad field.
func TestReportsAPI(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	now := time.Now()
	SeedPaymentsOver(t, s.deps.DB, 90, 60, now, "payment-manual", "payment-stripe")

	income := func(query string) billing.IncomeReport {
		t.Helper()
		w := report(t, h, "/api/v1/reports/income?"+query, RoleViewer, "")
		if w.Code != http.StatusOK {
			t.Fatalf("income %s: %d %s", query, w.Code, w.Body)
		}
		var rep billing.IncomeReport
		if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	count := func(rep billing.IncomeReport) (n int) {
		for _, c := range rep.Currencies {
			for _, g := range c.Groups {
				for i, v := range g.Counts {
					n += v
					if len(g.Amounts) != len(rep.Periods) || (v == 0) != (g.Amounts[i] == 0) {
						t.Errorf("%s %s: %d counts for %d amounts and %d periods", c.Currency, g.Name, len(g.Counts), len(g.Amounts), len(rep.Periods))
					}
				}
			}
		}
		return n
	}
	from := now.UTC().AddDate(0, 0, -59).Format(time.DateOnly)
	daily := income("from=" + from)
	if len(daily.Periods) != 60 || daily.Periods[0] != from || daily.By != "gateway" || daily.Interval != "day" {
		t.Errorf("daily report: %d periods from %s by %s %s; want 60 from %s by gateway, day", len(daily.Periods), daily.Periods[0], daily.By, daily.Interval, from)
	}
	if len(daily.Currencies) != 2 || daily.Currencies[0].Currency != "IDR" || daily.Currencies[1].Currency != "USD" ||
		len(daily.Currencies[1].Groups) != 1 || daily.Currencies[1].Groups[0].Name != "payment-stripe" {
		t.Errorf("currencies %+v; want IDR, and USD from payment-stripe alone", daily.Currencies)
	}
	if n := count(daily); n != 90 {
		t.Errorf("daily report counts %d payments; want 90", n)
	}
	if def := income(""); len(def.Periods) != billing.ReportDefaultDays {
		t.Errorf("default report: %d periods; want %d", len(def.Periods), billing.ReportDefaultDays)
	}
	for _, by := range []string{"plan", "location"} {
		rep := income("interval=month&by=" + by + "&from=" + from)
		if n := count(rep); n != 90 || rep.Currencies[0].Groups[0].Name == "payment-manual" || rep.Currencies[0].Groups[0].ID == 0 {
			t.Errorf("monthly by %s: %d payments in %+v; want 90 by %s", by, n, rep.Currencies, by)
		}
		if !strings.HasSuffix(rep.From, "-01") || len(rep.Periods[0]) != len("2026-11") {
			t.Errorf("monthly by %s from %s, periods %v: want whole months", by, rep.From, rep.Periods)
		}
	}

	// CSV by the query and by Accept: a header, then a row per period,
	// currency and gateway with payments.
	for _, c := range []struct{ query, accept string }{{"&format=csv", ""}, {"", "text/csv, application/json;q=0.5"}} {
		w := report(t, h, "/api/v1/reports/income?from="+from+c.query, RoleViewer, c.accept)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") ||
			!strings.Contains(w.Header().Get("Content-Disposition"), "attachment") {
			t.Fatalf("income CSV %q %q: %d %v", c.query, c.accept, w.Code, w.Header())
		}
		rows, err := csv.NewReader(w.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rows[0], ",") != "period,currency,gateway,payments,amount" {
			t.Errorf("CSV header %v", rows[0])
		}
		n := 0
		for _, r := range rows[1:] {
			if r[1] == "USD" && !strings.Contains(r[4], ".") {
				t.Errorf("USD amount %q is not in dollars and cents", r[4])
			}
			if r[1] == "IDR" && strings.Contains(r[4], ".") {
				t.Errorf("IDR amount %q has decimals", r[4])
			}
			var k int
			for _, ch := range r[3] {
				k = k*10 + int(ch-'0')
			}
			n += k
		}
		if n != 90 {
			t.Errorf("the CSV counts %d payments; want 90", n)
		}
	}

	w := report(t, h, "/api/v1/reports/subscribers?format=csv&interval=month", RoleViewer, "")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), "period,active,new\n") {
		t.Errorf("subscribers CSV: %d %s", w.Code, w.Body)
	}
	w = report(t, h, "/api/v1/reports/subscribers", RoleViewer, "")
	var subs billing.SubscriberReport
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &subs) != nil || subs.Active[len(subs.Active)-1] != 2 || subs.New[len(subs.New)-1]+subs.New[len(subs.New)-2] != 2 {
		t.Errorf("subscribers: %d %s; want the 2 subscribers active today and new since yesterday", w.Code, w.Body)
	}
	for days, want := range map[string]int{"": 1, "days=2": 0, "days=30": 2} {
		w := report(t, h, "/api/v1/reports/expiring?"+days, RoleViewer, "")
		var exp billing.ExpiringReport
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &exp) != nil || len(exp.Items) != want {
			t.Errorf("expiring %q: %d %s; want %d", days, w.Code, w.Body, want)
		}
	}
	w = report(t, h, "/api/v1/reports/expiring?format=csv&days=30", RoleViewer, "")
	if rows, err := csv.NewReader(w.Body).ReadAll(); err != nil || len(rows) != 3 || rows[0][0] != "expires_at" || rows[1][3] != "Pelanggan 0" {
		t.Errorf("expiring CSV: %v %v", rows, err)
	}

	if w := report(t, h, "/api/v1/reports/income", "", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("income without credentials: %d; want 401", w.Code)
	}
	for _, c := range []struct{ path, field, says string }{
		{"/api/v1/reports/income?interval=week", "interval", "day or month"},
		{"/api/v1/reports/income?by=customer", "by", "plan, gateway or location"},
		{"/api/v1/reports/income?from=2026-13-01", "from", "YYYY-MM-DD"},
		{"/api/v1/reports/income?to=yesterday", "to", "YYYY-MM-DD"},
		{"/api/v1/reports/income?from=2026-11-02&to=2026-11-01", "from", "swap them"},
		{"/api/v1/reports/income?from=2020-01-01&to=2026-01-01", "from", "interval=month"},
		{"/api/v1/reports/subscribers?interval=month&from=2000-01&to=2026-01", "from", "at most 120"},
		{"/api/v1/reports/income?format=xml", "format", "json or csv"},
		{"/api/v1/reports/expiring?days=0", "days", "1 to 90"},
		{"/api/v1/reports/expiring?days=91", "days", "1 to 90"},
	} {
		w := report(t, h, c.path, RoleViewer, "")
		var body struct {
			Error struct {
				Code    string
				Details map[string]string
			}
		}
		if w.Code != http.StatusUnprocessableEntity || json.Unmarshal(w.Body.Bytes(), &body) != nil ||
			body.Error.Code != "validation_failed" || !strings.Contains(body.Error.Details[c.field], c.says) {
			t.Errorf("GET %s: %d %s; want 422 on %s saying %q", c.path, w.Code, w.Body, c.field, c.says)
		}
	}
}

// TestReportsPage: the page shows the form, a chart per currency with its
// table, the subscribers' chart, the expiring list and CSV links to the
// API; a bad parameter is named beside the default report.
func TestReportsPage(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	SeedPaymentsOver(t, s.deps.DB, 40, 20, time.Now(), "payment-manual", "payment-stripe")

	code, body := page(t, h, http.MethodGet, "/reports?by=plan&interval=month", RoleViewer, nil, false)
	if code != http.StatusOK {
		t.Fatalf("GET /reports: %d %s", code, body)
	}
	for _, want := range []string{
		`id="report-form"`, `<option value="month" selected>`, `<option value="plan" selected>`,
		`data-chart="income" data-src="/api/v1/reports/income?by=plan&amp;from=`, `data-currency="IDR" data-exponent="0"`, `data-currency="USD" data-exponent="2"`,
		`<th scope="col">Daily</th>`, `data-chart="subscribers" data-src="/api/v1/reports/subscribers?`,
		`id="income-csv" href="/api/v1/reports/income?by=plan&amp;format=csv`, `id="expiring-csv" href="/api/v1/reports/expiring?days=7&amp;format=csv"`,
		`data-subscription=`, `Pelanggan 0`, `src="/static/reports.js?v=`, `aria-current="page">Reports<`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the reports page has no %s", want)
		}
	}
	if strings.Contains(body, `/customers/`) {
		t.Errorf("a viewer's reports page links to the customer form, which is for operators")
	}
	if _, body := page(t, h, http.MethodGet, "/reports", RoleOperator, nil, false); !strings.Contains(body, `href="/customers/`) {
		t.Errorf("an operator's reports page has no link to the expiring customers")
	}

	code, body = page(t, h, http.MethodGet, "/reports?interval=week&from=2026-99-01", RoleViewer, nil, false)
	if code != http.StatusOK || !strings.Contains(body, `id="interval-err"`) || !strings.Contains(body, `id="from-err"`) || !strings.Contains(body, `data-chart="subscribers"`) {
		t.Errorf("bad parameters: %d; want the problems named beside the default report:\n%s", code, body)
	}
}
