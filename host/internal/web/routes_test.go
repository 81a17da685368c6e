package web

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAPIDocListsEveryRoute: docs/api.md's route table names every /api/v1
// route of the route table with the role router gives it, and nothing
// else.
func TestAPIDocListsEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "\n## Routes\n")
	if !ok {
		t.Fatal(`docs/api.md has no "## Routes" section`)
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("(?m)^\\| (GET|HEAD|POST|PUT|PATCH|DELETE) \\| `([^`]+)` \\| (\\w+) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		role := m[3]
		if role == "public" {
			role = rolePublic
		}
		documented[m[1]+" /api/v1"+m[2]] = role
	}
	s := matrixServer(t)
	s.router()
	installed := map[string]string{}
	for key, role := range s.Policies() {
		if _, path, _ := strings.Cut(key, " "); isAPI(path) {
			installed[key] = role
		}
	}
	if len(installed) < 50 {
		t.Fatalf("only %d API routes installed: the test server is missing a dependency", len(installed))
	}
	if diff := cmp.Diff(installed, documented); diff != "" {
		t.Errorf("docs/api.md's route table differs from router's (-router +docs):\n%s", diff)
	}
}

// TestRoutesOutsideTheAPI pins the routes outside /api/v1, which no
// document's table lists: each method on each path with its role. The
// machines' routes are public (the webhooks are checked by their plugins,
// the pay page by its link's digest); the admin UI's pages have the API's
// roles.
func TestRoutesOutsideTheAPI(t *testing.T) {
	s := matrixServer(t)
	s.router()
	got := map[string]string{}
	for key, role := range s.Policies() {
		if _, path, _ := strings.Cut(key, " "); !isAPI(path) {
			got[key] = role
		}
	}
	want := map[string]string{}
	for _, key := range []string{
		"GET /live", "HEAD /live", "GET /ready", "HEAD /ready", "GET /health", "HEAD /health",
		"GET /health/detailed", "GET /health/plugins", "GET /metrics",
		"POST /webhooks/{plugin}", "GET /webhooks/{plugin}", "PUT /webhooks/{plugin}",
		"GET /pay/{number}", "HEAD /pay/{number}",
	} {
		want[key] = rolePublic
	}
	for _, key := range []string{"GET /static/{file:.+}", "GET /signin", "POST /signin", "POST /signout", "POST /language"} {
		want[key] = rolePublic
	}
	for key, role := range map[string]string{
		"GET /": RoleViewer, "GET /dashboard/plugins": RoleViewer, "GET /password": RoleViewer, "POST /password": RoleViewer,
		"POST /plugin/{name}/restart": RoleOperator, "POST /plugin/{name}/disable": RoleAdmin, "POST /plugin/{name}/enable": RoleAdmin,
		"GET /jobs": RoleViewer, "GET /jobs/counts": RoleViewer, "POST /jobs/{id}/retry": RoleAdmin,
		// The plugin pages; the settings form has the roles of GET and PUT
		// /api/v1/plugin-settings/{plugin}.
		"GET /plugin": RoleViewer, "GET /plugin/{name}": RoleViewer, "GET /plugin/{name}/status": RoleViewer,
		"GET /plugin/{name}/settings": RoleOperator, "POST /plugin/{name}/settings": RoleAdmin,
		// The billing pages (billing_pages_test.go checks them against
		// their API routes).
		"GET /plans": RoleViewer, "GET /plans/new": RoleOperator, "POST /plans": RoleOperator,
		"GET /plans/{id}/edit": RoleOperator, "POST /plans/{id}": RoleOperator,
		"GET /locations": RoleViewer, "POST /locations": RoleOperator,
		"GET /customers": RoleViewer, "GET /customers/new": RoleOperator, "POST /customers": RoleOperator,
		"GET /customers/{id}/edit": RoleOperator, "POST /customers/{id}": RoleOperator,
		"GET /invoices": RoleViewer, "GET /invoices/new": RoleOperator, "POST /invoices": RoleOperator,
		"GET /invoices/{id}": RoleViewer, "GET /invoices/{id}/qr.png": RoleViewer, "POST /invoices/{id}/pay": RoleOperator,
		// The voucher pages, with the roles of /api/v1/voucher-batches
		// and /api/v1/vouchers/redeem; the codes, the sheet and its QR
		// codes for operators, as GET .../{id}/vouchers is.
		"GET /vouchers": RoleViewer, "GET /vouchers/new": RoleOperator, "POST /vouchers": RoleOperator,
		"GET /vouchers/redeem": RoleOperator, "POST /vouchers/redeem": RoleOperator, "GET /vouchers/{id}": RoleViewer,
		"GET /vouchers/{id}/delete": RoleOperator, "POST /vouchers/{id}/delete": RoleOperator,
		"GET /vouchers/{id}/print": RoleOperator, "GET /vouchers/{id}/codes/{voucher}/qr.png": RoleOperator,
		// The routers page, with the roles of GET /api/v1/routers/drift
		// and POST /api/v1/routers/sync.
		"GET /routers": RoleOperator, "POST /routers/sync": RoleAdmin,
		// A location's router and who is online (ui/location_routers.go),
		// with the roles of the API's.
		"GET /locations/{id}/edit": RoleAdmin, "POST /locations/{id}": RoleAdmin, "POST /locations/{id}/delete": RoleAdmin,
		"POST /locations/{id}/test": RoleOperator, "GET /locations/{id}/sessions": RoleOperator,
		"POST /locations/{id}/sessions/{sid}/disconnect": RoleOperator,
		// The users and API tokens pages, with the roles of /api/v1/users
		// and /api/v1/tokens.
		"GET /users": RoleAdmin, "POST /users": RoleAdmin, "POST /users/{id}": RoleAdmin,
		"GET /tokens": RoleViewer, "POST /tokens": RoleViewer, "POST /tokens/{id}/revoke": RoleViewer,
		// The messaging page, with the roles of /api/v1/messaging (the QR
		// image, like the codes, is for operators).
		"GET /messaging": RoleViewer, "POST /messaging/{plugin}/pair": RoleOperator,
		"GET /messaging/{plugin}/sessions/{id}": RoleViewer, "GET /messaging/{plugin}/sessions/{id}/qr.png": RoleOperator,
		"POST /messaging/{plugin}/sessions/{id}/pair": RoleOperator, "POST /messaging/{plugin}/sessions/{id}/logout": RoleAdmin,
		// The audit page, with the role of GET /api/v1/audit.
		"GET /audit": RoleAdmin,
		// The customer portal (portal.go): its sign-in for anyone, its
		// pages for a customer signed in to it.
		"GET /portal/signin": rolePublic, "POST /portal/signin": rolePublic, "POST /portal/code": rolePublic,
		"POST /portal/code/check": rolePublic, "POST /portal/signout": rolePublic,
		"GET /portal": roleCustomer, "POST /portal/buy": roleCustomer, "GET /portal/invoices/{id}/pdf": roleCustomer,
		// The reports page, with the role of GET /api/v1/reports/....
		"GET /reports": RoleViewer,
		// The balance pages, with the roles of /api/v1/customers/{id}/balance
		// and /api/v1/invoices/{id}/pay-from-balance.
		"GET /customers/{id}/balance": RoleViewer, "POST /customers/{id}/balance": RoleOperator,
		"POST /invoices/{id}/pay-from-balance": RoleOperator,
		// The balance page's top-up form, as /api/v1/customers/{id}/topups.
		"POST /customers/{id}/topups": RoleOperator,
		// The Marketplace page: anyone browses; admins act, with the
		// roles of POST /api/v1/plugins/{install,...} and GET
		// /api/v1/plugin-actions/{id}.
		"GET /marketplace": RoleViewer, "POST /marketplace/{action}": RoleAdmin, "GET /marketplace/actions/{id}": RoleAdmin,
	} {
		want[key] = role
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes outside /api/v1 (-want +got):\n%s", diff)
	}
}
