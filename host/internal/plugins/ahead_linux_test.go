package plugins

// The executables' identities, which the read ahead hashes under, are taken
// on Linux only (client.SumCache).

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk/client"
)

// TestReadAheadHashesForTheLaunches: the executables hashed ahead are in
// the cache the launches use, and in the data directory's sums file for
// the next start, under the identity of the file that was read.
func TestReadAheadHashesForTheLaunches(t *testing.T) {
	f := newFixture(t)
	dir := f.Add(tp{Name: "hashed"})
	exe := filepath.Join(dir, "mikrobill-plugin-hashed")
	a := ReadAhead(f.cfg, hclog.NewNullLogger())
	<-a.hashed // every executable hashed: nothing stops the read yet
	want, err := client.FileSHA256(exe)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	id := client.FileID{Dev: st.Dev, Inode: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
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
	if !openSumCache(f.cfg.DataDir, hclog.NewNullLogger()).Known(exe, id, want) {
		t.Errorf("%s does not hold the sum hashed ahead", filepath.Join(f.cfg.DataDir, sumsFile))
	}
}

// TestExecutableRewrittenAfterItWasHashedAheadNeverRuns: an executable
// rewritten in place after the read ahead hashed it, with its size and
// modification time put back, is hashed again by its launch (the kernel
// gave it another change time) and refused: nothing of it runs.
func TestExecutableRewrittenAfterItWasHashedAheadNeverRuns(t *testing.T) {
	f := newFixture(t)
	dir := f.Add(tp{Name: "rewritten", Required: boolPtr(false)})
	exe := filepath.Join(dir, "mikrobill-plugin-rewritten")
	a := ReadAhead(f.cfg, hclog.NewNullLogger())
	<-a.hashed
	if a.learned != 1 {
		t.Fatalf("hashed ahead %d executables, want 1", a.learned)
	}
	before, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
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
	f.ahead = a
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
