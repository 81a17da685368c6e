package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// pauseIndexer keeps the indexer of the logs opened until the test ends
// from running on its own (reads and Shutdown still index).
func pauseIndexer(t *testing.T) {
	old := indexInterval
	indexInterval = time.Hour
	t.Cleanup(func() { indexInterval = old })
}

func storeOf(t *testing.T, l *Log) *store {
	t.Helper()
	st, err := l.store()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tailState is the indexed high-water mark and how many ids the tail has.
func tailState(st *store) (uint64, int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.indexed, len(st.tail)
}

// wantSeqs lists the events 1..n (event i has sequence i) that match.
func wantSeqs(n int, match func(e audit.Event) bool, desc bool) []uint64 {
	var out []uint64
	for i := 1; i <= n; i++ {
		if match(ev(i)) {
			out = append(out, uint64(i))
		}
	}
	if desc {
		slices.Reverse(out)
	}
	return out
}

// allPages follows the page tokens of req to the end.
func allPages(t *testing.T, l *Log, req audit.QueryRequest) []uint64 {
	t.Helper()
	var out []uint64
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%+v: more than 1000 pages", req)
		}
		resp, err := l.Query(context.Background(), &req)
		if err != nil {
			t.Fatalf("Query(%+v): %v", req, err)
		}
		for _, e := range resp.Events {
			if e.ID != evID(int(e.Sequence)) {
				t.Fatalf("event %d has id %s, want %s", e.Sequence, e.ID, evID(int(e.Sequence)))
			}
			out = append(out, e.Sequence)
		}
		if resp.NextPageToken == "" {
			return out
		}
		req.PageToken = resp.NextPageToken
	}
}

// checkQueries runs filtered, paged queries in both directions over a log
// holding events 1..n and compares them with the events that match.
func checkQueries(t *testing.T, l *Log, n int) {
	t.Helper()
	cases := []struct {
		name  string
		req   audit.QueryRequest
		match func(e audit.Event) bool
	}{
		{"all", audit.QueryRequest{}, func(audit.Event) bool { return true }},
		{"actor", audit.QueryRequest{Actor: "admin-3"}, func(e audit.Event) bool { return e.Actor == "admin-3" }},
		{"actor+outcome", audit.QueryRequest{Actor: "admin-3", Outcome: audit.OutcomeFailure}, func(e audit.Event) bool {
			return e.Actor == "admin-3" && e.Outcome == audit.OutcomeFailure
		}},
		{"action", audit.QueryRequest{Action: "plan.updated"}, func(e audit.Event) bool { return e.Action == "plan.updated" }},
		{"action-prefix", audit.QueryRequest{Action: "invoice."}, func(e audit.Event) bool { return strings.HasPrefix(e.Action, "invoice.") }},
		{"action-prefix+actor", audit.QueryRequest{Action: "p*", Actor: "admin-1"}, func(e audit.Event) bool {
			return strings.HasPrefix(e.Action, "p") && e.Actor == "admin-1"
		}},
		{"resource", audit.QueryRequest{ResourceType: "invoice", ResourceID: "42"}, func(e audit.Event) bool { return e.ResourceID == "42" }},
		{"resource-type", audit.QueryRequest{ResourceType: "invoice"}, func(audit.Event) bool { return true }},
		{"outcome", audit.QueryRequest{Outcome: audit.OutcomeFailure}, func(e audit.Event) bool { return e.Outcome == audit.OutcomeFailure }},
		{"time", audit.QueryRequest{Since: t0.Add(40 * time.Second), Until: t0.Add(260 * time.Second), Outcome: audit.OutcomeSuccess}, func(e audit.Event) bool {
			return !e.Time.Before(t0.Add(40*time.Second)) && e.Time.Before(t0.Add(260*time.Second)) && e.Outcome == audit.OutcomeSuccess
		}},
		{"none", audit.QueryRequest{Actor: "nobody"}, func(audit.Event) bool { return false }},
	}
	for _, tc := range cases {
		for _, desc := range []bool{false, true} {
			req := tc.req
			req.Descending, req.PageSize = desc, 7
			got, want := allPages(t, l, req), wantSeqs(n, tc.match, desc)
			if !slices.Equal(got, want) {
				t.Errorf("%s (descending %v): got %d events %v, want %d %v", tc.name, desc, len(got), got, len(want), want)
			}
		}
	}
}

func TestDuplicateInTheUnindexedTailIsSkipped(t *testing.T) {
	pauseIndexer(t)
	l := openLog(t, t.TempDir(), nil)
	appendN(t, l, 1, 100)
	st := storeOf(t, l)
	if indexed, tail := tailState(st); indexed != 0 || tail != 100 {
		t.Fatalf("before the indexer: indexed through %d, %d ids in the tail; want 0 and 100", indexed, tail)
	}
	// Half old (in the tail), half new, one new twice.
	batch := append(events(51, 100), ev(120))
	resp, err := l.Append(context.Background(), &audit.AppendRequest{Events: batch})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Appended != 50 || resp.Duplicates != 51 || resp.LastSequence != 150 {
		t.Fatalf("Append = %+v, want 50 appended, 51 duplicates, last 150", resp)
	}
	// Indexed now (by a read): the same ids are still duplicates.
	checkQueries(t, l, 150)
	if indexed, tail := tailState(st); indexed != 150 || tail != 0 {
		t.Fatalf("after a query: indexed through %d, %d ids in the tail; want 150 and 0", indexed, tail)
	}
	resp = appendN(t, l, 1, 150)
	if resp.Appended != 0 || resp.Duplicates != 150 {
		t.Fatalf("Append of indexed events = %+v, want all 150 duplicates", resp)
	}
}

func TestQuerySeesTheUnindexedTail(t *testing.T) {
	pauseIndexer(t)
	l := openLog(t, t.TempDir(), nil)
	appendN(t, l, 1, 130)
	st := storeOf(t, l)
	if indexed, _ := tailState(st); indexed != 0 {
		t.Fatalf("indexed through %d before any read, want 0", indexed)
	}
	checkQueries(t, l, 130)
	// More after the indexed part: pages cross from one to the other.
	appendN(t, l, 131, 170)
	if indexed, tail := tailState(st); indexed != 130 || tail != 170 {
		t.Fatalf("indexed through %d with %d in the tail, want 130 and 170", indexed, tail)
	}
	checkQueries(t, l, 300)
	// A proof of an event still in the tail.
	appendN(t, l, 301, 5)
	p, err := l.ProveInclusion(context.Background(), &audit.ProveInclusionRequest{EventID: evID(303)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Event.Sequence != 303 {
		t.Fatalf("proved event %d, want 303", p.Event.Sequence)
	}
	if err := audit.VerifyInclusion(pubOf(t, l), p); err != nil {
		t.Fatal(err)
	}
}

// crashImage copies the log's files as kill -9 leaves them (the databases
// and their WALs, no index on close) into a new directory.
func crashImage(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{dbFile, dbFile + "-wal", indexFile, indexFile + "-wal", keyFile} {
		if _, err := os.Stat(filepath.Join(from, name)); err == nil {
			copyFile(t, filepath.Join(from, name), filepath.Join(to, name))
		}
	}
	return to
}

func TestReopenWithAnUnindexedTail(t *testing.T) {
	pauseIndexer(t)
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	appendN(t, l, 1, 120)
	checkQueries(t, l, 120) // indexed through 120
	appendN(t, l, 121, 100)
	appendN(t, l, 221, 100)
	if indexed, tail := tailState(storeOf(t, l)); indexed != 120 || tail != 200 {
		t.Fatalf("indexed through %d with %d in the tail, want 120 and 200", indexed, tail)
	}
	crashed, crashed2 := crashImage(t, dir), crashImage(t, dir)

	// Reopened: the tail's ids are known again, so retries are duplicates.
	l2 := openLog(t, crashed, nil)
	if indexed, tail := tailState(storeOf(t, l2)); indexed != 120 || tail != 200 {
		t.Fatalf("reopened: indexed through %d with %d in the tail, want 120 and 200", indexed, tail)
	}
	resp := appendN(t, l2, 101, 250)
	if resp.Appended != 30 || resp.Duplicates != 220 || resp.LastSequence != 350 {
		t.Fatalf("retry after the crash = %+v, want 30 appended, 220 duplicates", resp)
	}
	checkQueries(t, l2, 350)
	if v := verify(t, l2, nil); !v.OK {
		t.Fatalf("Verify after the crash: %+v", v)
	}

	// With the indexer running, it catches up by itself.
	indexInterval = 20 * time.Millisecond
	l3 := openLog(t, crashed2, nil)
	st := storeOf(t, l3)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if indexed, tail := tailState(st); indexed == 320 && tail == 0 {
			break
		}
		if time.Now().After(deadline) {
			indexed, tail := tailState(st)
			t.Fatalf("the indexer did not catch up: indexed through %d with %d in the tail", indexed, tail)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var n int
	if err := st.idx.QueryRow(`SELECT COUNT(*) FROM event_ids`).Scan(&n); err != nil || n != 320 {
		t.Fatalf("event_ids holds %d rows (%v), want 320", n, err)
	}
	if resp := appendN(t, l3, 1, 320); resp.Appended != 0 || resp.Duplicates != 320 {
		t.Fatalf("retry of indexed events = %+v, want all duplicates", resp)
	}
	checkQueries(t, l3, 320)
}

// layout1 turns a closed log into the table layout of the plugin's first
// version (the events table with a UNIQUE id and four filter indexes, no
// index tables), as that version's schema created it.
func layout1(t *testing.T, dir string) {
	t.Helper()
	if err := removeIndex(dir); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, dir)
	for _, q := range []string{
		`DELETE FROM meta WHERE key = 'layout'`,
		`CREATE TABLE events_v1 (
	seq           INTEGER PRIMARY KEY,
	id            TEXT NOT NULL UNIQUE,
	time_ns       INTEGER,
	actor         TEXT NOT NULL,
	action        TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	resource_id   TEXT NOT NULL,
	outcome       TEXT NOT NULL,
	remote_addr   TEXT NOT NULL,
	request_id    TEXT NOT NULL,
	metadata      TEXT NOT NULL,
	prev_hash     TEXT NOT NULL,
	hash          TEXT NOT NULL
)`,
		`INSERT INTO events_v1 SELECT * FROM events`,
		`DROP TABLE events`,
		`ALTER TABLE events_v1 RENAME TO events`,
		`CREATE INDEX IF NOT EXISTS events_actor    ON events (actor, seq)`,
		`CREATE INDEX IF NOT EXISTS events_action   ON events (action, seq)`,
		`CREATE INDEX IF NOT EXISTS events_resource ON events (resource_type, resource_id, seq)`,
		`CREATE INDEX IF NOT EXISTS events_outcome  ON events (outcome, seq)`,
	} {
		execSQL(t, db, q)
	}
	_ = db.Close()
}

// layout2 turns a closed log into layout 2: the index tables (filled) in
// audit.db itself, with meta's indexed_through, and no index.db.
func layout2(t *testing.T, dir string) {
	t.Helper()
	if err := removeIndex(dir); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, dir)
	execSQL(t, db, `UPDATE meta SET value = '2' WHERE key = 'layout'`)
	execSQL(t, db, indexSchema)
	execSQL(t, db, `DROP TABLE index_meta`)
	for _, q := range indexFill {
		execSQL(t, db, strings.NewReplacer("main.", "", "log.", "", "?1", "0", "?2", "1000000").Replace(q))
	}
	execSQL(t, db, `INSERT INTO meta (key, value) SELECT 'indexed_through', MAX(seq) FROM events`)
	_ = db.Close()
}

func TestMigration(t *testing.T) {
	for _, tc := range []struct {
		layout  string
		convert func(*testing.T, string)
		indexes int
	}{{"1", layout1, 5}, {"2", layout2, 0}} {
		t.Run("layout"+tc.layout, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, nil)
			appendN(t, l, 1, 300)
			if err := l.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			tc.convert(t, dir)
			db := rawDB(t, dir)
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'`).Scan(&n); err != nil || n != tc.indexes {
				t.Fatalf("the layout %s file has %d indexes on events (%v), want %d", tc.layout, n, err, tc.indexes)
			}

			pauseIndexer(t)
			l = openLog(t, dir, nil)
			st := storeOf(t, l)
			// The index is built again in index.db: 300 events are a tail
			// short enough to open with.
			if indexed, tail := tailState(st); indexed != 0 || tail != 300 {
				t.Fatalf("migrated: indexed through %d with %d in the tail, want 0 and 300", indexed, tail)
			}
			if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'event_ids' OR name LIKE 'by_%' OR (type = 'index' AND tbl_name = 'events')`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("migrated: %d index tables or indexes left in %s (%v), want none", n, dbFile, err)
			}
			var layout string
			if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'layout'`).Scan(&layout); err != nil || layout != layoutVersion {
				t.Fatalf("migrated: layout %q (%v), want %s", layout, err, layoutVersion)
			}
			if v := verify(t, l, nil); !v.OK || v.Checked != 300 {
				t.Fatalf("Verify after the migration: %+v", v)
			}
			if resp := appendN(t, l, 291, 20); resp.Appended != 10 || resp.Duplicates != 10 {
				t.Fatalf("Append after the migration = %+v, want 10 appended, 10 duplicates", resp)
			}
			checkQueries(t, l, 310)
			for _, table := range indexTables {
				if err := st.idx.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil || n != 310 {
					t.Errorf("migrated: %s has %d rows (%v), want 310", table, n, err)
				}
			}
			if v := verify(t, l, nil); !v.OK || v.Checked != 310 {
				t.Fatalf("Verify after appending to the migrated log: %+v", v)
			}

			// A layout this version does not know is refused with what to do.
			if err := l.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			execSQL(t, db, `UPDATE meta SET value = '9' WHERE key = 'layout'`)
			l = NewLog()
			_, err := l.Configure(context.Background(), &sdk.ConfigureRequest{DataDir: dir})
			if err == nil || !strings.Contains(err.Error(), "table layout 9") || !strings.Contains(err.Error(), "newer version") {
				t.Fatalf("Configure on a layout 9 file: %v, want an error naming the layout and a newer version", err)
			}
		})
	}
}

func TestArchiveRemovesIndexRows(t *testing.T) {
	pauseIndexer(t)
	l := openLog(t, t.TempDir(), nil)
	appendN(t, l, 1, 300)
	st := storeOf(t, l)
	res, err := st.archive(context.Background(), t0.Add(150*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if res.Through != 149 {
		t.Fatalf("archived through %d, want 149", res.Through)
	}
	for _, table := range []string{"event_ids", "by_actor", "by_action", "by_resource", "by_outcome"} {
		var n, low int
		if err := st.idx.QueryRow(`SELECT COUNT(*), COUNT(CASE WHEN seq <= 149 THEN 1 END) FROM `+table).Scan(&n, &low); err != nil || n != 151 || low != 0 {
			t.Errorf("%s after the archive: %d rows, %d of them archived (%v); want 151 and 0", table, n, low, err)
		}
	}
	got := allPages(t, l, audit.QueryRequest{Actor: "admin-3", PageSize: 9})
	want := wantSeqs(300, func(e audit.Event) bool { return e.Actor == "admin-3" }, false)
	want = slices.DeleteFunc(want, func(s uint64) bool { return s <= 149 })
	if !slices.Equal(got, want) {
		t.Fatalf("query after the archive: %v, want %v", got, want)
	}
	if resp := appendN(t, l, 100, 220); resp.Appended != 19 || resp.Duplicates != 201 {
		t.Fatalf("Append after the archive = %+v, want 19 appended, 201 duplicates", resp)
	}
}

func TestQueryByResourceTypeAlone(t *testing.T) {
	pauseIndexer(t)
	l := openLog(t, t.TempDir(), nil)
	var batch []audit.Event
	var plans []uint64
	for i := 1; i <= 90; i++ {
		e := ev(i)
		e.ResourceType, e.ResourceID = "router", fmt.Sprint(1000+i)
		if i%3 == 0 {
			e.ResourceType, e.ResourceID = "plan", fmt.Sprint(i%5)
			plans = append(plans, uint64(i))
		}
		batch = append(batch, e)
	}
	if _, err := l.Append(context.Background(), &audit.AppendRequest{Events: batch[:40]}); err != nil {
		t.Fatal(err)
	}
	checkQueries := func() {
		for _, desc := range []bool{false, true} {
			got := allPages(t, l, audit.QueryRequest{ResourceType: "plan", PageSize: 4, Descending: desc})
			want := slices.Clone(plans)
			if desc {
				slices.Reverse(want)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("type plan (descending %v): %v, want %v", desc, got, want)
			}
		}
		if got := allPages(t, l, audit.QueryRequest{ResourceType: "switch"}); len(got) != 0 {
			t.Fatalf("type switch: %v, want none", got)
		}
	}
	plans = slices.DeleteFunc(plans, func(s uint64) bool { return s > 40 })
	checkQueries()
	if _, err := l.Append(context.Background(), &audit.AppendRequest{Events: batch[40:]}); err != nil {
		t.Fatal(err)
	}
	plans = nil
	for i := 3; i <= 90; i += 3 {
		plans = append(plans, uint64(i))
	}
	checkQueries()
}
