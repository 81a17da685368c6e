package lockfile_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
)

func sum(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

// nodeFolder makes the folder of a Node.js plugin: a wrapper executable,
// its code, a library in a subfolder, a link inside the folder.
func nodeFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for path, f := range map[string]struct {
		content string
		mode    os.FileMode
	}{
		"mikrobill-plugin-node": {"#!/bin/sh\nexec node main.js\n", 0o755},
		"plugin.json":           {`{"name": "node"}`, 0o644},
		"main.js":               {"require('./lib/pay')\n", 0o644},
		"lib/pay.js":            {"module.exports = {}\n", 0o600},
	} {
		full := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(f.content), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("lib/pay.js", filepath.Join(dir, "pay.js")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestScan lists every file of the folder with its mode and content hash,
// sorted by path, and a link with the hash of its target.
func TestScan(t *testing.T) {
	dir := nodeFolder(t)
	got, err := lockfile.Scan(dir)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	want := []lockfile.FileEntry{
		{Path: "lib/pay.js", Mode: "0600", SHA256: sum("module.exports = {}\n")},
		{Path: "main.js", Mode: "0644", SHA256: sum("require('./lib/pay')\n")},
		{Path: "mikrobill-plugin-node", Mode: "0755", SHA256: sum("#!/bin/sh\nexec node main.js\n")},
		{Path: "pay.js", Mode: "symlink", SHA256: sum("lib/pay.js")},
		{Path: "plugin.json", Mode: "0644", SHA256: sum(`{"name": "node"}`)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}

	// A directory to skip (the host's data directory, say) is left out.
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "plugins", "node"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "plugins", "node", "state.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	skipped, err := lockfile.Scan(dir, data)
	if err != nil {
		t.Fatalf("Scan with skip: %v", err)
	}
	if diff := cmp.Diff(want, skipped); diff != "" {
		t.Errorf("Scan skipping %s (-want +got):\n%s", data, diff)
	}
}

// TestLockPinsTheWholeFolder: the entry Lock makes changes when any file
// of the folder changes, not only the executable: Compare names each file
// added, removed or modified (content or mode).
func TestLockPinsTheWholeFolder(t *testing.T) {
	dir := nodeFolder(t)
	e, err := lockfile.Lock(dir, "1.0.0", "mikrobill-plugin-node")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if e.SHA256 != sum("#!/bin/sh\nexec node main.js\n") || len(e.Files) != 5 || e.FolderSHA256 != lockfile.FolderSHA256(e.Files) || e.Legacy() {
		t.Fatalf("Lock = %+v; want the executable's sum, 5 files and their folder hash", e)
	}
	now := func() []lockfile.Change {
		t.Helper()
		files, err := lockfile.Scan(dir)
		if err != nil {
			t.Fatal(err)
		}
		return e.Compare(files)
	}
	if c := now(); len(c) != 0 {
		t.Fatalf("Compare right after Lock = %v, want no changes", c)
	}

	if err := os.WriteFile(filepath.Join(dir, "main.js"), []byte("require('child_process').exec('curl evil')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "lib", "pay.js"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lib", "evil.js"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "pay.js")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("main.js", filepath.Join(dir, "pay.js")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "plugin.json")); err != nil {
		t.Fatal(err)
	}
	want := []lockfile.Change{
		{Path: "lib/evil.js", Kind: "added"},
		{Path: "lib/pay.js", Kind: "modified", Detail: "mode 0600 -> 0755"},
		{Path: "main.js", Kind: "modified", Detail: "content"},
		{Path: "pay.js", Kind: "modified", Detail: "link target"},
		{Path: "plugin.json", Kind: "removed"},
	}
	got := now()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compare (-want +got):\n%s", diff)
	}
	if s := lockfile.Summary(got); s != "added lib/evil.js, modified lib/pay.js (mode 0600 -> 0755), modified main.js (content), modified pay.js (link target), removed plugin.json" {
		t.Errorf("Summary = %q", s)
	}
}

// TestScanRefuses: a folder that cannot be pinned is refused, naming the
// file and why: a link out of the folder (to /bin/sh, or a folder linked
// to /bin), a link to nothing, a named pipe.
func TestScanRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"executable linked to /bin/sh", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "mikrobill-plugin-node"))
			if err := os.Symlink("/bin/sh", filepath.Join(dir, "mikrobill-plugin-node")); err != nil {
				t.Fatal(err)
			}
		}, []string{"mikrobill-plugin-node is a symbolic link to /", "outside the plugin folder", "put the file itself in the folder"}},
		{"folder linked outside", func(t *testing.T, dir string) {
			if err := os.Symlink("/bin", filepath.Join(dir, "bin")); err != nil {
				t.Fatal(err)
			}
		}, []string{"bin is a symbolic link to /", "outside the plugin folder"}},
		{"relative link leaving the folder", func(t *testing.T, dir string) {
			outside := filepath.Join(filepath.Dir(dir), "elsewhere.js")
			if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../elsewhere.js", filepath.Join(dir, "lib", "x.js")); err != nil {
				t.Fatal(err)
			}
		}, []string{"x.js is a symbolic link to /", "elsewhere.js, outside the plugin folder"}},
		{"dangling link", func(t *testing.T, dir string) {
			if err := os.Symlink("nowhere.js", filepath.Join(dir, "gone.js")); err != nil {
				t.Fatal(err)
			}
		}, []string{"gone.js is a symbolic link to nowhere.js, which does not resolve"}},
		{"named pipe", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"pipe is a named pipe (FIFO)", "only files, folders and symbolic links"}},
		{"line break in a name", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "a\nb"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"has a line break in its name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := nodeFolder(t)
			tt.setup(t, dir)
			_, err := lockfile.Scan(dir)
			if err == nil {
				t.Fatal("Scan succeeded, want an error")
			}
			if _, lerr := lockfile.Lock(dir, "1.0.0", "mikrobill-plugin-node"); lerr == nil {
				t.Error("Lock succeeded, want the same error")
			}
			for _, w := range append([]string{"plugin folder " + dir}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestReadFormat1: a lock file written by the previous format (executable
// checksums only) is still read; its entries are refused with what to do.
func TestReadFormat1(t *testing.T) {
	dir := t.TempDir()
	content := `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "mikrobill-plugin-audit", "sha256": "` + sumTest + `"}}}`
	if err := os.WriteFile(lockfile.Path(dir), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := lockfile.Read(dir)
	if err != nil {
		t.Fatalf("Read of a format 1 lock file: %v", err)
	}
	if !f.Plugins["audit"].Legacy() {
		t.Errorf("entry %+v is not Legacy", f.Plugins["audit"])
	}
	if _, err := f.Check("audit", "mikrobill-plugin-audit"); err == nil || !strings.Contains(err.Error(), "review the folder and run `mikrobill plugin lock audit`") {
		t.Errorf("Check of a format 1 entry = %v, want a refusal saying to review and lock again", err)
	}
	// Written back (when another plugin is locked), the entry stays what
	// it was: refused until it is locked again.
	if err := lockfile.Write(dir, f); err != nil {
		t.Fatal(err)
	}
	again, err := lockfile.Read(dir)
	if err != nil {
		t.Fatalf("Read after Write: %v", err)
	}
	if again.Version != 2 || !again.Plugins["audit"].Legacy() {
		t.Errorf("after Write: %+v, want version 2 with the entry still Legacy", again)
	}
}

// TestChangesBeforeLaunch compares everything but the executable's bytes,
// which the launcher checks on the file it runs: a changed executable
// content is not read here, while its mode, its removal and every other
// file are.
func TestChangesBeforeLaunch(t *testing.T) {
	dir := nodeFolder(t)
	e, err := lockfile.Lock(dir, "1.0.0", "mikrobill-plugin-node")
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "mikrobill-plugin-node")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexec evil\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if c, err := e.ChangesBeforeLaunch(dir); err != nil || len(c) != 0 {
		t.Errorf("ChangesBeforeLaunch after the executable's content changed = %v, %v; want none (the launcher checks those bytes)", c, err)
	}
	if err := os.Chmod(exe, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.js"), []byte("evil()\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []lockfile.Change{
		{Path: "main.js", Kind: "modified", Detail: "content"},
		{Path: "mikrobill-plugin-node", Kind: "modified", Detail: "mode 0755 -> 0700"},
	}
	c, err := e.ChangesBeforeLaunch(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("ChangesBeforeLaunch (-want +got):\n%s", diff)
	}
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	c, err = e.ChangesBeforeLaunch(dir)
	if err != nil || len(c) != 2 || c[1] != (lockfile.Change{Path: "mikrobill-plugin-node", Kind: "removed"}) {
		t.Errorf("ChangesBeforeLaunch without the executable = %v, %v; want it removed", c, err)
	}
}
