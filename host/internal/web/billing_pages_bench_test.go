package web

// The customer list page with 10,000 customers, rendered by the server,
// against the same customers from the JSON API in the same run (issue 12:
// under 50 ms of server time and a few hundred KiB of allocations a page).

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// benchCustomers is how many customers the list holds.
const benchCustomers = 10000

// BenchmarkCustomerListPage serves GET /customers (the page, 50 rows) and
// GET /api/v1/customers?limit=50 (the API, the same rows as JSON) on the
// first page and deep in the list (after customer 9,000: the page's keyset
// cursor, the API's offset). Each page sub-benchmark reports its time as a
// ratio to the API's (x-api) and logs it.
func BenchmarkCustomerListPage(b *testing.B) {
	db := storetest.SQLite(b)
	ctx := context.Background()
	err := db.Tx(ctx, func(tx *store.Tx) error {
		l := &store.Location{Name: "main"}
		if err := tx.Q().CreateLocation(ctx, l); err != nil {
			return err
		}
		for i := range benchCustomers {
			c := &store.Customer{Name: fmt.Sprintf("Pelanggan %05d", i), Phone: fmt.Sprintf("+62812%08d", i),
				RouterUsername: fmt.Sprintf("user%05d", i), LocationID: l.ID}
			if err := tx.Q().CreateCustomer(ctx, c, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &cheapParams})
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.DataDir, cfg.Plugins.Dir = b.TempDir(), b.TempDir()
	pm := plugins.New(cfg, plugins.Deps{HostVersion: "1.0.0"}) // no plugins: the pages need a manager
	if err := pm.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pm.Stop(context.Background()) })
	h := New(Deps{Config: cfg, Metrics: metrics.New(), DB: db, Accounts: acc, Auth: roleHeaderAuth{}, Plugins: pm,
		Billing: billing.New(db, nil, nil, billing.Config{}, nil)}).Handler()

	deep, _, err := db.Q().ListCustomers(ctx, store.CustomerFilter{}, store.Page{Limit: 1, Offset: 8999})
	if err != nil || len(deep) != 1 {
		b.Fatalf("customer 9000: %v %v", deep, err)
	}
	after := url.Values{"after_name": {deep[0].Name}, "after_id": {fmt.Sprint(deep[0].ID)}}.Encode()
	for _, c := range []struct{ name, page, api string }{
		{"first", "/customers", "/api/v1/customers?limit=50"},
		{"deep", "/customers?" + after, "/api/v1/customers?limit=50&offset=9000"},
	} {
		var apiNs float64
		b.Run(c.name+"/api", func(b *testing.B) {
			serve(b, h, c.api, `"items"`)
			apiNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run(c.name+"/page", func(b *testing.B) {
			serve(b, h, c.page, `data-customer=`)
			pageNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if apiNs > 0 {
				b.ReportMetric(pageNs/apiNs, "x-api")
				b.Logf("%s page of %d customers: %.2f ms a page, %.2f ms the API's JSON: %.2fx", c.name, benchCustomers, pageNs/1e6, apiNs/1e6, pageNs/apiNs)
			}
		})
	}
}

// serve requests path as a viewer b.N times, checking the first answer.
func serve(b *testing.B, h http.Handler, path, want string) { serveAs(b, h, RoleViewer, path, want) }

// serveAs requests path as role b.N times, checking the first answer: it
// holds want, 50 times when want marks a row (data-...).
func serveAs(b *testing.B, h http.Handler, role, path, want string) {
	b.ReportAllocs()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("X-Test-Role", role)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || strings.Count(w.Body.String(), want) == 0 {
		b.Fatalf("GET %s: %d %.300s", path, w.Code, w.Body.String())
	}
	if n := strings.Count(w.Body.String(), want); strings.HasPrefix(want, "data-") && n != 50 {
		b.Fatalf("GET %s: %d rows, want 50", path, n)
	}
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
	}
}
