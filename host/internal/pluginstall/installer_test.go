package pluginstall_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

type tp = testenv.Plugin

// source makes a folder source holding the given test plugins, each in a
// folder of its own (named <name>-<version>).
func source(t *testing.T, ps ...tp) pluginstall.DirSource {
	t.Helper()
	root := t.TempDir()
	for _, p := range ps {
		d := testenv.NewPluginDir(t)
		p.NoLock = true
		dir := d.Add(p)
		v := p.Version
		if v == "" {
			v = "1.0.0"
		}
		if err := os.Rename(dir, filepath.Join(root, p.Name+"-"+v)); err != nil {
			t.Fatal(err)
		}
	}
	return pluginstall.DirSource{Dir: root}
}

func newInstaller(t *testing.T, dir string) *pluginstall.Installer {
	t.Helper()
	return pluginstall.New(pluginstall.Config{Dir: dir, HostVersion: "1.0.0", Wait: 200 * time.Millisecond,
		DataDir: func(name string) string { return filepath.Join(dir, "..", "data", name) }})
}

// assertConsistent checks that the active folder of name holds version
// want ("" for not installed) and that plugins.lock approves it as it is.
func assertConsistent(t *testing.T, dir, name, want string) {
	t.Helper()
	lf, err := lockfile.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, locked := lf.Plugins[name]
	m, merr := manifest.Load(filepath.Join(dir, name))
	if want == "" {
		if locked || merr == nil {
			t.Fatalf("%s: locked %v, folder loads %v; want neither", name, locked, merr == nil)
		}
		return
	}
	if merr != nil || !locked {
		t.Fatalf("%s: manifest %v, locked %v; want %s installed and locked", name, merr, locked, want)
	}
	if m.Version != want || e.Version != want {
		t.Fatalf("%s: folder holds %s, lock says %s; want %s", name, m.Version, e.Version, want)
	}
	files, err := lockfile.Scan(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if ch := e.Compare(files); len(ch) > 0 {
		t.Fatalf("%s: folder differs from its lock entry: %s", name, lockfile.Summary(ch))
	}
}

func TestInstallUpgradeRollbackRemoveOnDisk(t *testing.T) {
	dir := testenv.NewPluginDir(t).Dir
	in := newInstaller(t, dir)
	ctx := context.Background()
	src := source(t, tp{Name: "pa", Version: "1.0.0"}, tp{Name: "pa", Version: "2.0.0"}, tp{Name: "pb", Deps: []any{"pa"}})

	var steps []string
	var last, total int64
	res, err := in.Install(ctx, src, "pa", "1.0.0", pluginstall.Observer{
		Step: func(s string) { steps = append(steps, s) }, Progress: func(d, n int64) { last, total = d, n }})
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if res.To != "1.0.0" || res.FolderSHA256 == "" || last == 0 || last != total {
		t.Errorf("result %+v, progress %d/%d; want 1.0.0 with its folder hash and progress to the end", res, last, total)
	}
	if got := strings.Join(steps, ","); got != "fetch,check,place" {
		t.Errorf("steps %s", got)
	}
	assertConsistent(t, dir, "pa", "1.0.0")
	if _, err := in.Install(ctx, src, "pa", "", pluginstall.Observer{}); !errors.Is(err, pluginstall.ErrState) || !strings.Contains(err.Error(), "mikrobill plugin upgrade pa") {
		t.Errorf("second install: %v; want refused, saying to upgrade", err)
	}
	if _, err := in.Install(ctx, src, "pb", "", pluginstall.Observer{}); err != nil {
		t.Fatalf("install pb: %v", err)
	}

	if res, err = in.Upgrade(ctx, src, "pa", "", pluginstall.Observer{}); err != nil || res.From != "1.0.0" || res.To != "2.0.0" {
		t.Fatalf("Upgrade: %+v, %v; want 1.0.0 -> 2.0.0 (the newest)", res, err)
	}
	assertConsistent(t, dir, "pa", "2.0.0")
	if got := in.Layout().KeptVersions("pa"); len(got) != 1 || got[0] != "1.0.0" {
		t.Errorf("kept versions %v, want [1.0.0]", got)
	}
	found, err := plugins.Discover(dir)
	if err != nil || len(found) != 2 {
		t.Fatalf("Discover: %d folders, %v; want pa and pb only (dot-folders skipped)", len(found), err)
	}

	if res, err = in.Rollback(ctx, "pa", pluginstall.Observer{}); err != nil || res.To != "1.0.0" {
		t.Fatalf("Rollback: %+v, %v", res, err)
	}
	assertConsistent(t, dir, "pa", "1.0.0")
	if got := in.Layout().KeptVersions("pa"); len(got) != 1 || got[0] != "2.0.0" {
		t.Errorf("kept versions after rollback %v, want [2.0.0]", got)
	}

	if _, err := in.Remove(ctx, "pa", false, false, pluginstall.Observer{}); !errors.Is(err, pluginstall.ErrState) || !strings.Contains(err.Error(), "pb depend(s)") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("remove with a dependent: %v; want refused naming pb and --force", err)
	}
	data := filepath.Join(dir, "..", "data", "pa")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Remove(ctx, "pa", true, false, pluginstall.Observer{}); err != nil {
		t.Fatalf("forced remove: %v", err)
	}
	assertConsistent(t, dir, "pa", "")
	if _, err := os.Stat(data); err != nil {
		t.Errorf("data directory gone after a remove without purge: %v", err)
	}
	if _, err := in.Remove(ctx, "pb", false, true, pluginstall.Observer{}); err != nil {
		t.Fatalf("remove pb: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "data", "pb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("purged data directory still there: %v", err)
	}
}

func TestInstallRefusals(t *testing.T) {
	dir := testenv.NewPluginDir(t).Dir
	in := newInstaller(t, dir)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		src     pluginstall.DirSource
		ask     string
		version string
		want    []string
	}{
		{"other name", source(t, tp{Name: "impostor"}), "wanted", "", []string{`named "impostor"`, `not "wanted" as asked`}},
		{"host too old", source(t, tp{Name: "future", Manifest: map[string]any{"min_host_version": "9.0.0"}}), "future", "",
			[]string{"needs mikrobill >= 9.0.0, this host is 1.0.0", "upgrade the host", "future@VERSION"}},
		{"protocol", source(t, tp{Name: "proto", Manifest: map[string]any{"protocol_versions": []int{99}}}), "proto", "",
			[]string{"speaks plugin protocol 99", "rebuild the plugin"}},
		{"bad handshake", source(t, tp{Name: "shaky", Mode: "mismatch", Behaviour: map[string]any{"describe_version": "7.0.0"}}), "shaky", "",
			[]string{"failed its handshake", "Describe says \"7.0.0\""}},
		{"missing dependency", source(t, tp{Name: "needy", Deps: []any{"absent"}}), "needy", "", []string{`depends on plugin "absent"`, "install absent first"}},
		{"no such version", source(t, tp{Name: "pv"}), "pv", "3.0.0", []string{"holds no plugin pv@3.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := in.Install(ctx, tc.src, tc.ask, tc.version, pluginstall.Observer{})
			if err == nil {
				t.Fatal("installed; want refused")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if found, _ := plugins.Discover(dir); len(found) != 0 {
				t.Errorf("a refused install left %d folders", len(found))
			}
			if entries, _ := os.ReadDir(in.Layout().Staging()); len(entries) != 0 {
				t.Errorf("staging holds %d entries after a refusal", len(entries))
			}
		})
	}
}

func TestTwoInstallsAtOnce(t *testing.T) {
	dir := testenv.NewPluginDir(t).Dir
	src := source(t, tp{Name: "pa"}, tp{Name: "pb"})
	// One waits for the other.
	patient := pluginstall.New(pluginstall.Config{Dir: dir, HostVersion: "1.0.0", Wait: time.Minute})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"pa", "pb"} {
		wg.Go(func() { _, errs[i] = patient.Install(context.Background(), src, name, "", pluginstall.Observer{}) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("two installs with a long wait: %v, %v; want both done, one after the other", errs[0], errs[1])
	}
	assertConsistent(t, dir, "pa", "1.0.0")
	assertConsistent(t, dir, "pb", "1.0.0")

	// One is refused when the other holds the directory longer than the wait.
	slow := source(t, tp{Name: "pc", Mode: "slow", Behaviour: map[string]any{"slow_ms": 1500}})
	done := make(chan error)
	go func() {
		_, err := patient.Install(context.Background(), slow, "pc", "", pluginstall.Observer{})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // pc is in its handshake
	_, err := newInstaller(t, dir).Upgrade(context.Background(), src, "pa", "", pluginstall.Observer{})
	if !errors.Is(err, pluginstall.ErrBusy) || !strings.Contains(err.Error(), "wait for it to finish and try again") {
		t.Errorf("install during another: %v; want ErrBusy saying to wait and try again", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("slow install: %v", err)
	}
}

// TestKilledMidInstall kills an installing process (this test binary, as
// a helper) at each journal step and checks that the next start finds the
// plugin folder and plugins.lock in agreement: the old version before the
// new one is placed, the new one after.
func TestKilledMidInstall(t *testing.T) {
	if os.Getenv("PLUGINSTALL_HELPER_DIR") != "" {
		return // the helper runs TestKilledMidInstallHelper
	}
	src := source(t, tp{Name: "pa", Version: "1.0.0"}, tp{Name: "pa", Version: "2.0.0"})
	for _, tc := range []struct{ step, want string }{
		{"begun", "1.0.0"}, {"kept", "1.0.0"}, {"placed", "2.0.0"}, {"locked", "2.0.0"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			dir := testenv.NewPluginDir(t).Dir
			if _, err := newInstaller(t, dir).Install(context.Background(), src, "pa", "1.0.0", pluginstall.Observer{}); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestKilledMidInstallHelper$")
			cmd.Env = append(os.Environ(), "PLUGINSTALL_HELPER_DIR="+dir, "PLUGINSTALL_HELPER_SRC="+src.Dir, pluginstall.CrashEnv+"="+tc.step)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ProcessState.Sys() == nil || !strings.Contains(ee.ProcessState.String(), "killed") {
				t.Fatalf("helper: %v (want killed)\n%s", err, out)
			}
			if _, err := os.Stat(filepath.Join(dir, ".install.journal.json")); err != nil {
				t.Fatalf("no journal left by the killed process: %v", err)
			}
			rec, err := pluginstall.Recover(dir, time.Second)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if rec.Name != "pa" || rec.Forward != (tc.want == "2.0.0") {
				t.Errorf("recovery %+v", rec)
			}
			assertConsistent(t, dir, "pa", tc.want)
			if _, err := os.Stat(filepath.Join(dir, ".install.journal.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("journal still there after recovery: %v", err)
			}
			// The directory works again: the next action goes through.
			in := newInstaller(t, dir)
			if tc.want == "1.0.0" {
				_, err = in.Upgrade(context.Background(), src, "pa", "2.0.0", pluginstall.Observer{})
			} else {
				_, err = in.Rollback(context.Background(), "pa", pluginstall.Observer{})
			}
			if err != nil {
				t.Fatalf("next action after recovery: %v", err)
			}
		})
	}
}

func TestKilledMidInstallHelper(t *testing.T) {
	dir := os.Getenv("PLUGINSTALL_HELPER_DIR")
	if dir == "" {
		t.Skip("helper of TestKilledMidInstall")
	}
	_, err := newInstaller(t, dir).Upgrade(context.Background(), pluginstall.DirSource{Dir: os.Getenv("PLUGINSTALL_HELPER_SRC")}, "pa", "2.0.0", pluginstall.Observer{})
	t.Fatalf("upgrade was not killed at step %s: %v", os.Getenv(pluginstall.CrashEnv), err)
}

func TestDirSourceRefusesLinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip()
	}
	src := source(t, tp{Name: "linky"})
	if err := os.Symlink("/etc/passwd", filepath.Join(src.Dir, "linky-1.0.0", "passwd")); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := src.Fetch(context.Background(), "linky", "", dst, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fetch of a folder with a link: %v; want refused", err)
	}
}
