package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestUIBrowserAudit: an admin adds plans through their form; the audit
// jobs record them; the audit page finds them by action among older
// events, pages older and back newer, explains a time it cannot read
// beside its field, and its CSV link downloads the same search. A viewer
// has no audit entry in the nav, and the page refuses the viewer.
func TestUIBrowserAudit(t *testing.T) {
	var svc *billing.Service
	yesterday := time.Now().Add(-24 * time.Hour).UTC()
	h := newUIHost(t, withBilling(&svc, func(t *testing.T, db *store.Store) {
		// Older events: enough for a second page of plan actions.
		for i := range 100 {
			action := []string{"plan.updated", "customer.created"}[i%2]
			if _, err := db.Q().AppendAudit(context.Background(), &store.AuditEntry{EventID: fmt.Sprintf("old-%02d", i), OccurredAt: yesterday.Add(time.Duration(i) * time.Second),
				Actor: "user:budi", Action: action, ResourceType: "plan", ResourceID: fmt.Sprint(i), Metadata: map[string]string{"price": fmt.Sprint(1000 * i)}}); err != nil {
				t.Fatal(err)
			}
		}
	}))
	h.user(t, "ana", "correct horse battery", store.UserRoleAdmin)
	h.user(t, "vera", "correct horse battery", store.UserRoleViewer)
	ctx := browser(t)
	signIn(t, ctx, h.url, "ana", "correct horse battery")

	// Changes to find: three plans.
	plans := []string{"Home 10M", "Home 20M", "Day pass"}
	for _, name := range plans {
		run(t, ctx, "open the new plan form", chromedp.Navigate(h.url+"/plans/new"))
		run(t, ctx, "wait for the plan form", chromedp.WaitVisible(chromedp.CSS("#plan-form")))
		run(t, ctx, "type the plan's name", chromedp.SendKeys(chromedp.CSS("#name"), name))
		run(t, ctx, "set the price", chromedp.SetValue(chromedp.CSS("#price"), "150000"))
		run(t, ctx, "set the currency", chromedp.SetValue(chromedp.CSS("#currency"), "IDR"))
		run(t, ctx, "set the validity", chromedp.SetValue(chromedp.CSS("#validity"), "30"))
		run(t, ctx, "in days", chromedp.SetValue(chromedp.CSS("#validity_unit"), "days"))
		run(t, ctx, "save the plan", chromedp.Submit(chromedp.CSS("#plan-form")))
		run(t, ctx, "wait for the plan list", chromedp.WaitVisible(chromedp.CSS("#plans")))
	}
	sdktest.WaitFor(t, 30*time.Second, "the plans' audit events", func() bool {
		list, err := h.db.Q().SearchAudit(context.Background(), store.AuditFilter{Action: "plan.created"}, store.AuditCursor{}, false, 10)
		return err == nil && len(list) == len(plans)
	})

	// Search by action: the new plans first, then the older plan events.
	click(t, ctx, "open the audit page", `nav a[href="/audit"]`)
	run(t, ctx, "wait for the search form", chromedp.WaitVisible(chromedp.CSS("#audit-search")))
	if got := text(t, ctx, "#audit-source"); !strings.Contains(got, "host's audit log") {
		t.Errorf("the page says %q; want that the host's log answered", got)
	}
	run(t, ctx, "type the action", chromedp.SendKeys(chromedp.CSS("#action"), "plan."))
	click(t, ctx, "search", "#audit-submit")
	// The answer's form holds the action as sent (the attribute, not
	// what was typed into the page before).
	run(t, ctx, "wait for the results", chromedp.WaitVisible(chromedp.CSS(`#action[value="plan."]`)))
	if loc := value(t, ctx, "read the location", chromedp.Location()); !strings.Contains(loc, "action=plan.") {
		t.Errorf("the search is at %s; want its filters in the link", loc)
	}
	rowActions := func() []string {
		return value(t, ctx, "read the rows", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#audit tr[data-event]')).map(r => r.dataset.action)`))
	}
	first := rowActions()
	if len(first) != 50 {
		t.Fatalf("the first page has %d rows; want 50", len(first))
	}
	for i, a := range first {
		if (i < 3) != (a == "plan.created") || !strings.HasPrefix(a, "plan.") {
			t.Errorf("row %d is %q; want the 3 new plans first, then plan updates", i+1, a)
		}
	}
	newest := text(t, ctx, `#audit tr[data-event]`)
	for _, want := range []string{"user:ana", "plan.created", "plan", "success", "Day pass"} {
		if !strings.Contains(newest, want) {
			t.Errorf("the newest row %q lacks %q", newest, want)
		}
	}
	screenshot(t, ctx, "audit")

	// 53 plan events: the older page has the 3 oldest plan updates.
	click(t, ctx, "go older", "#older")
	run(t, ctx, "wait for the older page", chromedp.WaitVisible(chromedp.CSS("#newer")))
	if older := rowActions(); strings.Join(older, ",") != "plan.updated,plan.updated,plan.updated" {
		t.Errorf("the older page: %q; want the 3 oldest plan updates", older)
	}
	if n := value(t, ctx, "look for an older link", chromedp.Evaluate[int](`document.querySelectorAll('#older').length`)); n != 0 {
		t.Error("the last page links an older one")
	}
	click(t, ctx, "go newer", "#newer")
	run(t, ctx, "wait for the newest page", chromedp.WaitVisible(chromedp.CSS(`#audit tr[data-action="plan.created"]`)))
	if back := rowActions(); strings.Join(back, ",") != strings.Join(first, ",") {
		t.Errorf("back newer: %d rows; want the first page again", len(back))
	}

	// On a 360-pixel phone the page fits; the table scrolls in its box.
	run(t, ctx, "narrow to a phone", chromedp.EmulateViewport(360, 780))
	run(t, ctx, "reload", chromedp.Reload())
	run(t, ctx, "wait for the results", chromedp.WaitVisible(chromedp.CSS(`#audit tr[data-action="plan.created"]`)))
	if wide := value(t, ctx, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); wide > 360 {
		t.Errorf("the audit page is %d pixels wide on a 360-pixel phone", wide)
	}
	screenshot(t, ctx, "audit-phone")
	run(t, ctx, "widen again", chromedp.EmulateViewport(1280, 900))

	// The CSV link downloads this search.
	href := value(t, ctx, "read the CSV link", chromedp.Evaluate[string](`document.querySelector('#export-csv').getAttribute('href')`))
	csv := value(t, ctx, "download the CSV", chromedp.Evaluate[string](
		`fetch(document.querySelector('#export-csv').href).then(r => r.text().then(body => [r.headers.get('Content-Type'), r.headers.get('Content-Disposition'), body].join('\n')))`, chromedp.EvalAwaitPromise))
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if !strings.Contains(href, "action=plan.") || len(lines) < 3 || lines[0] != "text/csv; charset=utf-8" || !strings.HasPrefix(lines[1], "attachment;") {
		t.Fatalf("the CSV at %s: %.500s", href, csv)
	}
	rows := lines[3:] // after the content type, the disposition and the header
	if lines[2] != "occurred_at,event_id,actor,action,resource_type,resource_id,outcome,metadata,id,sequence,hash" || len(rows) != 53 {
		t.Errorf("the CSV has header %q and %d rows; want 53 plan events", lines[2], len(rows))
	}
	for _, row := range rows {
		if !strings.Contains(row, ",plan.") {
			t.Errorf("a CSV row that is not a plan action: %s", row)
		}
	}

	// A time it cannot read, explained beside its field.
	run(t, ctx, "type a time", chromedp.SendKeys(chromedp.CSS("#from"), "last tuesday"))
	click(t, ctx, "search", "#audit-submit")
	run(t, ctx, "wait for the field's error", chromedp.WaitVisible(chromedp.CSS("#from-err")))
	if got := text(t, ctx, "#from-err"); !strings.Contains(got, "not a time") || !strings.Contains(got, "2026-01-31 14:30") {
		t.Errorf("the error beside From says %q; want what to write", got)
	}
	if got := value(t, ctx, "read the action kept", chromedp.Value(chromedp.CSS("#action"))); got != "plan." {
		t.Errorf("the refused search lost the action: %q", got)
	}
	screenshot(t, ctx, "audit-refused")

	// A viewer: no nav entry, and the page refused.
	click(t, ctx, "sign out", "#signout")
	run(t, ctx, "wait for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))
	signIn(t, ctx, h.url, "vera", "correct horse battery")
	if n := value(t, ctx, "look for the audit entry", chromedp.Evaluate[int](`document.querySelectorAll('nav a[href="/audit"]').length`)); n != 0 {
		t.Error("a viewer's nav links the audit page")
	}
	run(t, ctx, "open the audit page", chromedp.Navigate(h.url+"/audit"))
	if got := text(t, ctx, "main"); !strings.Contains(got, "Your role may not do this") {
		t.Errorf("a viewer on /audit sees %q", got)
	}
}
