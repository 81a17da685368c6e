package billing

// The reports (GET /api/v1/reports/income, /subscribers and /expiring, and
// the UI's /reports page): income per day or month by plan, gateway or
// location; active and new subscribers per day or month; the subscriptions
// expiring soon. Periods are days or months in the configured zone
// (Config.Location); the store groups the rows (store/reports.go).

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Report intervals.
const (
	IntervalDay   = "day"
	IntervalMonth = "month"
)

// Report limits and defaults.
const (
	// ReportMaxDays and ReportMaxMonths are the most periods a report
	// covers per interval.
	ReportMaxDays   = 366
	ReportMaxMonths = 120
	// ReportDefaultDays and ReportDefaultMonths are the periods a report
	// covers when the query names no from, up to today.
	ReportDefaultDays   = 30
	ReportDefaultMonths = 12
	// ExpiringDefaultDays and ExpiringMaxDays bound the expiring list's
	// window; ExpiringMaxItems is the most it lists.
	ExpiringDefaultDays = 7
	ExpiringMaxDays     = 90
	ExpiringMaxItems    = 1000
)

// ReportQuery is a report's range, interval and grouping, as
// ParseReportQuery reads it from a request's query.
type ReportQuery struct {
	// From is the first period's start; To the last period's end
	// (exclusive), both in the configured zone.
	From, To time.Time
	// Interval is IntervalDay or IntervalMonth.
	Interval string
	// By is the income's grouping: store.IncomeByPlan, IncomeByGateway or
	// IncomeByLocation.
	By string
	// Days is the expiring list's window in days.
	Days int
}

// ReportQueryError says what is wrong with each field of a report query
// (the API's 422, the page's problems).
type ReportQueryError struct {
	Fields map[string]string
}

func (e *ReportQueryError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return "report query: " + strings.Join(parts, "; ")
}

func (e *ReportQueryError) add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, seen := e.Fields[field]; !seen {
		e.Fields[field] = msg
	}
}

// ParseReportQuery reads a report's query: from and to (dates,
// YYYY-MM-DD, or months, YYYY-MM; to is included), interval (day or
// month, default day), by (plan, gateway or location, default gateway)
// and days (the expiring list's window, default 7). Without from the
// report covers the ReportDefaultDays days or ReportDefaultMonths months
// up to to (default: today, at now in loc). A month report's range is
// widened to whole months. Problems come back as a *ReportQueryError.
func ParseReportQuery(v url.Values, now time.Time, loc *time.Location) (ReportQuery, error) {
	bad := &ReportQueryError{}
	q := ReportQuery{Interval: v.Get("interval"), By: v.Get("by"), Days: ExpiringDefaultDays}
	if q.Interval == "" {
		q.Interval = IntervalDay
	}
	if q.Interval != IntervalDay && q.Interval != IntervalMonth {
		bad.add("interval", fmt.Sprintf("%q is not an interval: use day or month", q.Interval))
		q.Interval = IntervalDay
	}
	if q.By == "" {
		q.By = store.IncomeByGateway
	}
	if q.By != store.IncomeByPlan && q.By != store.IncomeByGateway && q.By != store.IncomeByLocation {
		bad.add("by", fmt.Sprintf("%q is not a grouping: use plan, gateway or location", q.By))
	}
	if s := v.Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > ExpiringMaxDays {
			bad.add("days", fmt.Sprintf("%q is not a number of days from 1 to %d", s, ExpiringMaxDays))
		} else {
			q.Days = n
		}
	}
	now = now.In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	last, ok := today, true
	if s := v.Get("to"); s != "" {
		if last, ok = parseReportDate(s, loc, true); !ok {
			bad.add("to", fmt.Sprintf("%q is not a date: write YYYY-MM-DD (or YYYY-MM for a month)", s))
			last = today
		}
	}
	first := last.AddDate(0, 0, 1-ReportDefaultDays)
	if q.Interval == IntervalMonth {
		first = time.Date(last.Year(), last.Month()-ReportDefaultMonths+1, 1, 0, 0, 0, 0, loc)
	}
	if s := v.Get("from"); s != "" {
		if first, ok = parseReportDate(s, loc, false); !ok {
			bad.add("from", fmt.Sprintf("%q is not a date: write YYYY-MM-DD (or YYYY-MM for a month)", s))
		}
	}
	q.From, q.To = first, last.AddDate(0, 0, 1)
	if q.Interval == IntervalMonth {
		q.From = time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, loc)
		q.To = time.Date(last.Year(), last.Month()+1, 1, 0, 0, 0, 0, loc)
	}
	if _, problem := bad.Fields["from"]; !problem && !q.From.Before(q.To) {
		bad.add("from", fmt.Sprintf("from (%s) is after to (%s): swap them", q.From.Format(time.DateOnly), last.Format(time.DateOnly)))
	}
	if bad.Fields == nil {
		if n := len(q.bounds()) - 1; q.Interval == IntervalDay && n > ReportMaxDays {
			bad.add("from", fmt.Sprintf("the range covers more than %d days, the most a daily report covers: narrow it or use interval=month", ReportMaxDays))
		} else if q.Interval == IntervalMonth && n > ReportMaxMonths {
			bad.add("from", fmt.Sprintf("the range covers %d months; a monthly report covers at most %d: narrow it", n, ReportMaxMonths))
		}
	}
	if bad.Fields != nil {
		return q, bad
	}
	return q, nil
}

// parseReportDate reads YYYY-MM-DD, or YYYY-MM: its first day, or its
// last when end.
func parseReportDate(s string, loc *time.Location, end bool) (time.Time, bool) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, true
	}
	t, err := time.ParseInLocation("2006-01", s, loc)
	if err != nil {
		return time.Time{}, false
	}
	if end {
		return t.AddDate(0, 1, -1), true
	}
	return t, true
}

// bounds returns the periods' boundaries, From to To.
func (q ReportQuery) bounds() []time.Time {
	var out []time.Time
	for t := q.From; !t.After(q.To) && len(out) <= ReportMaxDays+1; {
		out = append(out, t)
		if q.Interval == IntervalMonth {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location())
		} else {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
		}
	}
	return out
}

// labels names the periods: YYYY-MM-DD for days, YYYY-MM for months.
func (q ReportQuery) labels(bounds []time.Time) []string {
	layout := time.DateOnly
	if q.Interval == IntervalMonth {
		layout = "2006-01"
	}
	out := make([]string, len(bounds)-1)
	for i := range out {
		out[i] = bounds[i].Format(layout)
	}
	return out
}

// Values returns the query as URL values ParseReportQuery reads back
// (the page's links to the API and its CSV).
func (q ReportQuery) Values() url.Values {
	v := url.Values{"from": {q.From.Format(time.DateOnly)}, "to": {q.To.AddDate(0, 0, -1).Format(time.DateOnly)}, "interval": {q.Interval}}
	if q.By != "" {
		v.Set("by", q.By)
	}
	return v
}

// IncomeReport is the credited payments per period, by group and
// currency.
type IncomeReport struct {
	// From and To are the first and the last day covered (YYYY-MM-DD).
	From     string `json:"from"`
	To       string `json:"to"`
	Interval string `json:"interval"`
	By       string `json:"by"`
	// Periods name the periods (YYYY-MM-DD or YYYY-MM), oldest first;
	// every group has one value per period.
	Periods []string `json:"periods"`
	// Currencies hold the income per currency (never added across), by
	// currency.
	Currencies []IncomeCurrency `json:"currencies"`
}

// IncomeCurrency is the income in one currency.
type IncomeCurrency struct {
	Currency string `json:"currency"`
	// Total is the sum over the periods in minor units; Count the payments.
	Total int64 `json:"total"`
	Count int   `json:"count"`
	// Groups are the plans, gateways or locations, by name.
	Groups []IncomeGroup `json:"groups"`
}

// IncomeGroup is one plan's, gateway's or location's income in one
// currency.
type IncomeGroup struct {
	// ID is the plan's or location's id (absent for a gateway).
	ID    int64  `json:"id,omitempty"`
	Name  string `json:"name"`
	Total int64  `json:"total"`
	Count int    `json:"count"`
	// Amounts (minor units) and Counts, one per period.
	Amounts []int64 `json:"amounts"`
	Counts  []int   `json:"counts"`
}

// IncomeReport sums the credited payments over q's periods, by q.By.
func (s *Service) IncomeReport(ctx context.Context, q ReportQuery) (*IncomeReport, error) {
	bounds := q.bounds()
	rows, err := s.st.Q().IncomeByPeriod(ctx, bounds, q.By)
	if err != nil {
		return nil, fmt.Errorf("income report: %w", err)
	}
	periods := q.labels(bounds)
	rep := &IncomeReport{From: q.From.Format(time.DateOnly), To: q.To.AddDate(0, 0, -1).Format(time.DateOnly),
		Interval: q.Interval, By: q.By, Periods: periods, Currencies: []IncomeCurrency{}}
	for _, r := range rows {
		cur := findOrAdd(&rep.Currencies, func(c *IncomeCurrency) bool { return c.Currency == r.Currency },
			IncomeCurrency{Currency: r.Currency, Groups: []IncomeGroup{}})
		g := findOrAdd(&cur.Groups, func(g *IncomeGroup) bool { return g.ID == r.ID && g.Name == r.Name },
			IncomeGroup{ID: r.ID, Name: r.Name, Amounts: make([]int64, len(periods)), Counts: make([]int, len(periods))})
		g.Amounts[r.Period] += r.Amount
		g.Counts[r.Period] += r.Count
		g.Total += r.Amount
		g.Count += r.Count
		cur.Total += r.Amount
		cur.Count += r.Count
	}
	slices.SortFunc(rep.Currencies, func(a, b IncomeCurrency) int { return strings.Compare(a.Currency, b.Currency) })
	for _, c := range rep.Currencies {
		slices.SortFunc(c.Groups, func(a, b IncomeGroup) int { return strings.Compare(a.Name, b.Name) })
	}
	return rep, nil
}

// SubscriberReport counts the active and the new subscribers per period
// (store.SubscriberPeriod says what counts).
type SubscriberReport struct {
	From     string   `json:"from"`
	To       string   `json:"to"`
	Interval string   `json:"interval"`
	Periods  []string `json:"periods"`
	// Active and New have one count per period.
	Active []int `json:"active"`
	New    []int `json:"new"`
}

// SubscriberReport counts the subscribers over q's periods.
func (s *Service) SubscriberReport(ctx context.Context, q ReportQuery) (*SubscriberReport, error) {
	bounds := q.bounds()
	rows, err := s.st.Q().SubscribersByPeriod(ctx, bounds)
	if err != nil {
		return nil, fmt.Errorf("subscriber report: %w", err)
	}
	rep := &SubscriberReport{From: q.From.Format(time.DateOnly), To: q.To.AddDate(0, 0, -1).Format(time.DateOnly),
		Interval: q.Interval, Periods: q.labels(bounds), Active: make([]int, len(rows)), New: make([]int, len(rows))}
	for i, r := range rows {
		rep.Active[i], rep.New[i] = r.Active, r.New
	}
	return rep, nil
}

// ExpiringReport lists the active subscriptions that expire within Days
// from now.
type ExpiringReport struct {
	Days int       `json:"days"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Items are soonest first, at most ExpiringMaxItems; Truncated says
	// more expire in the window.
	Items     []store.ExpiringSubscription `json:"items"`
	Truncated bool                         `json:"truncated"`
}

// ExpiringReport lists the subscriptions expiring in the q.Days days from
// now.
func (s *Service) ExpiringReport(ctx context.Context, q ReportQuery) (*ExpiringReport, error) {
	now := s.now()
	rep := &ExpiringReport{Days: q.Days, From: now.UTC(), To: now.Add(time.Duration(q.Days) * 24 * time.Hour).UTC()}
	items, err := s.st.Q().ListExpiring(ctx, rep.From, rep.To, ExpiringMaxItems+1)
	if err != nil {
		return nil, fmt.Errorf("expiring report: %w", err)
	}
	if len(items) > ExpiringMaxItems {
		items, rep.Truncated = items[:ExpiringMaxItems], true
	}
	if items == nil {
		items = []store.ExpiringSubscription{}
	}
	rep.Items = items
	return rep, nil
}

// ReportNow is the time reports count from, in the configured zone (the
// handlers pass it to ParseReportQuery).
func (s *Service) ReportNow() (time.Time, *time.Location) {
	return s.now().In(s.cfg.Location), s.cfg.Location
}
