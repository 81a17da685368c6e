package web

// The pages that show money write it with the UI's one money function, in
// the reader's language (host/internal/money tests the formatting itself).

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// pageIn requests path as role in lang (the language switch's cookie).
func pageIn(t *testing.T, h http.Handler, path, role, lang string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("X-Test-Role", role)
	req.AddCookie(&http.Cookie{Name: ui.LanguageCookie, Value: lang})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func TestPagesWriteMoneyPerLanguage(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	// Three paid invoices of the plan Daily (Rp 5.000): 5000, 6000 and
	// 7000 rupiah, 18000 in all.
	SeedPayments(t, s.deps.DB, 3, time.Now(), "payment-manual")
	invs, err := s.deps.DB.Q().ListInvoicesBefore(context.Background(), store.InvoiceFilter{}, 0, 10)
	if err != nil || len(invs) != 3 {
		t.Fatalf("invoices: %v %v", invs, err)
	}
	first := invs[len(invs)-1] // 5000
	one := "/invoices/" + strconv.FormatInt(first.ID, 10)
	const nb = "\u00a0"
	for _, c := range []struct{ path, en, id string }{
		{"/plans", "IDR" + nb + "5,000", "Rp" + nb + "5.000"},
		{"/invoices", "IDR" + nb + "7,000", "Rp" + nb + "7.000"},
		{one, "IDR" + nb + "5,000", "Rp" + nb + "5.000"},
		{"/invoices/new?customer=" + strconv.FormatInt(first.CustomerID, 10), "Daily: IDR" + nb + "5,000", "Daily: Rp" + nb + "5.000"},
		{"/", "(total IDR" + nb + "18,000)", "(total Rp" + nb + "18.000)"},
	} {
		for lang, want := range map[string]string{"en": c.en, "id": c.id} {
			code, body := pageIn(t, h, c.path, RoleOperator, lang)
			if code != http.StatusOK || !strings.Contains(body, want) {
				t.Errorf("GET %s in %s: %d; want %q in:\n%.4000s", c.path, lang, code, want, body)
			}
			if strings.Contains(body, "000 IDR") {
				t.Errorf("GET %s in %s still writes an amount as number and code", c.path, lang)
			}
		}
	}
	// The customer's pay page is in English.
	link := s.deps.Billing.PayLink(first.Number)
	code, body := pageIn(t, h, link[strings.Index(link, "/pay/"):], "", "id")
	if code != http.StatusOK || !strings.Contains(body, "<dd>IDR"+nb+"5,000</dd>") {
		t.Errorf("the pay page: %d\n%s", code, body)
	}
}
