package ui

// The reports page (viewers): income per day or month by plan, gateway or
// location, active and new subscribers, and the subscriptions expiring in
// the next 7 days, through the services of GET /api/v1/reports/...
// (Deps.Numbers: billing.Service's IncomeReport, SubscriberReport and
// ExpiringReport). The form is a GET, so a report is a link to share.
// static/reports.js draws the charts with uPlot from the API's JSON (the
// URLs in the chart boxes' data-src); a table under each chart holds the
// same numbers for screen readers; the CSV links download them from the
// API.

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

func init() {
	pageFiles = append(pageFiles, "reports.html")
}

// reportsData is the reports page's.
type reportsData struct {
	// Form holds the query the report ran with (a month report's range
	// widened to whole months), by parameter name; Errs maps a refused
	// parameter to the catalog key of its problem.
	Form map[string]string
	Errs fieldErrors
	// Income, IncomeURL and IncomeCSV: the income per currency, the API's
	// JSON the chart draws and its CSV.
	Income               []incomeChart
	IncomeURL, IncomeCSV string
	// Subscribers: the counts' table (per period: active, new), the
	// API's JSON and CSV.
	Subscribers                    chartTable
	SubscribersURL, SubscribersCSV string
	// Expiring: the list, whether it was cut, and its CSV.
	Expiring    []expiringRow
	Truncated   bool
	ExpiringCSV string
	Days        int
}

// incomeChart is one currency's income chart.
type incomeChart struct {
	Currency string
	// Exponent is the currency's minor-unit digits, for the chart.
	Exponent int
	Total    int64
	Count    int
	Table    chartTable
}

// expiringRow is one expiring subscription as the list shows it.
type expiringRow struct {
	ID, CustomerID               int64
	Customer, Phone, Plan, Place string
	Expires, ISO                 string
}

// reportProblems are the catalog keys of each query parameter's problem.
var reportProblems = map[string]string{
	"from":     "reports.bad_from",
	"to":       "reports.bad_to",
	"interval": "reports.bad_interval",
	"by":       "reports.bad_by",
	"days":     "reports.bad_days",
}

// Reports serves GET /reports.
func (u *UI) Reports(w http.ResponseWriter, r *http.Request) error {
	svc := u.deps.Numbers
	if svc == nil {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	qv := r.URL.Query()
	d := &reportsData{Form: map[string]string{}}
	now, loc := svc.ReportNow()
	q, err := billing.ParseReportQuery(qv, now, loc)
	var qe *billing.ReportQueryError
	if errors.As(err, &qe) {
		d.Errs = fieldErrors{}
		for f := range qe.Fields {
			if key, ok := reportProblems[f]; ok {
				d.Errs[f] = key
			}
		}
		// Show the default report beside the problems.
		if q, err = billing.ParseReportQuery(url.Values{}, now, loc); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	// The form shows the range the report covers.
	d.Form["from"], d.Form["to"] = q.From.Format(time.DateOnly), q.To.AddDate(0, 0, -1).Format(time.DateOnly)
	d.Form["interval"], d.Form["by"] = q.Interval, q.By

	income, err := svc.IncomeReport(r.Context(), q)
	if err != nil {
		return err
	}
	subs, err := svc.SubscriberReport(r.Context(), q)
	if err != nil {
		return err
	}
	q.Days = billing.ExpiringDefaultDays
	exp, err := svc.ExpiringReport(r.Context(), q)
	if err != nil {
		return err
	}

	v := q.Values()
	d.IncomeURL, d.IncomeCSV = apiURL("income", v, ""), apiURL("income", v, "csv")
	v.Del("by")
	d.SubscribersURL, d.SubscribersCSV = apiURL("subscribers", v, ""), apiURL("subscribers", v, "csv")
	d.ExpiringCSV = apiURL("expiring", url.Values{"days": {"7"}}, "csv")
	d.Days, d.Truncated = exp.Days, exp.Truncated

	for _, c := range income.Currencies {
		ch := incomeChart{Currency: c.Currency, Exponent: payment.Exponent(c.Currency), Total: c.Total, Count: c.Count,
			Table: chartTable{Currency: c.Currency, Gateways: make([]string, len(c.Groups))}}
		for i, g := range c.Groups {
			ch.Table.Gateways[i] = g.Name
		}
		for p, period := range income.Periods {
			row := chartRow{Day: period, Values: make([]int64, len(c.Groups))}
			some := false
			for i, g := range c.Groups {
				row.Values[i] = g.Amounts[p]
				some = some || g.Counts[p] != 0
			}
			if some {
				ch.Table.Rows = append(ch.Table.Rows, row)
			}
		}
		d.Income = append(d.Income, ch)
	}
	d.Subscribers = chartTable{}
	for p, period := range subs.Periods {
		d.Subscribers.Rows = append(d.Subscribers.Rows, chartRow{Day: period, Values: []int64{int64(subs.Active[p]), int64(subs.New[p])}})
	}
	for _, e := range exp.Items {
		at := e.ExpiresAt.In(loc)
		d.Expiring = append(d.Expiring, expiringRow{ID: e.ID, CustomerID: e.CustomerID, Customer: e.CustomerName, Phone: e.Phone,
			Plan: e.PlanName, Place: e.LocationName, Expires: at.Format("2006-01-02 15:04"), ISO: at.Format(time.RFC3339)})
	}
	return u.render(w, r, http.StatusOK, "reports.html", view{Title: "reports.title", Data: d})
}

// apiURL is the link to a report of the API with the query v, as CSV when
// format is "csv".
func apiURL(report string, v url.Values, format string) string {
	if format != "" {
		v = maps.Clone(v)
		v.Set("format", format)
	}
	return "/api/v1/reports/" + report + "?" + v.Encode()
}
