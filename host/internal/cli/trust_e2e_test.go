package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestServeWithBrokenOptionalPlugins: `serve` with plugins whose manifests
// are broken but optional (one says "required": false next to a wrong
// version, one is a named pipe, one a link to /dev/zero) serves, ready,
// and /health/plugins and the log show each of them failed with its
// reason. A broken manifest used to count as required ("1 required
// plugin(s) failed to start"), and the pipe hung the start.
func TestServeWithBrokenOptionalPlugins(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "core"})
	broken := d.Add(testenv.Plugin{Name: "broken", NoLock: true})
	testenv.WriteJSON(t, filepath.Join(broken, "plugin.json"), map[string]any{
		"name": "broken", "version": "1.0", "kind": "generic", "protocol_versions": []int{1}, "required": false,
	})
	for name, make := range map[string]func(file string) error{
		"fifo": func(file string) error { return syscall.Mkfifo(file, 0o644) },
		"zero": func(file string) error { return os.Symlink("/dev/zero", file) },
	} {
		dir := filepath.Join(d.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := make(filepath.Join(dir, "plugin.json")); err != nil {
			t.Fatal(err)
		}
	}

	h := startHost(t, d.Dir)
	if code, body := h.get("/ready"); code != http.StatusOK {
		t.Errorf("/ready: %d %s; broken optional plugins must leave the host ready", code, body)
	}
	var ps pluginsBody
	if code := h.getJSON("/health/plugins", &ps); code != http.StatusOK {
		t.Errorf("/health/plugins: %d", code)
	}
	want := map[string]string{
		"core":   "",
		"broken": `version: "1.0" is not a semantic version`,
		"fifo":   "is a named pipe (FIFO), not a regular file",
		"zero":   "is a character device, not a regular file",
	}
	seen := map[string]bool{}
	for _, p := range ps.Plugins {
		why, ok := want[p.Name]
		if !ok {
			continue
		}
		seen[p.Name] = true
		switch {
		case why == "" && p.State != "running":
			t.Errorf("%s: %+v, want running", p.Name, p)
		case why != "" && (p.State != "failed" || p.Required || !strings.Contains(p.LastError, why)):
			t.Errorf("%s: %+v; want failed, optional, saying %q", p.Name, p, why)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("/health/plugins does not list %s: %+v", name, ps.Plugins)
		}
	}
	if log := h.stderr.String(); !strings.Contains(log, "plugin refused: plugin=broken") || !strings.Contains(log, "plugin refused: plugin=fifo") {
		t.Errorf("the log does not report the refused plugins:\n%s", log)
	}
}
