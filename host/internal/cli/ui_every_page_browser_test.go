package cli

// Every page of the admin UI in a real browser against the whole host
// (serve, with the real mikrotik plugin on a fake router and payment-manual):
// in Bahasa Indonesia no English message of the catalog is left, every
// control has a label, the keyboard focus shows, and the main pages fit a
// 360-pixel phone. See ui_billing_browser_test.go for the browser helpers.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// pluginTexts are the strings of the bundled plugins' manifests (the
// settings form's titles, help and defaults, the manifest's description),
// longest first: the plugin's author wrote them, in English here, and
// the UI shows them as they are.
func pluginTexts(t *testing.T, names ...string) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for k, x := range v {
				out = append(out, k)
				walk(x)
			}
		}
	}
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "plugins", name, "plugin.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		walk(m)
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// uiHost is a whole host with something on every page: a plan, a paid
// customer on the fake router, an unpaid invoice, a viewer and an API
// token.
type uiHost struct {
	*routerHost
	base              string
	plan, cust, inv   int64
	unpaidCustomerRow string
}

func startUIHost(t *testing.T) *uiHost {
	t.Helper()
	rh := startRouterHost(t)
	h := &uiHost{routerHost: rh, base: "http://" + rh.addr}
	h.plan = rh.create("/api/v1/plans", map[string]any{"name": "Rumah 10M", "kind": "pppoe", "rate_limit": "5M/10M",
		"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true})
	h.cust = rh.create("/api/v1/customers", map[string]any{"name": "Andi Wijaya", "phone": "+6281200000001",
		"router_username": "andi", "router_password": "andi-rahasia-1", "location_id": rh.loc})
	rh.payByWebhook(h.cust, h.plan, "evt-ui-1")
	h.inv = rh.create("/api/v1/invoices", map[string]any{"customer_id": h.cust, "plan_id": h.plan})
	if code, raw := rh.api(http.MethodPost, "/api/v1/users", rh.tok, map[string]any{"username": "vera", "password": "viewer password 123", "role": "viewer"}, nil); code != http.StatusCreated {
		t.Fatalf("create vera: %d %s", code, raw)
	}
	return h
}

// setLanguage picks a language with the layout's switch.
func setLanguage(t *testing.T, ctx context.Context, lang string) {
	t.Helper()
	do(t, ctx, "choose "+lang, chromedp.SetValue(chromedp.CSS("#lang"), lang))
	do(t, ctx, "apply the language", chromedp.Submit(chromedp.CSS("#lang")))
	do(t, ctx, "wait for the page in "+lang, chromedp.WaitVisible(chromedp.CSS(`html[lang="`+lang+`"] main`)))
}

// shownJS collects what a person meets on the page: the title, the text
// (innerText: what is rendered, the screen readers' hidden text too) and
// the attributes read aloud or shown (aria-label, title, placeholder, alt,
// a button's value) or drawn (the charts' data-label-*, the alert
// region's data-*). What a plugin or the host's log reports, in whatever
// language it was written, is left out: code (the audit log's actions,
// resource types and metadata), what people typed (.user-text: a
// location's description), a plugin's health message and details, errors
// (pluginTexts takes out the manifests' texts).
const shownJS = `(() => {
  const skip = 'code, pre, .message, .details, .error, .last-error, .user-text';
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll(skip).forEach(e => e.remove());
  const holder = document.createElement('div');
  holder.style.position = 'absolute'; holder.style.left = '-99999px'; holder.style.width = '1200px';
  holder.appendChild(clone);
  document.documentElement.appendChild(holder);
  const out = [document.title, clone.innerText];
  holder.remove();
  document.querySelectorAll('*').forEach(e => {
    if (e.closest(skip)) return;
    for (const a of e.attributes) {
      if (['aria-label', 'title', 'placeholder', 'alt'].includes(a.name) || a.name.startsWith('data-label') ||
          ['data-refused', 'data-network', 'data-day'].includes(a.name) ||
          (a.name === 'value' && e.tagName === 'INPUT' && ['submit', 'button'].includes(e.type))) {
        out.push(a.value);
      }
    }
  });
  return out.join('\n');
})()`

// unlabelledJS lists the page's form controls that have no label: none of
// a label[for], a wrapping label, aria-label or aria-labelledby.
const unlabelledJS = `(() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(e => !['hidden', 'submit', 'button', 'reset', 'image'].includes(e.type))
  .filter(e => !(e.id && document.querySelector('label[for="' + CSS.escape(e.id) + '"]')) && !e.closest('label') &&
               !(e.getAttribute('aria-label') || '').trim() &&
               !(e.getAttribute('aria-labelledby') || '').split(/\s+/).some(id => id && document.getElementById(id)))
  .map(e => e.outerHTML.slice(0, 160)))()`

// englishLeft finds the English catalog messages that differ from their
// Indonesian ones in text: each message's words between its verbs (%s,
// %d), as whole words, case kept. Words that an Indonesian message uses
// too (a name such as "Bahasa Indonesia", "Plugin") prove nothing and are
// not looked for.
type englishLeft struct {
	phrases []*regexp.Regexp
}

func newEnglishLeft(t *testing.T) *englishLeft {
	t.Helper()
	en, id := ui.Messages("en"), ui.Messages("id")
	if len(en) < 100 || len(id) != len(en) {
		t.Fatalf("catalogs: %d English, %d Indonesian messages", len(en), len(id))
	}
	var idText strings.Builder
	for _, m := range id {
		idText.WriteString(m + "\n")
	}
	verb := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)
	seen := map[string]bool{}
	e := &englishLeft{}
	for key, m := range en {
		if m == id[key] {
			continue
		}
		for _, part := range verb.Split(m, -1) {
			part = strings.TrimFunc(part, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
			if strings.IndexFunc(part, unicode.IsLetter) < 0 || seen[part] {
				continue
			}
			seen[part] = true
			re := regexp.MustCompile(`(^|[^\p{L}\p{N}])` + regexp.QuoteMeta(part) + `($|[^\p{L}\p{N}])`)
			if re.MatchString(idText.String()) {
				continue
			}
			e.phrases = append(e.phrases, re)
		}
	}
	return e
}

// in returns the English phrases found in text.
func (e *englishLeft) in(text string) []string {
	var found []string
	for _, re := range e.phrases {
		if m := re.FindStringSubmatch(text); m != nil {
			found = append(found, strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(m[0], m[1]), m[2])))
		}
	}
	slices.Sort(found)
	return found
}

// TestUIBrowserEveryPageIndonesian: with the language switch set to
// Bahasa Indonesia, every page reachable from the navigation, every form
// and the forms' refusals show none of the English catalog's messages
// (those that differ from the Indonesian ones), and every form control on
// them has a label.
func TestUIBrowserEveryPageIndonesian(t *testing.T) {
	h := startUIHost(t)
	english := newEnglishLeft(t)
	theirs := pluginTexts(t, "payment-manual", "mikrotik")
	ctx := testenv.Browser(t, 6*time.Minute)
	uiSignIn(t, ctx, h.base, "admin", "correct horse battery")
	// The check itself: in English, the dashboard is full of them.
	if found := english.in(get(t, ctx, "read the English dashboard", chromedp.Evaluate[string](shownJS))); len(found) < 10 {
		t.Fatalf("the English dashboard has only %q of the English messages; the check is broken", found)
	}
	setLanguage(t, ctx, "id")

	check := func(what string) {
		t.Helper()
		shown := get(t, ctx, "read "+what, chromedp.Evaluate[string](shownJS))
		for _, s := range theirs {
			shown = strings.ReplaceAll(shown, s, "\x00")
		}
		if found := english.in(shown); len(found) > 0 {
			t.Errorf("%s in Indonesian shows English: %q\n%s", what, found, shown)
		}
		if bare := get(t, ctx, "look for controls without a label on "+what, chromedp.Evaluate[[]string](unlabelledJS)); len(bare) > 0 {
			t.Errorf("%s has controls without a label:\n%s", what, strings.Join(bare, "\n"))
		}
	}
	open := func(path, wait string) {
		t.Helper()
		do(t, ctx, "open "+path, chromedp.Navigate(h.base+path))
		do(t, ctx, "wait for "+path, chromedp.WaitVisible(chromedp.CSS(wait)))
		check(path)
	}

	// The navigation's pages, each with what it lists.
	nav := get(t, ctx, "read the navigation", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('header nav a')).map(a => a.getAttribute('href'))`))
	for _, want := range []string{"/", "/customers", "/invoices", "/plans", "/locations", "/routers", "/plugin", "/jobs", "/users", "/tokens", "/password"} {
		if !slices.Contains(nav, want) {
			t.Errorf("the navigation has no %s: %v", want, nav)
		}
	}
	for _, path := range nav {
		open(path, "main h1")
	}
	// The dashboard's live parts, once they have loaded.
	open("/", "#charts")
	// Forms and pages of one record.
	for _, path := range []string{"/plans/new", fmt.Sprintf("/plans/%d/edit", h.plan), "/customers/new", fmt.Sprintf("/customers/%d/edit", h.cust),
		fmt.Sprintf("/invoices/new?customer=%d", h.cust), fmt.Sprintf("/invoices/%d", h.inv), "/plugin/payment-manual", "/plugin/payment-manual/settings", "/plugin/mikrotik",
		"/routers?location=default", "/plugin/nowhere"} {
		open(path, "main h1")
	}

	// Refusals: the forms sent empty or wrong come back with their
	// messages next to the fields.
	refuse := func(path, form, errSel string, fill ...[2]string) {
		t.Helper()
		do(t, ctx, "open "+path, chromedp.Navigate(h.base+path))
		do(t, ctx, "wait for "+form, chromedp.WaitVisible(chromedp.CSS(form)))
		for _, f := range fill {
			do(t, ctx, "fill "+f[0], chromedp.SetValue(chromedp.CSS(f[0]), f[1]))
		}
		do(t, ctx, "send "+form, chromedp.Submit(chromedp.CSS(form)))
		do(t, ctx, "wait for the refusal", chromedp.WaitVisible(chromedp.CSS(errSel)))
		check(path + " refused")
	}
	refuse("/plans/new", "#plan-form", ".field-error")
	refuse("/customers/new", "#customer-form", ".field-error")
	refuse(fmt.Sprintf("/invoices/new?customer=%d", h.cust), "#invoice-form", ".field-error", [2]string{"#plan_id", ""})
	refuse("/locations", "#location-form", ".field-error")
	refuse("/users", "#user-form", "#password-err", [2]string{"#user-form #username", "siti"}, [2]string{"#user-form #password", "short"})
	refuse("/tokens", "#token-form", "#name-err")
	refuse("/password", "main form", ".problem", [2]string{"#current", "not my password"}, [2]string{"#new", "a new password 1234"}, [2]string{"#confirm", "a new password 1234"})
	refuse("/plugin/payment-manual/settings", "#settings-form", ".field-error", [2]string{`[name="confirm_secret"]`, "short"})
	shot(t, ctx, "plugin-settings-refused-id")

	// Signed out, the sign-in page and its refusal.
	click(t, ctx, "sign out", "#signout")
	do(t, ctx, "wait for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))
	check("the sign-in page")
	refuse("/signin", "main form", ".problem", [2]string{"#username", "admin"}, [2]string{"#password", "wrong password"})
}

// focusJS describes the keyboard focus: the focused element and its
// outline ("" when nothing is focused).
const focusJS = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return '';
  const s = getComputedStyle(e);
  return e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + s.outlineStyle + ' ' + s.outlineWidth;
})()`

// TestUIBrowserFocusAndPhoneWidth: the stylesheet has a :focus-visible
// rule with an outline, and moving through the page with Tab shows it on
// each element reached; on a 360-pixel-wide phone the dashboard, the
// customers, the invoices and the plugin pages (in both languages) fit
// the screen: nothing scrolls sideways.
func TestUIBrowserFocusAndPhoneWidth(t *testing.T) {
	h := startUIHost(t)
	ctx := testenv.Browser(t, 4*time.Minute)
	uiSignIn(t, ctx, h.base, "admin", "correct horse battery")

	rule := get(t, ctx, "find the :focus-visible rule", chromedp.Evaluate[string](`Array.from(document.styleSheets).flatMap(s => Array.from(s.cssRules))
	  .filter(r => r.selectorText && r.selectorText.includes(':focus-visible') && /outline\s*:[^;]*\b(solid|auto|dotted|dashed|double)\b/.test(r.cssText))
	  .map(r => r.cssText).join(' ')`))
	if rule == "" {
		t.Error("app.css has no :focus-visible rule with an outline")
	}
	for i := range 4 {
		do(t, ctx, "press Tab", chromedp.KeyEvent(kb.Tab))
		got := get(t, ctx, "read the focus", chromedp.Evaluate[string](focusJS))
		f := strings.Fields(got)
		if len(f) < 3 || f[len(f)-2] == "none" || f[len(f)-1] == "0px" {
			t.Errorf("after %d Tab presses the focus is on %q, without a visible outline", i+1, got)
		}
	}

	do(t, ctx, "narrow to a phone", chromedp.EmulateViewport(360, 740))
	pages := []struct{ path, wait string }{
		{"/", `#charts[data-drawn="true"]`},
		{"/customers", "#customers"},
		{"/invoices", "main h1"},
		{fmt.Sprintf("/invoices/%d", h.inv), "main h1"},
		{"/plugin", `tr[data-plugin="payment-manual"]`},
		{"/plugin/payment-manual", "#history canvas"},
		{"/plugin/payment-manual/settings", "#settings-form"},
	}
	for _, lang := range []string{"en", "id"} {
		if lang == "id" {
			setLanguage(t, ctx, "id")
		}
		for _, p := range pages {
			do(t, ctx, "open "+p.path, chromedp.Navigate(h.base+p.path))
			do(t, ctx, "wait for "+p.path, chromedp.WaitVisible(chromedp.CSS(p.wait)))
			if wide := get(t, ctx, "measure "+p.path, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); wide > 360 {
				t.Errorf("%s (%s) is %d pixels wide on a 360-pixel phone; too wide: %s", p.path, lang, wide, get(t, ctx, "find the wide elements", chromedp.Evaluate[string](
					`Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 360).slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`)))
			}
		}
	}
	shot(t, ctx, "plugin-phone-id")
}
