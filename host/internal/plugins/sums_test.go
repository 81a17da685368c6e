package plugins

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk/client"
)

// What a launch hashed is known to the next host started on the data
// directory, for that identity and sum only; a damaged file is set aside.
func TestSumCacheKeepsSumsAcrossStarts(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "mikrobill-plugin-x")
	if err := os.WriteFile(exe, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	id := client.FileID{Dev: 1, Inode: 2, Size: 3, Mtime: 4, Ctime: 5}
	sum := []byte{0xab, 0xcd}
	c := openSumCache(dir, "", hclog.NewNullLogger())
	if c.Known(exe, id, sum) {
		t.Fatal("an empty cache knows an executable")
	}
	c.Hashed(exe, id, sum)
	c.Hashed(filepath.Join(dir, "removed"), id, sum)

	again := openSumCache(dir, "", hclog.NewNullLogger())
	if !again.Known(exe, id, sum) {
		t.Error("the next start does not know the executable hashed before")
	}
	if _, kept := again.entries[filepath.Join(dir, "removed")]; kept {
		t.Error("an executable that no longer exists is still remembered")
	}
	changed := id
	changed.Ctime++
	for name, known := range map[string]bool{
		"another change time": again.Known(exe, changed, sum),
		"another sum":         again.Known(exe, id, []byte{0xab, 0xce}),
		"another path":        again.Known("/p/y", id, sum),
	} {
		if known {
			t.Errorf("%s is known", name)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, sumsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the sums file: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
	}

	if err := os.WriteFile(filepath.Join(dir, sumsFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := openSumCache(dir, "", hclog.NewNullLogger())
	if damaged.Known(exe, id, sum) {
		t.Error("a damaged file's entries are used")
	}
	damaged.Hashed(exe, id, sum)
	if !openSumCache(dir, "", hclog.NewNullLogger()).Known(exe, id, sum) {
		t.Error("the damaged file is not written again")
	}
}

// A host started again does not hash an executable it hashed before, but
// one rewritten in place since, with its size and modification time put
// back, is hashed again and refused before it runs.
func TestRestartRefusesAnExecutableRewrittenSinceItWasHashed(t *testing.T) {
	f := newFixture(t)
	f.NoLockSums = true // what the host hashes itself
	dir := f.Add(tp{Name: "rewritten", Required: boolPtr(false)})
	exe := filepath.Join(dir, "mikrobill-plugin-rewritten")

	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	if st := status(t, m, "rewritten"); !st.State.Up() {
		t.Fatalf("first start: %s %s", st.State, st.LastError)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m.Stop(ctx)
	c := openSumCache(f.cfg.DataDir, "", hclog.NewNullLogger())
	if _, ok := c.entries[exe]; !ok {
		t.Fatalf("the launch did not remember the executable's sum: %v", c.entries)
	}

	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // past the file system's clock granularity
	fh, err := os.OpenFile(exe, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte("evil"), fi.Size()-4); err != nil { // same size
		t.Fatal(err)
	}
	fh.Close()
	if err := os.Chtimes(exe, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}

	m, err = f.start()
	if err != nil {
		t.Fatal(err)
	}
	st := status(t, m, "rewritten")
	if st.State != StateFailed || !strings.Contains(st.LastError, "changed since it was locked: modified mikrobill-plugin-rewritten (content)") {
		t.Errorf("after the rewrite: state %s, last_error %q; want failed, naming the changed executable", st.State, st.LastError)
	}
	if n := len(f.started()); n != 1 {
		t.Errorf("the plugin was executed %d times, want once (before the rewrite)", n)
	}
}
