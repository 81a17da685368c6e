package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// runWithin is run that fails the test instead of hanging.
func runWithin(t *testing.T, timeout time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		c, o, e := run(t, args...)
		done <- result{c, o, e}
	}()
	select {
	case r := <-done:
		return r.code, r.stdout, r.stderr
	case <-time.After(timeout):
		t.Fatalf("mikrobill %s did not end within %s", strings.Join(args, " "), timeout)
		return 0, "", ""
	}
}

// TestPluginLockAndListShowFolderChanges: the lock pins the whole folder;
// after a file other than the executable changes, `plugin list` says the
// plugin changed and which files, and `plugin lock` prints them as it locks
// again. The lock used to cover the executable only and said "ok".
func TestPluginLockAndListShowFolderChanges(t *testing.T) {
	d := testenv.NewPluginDir(t)
	first := d.Add(testenv.Plugin{Name: "first", NoLock: true})
	d.Add(testenv.Plugin{Name: "second", NoLock: true})
	code, stdout, stderr := run(t, "plugin", "lock", "--plugin-dir", d.Dir)
	if code != 0 || !strings.Contains(stdout, "new        first 1.0.0 folder:") || !strings.Contains(stdout, "(3 files)") {
		t.Fatalf("lock: exit %d\n%s\n%s", code, stdout, stderr)
	}

	if err := os.WriteFile(filepath.Join(first, "testplugin.json"), []byte(`{"name": "first", "version": "1.0.0", "kind": "generic", "mode": "crash"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(first, "extra.js"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run(t, "plugin", "list", "--plugin-dir", d.Dir)
	for _, w := range []string{"changed since locked", "first changed since it was locked", "  added     extra.js", "  modified  testplugin.json (content)", "mikrobill plugin lock first"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("list does not show %q:\n%s", w, stdout)
		}
	}
	if code != 0 || strings.Count(stdout, " ok ") != 1 {
		t.Errorf("list: exit %d, want second still ok:\n%s", code, stdout)
	}

	_, stdout, _ = run(t, "plugin", "list", "--plugin-dir", d.Dir, "--json")
	var listed struct {
		Plugins []struct {
			Name    string
			Lock    string
			Changes []struct{ Path, Kind, Detail string }
		}
	}
	if err := json.Unmarshal([]byte(stdout), &listed); err != nil {
		t.Fatalf("list --json: %v\n%s", err, stdout)
	}
	for _, p := range listed.Plugins {
		if p.Name == "first" && (p.Lock != "changed since locked" || len(p.Changes) != 2) {
			t.Errorf("list --json: first %+v, want changed with 2 changes", p)
		}
	}

	code, stdout, _ = run(t, "plugin", "inspect", "--plugin-dir", d.Dir, "first")
	if code != 0 || !strings.Contains(stdout, "lock:             changed since locked") || !strings.Contains(stdout, "modified  testplugin.json (content)") {
		t.Errorf("inspect: exit %d\n%s", code, stdout)
	}

	code, stdout, _ = run(t, "plugin", "lock", "--plugin-dir", d.Dir, "first")
	if code != 0 || !strings.Contains(stdout, "changed    first 1.0.0 folder:") || !strings.Contains(stdout, "(4 files)") ||
		!strings.Contains(stdout, "           added     extra.js") || !strings.Contains(stdout, "           modified  testplugin.json (content)") {
		t.Errorf("lock first: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "plugin", "lock", "--plugin-dir", d.Dir)
	if code != 0 || !strings.Contains(stdout, "unchanged  first") || !strings.Contains(stdout, "unchanged  second") {
		t.Errorf("lock again: exit %d\n%s", code, stdout)
	}
}

// TestPluginLockRefusesLinkOutsideFolder: an executable that is a symbolic
// link to /bin/sh is refused by `plugin lock`, `plugin validate` and
// `plugin list`, each saying it leads outside the plugin folder. lock used
// to approve it.
func TestPluginLockRefusesLinkOutsideFolder(t *testing.T) {
	d := testenv.NewPluginDir(t)
	dir := d.Add(testenv.Plugin{Name: "linked", NoLock: true})
	d.Add(testenv.Plugin{Name: "plain", NoLock: true})
	exe := filepath.Join(dir, "mikrobill-plugin-linked")
	os.Remove(exe)
	if err := os.Symlink("/bin/sh", exe); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, "plugin", "lock", "--plugin-dir", d.Dir)
	if code != 1 || !strings.Contains(stderr, "linked: not locked") || !strings.Contains(stderr, `"mikrobill-plugin-linked" is a symbolic link to /`) || !strings.Contains(stderr, "outside the plugin folder") {
		t.Errorf("lock: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	lock, err := lockfile.Read(d.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lock.Plugins["linked"]; ok {
		t.Error("plugins.lock approves the plugin whose executable leads outside its folder")
	}
	if _, ok := lock.Plugins["plain"]; !ok {
		t.Error("plugins.lock does not hold the plain plugin")
	}

	code, _, stderr = run(t, "plugin", "validate", dir)
	if code != 1 || !strings.Contains(stderr, "outside the plugin folder") {
		t.Errorf("validate: exit %d\n%s", code, stderr)
	}
	_, stdout, _ = run(t, "plugin", "list", "--plugin-dir", d.Dir)
	if !strings.Contains(stdout, "outside the plugin folder") {
		t.Errorf("list does not say the link leads outside the folder:\n%s", stdout)
	}

	// A file linked out of the folder beside the executable is refused too.
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	testenv.CopyFile(t, testenv.TestPlugin(t), exe)
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "lib.js")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "plugin", "lock", "--plugin-dir", d.Dir, "linked")
	if code != 1 || !strings.Contains(stderr, "lib.js is a symbolic link to /etc/passwd, outside the plugin folder") {
		t.Errorf("lock linked with lib.js linked outside: exit %d\n%s", code, stderr)
	}
}

// TestPluginListBoundsManifests: `plugin list` reports a plugin.json that
// is a named pipe, a link to /dev/zero, over 1 MiB or holds a 1 MB name,
// each as that plugin's problem, in a short line, and lists the others. It
// used to hang on the pipe and print 36 MB for the name.
func TestPluginListBoundsManifests(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "good"})
	for name, make := range map[string]func(file string) error{
		"fifo": func(file string) error { return syscall.Mkfifo(file, 0o644) },
		"zero": func(file string) error { return os.Symlink("/dev/zero", file) },
		"big": func(file string) error {
			return os.WriteFile(file, []byte(`{"description": "`+strings.Repeat("x", 1<<20)+`"}`), 0o644)
		},
		"longname": func(file string) error {
			return os.WriteFile(file, []byte(`{"name": "`+strings.Repeat("n", 1<<20-100)+`", "version": "1.0.0", "kind": "generic", "protocol_versions": [1]}`), 0o644)
		},
	} {
		dir := filepath.Join(d.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := make(filepath.Join(dir, "plugin.json")); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runWithin(t, 60*time.Second, "plugin", "list", "--plugin-dir", d.Dir)
	if code != 0 {
		t.Fatalf("list: exit %d\n%.2000s", code, stderr)
	}
	if len(stdout) > 8192 {
		t.Errorf("list printed %d bytes; a huge field must not be printed", len(stdout))
	}
	for _, w := range []string{
		"is a named pipe (FIFO), not a regular file",
		"is a character device, not a regular file",
		"a plugin manifest may be at most 1048576 bytes (1 MiB)",
		"name: is 1048476 bytes long; at most 64 are allowed",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("list does not report %q:\n%.3000s", w, stdout)
		}
	}
	if !strings.Contains(stdout, "good") || strings.Count(stdout, " ok ") != 1 {
		t.Errorf("list does not show the good plugin as locked:\n%.3000s", stdout)
	}
}

// TestPluginLockFormat1: a plugins.lock of the previous format is read;
// list says to lock again, and lock says what it replaces.
func TestPluginLockFormat1(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "old", NoLock: true})
	old := `{"version": 1, "plugins": {"old": {"version": "1.0.0", "executable": "mikrobill-plugin-old", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}}}`
	if err := os.WriteFile(lockfile.Path(d.Dir), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := run(t, "plugin", "list", "--plugin-dir", d.Dir)
	if code != 0 || !strings.Contains(stdout, "old lock: lock again") || !strings.Contains(stdout, "plugins.lock pins only its executable") {
		t.Errorf("list with a format 1 lock: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "plugin", "lock", "--plugin-dir", d.Dir, "old")
	if code != 0 || !strings.Contains(stdout, "changed    old 1.0.0") || !strings.Contains(stdout, "the old entry pinned only the executable") {
		t.Errorf("lock old: exit %d\n%s", code, stdout)
	}
	if _, stdout, _ = run(t, "plugin", "list", "--plugin-dir", d.Dir); strings.Count(stdout, " ok ") != 1 {
		t.Errorf("list after lock:\n%s", stdout)
	}
}
