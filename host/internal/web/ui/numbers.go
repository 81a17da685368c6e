package ui

// The dashboard's numbers (billing.Service.Dashboard, which GET
// /api/v1/dashboard answers too): revenue per currency and payments per
// gateway over the last 30 days as charts (static/dashboard.js draws them
// from the API's answer with uPlot), each with a table of the same numbers
// for screen readers; subscribers and failed jobs as figures.

import (
	"strconv"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// numbersView is the dashboard's numbers as the page shows them.
type numbersView struct {
	Active, Expiring, FailedJobs int
	Revenue                      []revenueView
	Payments                     chartTable
}

// revenueView is one currency's chart.
type revenueView struct {
	Currency string
	// Exponent is the currency's minor-unit digits, for the chart's
	// amounts.
	Exponent int
	Total    string
	Table    chartTable
}

// chartTable is a chart's numbers as a table: a column per gateway, a row
// per day with payments.
type chartTable struct {
	Gateways []string
	Rows     []chartRow
}

type chartRow struct {
	Day    string
	Values []string
}

func newNumbersView(d *billing.Dashboard) *numbersView {
	v := &numbersView{Active: d.Subscribers.Active, Expiring: d.Subscribers.Expiring, FailedJobs: d.FailedJobs,
		Revenue: make([]revenueView, 0, len(d.Revenue))}
	for _, c := range d.Revenue {
		v.Revenue = append(v.Revenue, revenueView{Currency: c.Currency, Exponent: payment.Exponent(c.Currency),
			Total: payment.Money{Amount: c.Total, Currency: c.Currency}.String(),
			Table: newChartTable(d.Days, c.Gateways, func(n int64) string { return payment.Money{Amount: n, Currency: c.Currency}.String() })})
	}
	v.Payments = newChartTable(d.Days, d.Payments, func(n int64) string { return strconv.FormatInt(n, 10) })
	return v
}

func newChartTable(days []string, series []billing.Series, format func(int64) string) chartTable {
	t := chartTable{Gateways: make([]string, len(series))}
	for i, s := range series {
		t.Gateways[i] = s.Gateway
	}
	for day := range days {
		any := false
		for _, s := range series {
			any = any || s.Values[day] != 0
		}
		if !any {
			continue
		}
		row := chartRow{Day: days[day], Values: make([]string, len(series))}
		for i, s := range series {
			row.Values[i] = format(s.Values[day])
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
