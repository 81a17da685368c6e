package web

// Searching the audit log: GET /api/v1/audit's filters and keyset
// cursors, its export as CSV and JSON Lines (streamed), the audit page,
// their roles, and both with an audit plugin (served with sdktest) that
// answers instead of the host's log.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// auditStart is when the seeded events start: 2 May 2026, 09:00 UTC.
var auditStart = time.Date(2026, 5, 2, 9, 0, 0, 0, time.UTC)

// seedAuditEvents are n events, two per second (pages end between events
// of the same time), with actions plan.created, plan.updated,
// customer.created and invoice.paid in turn, by two users, every third
// one failed. The first has an actor a spreadsheet would run.
func seedAuditEvents(n int) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = audit.Event{ID: fmt.Sprintf("ev-%04d", i), Time: auditStart.Add(time.Duration(i/2) * time.Second),
			Actor:  []string{"user:ana", "user:budi"}[i%2],
			Action: []string{"plan.created", "plan.updated", "customer.created", "invoice.paid"}[i%4], ResourceType: "plan", ResourceID: fmt.Sprint(i % 3),
			Outcome: []audit.Outcome{"success", "success", "failure"}[i%3], Metadata: map[string]string{"n": fmt.Sprint(i), "name": "Home 10M"}}
	}
	out[0].Actor = "=HYPERLINK(\"http://evil.example\")"
	return out
}

// keepAudit records the events in the host's log, as the audit job does.
func keepAudit(t *testing.T, db *store.Store, events []audit.Event) {
	t.Helper()
	for _, e := range events {
		if _, err := db.Q().AppendAudit(context.Background(), &store.AuditEntry{EventID: e.ID, OccurredAt: e.Time, Actor: e.Actor, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, Outcome: string(e.Outcome), Metadata: e.Metadata}); err != nil {
			t.Fatal(err)
		}
	}
}

// newestIDs are the ids of the events keep keeps, newest first.
func newestIDs(events []audit.Event, keep func(audit.Event) bool) []string {
	var out []string
	for i := len(events) - 1; i >= 0; i-- {
		if keep(events[i]) {
			out = append(out, events[i].ID)
		}
	}
	return out
}

// auditAnswer is GET /api/v1/audit's answer.
type auditAnswer struct {
	Items []struct {
		ID         int64     `json:"id"`
		EventID    string    `json:"event_id"`
		OccurredAt time.Time `json:"occurred_at"`
		Actor      string    `json:"actor"`
		Action     string    `json:"action"`
		Sequence   uint64    `json:"sequence"`
		Hash       string    `json:"hash"`
	} `json:"items"`
	Limit  int     `json:"limit"`
	Source string  `json:"source"`
	Older  *string `json:"older"`
	Newer  *string `json:"newer"`
}

// get requests path as role and returns the answer.
func get(t *testing.T, h http.Handler, path, role string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// search asks GET /api/v1/audit as an admin for a 200 answer.
func search(t *testing.T, h http.Handler, query string) auditAnswer {
	t.Helper()
	w := get(t, h, "/api/v1/audit?"+query, RoleAdmin)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/audit?%s: %d %s", query, w.Code, w.Body)
	}
	var a auditAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a auditAnswer) ids() []string {
	out := make([]string, 0, len(a.Items))
	for _, it := range a.Items {
		out = append(out, it.EventID)
	}
	return out
}

// walkAPI pages a search older to the end, then newer back to the top,
// checking each newer page against the page it went back to, and returns
// the ids in order.
func walkAPI(t *testing.T, h http.Handler, query string) []string {
	t.Helper()
	var pages []auditAnswer
	cursor := ""
	for {
		q := query
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		a := search(t, h, q)
		pages = append(pages, a)
		if a.Older == nil {
			break
		}
		cursor = *a.Older
	}
	var ids []string
	for _, p := range pages {
		ids = append(ids, p.ids()...)
	}
	for i := len(pages) - 1; i > 0; i-- {
		if pages[i].Newer == nil {
			t.Fatalf("%s: page %d has no newer cursor", query, i+1)
		}
		back := search(t, h, query+"&cursor="+*pages[i].Newer)
		if diff := cmp.Diff(pages[i-1].ids(), back.ids()); diff != "" {
			t.Errorf("%s: newer than page %d (-want +got):\n%s", query, i+1, diff)
		}
	}
	if pages[0].Newer != nil {
		t.Errorf("%s: the first page has a newer cursor", query)
	}
	return ids
}

// TestAuditSearchAPI: GET /api/v1/audit filters by actor, action (whole
// or a prefix), resource, outcome and time, pages by keyset cursors both
// ways across events of the same time, refuses what it cannot read with a
// message per field, and is for admins.
func TestAuditSearchAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.Store) {
		h := matrixServerOn(t, db, nil).Handler()
		events := seedAuditEvents(45)
		keepAudit(t, db, events)
		at := func(s int) time.Time { return auditStart.Add(time.Duration(s) * time.Second) }
		for _, c := range []struct {
			query string
			keep  func(audit.Event) bool
		}{
			{"limit=7", func(audit.Event) bool { return true }},
			{"limit=4&actor=user:budi", func(e audit.Event) bool { return e.Actor == "user:budi" }},
			{"limit=4&action=plan.updated", func(e audit.Event) bool { return e.Action == "plan.updated" }},
			{"limit=4&action=plan.", func(e audit.Event) bool { return strings.HasPrefix(e.Action, "plan.") }},
			{"limit=4&resource_type=plan&resource_id=2", func(e audit.Event) bool { return e.ResourceID == "2" }},
			{"limit=4&outcome=failure", func(e audit.Event) bool { return e.Outcome == "failure" }},
			{"limit=3&from=2026-05-02T09:00:05Z&to=2026-05-02T09:00:12Z", func(e audit.Event) bool { return !e.Time.Before(at(5)) && e.Time.Before(at(12)) }},
			{"limit=50&from=2026-05-02+09:00:20&to=2026-05-02", func(e audit.Event) bool { return !e.Time.Before(at(20)) }},
		} {
			got := walkAPI(t, h, c.query)
			if diff := cmp.Diff(newestIDs(events, c.keep), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", c.query, diff)
			}
		}
		if a := search(t, h, "actor=nobody"); a.Source != billing.AuditFromHost || a.Items == nil || len(a.Items) != 0 || a.Limit != 50 {
			t.Errorf("an empty search: %+v; want no items from the host, limit 50", a)
		}

		for _, c := range []struct {
			query string
			want  map[string]string // field -> part of its message
		}{
			{"from=yesterday", map[string]string{"from": `"yesterday" is not a time: write "2026-01-31"`}},
			{"from=2026-05-03&to=2026-05-02", map[string]string{"to": `make "to" later than "from"`}},
			{"outcome=ok&limit=501", map[string]string{"outcome": `"success", "failure"`, "limit": "from 1 to 500"}},
			{"offset=10", map[string]string{"offset": "?cursor="}},
			{"cursor=bm90IGEgY3Vyc29y", map[string]string{"cursor": "search again from the first page"}},
		} {
			w := get(t, h, "/api/v1/audit?"+c.query, RoleAdmin)
			var e struct {
				Error struct {
					Code    string
					Details map[string]string
				}
			}
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != http.StatusUnprocessableEntity || e.Error.Code != "validation_failed" || len(e.Error.Details) != len(c.want) {
				t.Errorf("%s: %d %s; want 422 on %v", c.query, w.Code, w.Body, c.want)
				continue
			}
			for f, part := range c.want {
				if !strings.Contains(e.Error.Details[f], part) {
					t.Errorf("%s: details.%s = %q; want it to say %q", c.query, f, e.Error.Details[f], part)
				}
			}
		}
		if a := search(t, h, "offset=0&limit=2"); len(a.Items) != 2 {
			t.Errorf("offset=0: %d items", len(a.Items))
		}

		for _, path := range []string{"/api/v1/audit", "/api/v1/audit/export?format=csv", "/audit"} {
			for role, want := range map[string]int{"": http.StatusUnauthorized, RoleViewer: http.StatusForbidden, RoleOperator: http.StatusForbidden} {
				if path == "/audit" && role == "" {
					want = http.StatusSeeOther // the sign-in page
				}
				if w := get(t, h, path, role); w.Code != want {
					t.Errorf("GET %s as %q: %d; want %d", path, role, w.Code, want)
				}
			}
		}
	})
}

// TestAuditExportAPI: GET /api/v1/audit/export writes every event of a
// search, newest first, as CSV (a header, metadata as JSON, no cell a
// spreadsheet would run) or JSON Lines (the API's records), as a download
// that says which log answered; a wrong format is refused with the
// filters' problems.
func TestAuditExportAPI(t *testing.T) {
	db := storetest.SQLite(t)
	h := matrixServerOn(t, db, nil).Handler()
	events := seedAuditEvents(1100) // more than two of the export's batches
	keepAudit(t, db, events)

	w := get(t, h, "/api/v1/audit/export?format=csv&action=plan.", RoleAdmin)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" || w.Header().Get("X-Audit-Source") != "host" ||
		!regexp.MustCompile(`^attachment; filename="audit-\d{8}-\d{6}\.csv"$`).MatchString(w.Header().Get("Content-Disposition")) {
		t.Fatalf("CSV export: %d %v %.300s", w.Code, w.Header(), w.Body)
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"occurred_at", "event_id", "actor", "action", "resource_type", "resource_id", "outcome", "metadata", "id", "sequence", "hash"}, rows[0]); diff != "" {
		t.Errorf("CSV header (-want +got):\n%s", diff)
	}
	var got []string
	for _, row := range rows[1:] {
		got = append(got, row[1])
	}
	if diff := cmp.Diff(newestIDs(events, func(e audit.Event) bool { return strings.HasPrefix(e.Action, "plan.") }), got); diff != "" {
		t.Errorf("CSV rows (-want +got):\n%s", diff)
	}
	last := rows[len(rows)-1] // ev-0000, the oldest
	if last[0] != "2026-05-02T09:00:00Z" || last[2] != `'=HYPERLINK("http://evil.example")` || last[3] != "plan.created" || last[7] != `{"n":"0","name":"Home 10M"}` || last[8] == "" {
		t.Errorf("the oldest row %q; want its time in UTC, the actor defused with a ', metadata as JSON and the host's id", last)
	}

	w = get(t, h, "/api/v1/audit/export?format=jsonl&actor=user:budi&outcome=failure", RoleAdmin)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/x-ndjson; charset=utf-8" {
		t.Fatalf("JSON Lines export: %d %v", w.Code, w.Header())
	}
	got = nil
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		var rec billing.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v: %s", len(got)+1, err, sc.Bytes())
		}
		if rec.Actor != "user:budi" || rec.Outcome != "failure" || rec.Metadata["name"] != "Home 10M" {
			t.Errorf("line %d: %+v", len(got)+1, rec)
		}
		got = append(got, rec.EventID)
	}
	if want := newestIDs(events, func(e audit.Event) bool { return e.Actor == "user:budi" && e.Outcome == "failure" }); !slices.Equal(want, got) {
		t.Errorf("JSON Lines: %d lines; want %d", len(got), len(want))
	}

	w = get(t, h, "/api/v1/audit/export?format=xlsx&from=later", RoleAdmin)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `"format": "\"csv\" or \"jsonl\"`) || !strings.Contains(w.Body.String(), `"from"`) {
		t.Errorf("a wrong format: %d %s; want 422 naming format and from", w.Code, w.Body)
	}
}

// firstWrite records how many queries the audit plugin had answered when
// the response's first bytes were written.
type firstWrite struct {
	*httptest.ResponseRecorder
	log     *testutil.AuditLog
	queries int
}

func (w *firstWrite) Write(p []byte) (int, error) {
	if w.queries == 0 {
		w.queries = len(w.log.Queries())
	}
	return w.ResponseRecorder.Write(p)
}

// TestAuditFromThePlugin: with an audit plugin running (served in the test
// over real gRPC), the API, its export and the audit page answer from the
// plugin's log, through its Query, and say so; the export starts writing
// before it has read the whole log.
func TestAuditFromThePlugin(t *testing.T) {
	db := storetest.SQLite(t)
	log := &testutil.AuditLog{MaxPageSize: 100}
	sink := sdktest.Serve(t, log).Audit()
	events := seedAuditEvents(1200)
	for i := 0; i < len(events); i += 300 {
		if _, err := sink.Append(context.Background(), &audit.AppendRequest{Events: events[i : i+300]}); err != nil {
			t.Fatal(err)
		}
	}
	// The host's log holds other events: what answers is the plugin.
	keepAudit(t, db, []audit.Event{{ID: "host-only", Time: auditStart, Actor: "user:budi", Action: "plan.created"}})
	h := matrixServerOn(t, db, testutil.Plugins{AuditSink: sink}).Handler()

	a := search(t, h, "actor=user:budi&limit=5")
	if a.Source != billing.AuditFromPlugin || len(a.Items) != 5 || a.Items[0].EventID != "ev-1199" || a.Items[0].Sequence != 1200 || a.Items[0].Hash == "" || a.Items[0].ID != 0 {
		t.Errorf("the first page: %+v; want the plugin's newest 5 of user:budi with their place in its chain", a)
	}
	if got := walkAPI(t, h, "actor=user:budi&action=plan.&limit=50&to=2026-05-02T09:02:00Z"); !slices.Equal(got, newestIDs(events, func(e audit.Event) bool {
		return e.Actor == "user:budi" && strings.HasPrefix(e.Action, "plan.") && e.Time.Before(auditStart.Add(2*time.Minute))
	})) {
		t.Errorf("the plugin's pages: %q", got)
	}
	var asked bool
	for _, q := range log.Queries() {
		asked = asked || (q.Actor == "user:budi" && q.Descending && q.Until.Equal(auditStart.Add(2*time.Minute)))
	}
	if !asked {
		t.Errorf("the plugin was never asked for user:budi's events, newest first, until 09:02: %+v", log.Queries())
	}

	// The export streams: its first bytes go out after a batch, long
	// before the plugin has been asked for the whole log.
	before := len(log.Queries())
	req := httptest.NewRequest(http.MethodGet, "/api/v1/audit/export?format=csv", nil)
	req.Header.Set("X-Test-Role", RoleAdmin)
	w := &firstWrite{ResponseRecorder: httptest.NewRecorder(), log: log}
	h.ServeHTTP(w, req)
	total := len(log.Queries()) - before
	if w.Code != http.StatusOK || w.Header().Get("X-Audit-Source") != "plugin" || bytes.Count(w.Body.Bytes(), []byte("\n")) != 1201 {
		t.Fatalf("export: %d %v, %d lines", w.Code, w.Header(), bytes.Count(w.Body.Bytes(), []byte("\n")))
	}
	if first := w.queries - before; first >= total || total < 12 {
		t.Errorf("the export wrote its first bytes after %d of its %d queries; want it to stream as it reads", first, total)
	}

	// The page.
	w2 := get(t, h, "/audit?actor=user:budi", RoleAdmin)
	body := w2.Body.String()
	if w2.Code != http.StatusOK || !strings.Contains(body, `data-source="plugin"`) || !strings.Contains(body, "Answered by the audit plugin.") ||
		strings.Count(body, "<tr data-event=") != 50 || strings.Contains(body, `data-event="host-only"`) || !strings.Contains(body, `data-event="ev-1199"`) {
		t.Errorf("the audit page: %d %.2000s", w2.Code, body)
	}
	older := olderRE.FindStringSubmatch(body)
	if older == nil {
		t.Fatal("the page has no older link")
	}
	w2 = get(t, h, html.UnescapeString(older[1]), RoleAdmin)
	if body := w2.Body.String(); w2.Code != http.StatusOK || !strings.Contains(body, `data-event="ev-1099"`) || !strings.Contains(body, `id="newer"`) {
		t.Errorf("the older page: %d %.2000s", w2.Code, body)
	}
}

var (
	olderRE = regexp.MustCompile(`href="([^"]+)" rel="next" id="older"`)
	newerRE = regexp.MustCompile(`href="([^"]+)" rel="prev" id="newer"`)
	rowRE   = regexp.MustCompile(`<tr data-event="([^"]+)"`)
)

// TestAuditPage: the page searches with the filters in its link, pages
// older and newer, links the exports of the same search, writes times in
// the reader's language, and explains refused filters next to their
// fields.
func TestAuditPage(t *testing.T) {
	db := storetest.SQLite(t)
	h := matrixServerOn(t, db, nil).Handler()
	events := seedAuditEvents(130)
	keepAudit(t, db, events)

	// Older to the end, newer back to the top.
	var pages [][]string
	path := "/audit?action=plan.&resource_type=plan"
	for path != "" {
		w := get(t, h, path, RoleAdmin)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %.500s", path, w.Code, body)
		}
		var ids []string
		for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		pages = append(pages, ids)
		if len(pages) == 1 {
			for _, want := range []string{`data-source="host"`, "no audit plugin is running", `value="plan."`, `href="/api/v1/audit/export?action=plan.&amp;format=csv&amp;resource_type=plan"`,
				`href="/api/v1/audit/export?action=plan.&amp;format=jsonl&amp;resource_type=plan"`, `<a href="/audit" aria-current="page">Audit log</a>`} {
				if !strings.Contains(body, want) {
					t.Errorf("the first page lacks %s", want)
				}
			}
		}
		path = ""
		if m := olderRE.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
			if !strings.Contains(path, "action=plan.") {
				t.Errorf("the older link %s loses the filters", path)
			}
		}
		if m := newerRE.FindStringSubmatch(body); (m == nil) != (len(pages) == 1) {
			t.Errorf("page %d: newer link %v", len(pages), m)
		}
	}
	if diff := cmp.Diff(newestIDs(events, func(e audit.Event) bool { return strings.HasPrefix(e.Action, "plan.") }), slices.Concat(pages...)); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	if len(pages) != 2 || len(pages[0]) != 50 {
		t.Errorf("%d pages; want 2, the first of 50", len(pages))
	}

	// Times in the reader's language, in the host's zone.
	req := httptest.NewRequest(http.MethodGet, "/audit?actor=user:ana&to=2026-05-02T09:00:05Z", nil)
	req.Header.Set("X-Test-Role", RoleAdmin)
	req.Header.Set("Accept-Language", "id-ID,id")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	when := auditStart.Add(time.Second).Local() // ev-0002, user:ana's oldest
	want := fmt.Sprintf(`<time datetime="2026-05-02T09:00:01Z">%d Mei 2026 %02d.%02d.01 %s</time>`, when.Day(), when.Hour(), when.Minute(), when.Format("MST"))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) || !strings.Contains(w.Body.String(), "Dijawab oleh log audit host") {
		t.Errorf("in Indonesian: %d, want %s in %.3000s", w.Code, want, w.Body)
	}
	// A time typed without a zone is the host's; the export links carry
	// the instant the page read, with its zone, for the API reads such a
	// time in UTC.
	to := time.Date(2026, 5, 2, 23, 0, 0, 0, time.Local).Format(time.RFC3339)
	if body := get(t, h, "/audit?to=2026-05-02+23:00", RoleAdmin).Body.String(); !strings.Contains(body, `format=csv&amp;to=`+url.QueryEscape(to)) {
		t.Errorf("the export links lack to=%s: %.3000s", to, body)
	}

	// Refused filters, each beside its field, the form kept.
	w = get(t, h, "/audit?from=last+tuesday&actor=user:ana", RoleAdmin)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="from-err">This is not a time: write a date (2026-01-31)`) ||
		!strings.Contains(body, `value="last tuesday"`) || !strings.Contains(body, `aria-invalid="true"`) || strings.Contains(body, `id="audit"`) {
		t.Errorf("an unreadable time: %d %.3000s", w.Code, body)
	}
	w = get(t, h, "/audit?from=2026-05-03&to=2026-05-02", RoleAdmin)
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="to-err">To must be later than From.`) {
		t.Errorf("from after to: %d %.3000s", w.Code, body)
	}
	w = get(t, h, "/audit?cursor=bm9wZQ", RoleAdmin)
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, "This page link no longer works") {
		t.Errorf("a broken cursor: %d %.3000s", w.Code, body)
	}

	// The nav shows the page to admins only.
	for role, want := range map[string]bool{RoleAdmin: true, RoleOperator: false, RoleViewer: false} {
		if got := strings.Contains(get(t, h, "/", role).Body.String(), `href="/audit"`); got != want {
			t.Errorf("the nav for %s links the audit page: %v", role, got)
		}
	}
}
