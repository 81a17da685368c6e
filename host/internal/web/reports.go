package web

// The reports (billing.Service's IncomeReport, SubscriberReport and
// ExpiringReport, which the UI's /reports page calls too): JSON, or CSV
// with ?format=csv or Accept: text/csv. docs/api.md, Reports.

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// reportQuery reads a report's query and whether the caller asked for
// CSV; problems are a 422 naming each field.
func (s *Server) reportQuery(r *http.Request) (billing.ReportQuery, bool, error) {
	v := r.URL.Query()
	now, loc := s.deps.Billing.ReportNow()
	q, err := billing.ParseReportQuery(v, now, loc)
	var details FieldErrors
	var qe *billing.ReportQueryError
	if errors.As(err, &qe) {
		details = FieldErrors(qe.Fields)
	} else if err != nil {
		return q, false, err
	}
	asCSV := false
	switch f := v.Get("format"); f {
	case "csv":
		asCSV = true
	case "json":
	case "":
		asCSV = wantsCSV(r.Header.Get("Accept"))
	default:
		if details == nil {
			details = FieldErrors{}
		}
		details["format"] = fmt.Sprintf("%q is not a format: use json or csv", f)
	}
	if details != nil {
		return q, false, &apiError{http.StatusUnprocessableEntity, "validation_failed", "some fields are not valid; see details", details}
	}
	return q, asCSV, nil
}

// wantsCSV reports whether an Accept header puts text/csv first.
func wantsCSV(accept string) bool {
	first, _, _ := strings.Cut(accept, ",")
	mt, _, err := mime.ParseMediaType(strings.TrimSpace(first))
	return err == nil && mt == "text/csv"
}

// writeCSV answers rows as a CSV download named name-<from>-<to>.csv.
func writeCSV(w http.ResponseWriter, name string, rows [][]string) error {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("write %s csv: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, name+".csv"))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// decimal writes amount (minor units) in currency's major units without
// grouping: "5000", "12.50".
func decimal(amount int64, currency string) string {
	return strings.TrimSuffix(payment.Money{Amount: amount, Currency: currency}.String(), " "+currency)
}

// incomeReport answers GET /api/v1/reports/income. Its CSV has a row per
// period, currency and group with a payment: period, currency, the
// grouping's name, payments, amount (major units).
func (s *Server) incomeReport(w http.ResponseWriter, r *http.Request) error {
	q, asCSV, err := s.reportQuery(r)
	if err != nil {
		return err
	}
	rep, err := s.deps.Billing.IncomeReport(r.Context(), q)
	if err != nil {
		return err
	}
	if !asCSV {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	rows := [][]string{{"period", "currency", rep.By, "payments", "amount"}}
	for i, p := range rep.Periods {
		for _, c := range rep.Currencies {
			for _, g := range c.Groups {
				if g.Counts[i] == 0 {
					continue
				}
				rows = append(rows, []string{p, c.Currency, csvCell(g.Name), strconv.Itoa(g.Counts[i]), decimal(g.Amounts[i], c.Currency)})
			}
		}
	}
	return writeCSV(w, "income-"+rep.By+"-"+rep.From+"-"+rep.To, rows)
}

// subscriberReport answers GET /api/v1/reports/subscribers; its CSV:
// period, active, new.
func (s *Server) subscriberReport(w http.ResponseWriter, r *http.Request) error {
	q, asCSV, err := s.reportQuery(r)
	if err != nil {
		return err
	}
	rep, err := s.deps.Billing.SubscriberReport(r.Context(), q)
	if err != nil {
		return err
	}
	if !asCSV {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	rows := [][]string{{"period", "active", "new"}}
	for i, p := range rep.Periods {
		rows = append(rows, []string{p, strconv.Itoa(rep.Active[i]), strconv.Itoa(rep.New[i])})
	}
	return writeCSV(w, "subscribers-"+rep.From+"-"+rep.To, rows)
}

// expiringReport answers GET /api/v1/reports/expiring; its CSV: expires_at
// (RFC 3339, UTC), subscription, customer id and name, phone, plan,
// location.
func (s *Server) expiringReport(w http.ResponseWriter, r *http.Request) error {
	q, asCSV, err := s.reportQuery(r)
	if err != nil {
		return err
	}
	rep, err := s.deps.Billing.ExpiringReport(r.Context(), q)
	if err != nil {
		return err
	}
	if !asCSV {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	rows := [][]string{{"expires_at", "subscription_id", "customer_id", "customer", "phone", "plan", "location"}}
	for _, e := range rep.Items {
		rows = append(rows, []string{e.ExpiresAt.UTC().Format(time.RFC3339), strconv.FormatInt(e.ID, 10), strconv.FormatInt(e.CustomerID, 10),
			csvCell(e.CustomerName), e.Phone, csvCell(e.PlanName), csvCell(e.LocationName)})
	}
	return writeCSV(w, "expiring-"+strconv.Itoa(rep.Days)+"d", rows)
}
