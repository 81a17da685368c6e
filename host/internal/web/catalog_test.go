package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

// catalogTestAuth stands in for the real authenticator: the X-Test-Role
// header names the caller's role; without it the request is anonymous.
type catalogTestAuth struct{}

func (catalogTestAuth) Authenticate(r *http.Request) (*web.Principal, error) {
	role := r.Header.Get("X-Test-Role")
	if role == "" {
		return nil, nil
	}
	return &web.Principal{UserID: 1, Username: "test-" + role, Role: role, Via: "token"}, nil
}

// catalogAPI is a server over a fresh SQLite store.
type catalogAPI struct {
	t   *testing.T
	h   http.Handler
	db  *store.Store
	cip *store.Cipher
}

func newCatalogAPI(t *testing.T, pm *plugins.Manager) *catalogAPI {
	t.Helper()
	cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.SQLite(t)
	s := web.New(web.Deps{Config: config.DefaultConfig(), Metrics: metrics.New(), DB: db, Cipher: cip, Auth: catalogTestAuth{}, Plugins: pm})
	return &catalogAPI{t: t, h: s.Handler(), db: db, cip: cip}
}

// catalogResp is an answer: status and body.
type catalogResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request as role ("" for anonymous) with body as JSON (a
// string is sent as it is).
func (a *catalogAPI) do(role, method, path string, body any) catalogResp {
	a.t.Helper()
	req := web.NewJSONRequest(a.t, method, path, body)
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return catalogResp{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// ok sends a request that must answer want, and decodes the answer.
func (a *catalogAPI) ok(want int, role, method, path string, body any) map[string]any {
	a.t.Helper()
	r := a.do(role, method, path, body)
	if r.Status != want {
		a.t.Fatalf("%s %s as %q: %d, want %d: %s", method, path, role, r.Status, want, r.Body)
	}
	out := map[string]any{}
	if len(r.Body) > 0 {
		if err := json.Unmarshal(r.Body, &out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, r.Body)
		}
	}
	return out
}

// fails sends a request that must fail with status and code; for 422 it
// also checks the fields named in details.
func (a *catalogAPI) fails(status int, code string, fields []string, role, method, path string, body any) map[string]any {
	a.t.Helper()
	r := a.do(role, method, path, body)
	var e struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || r.Status != status || e.Error.Code != code {
		a.t.Fatalf("%s %s as %q: %d %s, want %d %q", method, path, role, r.Status, r.Body, status, code)
	}
	if fields != nil {
		var got []string
		for f := range e.Error.Details {
			got = append(got, f)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(fields))
		if diff := cmp.Diff(want, got); diff != "" {
			a.t.Errorf("%s %s: fields in details (-want +got):\n%s\n%s", method, path, diff, r.Body)
		}
	}
	return e.Error.Details
}

func catID(m map[string]any) string { return fmt.Sprint(int64(m["id"].(float64))) }

func catItems(m map[string]any) []any { return m["items"].([]any) }

const (
	rAdmin    = web.RoleAdmin
	rOperator = web.RoleOperator
	rViewer   = web.RoleViewer
)

func TestCatalogLocations(t *testing.T) {
	a := newCatalogAPI(t, nil)
	a.fails(401, "unauthenticated", nil, "", "GET", "/api/v1/locations", nil)
	a.fails(403, "forbidden", nil, rViewer, "POST", "/api/v1/locations", map[string]any{"name": "main"})

	main := a.ok(201, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "main", "description": "Head office"})
	if main["plugin"] != "mikrotik" || main["name"] != "main" {
		t.Errorf("created %v", main)
	}
	if r := a.do(rOperator, "POST", "/api/v1/locations", map[string]any{"name": "branch"}); r.Header.Get("Location") == "" {
		t.Error("no Location header on 201")
	}
	a.fails(409, "conflict", nil, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "main"})
	a.fails(422, "validation_failed", []string{"name", "plugin"}, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "Main Office", "plugin": ""})
	a.fails(400, "bad_json", nil, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "x", "color": "red"})
	a.fails(400, "bad_json", nil, rOperator, "POST", "/api/v1/locations", `{"name": `)

	got := a.ok(200, rViewer, "GET", "/api/v1/locations/"+catID(main), nil)
	if got["description"] != "Head office" {
		t.Errorf("GET = %v", got)
	}
	a.fails(404, "not_found", nil, rViewer, "GET", "/api/v1/locations/999", nil)
	a.fails(404, "not_found", nil, rViewer, "GET", "/api/v1/locations/abc", nil)

	list := a.ok(200, rViewer, "GET", "/api/v1/locations?limit=1", nil)
	if len(catItems(list)) != 1 || list["total"] != 2.0 || list["next_offset"] != 1.0 || catItems(list)[0].(map[string]any)["name"] != "branch" {
		t.Errorf("list = %v", list)
	}
	a.fails(422, "validation_failed", []string{"limit"}, rViewer, "GET", "/api/v1/locations?limit=0", nil)

	// PUT changes the fields it names.
	upd := a.ok(200, rOperator, "PUT", "/api/v1/locations/"+catID(main), map[string]any{"description": "HQ"})
	if upd["description"] != "HQ" || upd["name"] != "main" {
		t.Errorf("after PUT %v", upd)
	}
	a.fails(422, "validation_failed", []string{"name"}, rOperator, "PUT", "/api/v1/locations/"+catID(main), map[string]any{"name": "-"})
	a.fails(409, "conflict", nil, rOperator, "PUT", "/api/v1/locations/"+catID(main), map[string]any{"name": "branch"})
	a.fails(404, "not_found", nil, rOperator, "PUT", "/api/v1/locations/999", map[string]any{"description": "x"})

	a.fails(403, "forbidden", nil, rOperator, "DELETE", "/api/v1/locations/"+catID(main), nil)
	a.ok(201, rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Budi", "router_username": "budi", "router_password": "pw", "location_id": main["id"]})
	a.fails(409, "in_use", nil, rAdmin, "DELETE", "/api/v1/locations/"+catID(main), nil)
	branch := catItems(a.ok(200, rViewer, "GET", "/api/v1/locations?limit=1", nil))[0].(map[string]any)
	a.ok(204, rAdmin, "DELETE", "/api/v1/locations/"+catID(branch), nil)
	a.fails(404, "not_found", nil, rAdmin, "DELETE", "/api/v1/locations/"+catID(branch), nil)
}

func TestCatalogPlans(t *testing.T) {
	a := newCatalogAPI(t, nil)
	a.fails(422, "validation_failed", []string{"name", "kind", "rate_limit", "validity_seconds", "price", "currency", "shared_users"},
		rOperator, "POST", "/api/v1/plans", map[string]any{"kind": "dialup", "rate_limit": "fast", "price": -1, "currency": "idr", "shared_users": -1})
	plan := a.ok(201, rOperator, "POST", "/api/v1/plans", map[string]any{
		"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M", "validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR"})
	if plan["validity_seconds"] != float64(30*86400) || plan["active"] != true || plan["shared_users"] != 1.0 {
		t.Errorf("created %v", plan)
	}
	a.fails(409, "conflict", nil, rOperator, "POST", "/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "validity_seconds": 60, "currency": "IDR"})

	upd := a.ok(200, rOperator, "PUT", "/api/v1/plans/"+catID(plan), map[string]any{"active": false, "price": 175000})
	if upd["active"] != false || upd["price"] != 175000.0 || upd["rate_limit"] != "5M/10M" {
		t.Errorf("after PUT %v", upd)
	}
	a.fails(422, "validation_failed", []string{"validity_seconds"}, rOperator, "PUT", "/api/v1/plans/"+catID(plan), map[string]any{"validity_seconds": 0})
	if got := a.ok(200, rViewer, "GET", "/api/v1/plans/"+catID(plan), nil); got["price"] != 175000.0 {
		t.Errorf("GET = %v", got)
	}
	if list := a.ok(200, rViewer, "GET", "/api/v1/plans", nil); list["total"] != 1.0 || catItems(list)[0].(map[string]any)["validity_seconds"] == nil {
		t.Errorf("list = %v", list)
	}

	// A plan in use cannot be deleted; an rAdmin deletes an unused one.
	loc := a.ok(201, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "main"})
	a.ok(201, rOperator, "POST", "/api/v1/voucher-batches", map[string]any{"plan_id": plan["id"], "location_id": loc["id"], "count": 1})
	a.fails(403, "forbidden", nil, rOperator, "DELETE", "/api/v1/plans/"+catID(plan), nil)
	a.fails(409, "in_use", nil, rAdmin, "DELETE", "/api/v1/plans/"+catID(plan), nil)
	day := a.ok(201, rOperator, "POST", "/api/v1/plans", map[string]any{"name": "Day", "kind": "hotspot", "validity_seconds": 86400, "currency": "IDR"})
	a.ok(204, rAdmin, "DELETE", "/api/v1/plans/"+catID(day), nil)
	a.fails(404, "not_found", nil, rViewer, "GET", "/api/v1/plans/"+catID(day), nil)
}

func TestCatalogCustomers(t *testing.T) {
	a := newCatalogAPI(t, nil)
	ctx := context.Background()
	main := a.ok(201, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "main"})
	branch := a.ok(201, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "branch"})

	a.fails(422, "validation_failed", []string{"name", "phone", "email", "router_username", "router_password", "location_id"},
		rOperator, "POST", "/api/v1/customers", map[string]any{"phone": "081234567890", "email": "budi@", "router_username": "has space"})
	a.fails(422, "validation_failed", []string{"location_id"},
		rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Budi", "router_username": "budi", "router_password": "pw", "location_id": 999})
	a.fails(403, "forbidden", nil, rViewer, "POST", "/api/v1/customers", map[string]any{"name": "Budi"})

	raw := a.do(rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Budi Santoso", "phone": "+6281234567890", "email": "budi@example.com",
		"router_username": "budi", "router_password": "s3cret", "location_id": main["id"]})
	if raw.Status != 201 || bytes.Contains(raw.Body, []byte("s3cret")) || bytes.Contains(raw.Body, []byte(`"router_password"`)) {
		t.Fatalf("create: %d %s", raw.Status, raw.Body)
	}
	var budi map[string]any
	_ = json.Unmarshal(raw.Body, &budi)
	if budi["router_password_set"] != true {
		t.Errorf("created %v", budi)
	}
	stored, err := a.db.Q().GetCustomer(ctx, int64(budi["id"].(float64)), a.cip)
	if err != nil || stored.RouterPassword != "s3cret" {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	a.fails(409, "conflict", nil, rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Budi 2", "router_username": "budi", "router_password": "x", "location_id": main["id"]})
	a.ok(201, rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Budi Dua", "router_username": "budi", "router_password": "x", "location_id": branch["id"]})
	a.ok(201, rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Siti", "phone": "+6285600000001", "router_username": "siti", "router_password": "x", "location_id": main["id"]})

	got := a.do(rViewer, "GET", "/api/v1/customers/"+catID(budi), nil)
	if got.Status != 200 || bytes.Contains(got.Body, []byte("s3cret")) || !bytes.Contains(got.Body, []byte(`"router_password_set": true`)) {
		t.Errorf("GET: %d %s", got.Status, got.Body)
	}
	a.fails(404, "not_found", nil, rViewer, "GET", "/api/v1/customers/999", nil)

	names := func(query string) []string {
		t.Helper()
		var out []string
		for _, it := range catItems(a.ok(200, rViewer, "GET", "/api/v1/customers"+query, nil)) {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		return out
	}
	for query, want := range map[string][]string{
		"":                            {"Budi Dua", "Budi Santoso", "Siti"},
		"?q=budi":                     {"Budi Dua", "Budi Santoso"},
		"?q=856":                      {"Siti"},
		"?location_id=" + catID(main): {"Budi Santoso", "Siti"},
		"?location_id=" + catID(branch) + "&q=BUDI": {"Budi Dua"},
		"?limit=1&offset=2":                         {"Siti"},
		"?q=nobody":                                 nil,
	} {
		if diff := cmp.Diff(want, names(query)); diff != "" {
			t.Errorf("GET /customers%s (-want +got):\n%s", query, diff)
		}
	}
	a.fails(422, "validation_failed", []string{"location_id"}, rViewer, "GET", "/api/v1/customers?location_id=x", nil)

	// PUT without the password keeps it; with one replaces it.
	upd := a.ok(200, rOperator, "PUT", "/api/v1/customers/"+catID(budi), map[string]any{"phone": "", "notes": "moved"})
	if upd["phone"] != "" || upd["notes"] != "moved" || upd["name"] != "Budi Santoso" || upd["router_password_set"] != true {
		t.Errorf("after PUT %v", upd)
	}
	if c, _ := a.db.Q().GetCustomer(ctx, stored.ID, a.cip); c.RouterPassword != "s3cret" {
		t.Errorf("password after a PUT without one: %q", c.RouterPassword)
	}
	a.ok(200, rOperator, "PUT", "/api/v1/customers/"+catID(budi), map[string]any{"router_password": "n3w"})
	if c, _ := a.db.Q().GetCustomer(ctx, stored.ID, a.cip); c.RouterPassword != "n3w" {
		t.Errorf("password after a PUT with one: %q", c.RouterPassword)
	}
	a.fails(422, "validation_failed", []string{"router_password", "email"}, rOperator, "PUT", "/api/v1/customers/"+catID(budi), map[string]any{"router_password": "", "email": "not an email"})
	a.fails(422, "validation_failed", []string{"location_id"}, rOperator, "PUT", "/api/v1/customers/"+catID(budi), map[string]any{"location_id": 999})
	a.fails(404, "not_found", nil, rOperator, "PUT", "/api/v1/customers/999", map[string]any{"notes": "x"})

	// A customer with a subscription stays.
	plan := a.ok(201, rOperator, "POST", "/api/v1/plans", map[string]any{"name": "Day", "kind": "hotspot", "validity_seconds": 86400, "currency": "IDR"})
	a.ok(201, rOperator, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": budi["id"], "plan_id": plan["id"]})
	a.fails(409, "in_use", nil, rOperator, "DELETE", "/api/v1/customers/"+catID(budi), nil)
	siti := catItems(a.ok(200, rViewer, "GET", "/api/v1/customers?q=siti", nil))[0].(map[string]any)
	a.fails(403, "forbidden", nil, rViewer, "DELETE", "/api/v1/customers/"+catID(siti), nil)
	a.ok(204, rOperator, "DELETE", "/api/v1/customers/"+catID(siti), nil)
	a.fails(404, "not_found", nil, rOperator, "DELETE", "/api/v1/customers/"+catID(siti), nil)
}

func TestCatalogCustomersNeedAKey(t *testing.T) {
	db := storetest.SQLite(t)
	h := web.New(web.Deps{Config: config.DefaultConfig(), Metrics: metrics.New(), DB: db, Auth: catalogTestAuth{}}).Handler()
	a := &catalogAPI{t: t, h: h, db: db}
	loc := a.ok(201, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "main"})
	a.fails(503, "no_encryption_key", nil, rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Budi", "router_username": "budi", "router_password": "pw", "location_id": loc["id"]})
}

func TestCatalogSubscriptions(t *testing.T) {
	a := newCatalogAPI(t, nil)
	loc := a.ok(201, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "main"})
	budi := a.ok(201, rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Budi", "router_username": "budi", "router_password": "pw", "location_id": loc["id"]})
	siti := a.ok(201, rOperator, "POST", "/api/v1/customers", map[string]any{"name": "Siti", "router_username": "siti", "router_password": "pw", "location_id": loc["id"]})
	plan := a.ok(201, rOperator, "POST", "/api/v1/plans", map[string]any{"name": "Month", "kind": "pppoe", "validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR"})

	a.fails(422, "validation_failed", []string{"customer_id", "plan_id", "status"}, rOperator, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": 999, "status": "paused"})
	a.fails(422, "validation_failed", []string{"expires_at"}, rOperator, "POST", "/api/v1/subscriptions", map[string]any{
		"customer_id": budi["id"], "plan_id": plan["id"], "starts_at": "2026-12-01T00:00:00Z", "expires_at": "2026-11-01T00:00:00Z"})
	a.fails(400, "bad_json", nil, rOperator, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": budi["id"], "plan_id": plan["id"], "starts_at": "tomorrow"})

	pending := a.ok(201, rOperator, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": siti["id"], "plan_id": plan["id"]})
	if pending["status"] != "pending" || pending["starts_at"] != nil {
		t.Errorf("created %v", pending)
	}
	active := a.ok(201, rOperator, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": budi["id"], "plan_id": plan["id"], "status": "active",
		"starts_at": "2026-12-01T07:00:00+07:00", "expires_at": "2026-12-31T07:00:00+07:00"})
	if active["starts_at"] != "2026-12-01T00:00:00Z" {
		t.Errorf("starts_at = %v, want it in UTC", active["starts_at"])
	}
	if got := a.ok(200, rViewer, "GET", "/api/v1/subscriptions/"+catID(active), nil); got["expires_at"] != "2026-12-31T00:00:00Z" {
		t.Errorf("GET = %v", got)
	}
	a.fails(404, "not_found", nil, rViewer, "GET", "/api/v1/subscriptions/999", nil)

	count := func(query string) float64 {
		t.Helper()
		return a.ok(200, rViewer, "GET", "/api/v1/subscriptions"+query, nil)["total"].(float64)
	}
	if count("") != 2 || count("?customer_id="+catID(budi)) != 1 || count("?status=pending") != 1 || count("?status=active&customer_id="+catID(siti)) != 0 {
		t.Error("filters count wrong")
	}
	a.fails(422, "validation_failed", []string{"status"}, rViewer, "GET", "/api/v1/subscriptions?status=paused", nil)
	a.fails(422, "validation_failed", []string{"customer_id"}, rViewer, "GET", "/api/v1/subscriptions?customer_id=-1", nil)

	upd := a.ok(200, rOperator, "PUT", "/api/v1/subscriptions/"+catID(active), map[string]any{"status": "isolated", "expires_at": nil})
	if upd["status"] != "isolated" || upd["expires_at"] != nil || upd["starts_at"] != "2026-12-01T00:00:00Z" {
		t.Errorf("after PUT %v", upd)
	}
	a.fails(422, "validation_failed", []string{"plan_id"}, rOperator, "PUT", "/api/v1/subscriptions/"+catID(active), map[string]any{"plan_id": 999})
	a.fails(404, "not_found", nil, rOperator, "PUT", "/api/v1/subscriptions/999", map[string]any{"status": "active"})
	a.fails(403, "forbidden", nil, rViewer, "DELETE", "/api/v1/subscriptions/"+catID(pending), nil)
	a.ok(204, rOperator, "DELETE", "/api/v1/subscriptions/"+catID(pending), nil)
	a.fails(404, "not_found", nil, rOperator, "DELETE", "/api/v1/subscriptions/"+catID(pending), nil)
}

func TestCatalogVoucherBatches(t *testing.T) {
	a := newCatalogAPI(t, nil)
	ctx := context.Background()
	loc := a.ok(201, rOperator, "POST", "/api/v1/locations", map[string]any{"name": "main"})
	plan := a.ok(201, rOperator, "POST", "/api/v1/plans", map[string]any{"name": "Day", "kind": "hotspot", "validity_seconds": 86400, "price": 5000, "currency": "IDR"})

	a.fails(422, "validation_failed", []string{"count", "prefix", "plan_id", "location_id"}, rOperator, "POST", "/api/v1/voucher-batches",
		map[string]any{"count": 0, "prefix": "much-too-long", "plan_id": 999})
	a.fails(422, "validation_failed", []string{"count"}, rOperator, "POST", "/api/v1/voucher-batches",
		map[string]any{"count": store.MaxVoucherBatch + 1, "plan_id": plan["id"], "location_id": loc["id"]})
	a.fails(403, "forbidden", nil, rViewer, "POST", "/api/v1/voucher-batches", map[string]any{"count": 1, "plan_id": plan["id"], "location_id": loc["id"]})

	b := a.ok(201, rOperator, "POST", "/api/v1/voucher-batches", map[string]any{"count": 5, "prefix": "hs", "note": "December", "plan_id": plan["id"], "location_id": loc["id"]})
	vs := b["vouchers"].([]any)
	if len(vs) != 5 || b["size"] != 5.0 || b["prefix"] != "HS" || b["created_by"] != "test-operator" {
		t.Fatalf("created %v", b)
	}
	code := vs[0].(map[string]any)["code"].(string)
	if !strings.HasPrefix(code, "HS") || len(code) != 2+store.VoucherCodeLength {
		t.Errorf("code %q", code)
	}

	got := a.ok(200, rViewer, "GET", "/api/v1/voucher-batches/"+catID(b), nil)
	if got["size"] != 5.0 || got["vouchers"] != nil || got["redeemed"] != 0.0 {
		t.Errorf("GET = %v", got)
	}
	a.fails(404, "not_found", nil, rViewer, "GET", "/api/v1/voucher-batches/999", nil)
	if list := a.ok(200, rViewer, "GET", "/api/v1/voucher-batches", nil); list["total"] != 1.0 {
		t.Errorf("list = %v", list)
	}

	// The codes themselves are for operators.
	a.fails(403, "forbidden", nil, rViewer, "GET", "/api/v1/voucher-batches/"+catID(b)+"/vouchers", nil)
	page := a.ok(200, rOperator, "GET", "/api/v1/voucher-batches/"+catID(b)+"/vouchers?limit=2&offset=4", nil)
	if page["total"] != 5.0 || len(catItems(page)) != 1 || page["next_offset"] != nil {
		t.Errorf("vouchers page = %v", page)
	}
	a.fails(404, "not_found", nil, rOperator, "GET", "/api/v1/voucher-batches/999/vouchers", nil)

	// A batch with a used voucher stays; an unused one can go.
	if _, err := a.db.Q().RedeemVoucher(ctx, code, 0); err != nil {
		t.Fatal(err)
	}
	a.fails(409, "in_use", nil, rOperator, "DELETE", "/api/v1/voucher-batches/"+catID(b), nil)
	b2 := a.ok(201, rOperator, "POST", "/api/v1/voucher-batches", map[string]any{"count": 1, "plan_id": plan["id"], "location_id": loc["id"]})
	a.fails(403, "forbidden", nil, rViewer, "DELETE", "/api/v1/voucher-batches/"+catID(b2), nil)
	a.ok(204, rOperator, "DELETE", "/api/v1/voucher-batches/"+catID(b2), nil)
	a.fails(404, "not_found", nil, rOperator, "DELETE", "/api/v1/voucher-batches/"+catID(b2), nil)
}

func TestCatalogTemplates(t *testing.T) {
	a := newCatalogAPI(t, nil)
	details := a.fails(422, "validation_failed", []string{"name", "body"}, rOperator, "POST", "/api/v1/templates", map[string]any{"name": "Bad Name", "body": "Hi [[nama]], pay by [[due]]"})
	if msg := fmt.Sprint(details["body"]); !strings.Contains(msg, "[[nama]], [[due]]") {
		t.Errorf("body error does not list the unknown placeholders: %s", msg)
	}
	a.fails(422, "validation_failed", []string{"body"}, rOperator, "POST", "/api/v1/templates", map[string]any{"name": "empty"})

	tp := a.ok(201, rOperator, "POST", "/api/v1/templates", map[string]any{"name": "welcome", "body": "Hi [[name]], your [[package]] costs [[price]]."})
	if tp["channel"] != "whatsapp" {
		t.Errorf("created %v", tp)
	}
	a.fails(409, "conflict", nil, rOperator, "POST", "/api/v1/templates", map[string]any{"name": "welcome", "body": "x"})
	a.fails(403, "forbidden", nil, rViewer, "POST", "/api/v1/templates", map[string]any{"name": "other", "body": "x"})

	prev := a.ok(200, rViewer, "POST", "/api/v1/templates/"+catID(tp)+"/preview", nil)
	if prev["rendered"] != "Hi Budi Santoso, your Home 10M costs Rp150.000." {
		t.Errorf("preview = %v", prev)
	}
	prev = a.ok(200, rViewer, "POST", "/api/v1/templates/"+catID(tp)+"/preview", map[string]any{"vars": map[string]string{"name": "Siti"}})
	if prev["rendered"] != "Hi Siti, your Home 10M costs Rp150.000." {
		t.Errorf("preview with vars = %v", prev)
	}
	a.fails(422, "validation_failed", []string{"vars.nama"}, rViewer, "POST", "/api/v1/templates/"+catID(tp)+"/preview", map[string]any{"vars": map[string]string{"nama": "Siti"}})
	a.fails(404, "not_found", nil, rViewer, "POST", "/api/v1/templates/999/preview", nil)

	upd := a.ok(200, rOperator, "PUT", "/api/v1/templates/"+catID(tp), map[string]any{"body": "Hello [[name]]"})
	if upd["body"] != "Hello [[name]]" || upd["name"] != "welcome" {
		t.Errorf("after PUT %v", upd)
	}
	a.fails(422, "validation_failed", []string{"body"}, rOperator, "PUT", "/api/v1/templates/"+catID(tp), map[string]any{"body": "Hello [[nme]]"})
	a.fails(404, "not_found", nil, rOperator, "PUT", "/api/v1/templates/999", map[string]any{"body": "x"})

	if n, err := a.db.Q().SeedTemplates(context.Background()); err != nil || n != 4 {
		t.Fatalf("seed: %d, %v", n, err)
	}
	if list := a.ok(200, rViewer, "GET", "/api/v1/templates?limit=2", nil); list["total"] != 5.0 || len(catItems(list)) != 2 {
		t.Errorf("list = %v", list)
	}
	if got := a.ok(200, rViewer, "GET", "/api/v1/templates/"+catID(tp), nil); got["body"] != "Hello [[name]]" {
		t.Errorf("GET = %v", got)
	}
	a.fails(403, "forbidden", nil, rOperator, "DELETE", "/api/v1/templates/"+catID(tp), nil)
	a.ok(204, rAdmin, "DELETE", "/api/v1/templates/"+catID(tp), nil)
	a.fails(404, "not_found", nil, rViewer, "GET", "/api/v1/templates/"+catID(tp), nil)
}

func TestCatalogPluginSettingsWithoutThePlugin(t *testing.T) {
	a := newCatalogAPI(t, nil)
	ctx := context.Background()
	a.fails(404, "not_found", nil, rOperator, "GET", "/api/v1/plugin-settings/payment-x", nil)
	a.fails(404, "not_found", nil, rOperator, "GET", "/api/v1/plugin-settings/Bad_Name", nil)
	a.fails(403, "forbidden", nil, rViewer, "GET", "/api/v1/plugin-settings/payment-x", nil)
	a.fails(403, "forbidden", nil, rOperator, "PUT", "/api/v1/plugin-settings/payment-x", map[string]any{"a": 1})
	a.fails(422, "validation_failed", []string{"settings"}, rAdmin, "PUT", "/api/v1/plugin-settings/payment-x", `[1, 2]`)

	// Not installed: any object is taken; nothing is known to be secret.
	got := a.ok(200, rAdmin, "PUT", "/api/v1/plugin-settings/payment-x", map[string]any{"api_url": "https://x.example", "retries": 3})
	if got["installed"] != false || got["saved"] != true || got["updated_by"] != "test-admin" {
		t.Errorf("PUT = %v", got)
	}
	got = a.ok(200, rOperator, "GET", "/api/v1/plugin-settings/payment-x", nil)
	if diff := cmp.Diff(map[string]any{"api_url": "https://x.example", "retries": 3.0}, got["settings"]); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	// A secret field stored encrypted earlier stays secret.
	if err := a.db.Q().SavePluginSettings(ctx, "payment-y", json.RawMessage(`{"key":"k1","mode":"live"}`), []string{"key"}, "cli", a.cip); err != nil {
		t.Fatal(err)
	}
	got = a.ok(200, rOperator, "GET", "/api/v1/plugin-settings/payment-y", nil)
	if diff := cmp.Diff(map[string]any{"key": "<redacted>", "mode": "live"}, got["settings"]); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	a.ok(200, rAdmin, "PUT", "/api/v1/plugin-settings/payment-y", map[string]any{"key": "<redacted>", "mode": "test"})
	if raw, err := a.db.Q().LoadPluginSettings(ctx, "payment-y", a.cip); err != nil || string(raw) != `{"key":"k1","mode":"test"}` {
		t.Errorf("after keeping the secret: %s, %v", raw, err)
	}
	a.fails(422, "validation_failed", []string{"mode"}, rAdmin, "PUT", "/api/v1/plugin-settings/payment-y", map[string]any{"key": "k2", "mode": "<redacted>"})
}

func TestCatalogPluginSettingsCheckedAgainstTheManifest(t *testing.T) {
	pm := startSettingsPlugin(t)
	a := newCatalogAPI(t, pm)
	ctx := context.Background()

	got := a.ok(200, rOperator, "GET", "/api/v1/plugin-settings/payment-demo", nil)
	if got["installed"] != true || got["saved"] != false || fmt.Sprint(got["secret_fields"]) != "[server_key]" {
		t.Errorf("GET before saving = %v", got)
	}
	details := a.fails(422, "validation_failed", []string{"expiry_minutes", "sandbox"}, rAdmin, "PUT", "/api/v1/plugin-settings/payment-demo",
		map[string]any{"server_key": "SB-1", "expiry_minutes": 1, "sandbox": "yes"})
	if msg := fmt.Sprint(details["expiry_minutes"]); !strings.Contains(msg, "minimum") {
		t.Errorf("expiry_minutes: %s", msg)
	}
	a.fails(422, "validation_failed", []string{"settings"}, rAdmin, "PUT", "/api/v1/plugin-settings/payment-demo", map[string]any{"unknown": 1})
	a.fails(422, "validation_failed", []string{"server_key"}, rAdmin, "PUT", "/api/v1/plugin-settings/payment-demo", map[string]any{"server_key": "<redacted>"})

	got = a.ok(200, rAdmin, "PUT", "/api/v1/plugin-settings/payment-demo", map[string]any{"server_key": "SB-Mid-server-1", "expiry_minutes": 60, "sandbox": true})
	if diff := cmp.Diff(map[string]any{"server_key": "<redacted>", "expiry_minutes": 60.0, "sandbox": true}, got["settings"]); diff != "" {
		t.Errorf("PUT answer (-want +got):\n%s", diff)
	}
	var stored string
	if err := a.db.Q().DB().QueryRow(ctx, "SELECT settings_json FROM plugin_settings WHERE plugin = ?", "payment-demo").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "SB-Mid-server-1") || !strings.Contains(stored, "enc:v1:") {
		t.Errorf("stored %s: the secret is not encrypted", stored)
	}
	if r := a.do(rOperator, "GET", "/api/v1/plugin-settings/payment-demo", nil); bytes.Contains(r.Body, []byte("SB-Mid-server-1")) {
		t.Errorf("GET shows the secret: %s", r.Body)
	}

	// Sending the placeholder back keeps the secret.
	a.ok(200, rAdmin, "PUT", "/api/v1/plugin-settings/payment-demo", map[string]any{"server_key": "<redacted>", "expiry_minutes": 30, "sandbox": false})
	raw, err := a.db.Q().LoadPluginSettings(ctx, "payment-demo", a.cip)
	if err != nil {
		t.Fatal(err)
	}
	var loaded map[string]any
	_ = json.Unmarshal(raw, &loaded)
	if diff := cmp.Diff(map[string]any{"server_key": "SB-Mid-server-1", "expiry_minutes": 30.0, "sandbox": false}, loaded); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
}

// startSettingsPlugin runs a plugin whose manifest has a config_schema with
// a secret field.
func startSettingsPlugin(t *testing.T) *plugins.Manager {
	t.Helper()
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "payment-demo", Manifest: map[string]any{
		"config_schema": map[string]any{
			"type":                 "object",
			"additionalProperties": false,
			"properties": map[string]any{
				"server_key":     map[string]any{"type": "string", "format": "password"},
				"expiry_minutes": map[string]any{"type": "integer", "minimum": 5},
				"sandbox":        map[string]any{"type": "boolean"},
			},
		},
	}})
	pm, _ := web.StartPlugins(t, d.Dir, plugins.Deps{}, func(cfg *config.Config) { cfg.Plugins.HealthInterval = time.Hour })
	return pm
}

func TestCatalogRouteRoles(t *testing.T) {
	s := web.New(web.Deps{Config: config.DefaultConfig(), Metrics: metrics.New(), DB: storetest.SQLite(t), Auth: catalogTestAuth{}})
	_ = s.Handler()
	got := s.Policies()
	for route, want := range map[string]string{
		"GET /api/v1/locations":                     rViewer,
		"POST /api/v1/locations":                    rOperator,
		"DELETE /api/v1/locations/{id}":             rAdmin,
		"GET /api/v1/plans/{id}":                    rViewer,
		"PUT /api/v1/plans/{id}":                    rOperator,
		"DELETE /api/v1/plans/{id}":                 rAdmin,
		"DELETE /api/v1/customers/{id}":             rOperator,
		"POST /api/v1/subscriptions":                rOperator,
		"POST /api/v1/voucher-batches":              rOperator,
		"GET /api/v1/voucher-batches/{id}/vouchers": rOperator,
		"DELETE /api/v1/templates/{id}":             rAdmin,
		"POST /api/v1/templates/{id}/preview":       rViewer,
		"GET /api/v1/plugin-settings/{plugin}":      rOperator,
		"PUT /api/v1/plugin-settings/{plugin}":      rAdmin,
	} {
		if got[route] != want {
			t.Errorf("%s needs %q, want %q", route, got[route], want)
		}
	}
	// Without a database there is no catalog API.
	bare := web.New(web.Deps{Config: config.DefaultConfig(), Metrics: metrics.New()})
	_ = bare.Handler()
	for route := range bare.Policies() {
		if strings.Contains(route, "/locations") {
			t.Errorf("catalog route %s without a database", route)
		}
	}
}
