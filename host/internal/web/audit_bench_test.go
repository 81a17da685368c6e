package web

// The audit page with 10,000 events, rendered by the server, against the
// same search from the JSON API in the same run, as
// BenchmarkCustomerListPage measures the customer list.

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// benchAuditEvents is how many events the audit log holds.
const benchAuditEvents = 10000

// BenchmarkAuditPage serves GET /audit (the page, 50 rows) and GET
// /api/v1/audit?limit=50 (the API, the same rows as JSON): the newest
// page, a page deep in the log (after event 9,000, by its keyset cursor),
// and a search by action prefix. Each page sub-benchmark reports its time
// as a ratio to the API's (x-api) and logs it.
func BenchmarkAuditPage(b *testing.B) {
	db := storetest.SQLite(b)
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := db.Tx(ctx, func(tx *store.Tx) error {
		for i := range benchAuditEvents {
			e := &store.AuditEntry{EventID: fmt.Sprintf("ev-%05d", i), OccurredAt: start.Add(time.Duration(i) * time.Minute),
				Actor: fmt.Sprintf("user:operator%d", i%7), Action: []string{"plan.created", "plan.updated", "customer.updated", "invoice.paid", "subscription.expired"}[i%5],
				ResourceType: "plan", ResourceID: fmt.Sprint(i % 300), Outcome: []string{"success", "success", "failure"}[i%3],
				Metadata: map[string]string{"name": fmt.Sprintf("Paket %d", i%300), "price": fmt.Sprint(100000 + i), "currency": "IDR"}}
			if _, err := tx.Q().AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	h := matrixServerOn(b, db, nil).Handler()

	// The cursor after event 9,000, newest first: 18 pages of 500 down.
	svc := billing.New(db, nil, nil, billing.Config{}, nil)
	q := billing.AuditQuery{Limit: 500}
	for range 18 {
		p, err := svc.SearchAudit(ctx, q)
		if err != nil || p.Older == "" {
			b.Fatalf("page down: %v", err)
		}
		q.Cursor = p.Older
	}
	deep := url.Values{"cursor": {q.Cursor}}.Encode()
	for _, c := range []struct{ name, page, api string }{
		{"first", "/audit", "/api/v1/audit?limit=50"},
		{"deep", "/audit?" + deep, "/api/v1/audit?limit=50&" + deep},
		{"search", "/audit?action=plan.", "/api/v1/audit?limit=50&action=plan."},
	} {
		var apiNs float64
		b.Run(c.name+"/api", func(b *testing.B) {
			serveAs(b, h, RoleAdmin, c.api, `"items"`)
			apiNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run(c.name+"/page", func(b *testing.B) {
			serveAs(b, h, RoleAdmin, c.page, `data-event=`)
			pageNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if apiNs > 0 {
				b.ReportMetric(pageNs/apiNs, "x-api")
				b.Logf("%s audit page of %d events: %.2f ms a page, %.2f ms the API's JSON: %.2fx", c.name, benchAuditEvents, pageNs/1e6, apiNs/1e6, pageNs/apiNs)
			}
		})
	}
}
