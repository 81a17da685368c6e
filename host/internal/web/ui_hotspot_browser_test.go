package web_test

// A hotspot batch in a real browser: an operator makes it through the form
// (kind "hotspot logins"), opens its sheet, whose cards carry the
// operator's name and a QR code linking to the hotspot login with the code
// filled in, and prints it: 21 cards to an A4 page still.

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

func TestUIBrowserHotspotSheet(t *testing.T) {
	var svc *billing.Service
	h := newUIHost(t, withBilling(&svc, nil), func(_ *testing.T, d *web.Deps) {
		d.Config.Operator.Name = "Net Kampung"
		d.Config.Hotspot.LoginURL = "http://wifi.example.net/login"
	})
	ctx0, q := context.Background(), h.db.Q()
	loc, plan := &store.Location{Name: "warung-kopi"}, &store.Plan{Name: "Voucher 3 Jam", Kind: store.PlanHotspot, Validity: 3 * time.Hour, Price: 5000, Currency: "IDR", Active: true}
	if err := q.CreateLocation(ctx0, loc); err != nil {
		t.Fatal(err)
	}
	if err := q.CreatePlan(ctx0, plan); err != nil {
		t.Fatal(err)
	}
	h.user(t, "olga", "correct horse battery", store.UserRoleOperator)
	ctx := browser(t)
	signIn(t, ctx, h.url, "olga", "correct horse battery")

	run(t, ctx, "open the generate form", chromedp.Navigate(h.url+"/vouchers/new"))
	run(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#batch-form")))
	click(t, ctx, "choose hotspot logins", "#kind-hotspot")
	run(t, ctx, "ask for 24", chromedp.SetValue(chromedp.CSS("#count"), "24"))
	run(t, ctx, "generate", chromedp.Submit(chromedp.CSS("#batch-form")))
	run(t, ctx, "wait for the batch", chromedp.WaitVisible(chromedp.CSS("#batch-kind")))
	if got := text(t, ctx, "#batch-kind"); !strings.Contains(got, "Hotspot logins") {
		t.Errorf("the batch's kind reads %q", got)
	}
	click(t, ctx, "open the sheet", "#print-link")
	run(t, ctx, "wait for the cards", chromedp.WaitVisible(chromedp.CSS(".voucher-card")))
	value(t, ctx, "wait for every QR code", chromedp.Poll[bool](`(() => { const imgs = [...document.querySelectorAll('img.vc-qr')]; return imgs.length === 24 && imgs.every(i => i.complete && i.naturalWidth > 0) })()`, chromedp.WithPollingTimeout(30*time.Second)))
	pairs := value(t, ctx, "read the cards' codes and links", chromedp.Evaluate[[][]string](`[...document.querySelectorAll('.voucher-card')].map(c => [c.querySelector('code').textContent, c.querySelector('a.vc-login').href])`))
	if len(pairs) != 24 {
		t.Fatalf("%d cards; want 24", len(pairs))
	}
	for _, p := range pairs {
		if want := "http://wifi.example.net/login?password=" + p[0] + "&username=" + p[0]; p[1] != want {
			t.Errorf("card %s's QR code links to %q; want %q", p[0], p[1], want)
		}
	}
	card := text(t, ctx, ".voucher-card")
	for _, want := range []string{"Net Kampung", "warung-kopi", "Voucher 3 Jam", "IDR\u00a05,000", "3 hours", pairs[0][0]} {
		if !strings.Contains(card, want) {
			t.Errorf("a card says %q; want %q on it", card, want)
		}
	}
	screenshot(t, ctx, "voucher-sheet-hotspot")

	// On paper the hotspot line still fits each card.
	run(t, ctx, "emulate print", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if n := value(t, ctx, "count the overflowing cards", chromedp.Evaluate[int](`[...document.querySelectorAll('.voucher-card')].filter(c => c.scrollHeight > c.clientHeight + 1).length`)); n != 0 {
		t.Errorf("%d cards overflow their printed size", n)
	}
	screenshot(t, ctx, "voucher-sheet-hotspot-paper")
	pdf := value(t, ctx, "print to PDF", chromedp.Action[[]byte](func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		yes := true
		res, err := cdp.Call(ctx, tg, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &yes})
		return res.Data, err
	}))
	if pages := len(regexp.MustCompile(`/Type\s*/Page\b`).FindAll(pdf, -1)); pages != 2 || !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("24 hotspot cards print on %d pages; want 2 A4 pages of at most 21", pages)
	}
}
