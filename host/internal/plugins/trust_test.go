package plugins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// startWithin is f.start that fails the test instead of hanging.
func (f *fixture) startWithin(timeout time.Duration) (*Manager, error) {
	f.t.Helper()
	type result struct {
		m   *Manager
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := f.start()
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(timeout):
		f.t.Fatalf("Start did not return within %s", timeout)
		return nil, nil
	}
}

// TestBrokenManifestStopsTheStartOnlyWhenRequired: a manifest with
// problems stops the start only when it says (or defaults to) required, or
// the configuration says so; one that says "required": false, or cannot be
// read at all, is reported failed with its reason while the rest runs. A
// broken manifest used to count as required whatever it said.
func TestBrokenManifestStopsTheStartOnlyWhenRequired(t *testing.T) {
	tests := []struct {
		name         string
		manifest     string
		configured   *bool
		wantStop     bool
		wantRequired bool
		why          string
	}{
		{"says required false, other fields wrong", `{"name": "broken", "version": "1.0", "kind": "generic", "protocol_versions": [1], "required": false}`,
			nil, false, false, `"1.0" is not a semantic version`},
		{"says required false, unknown field", `{"name": "broken", "version": "1.0.0", "kind": "generic", "protocol_versions": [1], "required": false, "colour": "red"}`,
			nil, false, false, `unknown field "colour"`},
		{"not JSON", `{"name": "broken", "required": true`,
			nil, false, false, "is not valid JSON"},
		{"not JSON, required by the configuration", `{"name": "broken"`,
			boolPtr(true), true, true, "is not valid JSON"},
		{"says nothing of required, other fields wrong", `{"name": "broken", "version": "1.0", "kind": "generic", "protocol_versions": [1]}`,
			nil, true, true, `"1.0" is not a semantic version`},
		{"says required false, configured required", `{"name": "broken", "version": "1.0", "kind": "generic", "protocol_versions": [1], "required": false}`,
			boolPtr(true), true, true, `"1.0" is not a semantic version`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.Add(tp{Name: "core"})
			dir := f.Add(tp{Name: "broken"})
			if err := os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(tt.manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.configured != nil {
				f.cfg.Plugin["broken"] = &config.PluginConfig{Required: tt.configured}
			}
			m, err := f.start()
			var se *StartError
			if tt.wantStop {
				if !errors.As(err, &se) || !strings.Contains(se.Failed["broken"], tt.why) {
					t.Fatalf("Start = %v; want a StartError for broken saying %q", err, tt.why)
				}
			} else if err != nil {
				t.Fatalf("Start = %v; a broken optional plugin must leave the host running", err)
			}
			st := status(t, m, "broken")
			if st.State != StateFailed || !strings.Contains(st.LastError, tt.why) || st.Required != tt.wantRequired {
				t.Errorf("broken: state %s, required %v, last_error %q; want failed, required %v, saying %q", st.State, st.Required, st.LastError, tt.wantRequired, tt.why)
			}
			if st := status(t, m, "core"); st.State != StateRunning {
				t.Errorf("core: %s (%s), want running", st.State, st.LastError)
			}
			if !strings.Contains(f.logs.String(), "plugin refused: plugin=broken") {
				t.Errorf("the log does not report the broken plugin:\n%s", f.logs.String())
			}
			if ok, why := m.Ready(); ok == tt.wantStop {
				t.Errorf("Ready() = %v %v, want %v", ok, why, !tt.wantStop)
			}
		})
	}
}

// TestBadManifestFilesRefusedOneByOne: a plugin.json that is a named pipe,
// a link to /dev/zero, larger than 1 MiB, or holds a 1 MB name is refused
// for that plugin alone, with a short reason, and the other plugins load.
// The pipe used to hang the start, and /dev/zero to exhaust memory.
func TestBadManifestFilesRefusedOneByOne(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "core"})
	manifestOf := map[string]func(file string) error{
		"fifo": func(file string) error { return syscall.Mkfifo(file, 0o644) },
		"zero": func(file string) error { return os.Symlink("/dev/zero", file) },
		"big": func(file string) error {
			return os.WriteFile(file, []byte(`{"name": "big", "required": false, "description": "`+strings.Repeat("x", 1<<20)+`"}`), 0o644)
		},
		"longname": func(file string) error {
			return os.WriteFile(file, []byte(`{"name": "`+strings.Repeat("n", 1<<20-100)+`", "required": false}`), 0o644)
		},
	}
	for name, make := range manifestOf {
		dir := f.Add(tp{Name: name, NoLock: true})
		file := filepath.Join(dir, "plugin.json")
		os.Remove(file)
		if err := make(file); err != nil {
			t.Fatal(err)
		}
	}
	m, err := f.startWithin(60 * time.Second)
	if err != nil {
		t.Fatalf("Start = %v; bad manifests of optional plugins must leave the host running", err)
	}
	want := map[string]string{
		"fifo":     "is a named pipe (FIFO), not a regular file",
		"zero":     "is a character device, not a regular file",
		"big":      "a plugin manifest may be at most 1048576 bytes (1 MiB)",
		"longname": "is 1048476 bytes long; at most 64 are allowed",
	}
	for name, why := range want {
		st := status(t, m, name)
		if st.State != StateFailed || !strings.Contains(st.LastError, why) {
			t.Errorf("%s: state %s, last_error %.300q; want failed saying %q", name, st.State, st.LastError, why)
		}
		if len(st.LastError) > 4096 {
			t.Errorf("%s: last_error is %d bytes long", name, len(st.LastError))
		}
	}
	if st := status(t, m, "core"); st.State != StateRunning {
		t.Errorf("core: %s (%s), want running", st.State, st.LastError)
	}
	if got := f.started(); !slices.Equal(got, []string{"core"}) {
		t.Errorf("started %v, want only core", got)
	}
}

// wrapperPlugin installs a plugin whose executable is a shell wrapper that
// runs its real code, "main" (testplugin), from the folder: the shape of a
// Node.js or Python plugin. It returns the folder, locked.
func wrapperPlugin(f *fixture, name string) string {
	f.t.Helper()
	dir := f.Add(tp{Name: name, Required: boolPtr(false), NoLock: true})
	exe := filepath.Join(dir, "mikrobill-plugin-"+name)
	if err := os.Rename(exe, filepath.Join(dir, "main")); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexec ./main \"$@\"\n"), 0o755); err != nil {
		f.t.Fatal(err)
	}
	f.Lock(name)
	return dir
}

// TestFolderChangeRefusedBeforeItRuns: the lock pins the whole folder. A
// wrapper plugin runs; when its code (not its executable) changes, the
// next launch is refused before anything runs, naming the file. The lock
// used to cover the executable only, so the changed code ran.
func TestFolderChangeRefusedBeforeItRuns(t *testing.T) {
	f := newFixture(t)
	dir := wrapperPlugin(f, "wrapped")
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := status(t, m, "wrapped"); st.State != StateRunning {
		t.Fatalf("wrapped: %s (%s), want running", st.State, st.LastError)
	}
	// Change the plugin's code behind its wrapper (a new file in its
	// place: the old one is running), and add a file.
	raw, err := os.ReadFile(filepath.Join(dir, "main"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.new"), append(raw, "changed"...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "main.new"), filepath.Join(dir, "main")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.js"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart("wrapped"); err == nil {
		t.Fatal("Restart succeeded; the changed folder must be refused")
	}
	st := status(t, m, "wrapped")
	for _, w := range []string{"refused before running it", "changed since it was locked", "added extra.js", "modified main (content)", "mikrobill plugin lock wrapped"} {
		if !strings.Contains(st.LastError, w) {
			t.Errorf("last_error %q does not contain %q", st.LastError, w)
		}
	}
	if st.State != StateFailed {
		t.Errorf("state %s, want failed", st.State)
	}
	if got := f.started(); len(got) != 1 {
		t.Errorf("the plugin started %d times, want once (before the change)", len(got))
	}
}

// TestExecutableLinkedOutsideRefused: an executable that is a symbolic
// link out of the plugin folder is refused before it runs, even when what
// it leads to has the approved content.
func TestExecutableLinkedOutsideRefused(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "core"})
	dir := f.Add(tp{Name: "linked", Required: boolPtr(false)})
	// The same bytes outside the folder, with what testplugin reads beside
	// itself.
	outside := filepath.Join(filepath.Dir(f.Dir), "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "mikrobill-plugin-linked")
	for _, name := range []string{"mikrobill-plugin-linked", "testplugin.json"} {
		testenv.CopyFile(t, filepath.Join(dir, name), filepath.Join(outside, name))
	}
	os.Remove(exe)
	if err := os.Symlink(filepath.Join(outside, "mikrobill-plugin-linked"), exe); err != nil {
		t.Fatal(err)
	}
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := status(t, m, "linked")
	if st.State != StateFailed || !strings.Contains(st.LastError, "is a symbolic link to "+outside) || !strings.Contains(st.LastError, "outside the plugin folder") {
		t.Errorf("linked: state %s, last_error %q; want failed, saying the link leads outside the plugin folder", st.State, st.LastError)
	}
	if slices.Contains(f.started(), "linked") {
		t.Error("the executable linked outside the folder ran")
	}
}

// TestSwappedExecutableNeverRuns: restarts while a goroutine keeps swapping
// another script in at the executable's path: every launch runs the
// approved executable or is refused; the swapped-in script never runs. The
// host used to check the path and execute the path afterwards, and ran the
// other script in about one of seven launches that passed the check.
func TestSwappedExecutableNeverRuns(t *testing.T) {
	f := newFixture(t)
	dir := f.Add(tp{Name: "swap", Required: boolPtr(false)})
	exe := filepath.Join(dir, "mikrobill-plugin-swap")
	// Both versions wait outside the folder, on the same file system.
	spare := filepath.Join(filepath.Dir(f.Dir), "spare")
	if err := os.Mkdir(spare, 0o755); err != nil {
		t.Fatal(err)
	}
	good, evil := filepath.Join(spare, "good"), filepath.Join(spare, "evil")
	if err := os.Link(exe, good); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(spare, "evil-ran")
	if err := os.WriteFile(evil, []byte("#!/bin/sh\necho ran >> "+marker+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}

	stop := make(chan struct{})
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tmp := filepath.Join(spare, "next")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			src := good
			if i%2 == 0 {
				src = evil
			}
			_ = os.Remove(tmp)
			if err := os.Link(src, tmp); err != nil {
				t.Errorf("swap: %v", err)
				return
			}
			if err := os.Rename(tmp, exe); err != nil {
				t.Errorf("swap: %v", err)
				return
			}
			swaps.Add(1)
		}
	}()
	// Restart until 40 launches got past the lock check (a refusal is
	// quick, so counting restarts alone could end before the race shows).
	var ran, refused int
	for ran < 40 && refused < 1000 {
		if err := m.Restart("swap"); err != nil && strings.Contains(err.Error(), "refused before running it") {
			refused++
		} else {
			ran++
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d swaps; %d restarts got past the lock check, %d were refused", swaps.Load(), ran, refused)
	if raw, err := os.ReadFile(marker); err == nil {
		t.Errorf("the swapped-in script ran %d time(s); only the approved executable may run", strings.Count(string(raw), "ran"))
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	// With the approved file back, the plugin runs again.
	if err := os.Rename(good, exe); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart("swap"); err != nil {
		t.Errorf("Restart with the approved executable back: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m.Stop(ctx)
}

// TestDataDirectoryInsidePluginFolderRefused: when the configuration makes
// a plugin's data directory its own folder (data_dir/plugins is the plugin
// directory), the plugin is refused with what to change: it would write
// into the folder the lock pins.
func TestDataDirectoryInsidePluginFolderRefused(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "nest", Required: boolPtr(false)})
	f.cfg.DataDir = filepath.Dir(f.Dir)
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := status(t, m, "nest")
	if st.State != StateFailed || !strings.Contains(st.LastError, "is its plugin folder or holds it") || !strings.Contains(st.LastError, "set data_dir") {
		t.Errorf("nest: state %s, last_error %q; want failed, saying the data directory is the plugin folder", st.State, st.LastError)
	}
	if len(f.started()) != 0 {
		t.Errorf("started %v, want nothing", f.started())
	}
}
