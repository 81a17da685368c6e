package plugins

// The executables' identities, which the read ahead hashes under, are taken
// on Linux only (client.SumCache).

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// TestReadAheadHashesForTheLaunches: the executables hashed ahead are in
// the cache the launches use, and in the data directory's sums file for
// the next start, under the identity of the file that was read.
func TestReadAheadHashesForTheLaunches(t *testing.T) {
	f := newFixture(t)
	f.NoLockSums = true // what the host hashes itself
	dir := f.Add(tp{Name: "hashed"})
	exe := filepath.Join(dir, "mikrobill-plugin-hashed")
	a := ReadAhead(f.cfg, hclog.NewNullLogger())
	<-a.hashed // every executable hashed: nothing stops the read yet
	want, err := client.FileSHA256(exe)
	if err != nil {
		t.Fatal(err)
	}
	id := testenv.FileID(t, exe)
	if !a.sums.Known(exe, id, want) {
		t.Fatalf("the read ahead did not remember %s's sum", exe)
	}
	f.ahead = a
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := status(t, m, "hashed"); st.State != StateRunning {
		t.Fatalf("hashed: %s (%s), want running", st.State, st.LastError)
	}
	if m.l.sums != client.SumCache(a.sums) {
		t.Error("the launches do not use the cache the read ahead filled")
	}
	if !openSumCache(f.cfg.DataDir, "", hclog.NewNullLogger()).Known(exe, id, want) {
		t.Errorf("%s does not hold the sum hashed ahead", filepath.Join(f.cfg.DataDir, sumsFile))
	}
}

// TestExecutableRewrittenAfterItWasHashedAheadNeverRuns: an executable
// rewritten in place after the read ahead hashed it, with its size and
// modification time put back, is hashed again by its launch (the kernel
// gave it another change time) and refused: nothing of it runs.
func TestExecutableRewrittenAfterItWasHashedAheadNeverRuns(t *testing.T) {
	f := newFixture(t)
	f.NoLockSums = true // what the host hashes itself
	dir := f.Add(tp{Name: "rewritten", Required: boolPtr(false)})
	exe := filepath.Join(dir, "mikrobill-plugin-rewritten")
	a := ReadAhead(f.cfg, hclog.NewNullLogger())
	<-a.hashed
	if a.learned != 1 {
		t.Fatalf("hashed ahead %d executables, want 1", a.learned)
	}
	tamperInPlace(t, exe)
	f.ahead = a
	refusedUnrun(t, f)
}

// tamperInPlace rewrites bytes in the middle of exe and puts its
// modification time back: its size and mtime are as before, its content
// and change time are not.
func tamperInPlace(t *testing.T, exe string) {
	t.Helper()
	before, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // past the file system's clock granularity
	w, err := os.OpenFile(exe, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("tampered"), before.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(exe, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// refusedUnrun starts the fixture and checks that its plugin "rewritten"
// was refused on its executable's content and never ran.
func refusedUnrun(t *testing.T, f *fixture) {
	t.Helper()
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ps := status(t, m, "rewritten")
	if ps.State != StateFailed || !strings.Contains(ps.LastError, "modified mikrobill-plugin-rewritten (content)") {
		t.Errorf("rewritten: %s (%s), want failed on the executable's content", ps.State, ps.LastError)
	}
	if got := f.started(); len(got) != 0 {
		t.Errorf("the plugin started %d times, want never", len(got))
	}
}

// TestReadAheadLeavesOutWhatRunsNoProcess: an executable whose plugin's
// settings do not fit its config_schema (a gateway nobody configured) is
// not hashed ahead, at a first start or any other, unless it was hashed at
// an earlier start: then it ran, or fitted, before, and a changed file
// (an upgrade) is hashed ahead again.
func TestReadAheadLeavesOutWhatRunsNoProcess(t *testing.T) {
	f := newFixture(t)
	f.NoLockSums = true // what the host hashes itself
	f.Add(tp{Name: "configured"})
	unset := f.Add(tp{Name: "unset", Required: boolPtr(false), Manifest: map[string]any{"config_schema": map[string]any{
		"type": "object", "required": []string{"api_key"}, "properties": map[string]any{"api_key": map[string]any{"type": "string"}}}}})
	exe := filepath.Join(unset, "mikrobill-plugin-unset")
	a := ReadAhead(f.cfg, hclog.NewNullLogger())
	<-a.hashed
	if a.learned != 1 {
		t.Fatalf("hashed ahead %d executables, want 1 (configured's; unset's settings do not fit and it never ran)", a.learned)
	}
	if a.sums.hashedBefore(exe) {
		t.Fatalf("unset's executable was hashed ahead though it runs no process")
	}
	// As if unset ran at an earlier start, from another file (since
	// upgraded in place).
	sum, err := client.FileSHA256(exe)
	if err != nil {
		t.Fatal(err)
	}
	a.sums.Hashed(exe, client.FileID{Dev: 1, Inode: 1, Size: 1}, sum)
	again := ReadAhead(f.cfg, hclog.NewNullLogger())
	<-again.hashed
	if again.learned != 1 {
		t.Fatalf("started again, hashed ahead %d executables, want 1 (unset's, changed since it ran; configured's is known)", again.learned)
	}
	if !again.sums.Known(exe, testenv.FileID(t, exe), sum) {
		t.Errorf("unset's executable, hashed before and changed since, was not hashed ahead again")
	}
}

// TestFirstStartFindsTheLockSums: a host's first start on a fresh data
// directory, over a plugin directory locked as `mikrobill plugin lock`
// locks it, hashes no executable: neither ahead nor at the launch, since
// the lock's sums vouch for the very files it runs.
func TestFirstStartFindsTheLockSums(t *testing.T) {
	f := newFixture(t)
	dir := f.Add(tp{Name: "locked"})
	exe := filepath.Join(dir, "mikrobill-plugin-locked")
	a := ReadAhead(f.cfg, hclog.NewNullLogger())
	<-a.hashed
	if a.learned != 0 {
		t.Errorf("hashed ahead %d executables, want none: plugins.lock.sums has them", a.learned)
	}
	f.ahead = a
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := status(t, m, "locked"); st.State != StateRunning {
		t.Fatalf("locked: %s (%s), want running", st.State, st.LastError)
	}
	if openSumCache(f.cfg.DataDir, "", hclog.NewNullLogger()).hashedBefore(exe) {
		t.Errorf("the launch hashed %s though plugins.lock.sums has it", exe)
	}
}

// TestExecutableRewrittenAfterItWasLockedNeverRuns: an executable rewritten
// in place after `plugin lock` recorded it in plugins.lock.sums, with its
// size and modification time put back, has another change time: its launch
// hashes it and refuses it, and nothing of it runs.
func TestExecutableRewrittenAfterItWasLockedNeverRuns(t *testing.T) {
	f := newFixture(t)
	dir := f.Add(tp{Name: "rewritten", Required: boolPtr(false)})
	tamperInPlace(t, filepath.Join(dir, "mikrobill-plugin-rewritten"))
	refusedUnrun(t, f)
}
