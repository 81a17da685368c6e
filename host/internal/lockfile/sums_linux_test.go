package lockfile_test

// File identities (client.FileID) are taken on Linux only.

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/client"
)

func plugin(t *testing.T, pluginDir, name, content string) string {
	t.Helper()
	dir := filepath.Join(pluginDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(`{"name":"`+name+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run"), []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSumsRecordWhatWasLocked: LockSum returns the identity the executable
// had when it was hashed, with the lock's sum; WriteSums records it beside
// the lock, keeps the entries of plugins locked before whose executable is
// still the locked one, and drops the others; LockSums vouches only for
// that identity and that sum.
func TestSumsRecordWhatWasLocked(t *testing.T) {
	pd := t.TempDir()
	a := plugin(t, pd, "a", "#!/bin/sh\necho a\n")
	b := plugin(t, pd, "b", "#!/bin/sh\necho b\n")
	lf := &lockfile.File{Plugins: map[string]lockfile.Entry{}}
	fresh := map[string]lockfile.ExecutableSum{}
	for name, dir := range map[string]string{"a": a, "b": b} {
		e, s, err := lockfile.LockSum(dir, "1.0.0", "run")
		if err != nil {
			t.Fatal(err)
		}
		if s == nil || s.SHA256 != e.SHA256 || s.Executable != "run" || s.ID != testenv.FileID(t, filepath.Join(dir, "run")) {
			t.Fatalf("LockSum %s: %+v, want the executable's identity and the entry's sum %s", name, s, e.SHA256)
		}
		lf.Plugins[name] = e
		fresh[name] = *s
	}
	if err := lockfile.Write(pd, lf); err != nil {
		t.Fatal(err)
	}
	if err := lockfile.WriteSums(pd, lf, fresh); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(lockfile.SumsPath(pd)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("sums file: %v (mode %v), want mode 0644", err, fi.Mode().Perm())
	}
	got, err := lockfile.ReadSums(pd)
	if err != nil || len(got) != 2 || got["a"] != fresh["a"] || got["b"] != fresh["b"] {
		t.Fatalf("ReadSums: %v %+v, want %+v", err, got, fresh)
	}

	ls := lockfile.NewLockSums(pd)
	aSum, _ := hex.DecodeString(fresh["a"].SHA256)
	changed := fresh["a"].ID
	changed.Ctime++
	moved := fresh["a"].ID
	moved.Inode++
	for what, c := range map[string]struct {
		id   client.FileID
		sum  []byte
		want bool
	}{
		"the locked file":               {fresh["a"].ID, aSum, true},
		"the file written since":        {changed, aSum, false},
		"a copy (another inode)":        {moved, aSum, false},
		"another sum for the same file": {fresh["a"].ID, make([]byte, 32), false},
	} {
		if known, err := ls.Known(c.id, c.sum); known != c.want || err != nil {
			t.Errorf("%s: known %v (%v), want %v", what, known, err, c.want)
		}
	}

	// a is rebuilt and locked again alone (`plugin lock a`); b's entry is
	// kept, and a's is the new file's.
	if err := os.Remove(filepath.Join(a, "run")); err != nil {
		t.Fatal(err)
	}
	plugin(t, pd, "a", "#!/bin/sh\necho a2\n")
	e, s, err := lockfile.LockSum(a, "1.0.1", "run")
	if err != nil {
		t.Fatal(err)
	}
	lf.Plugins["a"] = e
	if err := lockfile.WriteSums(pd, lf, map[string]lockfile.ExecutableSum{"a": *s}); err != nil {
		t.Fatal(err)
	}
	if got, _ := lockfile.ReadSums(pd); got["a"] != *s || got["b"] != fresh["b"] {
		t.Errorf("after locking a again: %+v, want a's new entry %+v and b's kept", got, *s)
	}
	if known, _ := ls.Known(fresh["a"].ID, aSum); known {
		t.Error("the sums file read before still vouches for a's old executable")
	}

	// b's lock entry changes without a fresh hash (a lock written by other
	// code): its old entry no longer names the locked sum and is dropped;
	// a plugin left out of the lock is dropped too.
	eb := lf.Plugins["b"]
	eb.SHA256 = strings.Repeat("0", 64)
	lf.Plugins = map[string]lockfile.Entry{"b": eb}
	if err := lockfile.WriteSums(pd, lf, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lockfile.SumsPath(pd)); !os.IsNotExist(err) {
		t.Errorf("a sums file with no entry left is still there: %v", err)
	}
}

// TestDamagedSumsAreIgnored: a sums file that cannot be parsed, or of
// another format version, vouches for nothing and says why; once written
// again it is read again.
func TestDamagedSumsAreIgnored(t *testing.T) {
	pd := t.TempDir()
	dir := plugin(t, pd, "a", "#!/bin/sh\n")
	e, s, err := lockfile.LockSum(dir, "1.0.0", "run")
	if err != nil {
		t.Fatal(err)
	}
	lf := &lockfile.File{Plugins: map[string]lockfile.Entry{"a": e}}
	sum, _ := hex.DecodeString(s.SHA256)
	ls := lockfile.NewLockSums(pd)
	for _, bad := range []struct{ content, says string }{
		{"{not json", "invalid character"},
		{`{"version": 9, "executables": {}}`, "format version 9"},
	} {
		if err := os.WriteFile(lockfile.SumsPath(pd), []byte(bad.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if known, err := ls.Known(s.ID, sum); known || err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("%q: known %v, error %v; want unknown and an error saying %q", bad.content, known, err, bad.says)
		}
	}
	if err := lockfile.WriteSums(pd, lf, map[string]lockfile.ExecutableSum{"a": *s}); err != nil {
		t.Fatal(err)
	}
	if known, err := ls.Known(s.ID, sum); !known || err != nil {
		t.Errorf("the sums file written again: known %v (%v), want known", known, err)
	}
}
