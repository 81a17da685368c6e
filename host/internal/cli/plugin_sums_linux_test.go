package cli

// File identities (client.FileID) are taken on Linux only.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestPluginLockWritesTheSums: `plugin lock` records beside plugins.lock
// the identity each executable had when it hashed it, with its sum, so that
// a host's first start finds them checked; locking one plugin again
// replaces its entry and keeps the others'.
func TestPluginLockWritesTheSums(t *testing.T) {
	d := testenv.NewPluginDir(t)
	one := d.Add(testenv.Plugin{Name: "first", NoLock: true})
	two := d.Add(testenv.Plugin{Name: "second", NoLock: true})
	for _, f := range []string{"plugins.lock", lockfile.SumsFileName} {
		os.Remove(filepath.Join(d.Dir, f))
	}
	check := func(when string) map[string]lockfile.ExecutableSum {
		t.Helper()
		lf, err := lockfile.Read(d.Dir)
		if err != nil {
			t.Fatal(err)
		}
		sums, err := lockfile.ReadSums(d.Dir)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		for name, dir := range map[string]string{"first": one, "second": two} {
			s, e := sums[name], lf.Plugins[name]
			if s.ID != testenv.FileID(t, filepath.Join(dir, "mikrobill-plugin-"+name)) || s.SHA256 != e.SHA256 || s.Executable != e.Executable {
				t.Errorf("%s: %s's sums entry %+v, want its executable's identity and the lock's sum %s", when, name, s, e.SHA256)
			}
		}
		return sums
	}
	if code, stdout, stderr := run(t, "plugin", "lock", "--plugin-dir", d.Dir); code != 0 || stderr != "" {
		t.Fatalf("lock: exit %d\n%s\n%s", code, stdout, stderr)
	}
	before := check("after plugin lock")

	exe := filepath.Join(one, "mikrobill-plugin-first")
	f, err := os.OpenFile(exe, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	f.Close()
	if code, stdout, stderr := run(t, "plugin", "lock", "--plugin-dir", d.Dir, "first"); code != 0 || !strings.Contains(stdout, "changed    first") {
		t.Fatalf("lock first: exit %d\n%s\n%s", code, stdout, stderr)
	}
	after := check("after plugin lock first")
	if after["second"] != before["second"] {
		t.Errorf("second's entry changed when only first was locked: %+v, was %+v", after["second"], before["second"])
	}
	if after["first"] == before["first"] {
		t.Error("first's entry is the one from before its executable changed")
	}
}
