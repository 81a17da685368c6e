package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestBalancePages: the cash-entry form (refusals beside the fields, an
// operator refused a refund), the ledger, the invoice form's parallel
// subscription, the invoice page's "pay from balance" and the plan form's
// billing type.
func TestBalancePages(t *testing.T) {
	db := storetest.SQLite(t)
	h, cust, plan := balanceServer(t, db)
	q := db.Q()
	ctx := context.Background()
	path := fmt.Sprintf("/customers/%d/balance", cust.ID)

	code, body := page(t, h, http.MethodGet, path, RoleViewer, nil, false)
	if code != http.StatusOK || strings.Contains(body, `id="balance-form"`) {
		t.Fatalf("a viewer's balance page: %d %.2000s", code, body)
	}
	if code, _ := page(t, h, http.MethodPost, path, RoleViewer, url.Values{"amount": {"1"}, "currency": {"IDR"}, "reason": {"x"}}, false); code != http.StatusForbidden {
		t.Errorf("a viewer's cash entry: %d, want 403", code)
	}
	code, body = page(t, h, http.MethodPost, path, RoleOperator, url.Values{"amount": {"5000"}, "currency": {"IDR"}, "reason": {""}}, false)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="reason-err"`) || !strings.Contains(body, `value="5000"`) {
		t.Errorf("an entry without a reason: %d; want 422 with the error beside the field and the form kept:\n%.1500s", code, body)
	}
	code, body = page(t, h, http.MethodPost, path, RoleOperator, url.Values{"amount": {"-5000"}, "currency": {"IDR"}, "reason": {"x"}, "kind": {"refund"}}, false)
	if code != http.StatusForbidden || !strings.Contains(body, "Refunds and adjustments need an administrator") {
		t.Errorf("an operator's refund: %d %.800s", code, body)
	}
	if code, body := page(t, h, http.MethodPost, path, RoleOperator, url.Values{"amount": {"200000"}, "currency": {"IDR"}, "reason": {"paid at the counter"}, "reference": {"R-17"}}, false); code != http.StatusSeeOther {
		t.Fatalf("a cash entry: %d %.1000s", code, body)
	}
	_, body = page(t, h, http.MethodGet, path, RoleOperator, nil, false)
	if !strings.Contains(body, "paid at the counter (R-17)") || !strings.Contains(body, "user:matrix-operator") || !strings.Contains(body, `id="balance-form"`) ||
		strings.Contains(body, `id="kind"`) {
		t.Errorf("the ledger after a cash entry (an operator sees no kind choice):\n%.3000s", body)
	}
	if _, body := page(t, h, http.MethodGet, path, RoleAdmin, nil, false); !strings.Contains(body, `id="kind"`) {
		t.Error("an admin sees no kind choice")
	}

	// The invoice form: a parallel subscription when ticked.
	if code, body := page(t, h, http.MethodPost, "/invoices", RoleOperator, url.Values{"customer_id": {fmt.Sprint(cust.ID)}, "plan_id": {fmt.Sprint(plan.ID)}, "new_subscription": {"on"}}, false); code != http.StatusSeeOther {
		t.Fatalf("an invoice with a new subscription: %d %.1000s", code, body)
	}
	invs, _, _ := q.ListInvoices(ctx, store.InvoiceFilter{CustomerID: cust.ID}, store.Page{})
	if len(invs) != 1 || !invs[0].NewSubscription || invs[0].Status != store.InvoicePaid {
		t.Fatalf("invoices after the form: %+v (the balance covers it: paid at once)", invs)
	}

	// Another invoice the rest of the balance does not cover: the button
	// is there, disabled; after more cash it pays it.
	inv := &store.Invoice{CustomerID: cust.ID, PlanID: plan.ID, Amount: plan.Price, Currency: "IDR"}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return tx.Q().CreateInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	ipath := fmt.Sprintf("/invoices/%d", inv.ID)
	_, body = page(t, h, http.MethodGet, ipath, RoleOperator, nil, false)
	if !strings.Contains(body, `disabled id="pay-from-balance"`) {
		t.Errorf("the invoice page without enough balance:\n%s", body[strings.Index(body, "<main"):])
	}
	if _, body := page(t, h, http.MethodGet, ipath, RoleViewer, nil, false); strings.Contains(body, `id="pay-from-balance"`) {
		t.Error("a viewer sees the pay-from-balance button")
	}
	code, body = page(t, h, http.MethodPost, ipath+"/pay-from-balance", RoleOperator, nil, false)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "does not cover this invoice") {
		t.Errorf("paying beyond the balance: %d %.800s", code, body)
	}
	page(t, h, http.MethodPost, path, RoleOperator, url.Values{"amount": {"150000"}, "currency": {"IDR"}, "reason": {"more"}}, false)
	if code, _ := page(t, h, http.MethodPost, ipath+"/pay-from-balance", RoleViewer, nil, false); code != http.StatusForbidden {
		t.Errorf("a viewer paying from the balance: %d", code)
	}
	if code, body := page(t, h, http.MethodPost, ipath+"/pay-from-balance", RoleOperator, nil, false); code != http.StatusSeeOther {
		t.Fatalf("pay from balance: %d %.800s", code, body)
	}
	if code, _ := page(t, h, http.MethodPost, ipath+"/pay-from-balance", RoleOperator, nil, false); code != http.StatusConflict {
		t.Errorf("paying twice: %d, want 409", code)
	}
	if got, _ := q.GetInvoice(ctx, inv.ID); got.Status != store.InvoicePaid {
		t.Fatalf("invoice after paying from the balance: %s", got.Status)
	}
	if b, _ := q.BalanceOf(ctx, cust.ID, "IDR"); b != 200000+150000-2*plan.Price {
		t.Fatalf("balance %d", b)
	}

	// The plan form's billing type.
	form := url.Values{"name": {"Monthly"}, "kind": {"pppoe"}, "price": {"150000"}, "currency": {"IDR"}, "validity": {"30"}, "validity_unit": {"days"}, "shared_users": {"1"}, "billing_type": {"yearly"}}
	if code, body := page(t, h, http.MethodPost, "/plans", RoleOperator, form, false); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="billing_type-err"`) {
		t.Errorf("a wrong billing type: %d %.1500s", code, body)
	}
	form.Set("billing_type", "postpaid")
	if code, body := page(t, h, http.MethodPost, "/plans", RoleOperator, form, false); code != http.StatusSeeOther {
		t.Fatalf("a postpaid plan: %d %.1500s", code, body)
	}
	plans, _, _ := q.ListPlans(ctx, store.Page{})
	var found bool
	for _, p := range plans {
		if p.Name == "Monthly" {
			found = p.BillingType == store.BillingPostpaid
			_, body := page(t, h, http.MethodGet, fmt.Sprintf("/plans/%d/edit", p.ID), RoleOperator, nil, false)
			if !strings.Contains(body, `<option value="postpaid" selected>`) {
				t.Error("the edit form does not show the plan as postpaid")
			}
		}
	}
	if !found {
		t.Fatalf("plans: %+v", plans)
	}
}
