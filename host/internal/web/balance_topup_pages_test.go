package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestBalanceTopUpPage: the balance page's "top up through a gateway"
// form makes a top-up invoice (the API's rules) and goes to its page; a
// bad amount is refused beside its field; a viewer sees no form and is
// refused.
func TestBalanceTopUpPage(t *testing.T) {
	db := storetest.SQLite(t)
	h, cust, _ := balanceServer(t, db)
	ctx := context.Background()
	path := fmt.Sprintf("/customers/%d/balance", cust.ID)
	post := fmt.Sprintf("/customers/%d/topups", cust.ID)

	if _, body := page(t, h, http.MethodGet, path, RoleViewer, nil, false); strings.Contains(body, `id="topup-form"`) {
		t.Error("a viewer sees the top-up form")
	}
	if _, body := page(t, h, http.MethodGet, path, RoleOperator, nil, false); !strings.Contains(body, `id="topup-form"`) {
		t.Errorf("an operator sees no top-up form:\n%.3000s", body)
	}
	if code, _ := page(t, h, http.MethodPost, post, RoleViewer, url.Values{"amount": {"50000"}, "currency": {"IDR"}}, false); code != http.StatusForbidden {
		t.Errorf("a viewer's top-up: %d, want 403", code)
	}
	for _, amount := range []string{"0", "-5", "lots"} {
		code, body := page(t, h, http.MethodPost, post, RoleOperator, url.Values{"amount": {amount}, "currency": {"IDR"}}, false)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="topup-amount-err"`) || strings.Contains(body, `id="amount-err"`) {
			t.Errorf("amount %q: %d; want 422 with the error beside the top-up amount:\n%.3000s", amount, code, body)
		}
	}
	code, body := page(t, h, http.MethodPost, post, RoleOperator, url.Values{"amount": {"50000"}, "currency": {"rupiah"}}, false)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="topup-currency-err"`) || !strings.Contains(body, `value="50000"`) {
		t.Errorf("a bad currency: %d; want 422, the error beside the field and the amount kept:\n%.3000s", code, body)
	}
	if invs, _, _ := db.Q().ListInvoices(ctx, store.InvoiceFilter{CustomerID: cust.ID}, store.Page{}); len(invs) != 0 {
		t.Fatalf("refused top-ups made invoices: %+v", invs)
	}

	req := httptest.NewRequest(http.MethodPost, post, strings.NewReader(url.Values{"amount": {"75000"}, "currency": {"IDR"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Test-Role", RoleOperator)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	invs, _, _ := db.Q().ListInvoices(ctx, store.InvoiceFilter{CustomerID: cust.ID}, store.Page{})
	if len(invs) != 1 || invs[0].Kind != store.InvoiceTopUp || invs[0].Amount != 75000 || invs[0].Currency != "IDR" {
		t.Fatalf("invoices after the top-up: %+v", invs)
	}
	want := fmt.Sprintf("/invoices/%d", invs[0].ID)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
		t.Fatalf("the top-up: %d to %q, want 303 to %s", w.Code, w.Header().Get("Location"), want)
	}
	if code, body := page(t, h, http.MethodGet, want, RoleOperator, nil, false); code != http.StatusOK || !strings.Contains(body, `id="pay-form"`) {
		t.Errorf("the top-up invoice's page: %d, want its pay form:\n%.3000s", code, body)
	}
}
