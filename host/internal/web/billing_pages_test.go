package web

// The billing pages over the server (the browser test is
// host/internal/cli/ui_billing_browser_test.go): the customer search and
// its keyset pages, refused fields next to their inputs, and the roles.

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// page requests path as role (a form when form is not nil).
func page(t *testing.T, h http.Handler, method, path, role string, form url.Values, hx bool) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Test-Role", role)
	if hx {
		req.Header.Set("HX-Request", "true")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

var nextRE = regexp.MustCompile(`href="([^"]+)" rel="next"`)

func TestCustomerPageSearchesAndPagesByKeyset(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	ctx := context.Background()
	q := s.deps.DB.Q()
	l := &store.Location{Name: "main"}
	if err := q.CreateLocation(ctx, l); err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		name := fmt.Sprintf("Budi %03d", i)
		if i%2 == 1 {
			name = fmt.Sprintf("Siti %03d", i)
		}
		if err := q.CreateCustomer(ctx, &store.Customer{Name: name, RouterUsername: fmt.Sprintf("u%03d", i), LocationID: l.ID}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Sixty match "siti": a page of 50, then one of 10 without a next link.
	var seen []string
	path, pages := "/customers?q=SITI", 0
	for path != "" {
		code, body := page(t, h, http.MethodGet, path, RoleViewer, nil, pages > 0)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", path, code, body)
		}
		if pages > 0 && strings.Contains(body, "<html") {
			t.Errorf("the htmx request for %s got the whole page, want the list alone", path)
		}
		for _, m := range regexp.MustCompile(`<td>(\w+ \d{3})</td>`).FindAllStringSubmatch(body, -1) {
			seen = append(seen, m[1])
		}
		pages++
		path = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if pages != 2 || len(seen) != 60 {
		t.Fatalf("%d pages, %d customers; want 2 pages of 60 customers", pages, len(seen))
	}
	for i, name := range seen {
		if want := fmt.Sprintf("Siti %03d", 2*i+1); name != want {
			t.Fatalf("customer %d is %q, want %q (every match once, by name)", i, name, want)
		}
	}
}

func TestBillingPagesRefuseFieldsAndRoles(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	plan := url.Values{"name": {"Home"}, "kind": {"hotspot"}, "price": {"5000"}, "currency": {"rupiah"}, "validity": {"1"}, "validity_unit": {"days"}, "shared_users": {"1"}}
	code, body := page(t, h, http.MethodPost, "/plans", RoleOperator, plan, false)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="currency-err"`) || !strings.Contains(body, `value="Home"`) {
		t.Errorf("a wrong currency: %d; want 422 with the error next to the field and the form kept:\n%.2000s", code, body)
	}
	if code, _ := page(t, h, http.MethodPost, "/plans", RoleViewer, plan, false); code != http.StatusForbidden {
		t.Errorf("a viewer's POST /plans: %d, want 403", code)
	}
	plan.Set("currency", "IDR")
	if code, body := page(t, h, http.MethodPost, "/plans", RoleOperator, plan, false); code != http.StatusSeeOther {
		t.Fatalf("a plan: %d %.1000s", code, body)
	}
	plans, _, _ := s.deps.DB.Q().ListPlans(context.Background(), store.Page{})
	if len(plans) != 1 || plans[0].Currency != "IDR" || plans[0].Validity.Hours() != 24 {
		t.Fatalf("plans after the form: %+v", plans)
	}
	// A name taken is the store's refusal, shown on the name.
	if code, body := page(t, h, http.MethodPost, "/plans", RoleOperator, plan, false); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="name-err"`) {
		t.Errorf("a taken name: %d %.1500s", code, body)
	}
	_, list := page(t, h, http.MethodGet, "/plans", RoleViewer, nil, false)
	if strings.Contains(list, `id="new-plan"`) || strings.Contains(list, "/edit") {
		t.Error("a viewer sees the plan buttons")
	}
	_, list = page(t, h, http.MethodGet, "/plans", RoleOperator, nil, false)
	if !strings.Contains(list, `id="new-plan"`) || !strings.Contains(list, "/edit") {
		t.Error("an operator does not see the plan buttons")
	}
}
