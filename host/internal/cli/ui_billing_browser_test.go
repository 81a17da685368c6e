package cli

// The admin UI's billing pages in a real browser against the whole host
// (serve, with the real payment-manual plugin, billing and its job
// queue): chromedp drives Chromium (/usr/bin/chromium, or
// $MIKROBILL_CHROMIUM). Without Chromium the test skips, or fails when CI
// is set. Screenshots go to $MIKROBILL_TEST_SCREENSHOTS, or to the test's
// temporary folder.

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// uiBrowser starts a headless Chromium for the test, ended at cleanup.
func uiBrowser(t *testing.T) context.Context { return testenv.Browser(t, 3*time.Minute) }

// do runs one browser action, failing the test with what it was.
func do(t *testing.T, ctx context.Context, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	testenv.BrowserDo(t, ctx, what, a)
}

// click clicks the first element matching sel (again when the page
// replaced it between finding and clicking; see testenv.BrowserClick).
func click(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	testenv.BrowserClick(t, ctx, what, sel)
}

// get runs one browser action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	return testenv.BrowserValue(t, ctx, what, a)
}

// count is how many elements match sel on the page.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return get(t, ctx, "count "+sel, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
}

// shot saves the page as name.png.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	testenv.BrowserScreenshot(t, ctx, name)
}

func uiSignIn(t *testing.T, ctx context.Context, base, name, password string) {
	t.Helper()
	do(t, ctx, "open the sign-in page", chromedp.Navigate(base+"/signin"))
	do(t, ctx, "type the username", chromedp.SendKeys(chromedp.CSS("#username"), name))
	do(t, ctx, "type the password", chromedp.SendKeys(chromedp.CSS("#password"), password))
	do(t, ctx, "sign in", chromedp.Submit(chromedp.CSS("#password")))
	do(t, ctx, "wait for the dashboard", chromedp.WaitVisible(chromedp.CSS("#tiles")))
}

// postStatus posts a form from the page (same origin, with the session)
// and returns the answer's status.
func postStatus(t *testing.T, ctx context.Context, path string, form map[string]string) int {
	t.Helper()
	var fields []string
	for k, v := range form {
		fields = append(fields, strconv.Quote(k)+":"+strconv.Quote(v))
	}
	js := `fetch(` + strconv.Quote(path) + `, {method: "POST", body: new URLSearchParams({` + strings.Join(fields, ",") + `}), redirect: "manual"}).then(r => r.status)`
	return get(t, ctx, "post "+path, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
}

// TestUIBrowserBilling: an admin adds a location, a plan (after a refused
// currency shown next to its field), a customer and an invoice through
// the forms, pays it with payment-manual and sees the pay link and its QR
// code; payment-manual's operator route confirms the payment and the
// invoice page shows it paid. A viewer sees the lists without a create
// button or the pay form, and the server refuses the viewer's posts.
func TestUIBrowserBilling(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	h := startHost(t, d.Dir)
	tok := h.adminToken() // the user "admin", password "correct horse battery"
	env := append([]string{"MIKROBILL_DATA_DIR=" + h.dataDir}, h.env...)
	if err, _, stderr := runIn(t, env, "viewer password 123\n", "user", "create", "--username", "vera", "--role", "viewer", "--password-stdin"); err != nil {
		t.Fatalf("user create vera: %v %s", err, stderr)
	}
	base := "http://" + h.addr
	ctx := uiBrowser(t)
	uiSignIn(t, ctx, base, "admin", "correct horse battery")

	// A location.
	do(t, ctx, "open the locations", chromedp.Navigate(base+"/locations"))
	do(t, ctx, "type the location's name", chromedp.SendKeys(chromedp.CSS("#location-form #name"), "north"))
	do(t, ctx, "add the location", chromedp.Submit(chromedp.CSS("#location-form")))
	do(t, ctx, "wait for the notice", chromedp.WaitVisible(chromedp.CSS(".notice")))

	// A plan: a refused currency is explained next to its field.
	do(t, ctx, "open the plans", chromedp.Navigate(base+"/plans"))
	click(t, ctx, "open the new plan form", "#new-plan")
	do(t, ctx, "wait for the plan form", chromedp.WaitVisible(chromedp.CSS("#plan-form")))
	do(t, ctx, "type the plan's name", chromedp.SendKeys(chromedp.CSS("#name"), "Home 10M"))
	do(t, ctx, "set the price", chromedp.SetValue(chromedp.CSS("#price"), "150000"))
	do(t, ctx, "set a wrong currency", chromedp.SetValue(chromedp.CSS("#currency"), "rupiah"))
	do(t, ctx, "set the validity", chromedp.SetValue(chromedp.CSS("#validity"), "30"))
	do(t, ctx, "in days", chromedp.SetValue(chromedp.CSS("#validity_unit"), "days"))
	do(t, ctx, "set the rate limit", chromedp.SetValue(chromedp.CSS("#rate_limit"), "5M/10M"))
	do(t, ctx, "save the plan", chromedp.Submit(chromedp.CSS("#plan-form")))
	do(t, ctx, "wait for the currency's error", chromedp.WaitVisible(chromedp.CSS("#currency-err")))
	if got := get(t, ctx, "read the error", chromedp.Text(chromedp.CSS("#currency-err"))); !strings.Contains(got, "IDR") {
		t.Errorf("the currency's error says %q; want how to write it (IDR)", got)
	}
	if got := get(t, ctx, "read the name kept", chromedp.Value(chromedp.CSS("#name"))); got != "Home 10M" {
		t.Errorf("the refused form lost the name: %q", got)
	}
	shot(t, ctx, "plan-form-refused")
	do(t, ctx, "set the currency", chromedp.SetValue(chromedp.CSS("#currency"), "IDR"))
	do(t, ctx, "save the plan again", chromedp.Submit(chromedp.CSS("#plan-form")))
	do(t, ctx, "wait for the plan list", chromedp.WaitVisible(chromedp.CSS("#plans tr[data-plan]")))
	if got := get(t, ctx, "read the plan row", chromedp.Text(chromedp.CSS("#plans tr[data-plan]"))); !strings.Contains(got, "Home 10M") || !strings.Contains(got, "IDR\u00a0150,000") || !strings.Contains(got, "30 days") {
		t.Errorf("plan row %q", got)
	}
	shot(t, ctx, "plans")

	// A customer at the new location.
	do(t, ctx, "open the customers", chromedp.Navigate(base+"/customers"))
	click(t, ctx, "open the new customer form", "#new-customer")
	do(t, ctx, "wait for the customer form", chromedp.WaitVisible(chromedp.CSS("#customer-form")))
	do(t, ctx, "type the name", chromedp.SendKeys(chromedp.CSS("#name"), "Budi Santoso"))
	do(t, ctx, "type the phone", chromedp.SendKeys(chromedp.CSS("#phone"), "+6281234567890"))
	do(t, ctx, "type the router username", chromedp.SendKeys(chromedp.CSS("#router_username"), "budi"))
	do(t, ctx, "type the router password", chromedp.SendKeys(chromedp.CSS("#router_password"), "rahasia-123"))
	get(t, ctx, "choose the location", chromedp.Evaluate[string](`(() => { const s = document.querySelector('#location_id'); s.value = [...s.options].find(o => o.text === 'north').value; return s.value })()`))
	shot(t, ctx, "customer-form")
	do(t, ctx, "save the customer", chromedp.Submit(chromedp.CSS("#customer-form")))
	do(t, ctx, "wait for the customer list", chromedp.WaitVisible(chromedp.CSS("#customers tr[data-customer]")))
	shot(t, ctx, "customers")

	// An invoice for the customer, paid with payment-manual.
	click(t, ctx, "bill the customer", "#customers tr[data-customer] a.bill")
	do(t, ctx, "wait for the invoice form", chromedp.WaitVisible(chromedp.CSS("#invoice-form")))
	do(t, ctx, "create the invoice", chromedp.Submit(chromedp.CSS("#invoice-form")))
	do(t, ctx, "wait for the invoice", chromedp.WaitVisible(chromedp.CSS("#invoice-status")))
	if got := get(t, ctx, "read the status", chromedp.Text(chromedp.CSS("#invoice-status"))); got != "unpaid" {
		t.Errorf("new invoice is %q; want unpaid", got)
	}
	invoiceURL := get(t, ctx, "read the location", chromedp.Location())
	invoiceURL, _, _ = strings.Cut(invoiceURL, "?")
	id, err := strconv.ParseInt(invoiceURL[strings.LastIndex(invoiceURL, "/")+1:], 10, 64)
	if err != nil {
		t.Fatalf("invoice page %s: %v", invoiceURL, err)
	}
	if got := get(t, ctx, "read the gateways", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#gateway option')].map(o => o.value)`)); len(got) != 1 || got[0] != "payment-manual" {
		t.Errorf("gateways offered: %v; want the running payment-manual", got)
	}
	do(t, ctx, "pay with payment-manual", chromedp.Submit(chromedp.CSS("#pay-form")))
	do(t, ctx, "wait for the pay link", chromedp.WaitVisible(chromedp.CSS("#pay-link")))
	// With no public_url, the link is the host's own address: the port it
	// listens on (the system picked it: --listen 127.0.0.1:0), not 0.
	payLink := get(t, ctx, "read the pay link", chromedp.Text(chromedp.CSS("#pay-link")))
	if !strings.HasPrefix(payLink, base+"/pay/INV-") {
		t.Errorf("pay link %q; want the host's address %s and /pay/INV-...", payLink, base)
	} else if res, err := http.Get(payLink); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("the pay link %s does not open the pay page: %v %v", payLink, res, err)
	} else {
		res.Body.Close()
	}
	get(t, ctx, "wait for the QR code", chromedp.Poll[bool](`(() => { const i = document.querySelector('#pay-qr'); return i.complete && i.naturalWidth > 0 })()`, chromedp.WithPollingTimeout(20*time.Second)))
	if w := get(t, ctx, "read the QR's size", chromedp.Evaluate[int](`document.querySelector('#pay-qr').naturalWidth`)); w != 256 {
		t.Errorf("QR code %d pixels wide; want 256", w)
	}
	shot(t, ctx, "invoice-paying")

	// payment-manual's operator route confirms the cash payment.
	var detail struct {
		Payments []store.Payment `json:"payments"`
	}
	if code, raw := h.api(http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", id), tok, nil, &detail); code != http.StatusOK || len(detail.Payments) != 1 {
		t.Fatalf("invoice %d: %d %s", id, code, raw)
	}
	if code, raw := h.api(http.MethodPost, "/plugins/payment-manual/payments/"+detail.Payments[0].ExternalID+"/confirm", tok, nil, nil); code != http.StatusOK {
		t.Fatalf("confirm on payment-manual's route: %d %s", code, raw)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		do(t, ctx, "open the invoice", chromedp.Navigate(invoiceURL))
		if get(t, ctx, "read the status", chromedp.Text(chromedp.CSS("#invoice-status"))) == "paid" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the invoice page does not show paid 30s after the confirmation")
		}
		do(t, ctx, "wait a moment", chromedp.Sleep(200*time.Millisecond))
	}
	if n := count(t, ctx, "#pay-form") + count(t, ctx, "#pay-link"); n != 0 {
		t.Errorf("a paid invoice still offers paying (%d elements)", n)
	}
	shot(t, ctx, "invoice-paid")
	do(t, ctx, "open the paid invoices", chromedp.Navigate(base+"/invoices?status=paid"))
	do(t, ctx, "wait for the list", chromedp.WaitVisible(chromedp.CSS("#invoices tr[data-invoice]")))
	shot(t, ctx, "invoices")

	// A viewer reads, sees no buttons it may not press, and is refused.
	click(t, ctx, "sign out", "#signout")
	do(t, ctx, "wait for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))
	uiSignIn(t, ctx, base, "vera", "viewer password 123")
	for _, p := range []struct{ path, list, button string }{
		{"/plans", "#plans tr[data-plan]", "#new-plan"},
		{"/customers", "#customers tr[data-customer]", "#new-customer, a.bill, a[href$='/edit']"},
		{"/locations", "#locations tbody tr", "#location-form"},
		{fmt.Sprintf("/invoices/%d", id), "#invoice-status", "#pay-form"},
	} {
		do(t, ctx, "open "+p.path, chromedp.Navigate(base+p.path))
		do(t, ctx, "wait for "+p.list, chromedp.WaitVisible(chromedp.CSS(p.list)))
		if n := count(t, ctx, p.button); n != 0 {
			t.Errorf("the viewer sees %d of %q on %s", n, p.button, p.path)
		}
	}
	for path, form := range map[string]map[string]string{
		"/plans":                            {"name": "Sneaky", "kind": "hotspot", "price": "1", "currency": "IDR", "validity": "1"},
		"/customers":                        {"name": "Sneaky", "router_username": "sneaky", "router_password": "x"},
		"/locations":                        {"name": "sneaky"},
		"/invoices":                         {"customer_id": "1", "plan_id": "1"},
		fmt.Sprintf("/invoices/%d/pay", id): {"gateway": "payment-manual"},
	} {
		if got := postStatus(t, ctx, path, form); got != http.StatusForbidden {
			t.Errorf("the viewer's POST %s: %d; want 403", path, got)
		}
	}
}
