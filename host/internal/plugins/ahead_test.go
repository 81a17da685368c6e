package plugins

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// aheadFixture is a plugin directory with a plugin that runs, one whose
// manifest is broken, one left out of the lock, one whose folder changed
// since it was locked and one that depends on that one: each admission's
// outcome differs. (The dependent one tells a folder refused at admission
// from one refused at its launch: the resolver skips it before anything
// launches, with its own error.)
func aheadFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.Add(tp{Name: "runs"})
	f.Add(tp{Name: "unlocked", Required: boolPtr(false), NoLock: true})
	changed := f.Add(tp{Name: "changed", Required: boolPtr(false)})
	if err := os.WriteFile(filepath.Join(changed, "extra.js"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.Add(tp{Name: "dependent", Deps: []any{"changed"}, Required: boolPtr(false)})
	broken := f.Add(tp{Name: "broken", Required: boolPtr(false)})
	if err := os.WriteFile(filepath.Join(broken, "plugin.json"), []byte(`{"name": "broken", "required": false, "version": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// outcomes is each plugin's state and last error.
func outcomes(t *testing.T, m *Manager) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, st := range m.Statuses() {
		out[st.Name] = string(st.State) + ": " + st.LastError
	}
	return out
}

// TestReadAheadAdmitsAsStartWould: a start on the directory read ahead
// (ReadAhead, while serve opens its store) admits, refuses and runs the
// same plugins, with the same errors, as a start that reads it itself.
func TestReadAheadAdmitsAsStartWould(t *testing.T) {
	f := aheadFixture(t)
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	want := outcomes(t, m)
	if !strings.HasPrefix(want["runs"], "running") || !strings.Contains(want["changed"], "changed since it was locked") ||
		!strings.Contains(want["unlocked"], "plugins.lock") || !strings.HasPrefix(want["broken"], "failed") {
		t.Fatalf("the fixture does not give each outcome: %v", want)
	}

	f.cfg.DataDir = filepath.Join(t.TempDir(), "data")
	f.ahead = ReadAhead(f.cfg, hclog.NewNullLogger())
	m2, err := f.start()
	if err != nil {
		t.Fatalf("Start with the directory read ahead: %v", err)
	}
	got := outcomes(t, m2)
	if !maps.Equal(got, want) {
		for _, name := range slices.Sorted(maps.Keys(want)) {
			if got[name] != want[name] {
				t.Errorf("%s: %q read ahead, %q read at Start", name, got[name], want[name])
			}
		}
		t.Errorf("plugins read ahead %v, at Start %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

// TestFolderChangedAfterTheReadAheadNeverRuns: the folder was as locked
// when it was read ahead and changed before Start. Its admission took the
// earlier check, so the launch's own check, right before the process
// starts, is what refuses it: nothing of it runs.
func TestFolderChangedAfterTheReadAheadNeverRuns(t *testing.T) {
	f := newFixture(t)
	dir := f.Add(tp{Name: "late", Required: boolPtr(false)})
	f.ahead = ReadAhead(f.cfg, hclog.NewNullLogger())
	if a := f.ahead.take(); a == nil || a.checks[dir] != nil {
		t.Fatalf("read ahead: %+v, want the folder checked and as locked", a)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.js"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := status(t, m, "late")
	if st.State != StateFailed || !strings.Contains(st.LastError, "added extra.js") {
		t.Errorf("late: %s (%s), want failed naming extra.js", st.State, st.LastError)
	}
	if got := f.started(); len(got) != 0 {
		t.Errorf("the plugin started %d times, want never", len(got))
	}
}

// TestStaleReadAheadIsReadAgain: a directory changed after it was read
// ahead (serve's recovery of an interrupted install, an action another
// host finished) is marked stale, and Start reads it again: the plugin
// installed meanwhile runs.
func TestStaleReadAheadIsReadAgain(t *testing.T) {
	for _, stale := range []bool{false, true} {
		t.Run(map[bool]string{false: "not marked", true: "marked stale"}[stale], func(t *testing.T) {
			f := newFixture(t)
			f.Add(tp{Name: "first"})
			f.ahead = ReadAhead(f.cfg, hclog.NewNullLogger())
			f.ahead.take() // the read is over
			f.Add(tp{Name: "second"})
			if stale {
				f.ahead.Stale()
			}
			m, err := f.start()
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			_, known := m.Plugin("second")
			if known != stale {
				t.Errorf("the plugin added after the read is known: %v, want %v", known, stale)
			}
			if stale {
				if st := status(t, m, "second"); st.State != StateRunning {
					t.Errorf("second: %s (%s), want running", st.State, st.LastError)
				}
			}
		})
	}
}
