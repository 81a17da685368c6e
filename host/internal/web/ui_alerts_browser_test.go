package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// apiPost posts JSON to the host's API (with a bearer token when tok is
// set) and returns the status and the decoded answer.
func apiPost(t *testing.T, base, path, tok string, body any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// TestUIBrowserRefusedActionIsShown: an admin has a plugin's page open
// when someone else disables the plugin through the API; the page still
// offers Restart, and pressing it is refused (422): the page says so in
// its alert region, in words, instead of nothing happening. Then the host
// goes away and a button pressed says the host cannot be reached.
func TestUIBrowserRefusedActionIsShown(t *testing.T) {
	h := newUIHost(t)
	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	h.user(t, "budi", "another horse battery", store.UserRoleAdmin)
	ctx := browser(t)
	signIn(t, ctx, h.url, "ana", "correct horse battery")
	run(t, ctx, "open the plugin's page", chromedp.Navigate(h.url+"/plugin/payment-brief"))
	run(t, ctx, "wait for it running", chromedp.WaitVisible(chromedp.CSS(`#status.state-running button.restart`)))
	if got := text(t, ctx, "#flash"); got != "" {
		t.Fatalf("the alert region says %q before anything failed", got)
	}
	// The page as the operator saw it when they pressed: its status poll is
	// held, so the button is still there after the plugin's change.
	run(t, ctx, "hold the page's polling", chromedp.Evaluate[chromedp.Void](
		`document.body.addEventListener('htmx:beforeRequest', e => { if (e.detail.requestConfig.verb === 'get') e.preventDefault() })`))

	// Another admin disables the plugin through the API.
	code, login := apiPost(t, h.url, "/api/v1/auth/login", "", map[string]string{"username": "budi", "password": "another horse battery"})
	tok, _ := login["token"].(string)
	if code != http.StatusOK || tok == "" {
		t.Fatalf("budi's sign-in: %d %v", code, login)
	}
	if code, out := apiPost(t, h.url, "/api/v1/plugins/payment-brief/disable", tok, nil); code != http.StatusOK {
		t.Fatalf("disable through the API: %d %v", code, out)
	}

	click(t, ctx, "press restart", `#status button.restart`)
	run(t, ctx, "wait for the alert", chromedp.WaitVisible(chromedp.CSS(`#flash p`)))
	want := "This cannot be done as things are now (they may have changed since the page was shown). Reload the page to see how things are now."
	if got := text(t, ctx, "#flash"); !strings.HasPrefix(got, want+" Request id: ") {
		t.Errorf("after the refused restart the alert says %q; want %q and the request's id", got, want)
	}
	if got := text(t, ctx, "#status .state"); !strings.HasPrefix(got, "running") {
		t.Errorf("the refused answer replaced the status: %q", got)
	}
	if role := value(t, ctx, "read the region's role", chromedp.Evaluate[string](`document.querySelector('#flash').getAttribute('role') + ' ' + document.querySelector('#flash').getAttribute('aria-live')`)); role != "alert assertive" {
		t.Errorf("the alert region is %q; want role alert, aria-live assertive", role)
	}
	screenshot(t, ctx, "plugin-refused")

	// The host is gone: the next press cannot reach it.
	h.srv.Close()
	click(t, ctx, "press disable", `#status button.disable`)
	waitJS(t, ctx, "wait for the network alert", `document.querySelector('#flash').textContent.includes('could not be reached')`)
	if got := text(t, ctx, "#flash"); got != "The host could not be reached. Check the connection, then try again." {
		t.Errorf("with the host gone the alert says %q", got)
	}
}
