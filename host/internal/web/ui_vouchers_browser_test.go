package web_test

// The voucher pages in a real browser: an operator generates a batch
// through the form (after a refused count, explained next to its field),
// sees its codes, opens the printable sheet, whose cards each show a QR
// code the browser decoded, and prints it: A4 pages of 21 cards.

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
)

func TestUIBrowserVouchers(t *testing.T) {
	var svc *billing.Service
	h := newUIHost(t, withBilling(&svc, nil))
	ctx0, q := context.Background(), h.db.Q()
	loc, plan := &store.Location{Name: "warung-kopi"}, &store.Plan{Name: "Day 3M", Kind: store.PlanHotspot, Validity: 24 * time.Hour, Price: 5000, Currency: "IDR", Active: true}
	if err := q.CreateLocation(ctx0, loc); err != nil {
		t.Fatal(err)
	}
	if err := q.CreatePlan(ctx0, plan); err != nil {
		t.Fatal(err)
	}
	h.user(t, "olga", "correct horse battery", store.UserRoleOperator)
	ctx := browser(t)
	signIn(t, ctx, h.url, "olga", "correct horse battery")

	click(t, ctx, "open the vouchers from the nav", `nav a[href="/vouchers"]`)
	click(t, ctx, "open the generate form", "#new-batch")
	run(t, ctx, "wait for the form", chromedp.WaitVisible(chromedp.CSS("#batch-form")))
	run(t, ctx, "ask for too many", chromedp.SetValue(chromedp.CSS("#count"), "10001"))
	run(t, ctx, "type a prefix", chromedp.SendKeys(chromedp.CSS("#prefix"), "kopi"))
	run(t, ctx, "generate", chromedp.Submit(chromedp.CSS("#batch-form")))
	run(t, ctx, "wait for the count's error", chromedp.WaitVisible(chromedp.CSS("#count-err")))
	if got := text(t, ctx, "#count-err"); !strings.Contains(got, "1 to 10000") {
		t.Errorf("the count's error says %q; want the range", got)
	}
	if got := value(t, ctx, "read the prefix kept", chromedp.Value(chromedp.CSS("#prefix"))); got != "kopi" {
		t.Errorf("the refused form lost the prefix: %q", got)
	}
	run(t, ctx, "ask for 24", chromedp.SetValue(chromedp.CSS("#count"), "24"))
	run(t, ctx, "generate again", chromedp.Submit(chromedp.CSS("#batch-form")))
	run(t, ctx, "wait for the codes", chromedp.WaitVisible(chromedp.CSS("#codes tr[data-voucher]")))
	codes := value(t, ctx, "read the codes", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#codes .voucher-code')].map(e => e.textContent)`))
	if len(codes) != 24 || !strings.HasPrefix(codes[0], "KOPI") {
		t.Fatalf("the batch page lists %d codes (%v); want 24 starting KOPI", len(codes), codes)
	}
	if got := text(t, ctx, "#batch-price"); got != "IDR\u00a05,000" {
		t.Errorf("the batch's price %q", got)
	}
	screenshot(t, ctx, "voucher-batch")
	run(t, ctx, "back to the list", chromedp.Navigate(h.url+"/vouchers"))
	run(t, ctx, "wait for the batch's row", chromedp.WaitVisible(chromedp.CSS("#batches tr[data-batch]")))
	if got := text(t, ctx, "#batches tr[data-batch]"); !strings.Contains(got, "Day 3M") || !strings.Contains(got, "warung-kopi") || !strings.Contains(got, "olga") {
		t.Errorf("the batch's row %q", got)
	}
	screenshot(t, ctx, "vouchers")

	// The sheet: a card per code, each QR code decoded by the browser.
	click(t, ctx, "open the batch", "#batches tr[data-batch] a")
	click(t, ctx, "open the sheet", "#print-link")
	run(t, ctx, "wait for the cards", chromedp.WaitVisible(chromedp.CSS(".voucher-card")))
	cards := value(t, ctx, "read the cards", chromedp.Evaluate[[]string](`[...document.querySelectorAll('.voucher-card code')].map(e => e.textContent)`))
	if strings.Join(cards, " ") != strings.Join(codes, " ") {
		t.Errorf("the sheet's cards %v; want the batch's codes %v", cards, codes)
	}
	value(t, ctx, "wait for every QR code", chromedp.Poll[bool](`(() => { const imgs = [...document.querySelectorAll('img.vc-qr')]; return imgs.length === 24 && imgs.every(i => i.complete && i.naturalWidth > 0) })()`, chromedp.WithPollingTimeout(30*time.Second)))
	if w := value(t, ctx, "read a QR code's size", chromedp.Evaluate[int](`document.querySelector('img.vc-qr').naturalWidth`)); w != 256 {
		t.Errorf("a QR code is %d pixels wide; want 256", w)
	}
	card := text(t, ctx, ".voucher-card")
	for _, want := range []string{"warung-kopi", "Day 3M", "IDR\u00a05,000", "1 day", codes[0]} {
		if !strings.Contains(card, want) {
			t.Errorf("a card says %q; want %q on it", card, want)
		}
	}
	if n := value(t, ctx, "count the print buttons", chromedp.Evaluate[int](`document.querySelectorAll('#print').length`)); n != 1 {
		t.Errorf("%d print buttons; want one", n)
	}
	screenshot(t, ctx, "vouchers-print")

	// On paper: no tools, three cards across, 21 to an A4 page.
	run(t, ctx, "emulate print", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if got := value(t, ctx, "read the print layout", chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.sheet-tools')).display + ' ' + getComputedStyle(document.querySelector('#cards')).gridTemplateColumns.split(' ').length`)); got != "none 3" {
		t.Errorf("printed, the tools and columns are %q; want %q", got, "none 3")
	}
	screenshot(t, ctx, "vouchers-print-paper")
	pdf := value(t, ctx, "print to PDF", chromedp.Action[[]byte](func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		yes := true
		res, err := cdp.Call(ctx, tg, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &yes})
		return res.Data, err
	}))
	if pages := len(regexp.MustCompile(`/Type\s*/Page\b`).FindAll(pdf, -1)); pages != 2 || !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("24 cards print on %d pages; want 2 A4 pages of at most 21", pages)
	}
}
