package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/audit"
)

// The index in index.db is derived data: these tests give a log an index
// that is missing, older, newer, from another log, from before an archive,
// or not a database, and check that it is rebuilt (or caught up) from the
// log, that queries are right and that retried events are still skipped.

// closedLog appends events 1..n to a new log in a new directory, closes it
// and returns the directory.
func closedLog(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	appendN(t, l, 1, n)
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyIndex copies index.db (closed, so without a WAL) from one directory
// to another, replacing what is there.
func copyIndex(t *testing.T, from, to string) {
	t.Helper()
	if err := removeIndex(to); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(from, indexFile), filepath.Join(to, indexFile))
}

// checkReopened opens the log in dir (n events), checks what the index
// says on opening (rebuilt: index note containing want; else none), then
// that queries see every event, a retry of all of them is skipped, and
// the log still verifies.
func checkReopened(t *testing.T, dir string, n int, want string) {
	t.Helper()
	l := openLog(t, dir, nil)
	st := storeOf(t, l)
	switch {
	case want == "" && st.indexNote != "":
		t.Fatalf("opening rebuilt the index: %s", st.indexNote)
	case want != "" && !strings.Contains(st.indexNote, want):
		t.Fatalf("index note on opening %q, want it to say %q", st.indexNote, want)
	}
	checkQueries(t, l, n)
	if resp := appendN(t, l, 1, n); resp.Appended != 0 || resp.Duplicates != n {
		t.Fatalf("retry of all %d events = %+v, want all duplicates", n, resp)
	}
	var rows int
	if err := st.idx.QueryRow(`SELECT COUNT(*) FROM event_ids`).Scan(&rows); err != nil || rows != n {
		t.Fatalf("event_ids holds %d rows (%v), want %d", rows, err, n)
	}
	if v := verify(t, l, nil); !v.OK || v.Checked != uint64(n) {
		t.Fatalf("Verify: %+v", v)
	}
	if fi, err := os.Stat(filepath.Join(dir, indexFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want mode 0600", indexFile, fi.Mode(), err)
	}
}

func TestIndexDeletedIsRebuilt(t *testing.T) {
	dir := closedLog(t, 150)
	if err := removeIndex(dir); err != nil {
		t.Fatal(err)
	}
	checkReopened(t, dir, 150, "there was none")
}

func TestIndexNotADatabaseIsRebuilt(t *testing.T) {
	dir := closedLog(t, 150)
	if err := removeIndex(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, indexFile), []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	checkReopened(t, dir, 150, "cannot be read")
}

// An older copy of index.db (of this log) holds rows that are still true:
// the indexer goes on from its mark.
func TestIndexOlderCopyCatchesUp(t *testing.T) {
	dir := closedLog(t, 100)
	old := t.TempDir()
	copyFile(t, filepath.Join(dir, indexFile), filepath.Join(old, indexFile))
	l := openLog(t, dir, nil)
	appendN(t, l, 101, 120)
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	copyIndex(t, old, dir)
	pauseIndexer(t)
	l = openLog(t, dir, nil)
	if indexed, tail := tailState(storeOf(t, l)); indexed != 100 || tail != 120 {
		t.Fatalf("with the older index: indexed through %d, %d in the tail; want 100 and 120", indexed, tail)
	}
	_ = l.Shutdown(context.Background())
	checkReopened(t, dir, 220, "")
}

// An index newer than the log: the log is an older copy (restored, or
// swapped in). The index is rebuilt from the log as it is.
func TestIndexNewerThanTheLogIsRebuilt(t *testing.T) {
	dir := closedLog(t, 100)
	old := t.TempDir()
	copyFile(t, filepath.Join(dir, dbFile), filepath.Join(old, dbFile))
	l := openLog(t, dir, nil)
	appendN(t, l, 101, 120)
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(filepath.Join(dir, dbFile+suffix))
	}
	copyFile(t, filepath.Join(old, dbFile), filepath.Join(dir, dbFile))
	checkReopened(t, dir, 100, "the log is older than its index")
}

// An index of another log, or of another copy of this one that went
// another way after a restore: the hash at its mark is not the log's.
func TestIndexOfAnotherLogIsRebuilt(t *testing.T) {
	dir := closedLog(t, 150)
	other := t.TempDir()
	l := openLog(t, other, nil)
	evs := events(1, 150)
	for i := range evs {
		evs[i].Actor = "someone-else"
	}
	if _, err := l.Append(context.Background(), &audit.AppendRequest{Events: evs}); err != nil {
		t.Fatal(err)
	}
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	copyIndex(t, other, dir)
	checkReopened(t, dir, 150, "another log or another copy")
}

// An index from before an archive still lists the archived events.
func TestIndexFromBeforeAnArchiveIsRebuilt(t *testing.T) {
	dir := closedLog(t, 300)
	old := t.TempDir()
	copyFile(t, filepath.Join(dir, indexFile), filepath.Join(old, indexFile))
	l := openLog(t, dir, nil)
	if _, err := storeOf(t, l).archive(context.Background(), t0.Add(150*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	copyIndex(t, old, dir)
	l = openLog(t, dir, nil)
	st := storeOf(t, l)
	if !strings.Contains(st.indexNote, "archived") {
		t.Fatalf("index note %q, want it to name the archive", st.indexNote)
	}
	if err := st.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.idx.QueryRow(`SELECT COUNT(*) FROM by_actor`).Scan(&n); err != nil || n != 151 {
		t.Fatalf("by_actor holds %d rows (%v), want the 151 live events", n, err)
	}
	if resp := appendN(t, l, 1, 300); resp.Appended != 0 || resp.Duplicates != 300 {
		t.Fatalf("retry of archived and live events = %+v, want all duplicates", resp)
	}
}

// A long tail is indexed before the log opens (its ids are not all held
// in memory).
func TestLongTailIsIndexedOnOpening(t *testing.T) {
	dir := closedLog(t, 250)
	if err := removeIndex(dir); err != nil {
		t.Fatal(err)
	}
	old := maxOpenTail
	maxOpenTail = 100
	t.Cleanup(func() { maxOpenTail = old })
	pauseIndexer(t)
	l := openLog(t, dir, nil)
	if indexed, tail := tailState(storeOf(t, l)); indexed != 250 || tail != 0 {
		t.Fatalf("opened: indexed through %d with %d in the tail, want 250 and 0", indexed, tail)
	}
	_ = l.Shutdown(context.Background())
	checkReopened(t, dir, 250, "")
}

func TestIDFilter(t *testing.T) {
	f := newIDFilter()
	const n = 200_000 // four parts
	for i := range n {
		f.add(evID(i))
	}
	for i := range n {
		if !f.mayHold(evID(i)) {
			t.Fatalf("the filter lost id %d", i)
		}
	}
	maybe := 0
	for i := n; i < 2*n; i++ {
		if f.mayHold(evID(i)) {
			maybe++
		}
	}
	if rate := float64(maybe) / n; rate > 0.02 {
		t.Fatalf("the filter says maybe to %.2f%% of ids it never saw, want under 2%%", 100*rate)
	}
}
