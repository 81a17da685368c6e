package cli

// The customer portal in a real browser at a phone's width, against the
// whole host (serve, with the real payment-manual plugin, billing and its
// job queue): a customer signs in with their router login, buys their plan
// again with payment-manual, lands on the pay page; payment-manual's
// operator route confirms the payment, and the portal shows the invoice
// paid, as a receipt, and the subscription extended by the plan's
// validity. Screenshots "portal-phone" (360 px) and "portal" (desktop).

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

func TestUIBrowserPortalPurchase(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	h := startHost(t, d.Dir)
	tok := h.adminToken()

	// A location, a plan and a customer whose subscription ends in 3 days.
	var loc store.Location
	if code, raw := h.api(http.MethodPost, "/api/v1/locations", tok, map[string]any{"name": "north"}, &loc); code != http.StatusCreated {
		t.Fatalf("location: %d %s", code, raw)
	}
	var plan store.Plan
	if code, raw := h.api(http.MethodPost, "/api/v1/plans", tok, map[string]any{"name": "Home 10M", "kind": "hotspot", "price": 150000,
		"currency": "IDR", "validity_seconds": 30 * 24 * 3600, "rate_limit": "5M/10M"}, &plan); code != http.StatusCreated {
		t.Fatalf("plan: %d %s", code, raw)
	}
	var other store.Plan
	if code, raw := h.api(http.MethodPost, "/api/v1/plans", tok, map[string]any{"name": "Day pass", "kind": "hotspot", "price": 5000,
		"currency": "IDR", "validity_seconds": 24 * 3600}, &other); code != http.StatusCreated {
		t.Fatalf("plan: %d %s", code, raw)
	}
	var cust store.Customer
	if code, raw := h.api(http.MethodPost, "/api/v1/customers", tok, map[string]any{"name": "Budi Santoso", "phone": "+6281234567890",
		"router_username": "budi", "router_password": "rahasia-123", "location_id": loc.ID}, &cust); code != http.StatusCreated {
		t.Fatalf("customer: %d %s", code, raw)
	}
	ends := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	var sub store.Subscription
	if code, raw := h.api(http.MethodPost, "/api/v1/subscriptions", tok, map[string]any{"customer_id": cust.ID, "plan_id": plan.ID,
		"status": "active", "starts_at": time.Now().Add(-27 * 24 * time.Hour).UTC(), "expires_at": ends}, &sub); code != http.StatusCreated {
		t.Fatalf("subscription: %d %s", code, raw)
	}

	base := "http://" + h.addr
	ctx := uiBrowser(t)
	do(t, ctx, "narrow to a phone", chromedp.EmulateViewport(360, 780))
	do(t, ctx, "open the portal", chromedp.Navigate(base+"/portal"))
	do(t, ctx, "wait for the sign-in", chromedp.WaitVisible(chromedp.CSS("#portal-password-form")))
	if n := count(t, ctx, "#code-unavailable"); n != 1 {
		t.Errorf("without a notify plugin the phone option is not marked unavailable (%d)", n)
	}
	do(t, ctx, "type the username", chromedp.SendKeys(chromedp.CSS("#username"), "budi"))
	do(t, ctx, "type a wrong password", chromedp.SendKeys(chromedp.CSS("#password"), "rahasia-000"))
	do(t, ctx, "sign in", chromedp.Submit(chromedp.CSS("#portal-password-form")))
	do(t, ctx, "wait for the refusal", chromedp.WaitVisible(chromedp.CSS(".problem")))
	do(t, ctx, "type the password", chromedp.SendKeys(chromedp.CSS("#password"), "rahasia-123"))
	do(t, ctx, "sign in again", chromedp.Submit(chromedp.CSS("#portal-password-form")))
	do(t, ctx, "wait for the home page", chromedp.WaitVisible(chromedp.CSS("#subscription")))
	if got := get(t, ctx, "read the status", chromedp.Text(chromedp.CSS("#sub-status"))); got != "active" {
		t.Errorf("subscription status %q", got)
	}
	if got := get(t, ctx, "read the usage", chromedp.Text(chromedp.CSS("#usage"))); !strings.Contains(got, "cannot be reached") {
		t.Errorf("data used without a router plugin: %q; want it said the router cannot be reached", got)
	}
	before := get(t, ctx, "read the expiry", chromedp.AttributeValue(chromedp.CSS("#sub-expires time"), "datetime")).Value
	if got := get(t, ctx, "read the gateways", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#gateway option')].map(o => o.value)`)); len(got) != 1 || got[0] != "payment-manual" {
		t.Errorf("gateways offered: %v; want the running payment-manual", got)
	}
	if checked := get(t, ctx, "read the chosen plan", chromedp.Evaluate[string](`document.querySelector('input[name=plan]:checked').value`)); checked != fmt.Sprint(plan.ID) {
		t.Errorf("plan %s chosen; want the customer's own, %d, to renew", checked, plan.ID)
	}
	phoneWidth(t, ctx)
	shot(t, ctx, "portal-phone")

	// Buy: the invoice is made, payment-manual starts, the pay page shows.
	do(t, ctx, "buy", chromedp.Submit(chromedp.CSS("#buy-form")))
	do(t, ctx, "wait for the pay page", chromedp.WaitVisible(chromedp.CSS(".box")))
	if loc := get(t, ctx, "read the location", chromedp.Location()); !strings.Contains(loc, "/pay/INV-") {
		t.Fatalf("after buying the browser is at %s; want the pay page", loc)
	}
	var invoices struct {
		Items []store.Invoice `json:"items"`
	}
	if code, raw := h.api(http.MethodGet, fmt.Sprintf("/api/v1/invoices?customer_id=%d", cust.ID), tok, nil, &invoices); code != http.StatusOK || len(invoices.Items) != 1 {
		t.Fatalf("invoices: %d %s", code, raw)
	}
	inv := invoices.Items[0]
	if inv.SubscriptionID != sub.ID || inv.Gateway != "payment-manual" {
		t.Errorf("invoice %+v; want it to renew subscription %d through payment-manual", inv, sub.ID)
	}

	// payment-manual's operator route confirms the cash payment.
	var detail struct {
		Payments []store.Payment `json:"payments"`
	}
	if code, raw := h.api(http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", inv.ID), tok, nil, &detail); code != http.StatusOK || len(detail.Payments) != 1 {
		t.Fatalf("invoice %d: %d %s", inv.ID, code, raw)
	}
	if code, raw := h.api(http.MethodPost, "/plugins/payment-manual/payments/"+detail.Payments[0].ExternalID+"/confirm", tok, nil, nil); code != http.StatusOK {
		t.Fatalf("confirm on payment-manual's route: %d %s", code, raw)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		do(t, ctx, "open the portal", chromedp.Navigate(base+"/portal"))
		if count(t, ctx, "#portal-receipts li[data-invoice='"+inv.Number+"']") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the portal does not show %s paid 30s after the confirmation", inv.Number)
		}
		do(t, ctx, "wait a moment", chromedp.Sleep(200*time.Millisecond))
	}
	if n := count(t, ctx, "#portal-invoices li[data-invoice]"); n != 0 {
		t.Errorf("%d invoices still unpaid", n)
	}
	after := get(t, ctx, "read the new expiry", chromedp.AttributeValue(chromedp.CSS("#sub-expires time"), "datetime")).Value
	b, err1 := time.Parse(time.RFC3339, before)
	a, err2 := time.Parse(time.RFC3339, after)
	if err1 != nil || err2 != nil || a.Sub(b) != 30*24*time.Hour {
		t.Errorf("expiry %s -> %s (%v %v); want 30 days later", before, after, err1, err2)
	}
	phoneWidth(t, ctx)

	// In Bahasa Indonesia, on a desktop.
	do(t, ctx, "widen", chromedp.EmulateViewport(1280, 900))
	do(t, ctx, "choose Bahasa Indonesia", chromedp.SetValue(chromedp.CSS("#lang"), "id"))
	do(t, ctx, "apply", chromedp.Submit(chromedp.CSS("#lang")))
	do(t, ctx, "wait for the page in Bahasa Indonesia", chromedp.WaitVisible(chromedp.CSS(`html[lang="id"] #subscription`)))
	if got := get(t, ctx, "read the title", chromedp.Text(chromedp.CSS("h1"))); got != "Akun saya" {
		t.Errorf("title in Bahasa Indonesia: %q", got)
	}
	if got := get(t, ctx, "read the receipt", chromedp.Text(chromedp.CSS("#portal-receipts li"))); !strings.Contains(got, "Rp") || !strings.Contains(got, "150.000") {
		t.Errorf("receipt in Bahasa Indonesia: %q; want Rp 150.000", got)
	}
	shot(t, ctx, "portal")

	click(t, ctx, "sign out", "#portal-signout")
	do(t, ctx, "wait for the sign-in", chromedp.WaitVisible(chromedp.CSS("#portal-password-form")))
	do(t, ctx, "open the portal again", chromedp.Navigate(base+"/portal"))
	do(t, ctx, "wait for the sign-in again", chromedp.WaitVisible(chromedp.CSS("#portal-password-form")))
}

// phoneWidth fails the test when the page is wider than the 360-pixel
// viewport, naming the elements that stick out.
func phoneWidth(t *testing.T, ctx context.Context) {
	t.Helper()
	if wide := get(t, ctx, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); wide > 360 {
		t.Errorf("the portal is %d pixels wide on a 360-pixel phone: %s", wide, get(t, ctx, "find the wide elements", chromedp.Evaluate[string](
			`Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 360).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`)))
	}
}
