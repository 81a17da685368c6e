package store_test

// Searching the audit log: every filter, and keyset pages (by time, then
// id) that visit each matching event once in both directions, across
// events recorded in the same millisecond.

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// seedAudit appends events: three per millisecond (so times repeat and
// the id breaks the tie), recorded out of time order (as jobs run them),
// with actors, actions, resources and outcomes that vary.
func seedAudit(t *testing.T, q *store.Queries, n int, start time.Time) {
	t.Helper()
	ctx := context.Background()
	actions := []string{"plan.created", "plan.updated", "planet.seen", "customer.created", "invoice.paid"}
	for i := range n {
		// Odd events are appended before even ones of the same time.
		at := start.Add(time.Duration(i/3) * time.Millisecond)
		e := &store.AuditEntry{
			EventID:      fmt.Sprintf("ev-%03d", i),
			OccurredAt:   at,
			Actor:        []string{"user:ana", "user:budi", "system"}[i%3],
			Action:       actions[i%len(actions)],
			ResourceType: []string{"plan", "customer"}[i%2],
			ResourceID:   fmt.Sprint(i % 4),
			Outcome:      []string{"success", "success", "failure"}[i%3],
			Metadata:     map[string]string{"n": fmt.Sprint(i)},
		}
		if _, err := q.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSearchAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		seedAudit(t, q, 60, start)
		all, err := q.SearchAudit(ctx, store.AuditFilter{}, store.AuditCursor{}, false, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 60 {
			t.Fatalf("%d events, want 60", len(all))
		}
		// Newest first: by time, then id, both descending.
		if !slices.IsSortedFunc(all, func(a, b store.AuditEntry) int {
			if c := b.OccurredAt.Compare(a.OccurredAt); c != 0 {
				return c
			}
			return int(b.ID - a.ID)
		}) {
			t.Errorf("the log is not newest first")
		}
		ids := func(list []store.AuditEntry) []string {
			out := make([]string, 0, len(list))
			for _, e := range list {
				out = append(out, e.EventID)
			}
			return out
		}
		keep := func(ok func(e store.AuditEntry) bool) []string {
			var out []store.AuditEntry
			for _, e := range all {
				if ok(e) {
					out = append(out, e)
				}
			}
			return ids(out)
		}
		t5 := start.Add(5 * time.Millisecond)
		t9 := start.Add(9 * time.Millisecond)
		for _, tt := range []struct {
			name string
			f    store.AuditFilter
			want []string
		}{
			{"actor", store.AuditFilter{Actor: "user:budi"}, keep(func(e store.AuditEntry) bool { return e.Actor == "user:budi" })},
			{"action exactly", store.AuditFilter{Action: "plan.created"}, keep(func(e store.AuditEntry) bool { return e.Action == "plan.created" })},
			// "plan." is not "planet.": the prefix is the text as given.
			{"action prefix", store.AuditFilter{Action: "plan.", ActionPrefix: true}, keep(func(e store.AuditEntry) bool { return e.Action == "plan.created" || e.Action == "plan.updated" })},
			{"action prefix, upper case", store.AuditFilter{Action: "PLAN.", ActionPrefix: true}, nil},
			{"action exactly, a prefix only", store.AuditFilter{Action: "plan."}, nil},
			{"resource", store.AuditFilter{ResourceType: "customer", ResourceID: "3"}, keep(func(e store.AuditEntry) bool { return e.ResourceType == "customer" && e.ResourceID == "3" })},
			{"resource type", store.AuditFilter{ResourceType: "plan"}, keep(func(e store.AuditEntry) bool { return e.ResourceType == "plan" })},
			{"outcome", store.AuditFilter{Outcome: "failure"}, keep(func(e store.AuditEntry) bool { return e.Outcome == "failure" })},
			{"from, to", store.AuditFilter{From: t5, To: t9}, keep(func(e store.AuditEntry) bool { return !e.OccurredAt.Before(t5) && e.OccurredAt.Before(t9) })},
			{"all at once", store.AuditFilter{Actor: "system", Action: "plan.", ActionPrefix: true, Outcome: "failure", From: t5},
				keep(func(e store.AuditEntry) bool {
					return e.Actor == "system" && (e.Action == "plan.created" || e.Action == "plan.updated") && !e.OccurredAt.Before(t5)
				})},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := q.SearchAudit(ctx, tt.f, store.AuditCursor{}, false, 500)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, ids(got), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}

		// Keyset pages of 7 (pages end inside a millisecond): older all
		// the way down, then newer all the way back up.
		for _, f := range []store.AuditFilter{{}, {Actor: "user:ana"}, {Action: "plan.", ActionPrefix: true}} {
			want, err := q.SearchAudit(ctx, f, store.AuditCursor{}, false, 500)
			if err != nil {
				t.Fatal(err)
			}
			var pages [][]store.AuditEntry
			var cur store.AuditCursor
			for {
				page, err := q.SearchAudit(ctx, f, cur, false, 7)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				pages = append(pages, page)
				cur = store.AuditCursorOf(page[len(page)-1])
			}
			if diff := cmp.Diff(ids(want), ids(slices.Concat(pages...))); diff != "" {
				t.Errorf("%+v: older pages (-want +got):\n%s", f, diff)
			}
			// Back up from the last page: each newer page is the page
			// before it.
			for i := len(pages) - 1; i > 0; i-- {
				got, err := q.SearchAudit(ctx, f, store.AuditCursorOf(pages[i][0]), true, 7)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(ids(pages[i-1]), ids(got)); diff != "" {
					t.Errorf("%+v: the page newer than page %d (-want +got):\n%s", f, i, diff)
				}
			}
			// Nothing is newer than the newest.
			if got, err := q.SearchAudit(ctx, f, store.AuditCursorOf(want[0]), true, 7); err != nil || len(got) != 0 {
				t.Errorf("%+v: newer than the newest: %v %v", f, ids(got), err)
			}
		}

		if _, err := q.SearchAudit(ctx, store.AuditFilter{}, store.AuditCursor{}, false, store.MaxLimit+2); err == nil {
			t.Errorf("a limit over %d is accepted", store.MaxLimit+1)
		}
		if _, err := q.SearchAudit(ctx, store.AuditFilter{}, store.AuditCursor{}, false, 0); err == nil {
			t.Errorf("a limit of 0 is accepted")
		}
	})
}
