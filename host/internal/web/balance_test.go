package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
)

// balanceServer is the host handler with billing and its job queue (jobs
// are inserted, not run), a location, a plan and a customer.
func balanceServer(t *testing.T, db *store.Store) (h http.Handler, customer *store.Customer, plan *store.Plan) {
	t.Helper()
	ctx := context.Background()
	cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	svc, err := billing.NewWithQueue(db, cip, testutil.Plugins{}, billing.Config{PublicURL: "https://billing.example.net"}, nil,
		billing.QueueConfig{Jobs: jobs.Config{PollInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &cheapParams})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	s := New(Deps{Config: cfg, Metrics: metrics.New(), DB: db, Cipher: cip, Plugins: noPlugins(t, cfg), Accounts: acc, Auth: roleHeaderAuth{}, Billing: svc})
	loc := &store.Location{Name: "main"}
	if err := db.Q().CreateLocation(ctx, loc); err != nil {
		t.Fatal(err)
	}
	plan = &store.Plan{Name: "Home", Kind: store.PlanPPPoE, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true}
	if err := db.Q().CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	customer = &store.Customer{Name: "Budi", RouterUsername: "budi", RouterPassword: "pw", LocationID: loc.ID}
	if err := db.Q().CreateCustomer(ctx, customer, cip); err != nil {
		t.Fatal(err)
	}
	return s.Handler(), customer, plan
}

// call sends a JSON request as role and decodes the answer into out (when
// not nil).
func call(t *testing.T, h http.Handler, method, path, role string, body any, out any) int {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(method, path, &buf)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-Role", role)
	req.RemoteAddr = "192.0.2.10:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if out != nil && rec.Code < 300 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, rec.Body)
		}
	}
	return rec.Code
}

func TestBalanceAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.Store) {
		h, cust, plan := balanceServer(t, db)
		bal := fmt.Sprintf("/api/v1/customers/%d/balance", cust.ID)
		for _, c := range []struct {
			role string
			body map[string]any
			want int
		}{
			{RoleViewer, map[string]any{"amount": 20000, "currency": "IDR", "reason": "cash"}, http.StatusForbidden},
			{RoleOperator, map[string]any{"amount": 20000, "currency": "IDR", "reason": "paid at the counter"}, http.StatusCreated},
			{RoleOperator, map[string]any{"amount": 20000, "currency": "IDR"}, http.StatusUnprocessableEntity},         // no reason
			{RoleOperator, map[string]any{"amount": -1000, "currency": "IDR", "reason": "typo"}, http.StatusForbidden}, // admins only
			{RoleOperator, map[string]any{"amount": -1000, "currency": "IDR", "kind": "refund", "reason": "x"}, http.StatusForbidden},
			{RoleAdmin, map[string]any{"amount": -1000, "currency": "IDR", "reason": "typo"}, http.StatusCreated},
			{RoleAdmin, map[string]any{"amount": -999999, "currency": "IDR", "reason": "too much"}, http.StatusUnprocessableEntity},
			{RoleAdmin, map[string]any{"amount": 5, "currency": "IDR", "kind": "invoice_payment", "reason": "x"}, http.StatusUnprocessableEntity},
		} {
			if got := call(t, h, http.MethodPost, bal, c.role, c.body, nil); got != c.want {
				t.Errorf("%s POST balance %v: %d, want %d", c.role, c.body, got, c.want)
			}
		}
		if got := call(t, h, http.MethodPost, "/api/v1/customers/9999/balance", RoleOperator, map[string]any{"amount": 1, "currency": "IDR", "reason": "x"}, nil); got != http.StatusNotFound {
			t.Errorf("a missing customer's balance: %d, want 404", got)
		}
		var view balanceView
		if got := call(t, h, http.MethodGet, bal+"?limit=1", RoleViewer, nil, &view); got != http.StatusOK {
			t.Fatalf("GET balance: %d", got)
		}
		if len(view.Balances) != 1 || view.Balances[0].Amount != 19000 || len(view.Entries) != 1 || view.Entries[0].Amount != -1000 ||
			view.Entries[0].Actor != "user:matrix-admin" || view.NextBefore == 0 {
			t.Fatalf("balance view: %+v", view)
		}
		var next balanceView
		call(t, h, http.MethodGet, fmt.Sprintf("%s?before=%d", bal, view.NextBefore), RoleViewer, nil, &next)
		if len(next.Entries) != 1 || next.Entries[0].Kind != store.BalanceCash || next.NextBefore != 0 {
			t.Fatalf("second page: %+v", next)
		}

		// An invoice the balance does not cover stays unpaid; paying it
		// from the balance is refused until cash covers it, then once.
		var inv store.Invoice
		if got := call(t, h, http.MethodPost, "/api/v1/invoices", RoleOperator, map[string]any{"customer_id": cust.ID, "plan_id": plan.ID}, &inv); got != http.StatusCreated || inv.Status != store.InvoiceUnpaid {
			t.Fatalf("POST /invoices: %d %+v", got, inv)
		}
		pay := fmt.Sprintf("/api/v1/invoices/%d/pay-from-balance", inv.ID)
		if got := call(t, h, http.MethodPost, pay, RoleViewer, nil, nil); got != http.StatusForbidden {
			t.Errorf("viewer pay-from-balance: %d", got)
		}
		if got := call(t, h, http.MethodPost, pay, RoleOperator, nil, nil); got != http.StatusUnprocessableEntity {
			t.Errorf("pay-from-balance beyond the balance: %d, want 422", got)
		}
		call(t, h, http.MethodPost, bal, RoleOperator, map[string]any{"amount": 200000, "currency": "IDR", "reason": "prepaid a year"}, nil)
		var paid store.Invoice
		if got := call(t, h, http.MethodPost, pay, RoleOperator, nil, &paid); got != http.StatusOK || paid.Status != store.InvoicePaid {
			t.Fatalf("pay-from-balance: %d %+v", got, paid)
		}
		if got := call(t, h, http.MethodPost, pay, RoleOperator, nil, nil); got != http.StatusUnprocessableEntity {
			t.Errorf("paying twice: %d, want 422", got)
		}
		// The rest (69000) covers no second invoice; with more it would be
		// paid as it is made.
		call(t, h, http.MethodPost, bal, RoleOperator, map[string]any{"amount": 100000, "currency": "IDR", "reason": "more"}, nil)
		var auto store.Invoice
		if got := call(t, h, http.MethodPost, "/api/v1/invoices", RoleOperator, map[string]any{"customer_id": cust.ID, "plan_id": plan.ID}, &auto); got != http.StatusCreated ||
			auto.Status != store.InvoicePaid || auto.SubscriptionID != paid.SubscriptionID {
			t.Fatalf("an invoice the balance covers: %d %+v; want paid, renewing subscription %d", got, auto, paid.SubscriptionID)
		}
		if got := call(t, h, http.MethodPost, "/api/v1/invoices", RoleOperator, map[string]any{"customer_id": cust.ID, "plan_id": plan.ID,
			"subscription_id": paid.SubscriptionID, "new_subscription": true}, nil); got != http.StatusUnprocessableEntity {
			t.Errorf("renew and new at once: %d, want 422", got)
		}

		var top store.Invoice
		if got := call(t, h, http.MethodPost, fmt.Sprintf("/api/v1/customers/%d/topups", cust.ID), RoleOperator, map[string]any{"amount": 50000, "currency": "IDR"}, &top); got != http.StatusCreated ||
			top.Kind != store.InvoiceTopUp || top.PlanID != 0 || top.Amount != 50000 {
			t.Fatalf("top-up: %d %+v", got, top)
		}
		if got := call(t, h, http.MethodPost, fmt.Sprintf("/api/v1/customers/%d/topups", cust.ID), RoleViewer, map[string]any{"amount": 50000, "currency": "IDR"}, nil); got != http.StatusForbidden {
			t.Errorf("viewer top-up: %d", got)
		}
		if got := call(t, h, http.MethodPost, fmt.Sprintf("/api/v1/customers/%d/topups", cust.ID), RoleOperator, map[string]any{"amount": 0, "currency": "IDR"}, nil); got != http.StatusUnprocessableEntity {
			t.Errorf("zero top-up: %d", got)
		}
	})
}

func TestPlanBillingTypeAPI(t *testing.T) {
	h, _, _ := balanceServer(t, storetest.SQLite(t))
	body := map[string]any{"name": "Monthly", "kind": "pppoe", "validity_seconds": 2592000, "price": 150000, "currency": "IDR", "billing_type": "monthly"}
	if got := call(t, h, http.MethodPost, "/api/v1/plans", RoleOperator, body, nil); got != http.StatusUnprocessableEntity {
		t.Errorf("billing_type monthly: %d, want 422", got)
	}
	body["billing_type"] = "postpaid"
	var p planJSON
	if got := call(t, h, http.MethodPost, "/api/v1/plans", RoleOperator, body, &p); got != http.StatusCreated || p.BillingType != store.BillingPostpaid {
		t.Fatalf("postpaid plan: %d %+v", got, p.Plan)
	}
	delete(body, "billing_type")
	body["name"] = "Daily"
	if got := call(t, h, http.MethodPost, "/api/v1/plans", RoleOperator, body, &p); got != http.StatusCreated || p.BillingType != store.BillingPrepaid {
		t.Fatalf("default billing type: %d %+v", got, p.Plan)
	}
}
