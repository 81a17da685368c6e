package ui

// The dashboard's numbers (billing.Service.Dashboard, which GET
// /api/v1/dashboard answers too): revenue per currency and payments per
// gateway over the last 30 days as charts (static/dashboard.js draws them
// from the API's answer with uPlot), each with a table of the same numbers
// for screen readers; subscribers and failed jobs as figures.

import (
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
	// Total is in the currency's minor units (the template's money
	// writes it).
	Total int64
	Table chartTable
}

// chartTable is a chart's numbers as a table: a column per gateway, a row
// per day with payments. Currency says the values are amounts in it ("":
// counts).
type chartTable struct {
	Currency string
	Gateways []string
	Rows     []chartRow
}

type chartRow struct {
	Day    string
	Values []int64
}

func newNumbersView(d *billing.Dashboard) *numbersView {
	v := &numbersView{Active: d.Subscribers.Active, Expiring: d.Subscribers.Expiring, FailedJobs: d.FailedJobs,
		Revenue: make([]revenueView, 0, len(d.Revenue))}
	for _, c := range d.Revenue {
		v.Revenue = append(v.Revenue, revenueView{Currency: c.Currency, Exponent: payment.Exponent(c.Currency),
			Total: c.Total, Table: newChartTable(d.Days, c.Gateways, c.Currency)})
	}
	v.Payments = newChartTable(d.Days, d.Payments, "")
	return v
}

func newChartTable(days []string, series []billing.Series, currency string) chartTable {
	t := chartTable{Currency: currency, Gateways: make([]string, len(series))}
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
		row := chartRow{Day: days[day], Values: make([]int64, len(series))}
		for i, s := range series {
			row.Values[i] = s.Values[day]
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
