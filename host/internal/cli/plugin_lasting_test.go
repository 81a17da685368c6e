package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestPluginDisablePersists: `plugin disable --persist` keeps the plugin
// disabled when the host starts again on the same store, the audit log
// says it was lasting, and `plugin enable` forgets it for the next start
// too. A plain disable lasts until the restart only.
func TestPluginDisablePersists(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "worker", Kind: "payment"})
	dataDir := filepath.Join(t.TempDir(), "data")
	h := startHostIn(t, d.Dir, dataDir)
	tok := h.adminToken()
	addr := "http://" + h.addr
	state := func(h *host) string {
		t.Helper()
		var st struct {
			Plugins []struct{ Name, State string } `json:"plugins"`
		}
		h.getJSON("/health/plugins", &st)
		for _, p := range st.Plugins {
			if p.Name == "worker" {
				return p.State
			}
		}
		return "absent"
	}
	if code, stdout, stderr := run(t, "plugin", "disable", "worker", "--persist", "--address", addr, "--token", tok); code != 0 || !strings.Contains(stdout, "worker: disabled; it stays disabled after restarts") {
		t.Fatalf("plugin disable --persist: exit %d %s %s", code, stdout, stderr)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = startHostIn(t, d.Dir, dataDir)
	addr = "http://" + h.addr
	if got := state(h); got != "disabled" {
		t.Fatalf("after a restart the worker is %s, want disabled", got)
	}
	if !strings.Contains(h.stderr.String(), "disabled by an operator until enabled again (by user:admin since") {
		t.Errorf("the start does not say why the worker is disabled:\n%s", h.stderr.String())
	}
	if code, stdout, _ := run(t, "plugin", "enable", "worker", "--address", addr, "--token", tok); code != 0 || !strings.Contains(stdout, "worker: running") {
		t.Fatalf("plugin enable: exit %d %s", code, stdout)
	}
	// A plain disable does not outlive the host.
	if code, stdout, _ := run(t, "plugin", "disable", "worker", "--address", addr, "--token", tok); code != 0 || strings.Contains(stdout, "after restarts") {
		t.Fatalf("plugin disable: exit %d %s", code, stdout)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = startHostIn(t, d.Dir, dataDir)
	if got := state(h); got != "running" {
		t.Errorf("after enable and a plain disable, a restart leaves the worker %s, want running", got)
	}
	// The audit entries are written by jobs. A job still running when its
	// host stopped is cancelled and runs again later, at a start (River's
	// retry backoff): this host runs until the lasting disable's entry is
	// there, or 30 s.
	st, err := store.Open(context.Background(), store.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lastingIn := func() (int, []store.AuditEntry) {
		t.Helper()
		entries, _, err := st.Q().ListAudit(context.Background(), store.Page{Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Action == "plugin.disable" && e.Metadata["lasting"] == "true" {
				n++
			}
		}
		return n, entries
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n, _ := lastingIn(); n > 0 {
			break
		}
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if lasting, entries := lastingIn(); lasting != 1 {
		t.Errorf("audit entries with a lasting disable: %d, want 1: %+v", lasting, entries)
	}
}
