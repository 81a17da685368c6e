package billing_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// auditEvents are n events a minute apart from start, as the audit job
// records them: actions plan.created, plan.updated, planet.seen and
// invoice.paid in turn, by two users, every third one failed.
func auditEvents(n int, start time.Time) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = audit.Event{ID: fmt.Sprintf("ev-%03d", i), Time: start.Add(time.Duration(i) * time.Minute),
			Actor:  []string{"user:ana", "user:budi"}[i%2],
			Action: []string{"plan.created", "plan.updated", "planet.seen", "invoice.paid"}[i%4], ResourceType: "plan", ResourceID: fmt.Sprint(i % 5),
			Outcome: []audit.Outcome{"success", "success", "failure"}[i%3], Metadata: map[string]string{"n": fmt.Sprint(i)}}
	}
	return out
}

// recordIn keeps the events in the host's log, and in the plugin's when
// sink is not nil, as the audit job does.
func recordIn(t *testing.T, st *store.Store, sink audit.Sink, events []audit.Event) {
	t.Helper()
	ctx := context.Background()
	for _, e := range events {
		if sink != nil {
			if _, err := sink.Append(ctx, &audit.AppendRequest{Events: []audit.Event{e}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Q().AppendAudit(ctx, &store.AuditEntry{EventID: e.ID, OccurredAt: e.Time, Actor: e.Actor, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, Outcome: string(e.Outcome), Metadata: e.Metadata, Delivered: sink != nil}); err != nil {
			t.Fatal(err)
		}
	}
}

// eventIDs are the event ids of records.
func eventIDs(records []billing.AuditRecord) []string {
	out := make([]string, 0, len(records))
	for _, r := range records {
		out = append(out, r.EventID)
	}
	return out
}

// walkAudit pages through a search older and older, then newer and newer
// back to the top, and returns the ids in order, each page's size, and
// the sources that answered.
func walkAudit(t *testing.T, svc *billing.Service, q billing.AuditQuery) (ids []string, sizes []int, sources []string) {
	t.Helper()
	ctx := context.Background()
	var pages []*billing.AuditPage
	for {
		p, err := svc.SearchAudit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		ids = append(ids, eventIDs(p.Records)...)
		sizes = append(sizes, len(p.Records))
		sources = append(sources, p.Source)
		if (len(pages) == 1) != (p.Newer == "") {
			t.Errorf("page %d: newer %q", len(pages), p.Newer)
		}
		if p.Older == "" {
			break
		}
		q.Cursor = p.Older
		if len(pages) > 100 {
			t.Fatal("more than 100 pages")
		}
	}
	// Back up: each newer page is the page before.
	for i := len(pages) - 1; i > 0; i-- {
		q.Cursor = pages[i].Newer
		p, err := svc.SearchAudit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(eventIDs(pages[i-1].Records), eventIDs(p.Records)); diff != "" {
			t.Errorf("the page newer than page %d (-want +got):\n%s", i+1, diff)
		}
	}
	return ids, sizes, sources
}

// wantIDs are the ids of the events that keep matches, newest first.
func wantIDs(events []audit.Event, keep func(e audit.Event) bool) []string {
	var out []string
	for i := len(events) - 1; i >= 0; i-- {
		if keep(events[i]) {
			out = append(out, events[i].ID)
		}
	}
	return out
}

// TestSearchAuditBothSources: the same searches answer the same events,
// newest first, in pages that go older and back newer, from the host's log
// without an audit plugin and from the plugin (over real gRPC, through its
// Query and page tokens) with one; an action prefix, which the contract's
// Query cannot ask, is filtered by the host.
func TestSearchAuditBothSources(t *testing.T) {
	start := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	events := auditEvents(40, start)
	searches := []struct {
		name string
		q    billing.AuditQuery
		keep func(e audit.Event) bool
	}{
		{"all", billing.AuditQuery{}, func(audit.Event) bool { return true }},
		{"actor", billing.AuditQuery{Actor: "user:budi"}, func(e audit.Event) bool { return e.Actor == "user:budi" }},
		{"action", billing.AuditQuery{Action: "plan.updated"}, func(e audit.Event) bool { return e.Action == "plan.updated" }},
		{"action prefix", billing.AuditQuery{Action: "plan."}, func(e audit.Event) bool { return strings.HasPrefix(e.Action, "plan.") }},
		{"action prefix with a star", billing.AuditQuery{Action: "plan*"}, func(e audit.Event) bool { return strings.HasPrefix(e.Action, "plan") }},
		{"resource", billing.AuditQuery{ResourceType: "plan", ResourceID: "3"}, func(e audit.Event) bool { return e.ResourceID == "3" }},
		{"outcome and time", billing.AuditQuery{Outcome: "failure", From: start.Add(5 * time.Minute), To: start.Add(30 * time.Minute)},
			func(e audit.Event) bool {
				return e.Outcome == "failure" && !e.Time.Before(start.Add(5*time.Minute)) && e.Time.Before(start.Add(30*time.Minute))
			}},
	}
	for _, src := range []string{billing.AuditFromHost, billing.AuditFromPlugin} {
		t.Run(src, func(t *testing.T) {
			st := storetest.SQLite(t)
			var plugins testutil.Plugins
			var log *testutil.AuditLog
			if src == billing.AuditFromPlugin {
				log = &testutil.AuditLog{MaxPageSize: 4} // fewer than a page: several calls a page
				plugins.AuditSink = sdktest.Serve(t, log).Audit()
			}
			recordIn(t, st, plugins.AuditSink, events)
			svc := billing.New(st, nil, plugins, billing.Config{}, nil)
			for _, s := range searches {
				t.Run(s.name, func(t *testing.T) {
					q := s.q
					q.Limit = 6
					ids, sizes, sources := walkAudit(t, svc, q)
					if diff := cmp.Diff(wantIDs(events, s.keep), ids); diff != "" {
						t.Errorf("(-want +got):\n%s", diff)
					}
					for i, n := range sizes[:len(sizes)-1] {
						if n != 6 {
							t.Errorf("page %d has %d events; want full pages but the last: %v", i+1, n, sizes)
						}
					}
					for _, got := range sources {
						if got != src {
							t.Errorf("answered by %q; want %q", got, src)
						}
					}
				})
			}
			if log == nil {
				return
			}
			// The plugin was asked with the filters the contract has, and
			// the prefix left to the host.
			var asked []audit.QueryRequest
			for _, q := range log.Queries() {
				if q.Action == "plan.updated" || q.Actor == "user:budi" || (q.Outcome == "failure" && q.Since.Equal(start.Add(5*time.Minute))) {
					asked = append(asked, q)
				}
				if strings.HasPrefix(q.Action, "plan") && q.Action != "plan.updated" {
					t.Errorf("the plugin was asked for the action %q, which is a prefix", q.Action)
				}
				if !q.Descending {
					t.Errorf("the plugin was asked oldest first: %+v", q)
				}
			}
			if len(asked) == 0 {
				t.Error("the plugin was never asked with a filter")
			}
			// Its chain's place comes with each record.
			p, err := svc.SearchAudit(context.Background(), billing.AuditQuery{Limit: 1})
			if err != nil || len(p.Records) != 1 || p.Records[0].Sequence != 40 || p.Records[0].Hash == "" || p.Records[0].ID != 0 {
				t.Errorf("the newest record from the plugin: %+v %v", p, err)
			}
		})
	}
}

// TestSearchAuditFallsBackToTheHost: an audit plugin whose Query fails
// leaves the host's log to answer, and the page says why; a plugin's
// cursor without a plugin is refused with what to do.
func TestSearchAuditFallsBackToTheHost(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	events := auditEvents(5, time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC))
	broken := &testutil.AuditLog{QueryErr: fmt.Errorf("the log file is locked: %w", sdk.ErrUnavailable)}
	sink := sdktest.Serve(t, broken).Audit()
	recordIn(t, st, sink, events)
	svc := billing.New(st, nil, testutil.Plugins{AuditSink: sink}, billing.Config{}, nil)
	p, err := svc.SearchAudit(ctx, billing.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != billing.AuditFromHost || len(p.Records) != 5 || !strings.Contains(p.PluginError, "the log file is locked") {
		t.Errorf("page %+v; want the host's 5 events and the plugin's error", p)
	}
	if len(broken.Queries()) != 1 {
		t.Errorf("the plugin was asked %d times; want once", len(broken.Queries()))
	}

	// A plugin's cursor, once the plugin is gone.
	good := sdktest.Serve(t, &testutil.AuditLog{}).Audit()
	recordIn(t, storetest.SQLite(t), good, events)
	withPlugin := billing.New(st, nil, testutil.Plugins{AuditSink: good}, billing.Config{}, nil)
	p, err = withPlugin.SearchAudit(ctx, billing.AuditQuery{Limit: 2})
	if err != nil || p.Source != billing.AuditFromPlugin || p.Older == "" {
		t.Fatalf("from the plugin: %+v %v", p, err)
	}
	without := billing.New(st, nil, testutil.Plugins{}, billing.Config{}, nil)
	_, err = without.SearchAudit(ctx, billing.AuditQuery{Cursor: p.Older})
	var qe *billing.AuditQueryError
	if !errors.As(err, &qe) || qe.Fields["cursor"].Code != "cursor" || !strings.Contains(qe.Fields["cursor"].Message, "search again from the first page") {
		t.Errorf("a plugin's cursor without the plugin: %v", err)
	}
}

// TestExportAudit: an export holds every matching event, newest first,
// past the size of a batch, from either source.
func TestExportAudit(t *testing.T) {
	start := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	events := auditEvents(1200, start) // more than two batches of 500
	for _, src := range []string{billing.AuditFromHost, billing.AuditFromPlugin} {
		t.Run(src, func(t *testing.T) {
			st := storetest.SQLite(t)
			var plugins testutil.Plugins
			if src == billing.AuditFromPlugin {
				plugins.AuditSink = sdktest.Serve(t, &testutil.AuditLog{MaxPageSize: 200}).Audit()
			}
			recordIn(t, st, plugins.AuditSink, events)
			svc := billing.New(st, nil, plugins, billing.Config{}, nil)
			for _, q := range []billing.AuditQuery{{}, {Action: "plan."}} {
				got, records, err := svc.ExportAudit(context.Background(), q)
				if err != nil || got != src {
					t.Fatalf("export %+v: source %q, %v; want %s", q, got, err, src)
				}
				var ids []string
				for r, err := range records {
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, r.EventID)
				}
				want := wantIDs(events, func(e audit.Event) bool { return q.Action == "" || strings.HasPrefix(e.Action, q.Action) })
				if !slices.Equal(ids, want) {
					t.Errorf("export %+v: %d events (first %q); want %d", q, len(ids), ids[:min(3, len(ids))], len(want))
				}
			}
			if _, _, err := svc.ExportAudit(context.Background(), billing.AuditQuery{Outcome: "maybe"}); err == nil {
				t.Error("an export with a bad outcome is not refused")
			}
		})
	}
}

// TestParseAuditQuery: what a search reads from a URL, and every problem
// reported at once, by field, with a code pages word and a message that
// says what to write.
func TestParseAuditQuery(t *testing.T) {
	jakarta := time.FixedZone("WIB", 7*3600)
	in := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	q, err := billing.ParseAuditQuery(in("actor=user:ana&action=plan.&resource_type=plan&resource_id=7&outcome=failure&from=2026-01-31&to=2026-02-01+14:30&limit=20"), jakarta)
	if err != nil {
		t.Fatal(err)
	}
	want := billing.AuditQuery{Actor: "user:ana", Action: "plan.", ResourceType: "plan", ResourceID: "7", Outcome: "failure",
		From: time.Date(2026, 1, 31, 0, 0, 0, 0, jakarta), To: time.Date(2026, 2, 1, 14, 30, 0, 0, jakarta), Limit: 20}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// "to" a date includes that day; a zone given is kept.
	q, err = billing.ParseAuditQuery(in("from=2026-01-31T10:00:00Z&to=2026-01-31"), jakarta)
	if err != nil || !q.To.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, jakarta)) || !q.From.Equal(time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("from %v to %v, %v", q.From, q.To, err)
	}

	for _, c := range []struct {
		query string
		want  map[string]string // field -> code
	}{
		{"from=yesterday", map[string]string{"from": "time"}},
		{"from=2026-02-01&to=2026-01-01", map[string]string{"to": "range"}},
		{"from=2026-02-01T10:00&to=2026-02-01T10:00", map[string]string{"to": "range"}},
		{"to=31/01/2026&outcome=ok&limit=0", map[string]string{"to": "time", "outcome": "outcome", "limit": "limit"}},
		{"actor=" + strings.Repeat("a", 201), map[string]string{"actor": "text"}},
		{"resource_id=a%0Ab", map[string]string{"resource_id": "text"}},
		{"cursor=bm9wZQ", map[string]string{"cursor": "cursor"}},
	} {
		_, err := billing.ParseAuditQuery(in(c.query), jakarta)
		var qe *billing.AuditQueryError
		if !errors.As(err, &qe) {
			t.Errorf("%s: %v; want an *AuditQueryError", c.query, err)
			continue
		}
		got := map[string]string{}
		for f, p := range qe.Fields {
			got[f] = p.Code
			if p.Message == "" {
				t.Errorf("%s: %s has no message", c.query, f)
			}
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.query, diff)
		}
	}
	_, err = billing.ParseAuditQuery(in("from=yesterday"), jakarta)
	if msg := err.Error(); !strings.Contains(msg, `"yesterday" is not a time`) || !strings.Contains(msg, "2026-01-31 14:30") {
		t.Errorf("the message %q does not say what to write", msg)
	}
}
