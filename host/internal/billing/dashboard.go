package billing

// The admin dashboard's numbers, for GET /api/v1/dashboard and the UI's
// dashboard: the same service call for both.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// DashboardDays is how many days the dashboard's charts cover, today
// included.
const DashboardDays = 30

// ExpiringWithin is how soon a subscription runs out to count as expiring
// on the dashboard.
const ExpiringWithin = 7 * 24 * time.Hour

// FailedJobStates are the job states that need an operator's eye, as the
// jobs list (GET /api/v1/jobs) shows by default: out of attempts
// (discarded), cancelled, and failing now (retryable).
var FailedJobStates = []string{"discarded", "cancelled", "retryable"}

// Dashboard is what the dashboard shows beside the plugins.
type Dashboard struct {
	// From is the start of the first day, in the configured zone
	// (Config.Location).
	From time.Time `json:"from"`
	// Days are the dates of the days, oldest first (YYYY-MM-DD); every
	// series has one value per day.
	Days []string `json:"days"`
	// Revenue is the money taken per currency (amounts of different
	// currencies are never added), by currency.
	Revenue []CurrencyRevenue `json:"revenue"`
	// Payments counts the payments per gateway and day, by gateway.
	Payments []Series `json:"payments"`
	// Subscribers are the customers with an active subscription and the
	// subscriptions expiring within ExpiringWithin.
	Subscribers store.SubscriberCounts `json:"subscribers"`
	// FailedJobs counts the jobs in FailedJobStates.
	FailedJobs int `json:"failed_jobs"`
}

// CurrencyRevenue is the money taken in one currency.
type CurrencyRevenue struct {
	Currency string `json:"currency"`
	// Total is the sum over the days, in the currency's minor units.
	Total int64 `json:"total"`
	// Gateways are the amounts per gateway and day (minor units).
	Gateways []Series `json:"gateways"`
}

// Series is one gateway's values, one per day.
type Series struct {
	Gateway string  `json:"gateway"`
	Total   int64   `json:"total"`
	Values  []int64 `json:"values"`
}

// Dashboard returns the dashboard's numbers: the DashboardDays days up to
// and including today, in the configured zone.
func (s *Service) Dashboard(ctx context.Context) (*Dashboard, error) {
	now := s.now().In(s.cfg.Location)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.cfg.Location)
	from := today.AddDate(0, 0, 1-DashboardDays)
	d := &Dashboard{From: from, Days: make([]string, DashboardDays), Revenue: []CurrencyRevenue{}, Payments: []Series{}}
	for i := range d.Days {
		d.Days[i] = from.AddDate(0, 0, i).Format(time.DateOnly)
	}
	rows, err := s.st.Q().PaymentsByDay(ctx, from, DashboardDays)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	for _, r := range rows {
		if r.Day < 0 || r.Day >= DashboardDays {
			continue
		}
		cur := findOrAdd(&d.Revenue, func(c *CurrencyRevenue) bool { return c.Currency == r.Currency }, CurrencyRevenue{Currency: r.Currency, Gateways: []Series{}})
		cur.Total += r.Amount
		gw := findSeries(&cur.Gateways, r.Gateway)
		gw.Values[r.Day] += r.Amount
		gw.Total += r.Amount
		n := findSeries(&d.Payments, r.Gateway)
		n.Values[r.Day] += int64(r.Count)
		n.Total += int64(r.Count)
	}
	slices.SortFunc(d.Revenue, func(a, b CurrencyRevenue) int { return cmp.Compare(a.Currency, b.Currency) })
	for i := range d.Revenue {
		sortSeries(d.Revenue[i].Gateways)
	}
	sortSeries(d.Payments)

	if d.Subscribers, err = s.st.Q().SubscriberCountsAt(ctx, now, ExpiringWithin); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if s.queue != nil {
		counts, err := s.queue.Counts(ctx)
		if err != nil {
			return nil, fmt.Errorf("dashboard: count jobs: %w", err)
		}
		for ks, n := range counts {
			if slices.Contains(FailedJobStates, ks[1]) {
				d.FailedJobs += n
			}
		}
	}
	return d, nil
}

func findOrAdd[T any](list *[]T, match func(*T) bool, add T) *T {
	for i := range *list {
		if match(&(*list)[i]) {
			return &(*list)[i]
		}
	}
	*list = append(*list, add)
	return &(*list)[len(*list)-1]
}

func findSeries(list *[]Series, gateway string) *Series {
	return findOrAdd(list, func(s *Series) bool { return s.Gateway == gateway }, Series{Gateway: gateway, Values: make([]int64, DashboardDays)})
}

func sortSeries(s []Series) {
	slices.SortFunc(s, func(a, b Series) int { return cmp.Compare(a.Gateway, b.Gateway) })
}
