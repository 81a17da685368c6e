package web_test

// The messaging page in a real browser (see ui_browser_test.go for the
// browser and its helpers), against notifyfake, a real notify plugin
// process under the plugin manager whose QR codes rotate every 1.5 seconds
// and which a test "scans" through its route, POST
// /plugins/notify-fake/scan (testenv.AddNotifyFake).

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

// shownQR is the text of the QR code a session's card shows ("" when
// none), and whether its image has loaded.
func shownQR(session string) string {
	return `(() => { const i = document.querySelector('section.session[data-session="` + session + `"] img.qr');
		return i && i.complete && i.naturalWidth > 0 ? i.dataset.qr : "" })()`
}

// scanWhenShown waits (up to 10 seconds) for the card to show a QR code
// other than before and scans it at once, as a phone does, through the
// fake's route; it answers the route's status.
func scanWhenShown(session, before string) string {
	return `(async () => {
		let code = "";
		for (let i = 0; i < 200 && (code === "" || code === ` + strconv.Quote(before) + `); i++) {
			await new Promise(r => setTimeout(r, 50));
			code = ` + shownQR(session) + `;
		}
		const r = await fetch("/plugins/notify-fake/scan", {method: "POST", headers: {"Content-Type": "application/json"},
			body: JSON.stringify({session: ` + strconv.Quote(session) + `, code})});
		return r.status;
	})()`
}

// postFrom posts a form from the page (same origin, with the session) and
// returns the answer's status.
func postFrom(t *testing.T, ctx context.Context, path string) int {
	t.Helper()
	return value(t, ctx, "post "+path, chromedp.Evaluate[int](`fetch(`+strconv.Quote(path)+`, {method: "POST", body: new URLSearchParams({phone: "", session: "x"}), redirect: "manual"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
}

// TestUIBrowserMessagingPairing: an operator pairs a session of a notify
// plugin from the messaging page: the session's page shows its QR code as
// an image, which changes as the code rotates; an old code is refused, the
// code shown is scanned, and the page shows the session connected without
// a reload, and stops reloading. A new session is paired from its form. A
// viewer sees the sessions without the codes and without a button, and
// the server refuses the viewer's and the operator's posts beyond their
// role; an admin logs the session out.
func TestUIBrowserMessagingPairing(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddNotifyFake("notify-fake", map[string]any{"sessions": []string{"main"}, "rotate_ms": 1500})
	h := newUIHost(t, func(t *testing.T, deps *web.Deps) { deps.Plugins = web.StartTestPlugins(t, d) })
	h.user(t, "otto", "correct horse battery", store.UserRoleOperator)
	h.user(t, "vera", "correct horse battery", store.UserRoleViewer)
	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	ctx := browser(t)
	signIn(t, ctx, h.url, "otto", "correct horse battery")

	click(t, ctx, "open the messaging page from the nav", `nav a[href="/messaging"]`)
	run(t, ctx, "wait for the session main", chromedp.WaitVisible(chromedp.CSS(`section.session[data-session="main"][data-status="disconnected"]`)))
	if n := value(t, ctx, "count logout buttons", chromedp.Evaluate[int](`document.querySelectorAll("button.logout").length`)); n != 0 {
		t.Errorf("an operator sees %d logout buttons; logging out is for admins", n)
	}
	click(t, ctx, "pair main", `section.session[data-session="main"] button.pair`)
	run(t, ctx, "wait for main's page", chromedp.WaitVisible(chromedp.CSS(`section.session[data-session="main"][data-status="pairing"] img.qr`)))
	waitJS(t, ctx, "wait for the QR code", shownQR("main")+` !== ""`)
	run(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	first := value(t, ctx, "read the QR code", chromedp.Evaluate[string](shownQR("main")))
	src := value(t, ctx, "read the image's link", chromedp.Evaluate[string](`document.querySelector("img.qr").getAttribute("src")`))
	if !strings.HasPrefix(first, "notifyfake:main:") || !strings.Contains(src, "/messaging/notify-fake/sessions/main/qr.png?v=") {
		t.Fatalf("QR code %q, image %q", first, src)
	}
	if got := text(t, ctx, `section.session[data-session="main"] .session-status`); got != "pairing: waiting for the phone" {
		t.Errorf("status %q while pairing", got)
	}
	screenshot(t, ctx, "messaging")

	// The code rotates; the page follows it with a new image.
	waitJS(t, ctx, "wait for the next QR code", shownQR("main")+` !== "" && `+shownQR("main")+` !== `+strconv.Quote(first))
	second := value(t, ctx, "read the QR code", chromedp.Evaluate[string](shownQR("main")))
	if src2 := value(t, ctx, "read the image's link", chromedp.Evaluate[string](`document.querySelector("img.qr").getAttribute("src")`)); src2 == src {
		t.Errorf("the QR code changed from %q to %q, the image's link stayed %q", first, second, src)
	}
	waitJS(t, ctx, "wait for a third QR code", shownQR("main")+` !== "" && `+shownQR("main")+` !== `+strconv.Quote(second))

	// The first code is too old now; the one shown connects the session.
	old := value(t, ctx, "scan the first code", chromedp.Evaluate[int](`fetch("/plugins/notify-fake/scan", {method: "POST", headers: {"Content-Type": "application/json"},
		body: JSON.stringify({session: "main", code: `+strconv.Quote(first)+`})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if old != http.StatusBadRequest {
		t.Errorf("scanning the first code after two rotations: %d; want 400", old)
	}
	third := value(t, ctx, "read the QR code", chromedp.Evaluate[string](shownQR("main")))
	if got := value(t, ctx, "scan the code shown", chromedp.Evaluate[int](scanWhenShown("main", third), chromedp.EvalAwaitPromise)); got != http.StatusOK {
		t.Fatalf("scanning the code shown: %d; want 200", got)
	}
	run(t, ctx, "wait for connected", chromedp.WaitVisible(chromedp.CSS(`section.session[data-session="main"][data-status="connected"]`)))
	if !value(t, ctx, "check the page was not reloaded", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Errorf("the page was reloaded; it should follow the pairing in place")
	}
	card := text(t, ctx, `section.session[data-session="main"]`)
	for _, want := range []string{"connected", "+6281200000001", "Connected since"} {
		if !strings.Contains(card, want) {
			t.Errorf("the connected card lacks %q:\n%s", want, card)
		}
	}
	if n := value(t, ctx, "count what still polls or shows a code", chromedp.Evaluate[int](`document.querySelectorAll("[hx-trigger], img.qr").length`)); n != 0 {
		t.Errorf("%d elements still poll or show a QR code after connecting", n)
	}
	screenshot(t, ctx, "messaging-connected")

	// A new session from the plugin's form.
	run(t, ctx, "open the messaging page", chromedp.Navigate(h.url+"/messaging"))
	run(t, ctx, "type the new session's name", chromedp.SendKeys(chromedp.CSS("#new-session-notify-fake-id"), "shop"))
	run(t, ctx, "type a local phone number", chromedp.SendKeys(chromedp.CSS("#new-session-notify-fake-phone"), "081234567890"))
	run(t, ctx, "pair the new session", chromedp.Submit(chromedp.CSS("#new-session-notify-fake")))
	run(t, ctx, "wait for the phone's error", chromedp.WaitVisible(chromedp.CSS("#new-session-notify-fake-phone-err")))
	if got := text(t, ctx, "#new-session-notify-fake-phone-err"); !strings.Contains(got, "+6281234567890") {
		t.Errorf("the phone's error says %q; want how to write it", got)
	}
	run(t, ctx, "correct the phone number", chromedp.SetValue(chromedp.CSS("#new-session-notify-fake-phone"), "+6281234567890"))
	run(t, ctx, "pair the new session again", chromedp.Submit(chromedp.CSS("#new-session-notify-fake")))
	run(t, ctx, "wait for its pairing code", chromedp.WaitVisible(chromedp.CSS(`section.session[data-session="shop"] .pairing-code`)))
	if code := text(t, ctx, ".pairing-code"); len(code) != 8 {
		t.Errorf("pairing code %q; want 8 characters", code)
	}
	screenshot(t, ctx, "messaging-pairing-code")
	if got := postFrom(t, ctx, "/messaging/notify-fake/sessions/main/logout"); got != http.StatusForbidden {
		t.Errorf("the operator's POST of a logout: %d; want 403", got)
	}

	// A viewer sees the sessions, no code and no button; the server
	// refuses the viewer's posts and the QR image.
	click(t, ctx, "sign out", "#signout")
	run(t, ctx, "wait for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))
	signIn(t, ctx, h.url, "vera", "correct horse battery")
	run(t, ctx, "open the messaging page", chromedp.Navigate(h.url+"/messaging"))
	run(t, ctx, "wait for the sessions", chromedp.WaitVisible(chromedp.CSS(`section.session[data-session="shop"][data-status="pairing"]`)))
	run(t, ctx, "open shop's page", chromedp.Navigate(h.url+"/messaging/notify-fake/sessions/shop"))
	run(t, ctx, "wait for its card", chromedp.WaitVisible(chromedp.CSS(`section.session[data-session="shop"][data-status="pairing"]`)))
	if n := value(t, ctx, "count codes and buttons", chromedp.Evaluate[int](`document.querySelectorAll("img.qr, .pairing-code, form.pair-form, form.new-session, button.logout").length`)); n != 0 {
		t.Errorf("a viewer sees %d codes or buttons", n)
	}
	for _, path := range []string{"/messaging/notify-fake/sessions/shop/pair", "/messaging/notify-fake/pair", "/messaging/notify-fake/sessions/main/logout"} {
		if got := postFrom(t, ctx, path); got != http.StatusForbidden {
			t.Errorf("the viewer's POST %s: %d; want 403", path, got)
		}
	}
	if got := value(t, ctx, "fetch the QR image", chromedp.Evaluate[int](`fetch("/messaging/notify-fake/sessions/shop/qr.png").then(r => r.status)`, chromedp.EvalAwaitPromise)); got != http.StatusForbidden {
		t.Errorf("the viewer's QR image: %d; want 403", got)
	}

	// An admin logs main out.
	click(t, ctx, "sign out", "#signout")
	run(t, ctx, "wait for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))
	signIn(t, ctx, h.url, "ana", "correct horse battery")
	run(t, ctx, "open main's page", chromedp.Navigate(h.url+"/messaging/notify-fake/sessions/main"))
	click(t, ctx, "log main out", `section.session[data-session="main"] button.logout`)
	run(t, ctx, "wait for logged out", chromedp.WaitVisible(chromedp.CSS(`section.session[data-session="main"][data-status="logged_out"]`)))
	if got := text(t, ctx, ".notice"); !strings.Contains(got, "main") {
		t.Errorf("notice %q after logging out", got)
	}
	run(t, ctx, "open the messaging page", chromedp.Navigate(h.url+"/messaging"))
	run(t, ctx, "wait for the sessions", chromedp.WaitVisible(chromedp.CSS(`section.session[data-session="main"][data-status="logged_out"]`)))
	screenshot(t, ctx, "messaging-list")

	// In Bahasa Indonesia, no English is left.
	run(t, ctx, "choose Bahasa Indonesia", chromedp.SetValue(chromedp.CSS("#lang"), "id"))
	run(t, ctx, "apply the language", chromedp.Submit(chromedp.CSS("#lang")))
	run(t, ctx, "wait for the Indonesian page", chromedp.WaitVisible(chromedp.CSS(`html[lang="id"] section.session[data-session="shop"]`)))
	body := text(t, ctx, "body")
	for _, w := range []string{"Messaging", "Pair", "Log out", "logged out", "waiting for the phone", "Session name", "Phone number", "sender sessions", "running"} {
		if strings.Contains(body, w) {
			t.Errorf("the messaging page in Indonesian still says %q:\n%s", w, body)
		}
	}
	screenshot(t, ctx, "messaging-id")
}
