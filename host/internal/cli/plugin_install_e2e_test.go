package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// installSource is a folder of plugin folders, one per test plugin.
func installSource(t *testing.T, ps ...testenv.Plugin) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range ps {
		d := testenv.NewPluginDir(t)
		p.NoLock = true
		if err := os.Rename(d.Add(p), filepath.Join(root, p.Name+"-"+p.Version)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// pluginState is "VERSION STATE" of the named plugin in /health/plugins,
// or "absent".
func (h *host) pluginState(name string) string {
	h.t.Helper()
	var st struct {
		Plugins []struct{ Name, Version, State string } `json:"plugins"`
	}
	h.getJSON("/health/plugins", &st)
	for _, p := range st.Plugins {
		if p.Name == name {
			return p.Version + " " + p.State
		}
	}
	return "absent"
}

// TestPluginInstallThroughTheRunningHost: install, upgrade, rollback and
// remove through the CLI and the host's admin API, with the host serving:
// /health/plugins follows each, and each is recorded in the store.
func TestPluginInstallThroughTheRunningHost(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "base"})
	src := installSource(t, testenv.Plugin{Name: "extra", Version: "1.0.0", Deps: []any{"base"}}, testenv.Plugin{Name: "extra", Version: "2.0.0", Deps: []any{"base"}})
	conf := filepath.Join(t.TempDir(), "mikrobill.hcl")
	if err := os.WriteFile(conf, []byte("plugins {\n  upgrade_grace = \"1s\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	h := startHostIn(t, d.Dir, dataDir, "MIKROBILL_CONFIG="+conf)
	tok := h.adminToken()
	addr := "http://" + h.addr
	version := func() string { return h.pluginState("extra") }
	for _, step := range []struct {
		args []string
		out  string
		want string
	}{
		{[]string{"install", "extra@1.0.0", "--from", src}, "extra 1.0.0 installed", "1.0.0 running"},
		{[]string{"upgrade", "extra", "--from", src}, "extra 1.0.0 -> 2.0.0 (upgrade; 1.0.0 kept for rollback)", "2.0.0 running"},
		{[]string{"rollback", "extra"}, "extra 2.0.0 -> 1.0.0 (rollback", "1.0.0 running"},
		{[]string{"remove", "base"}, "", "1.0.0 running"}, // refused: extra depends on it
		{[]string{"remove", "extra"}, "extra 1.0.0 removed", "absent"},
	} {
		args := append([]string{"plugin"}, step.args...)
		code, stdout, stderr := run(t, append(args, "--address", addr, "--token", tok)...)
		if step.out == "" {
			if code == 0 || !strings.Contains(stderr, "extra depend(s) on plugin \"base\"") || !strings.Contains(stderr, "--force") {
				t.Errorf("%v: exit %d, %s; want refused naming extra and --force", step.args, code, stderr)
			}
		} else if code != 0 || !strings.Contains(stdout, step.out) {
			t.Fatalf("%v: exit %d\nstdout %s\nstderr %s", step.args, code, stdout, stderr)
		}
		if got := version(); got != step.want {
			t.Errorf("after %v: extra is %s, want %s", step.args, got, step.want)
		}
	}
	code, _, stderr := run(t, "plugin", "install", "extra", "--from", src, "--address", addr)
	if code == 0 || !strings.Contains(stderr, "API token") {
		t.Errorf("install without a token: exit %d %s; want refused asking for a token", code, stderr)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(context.Background(), store.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	acts, err := st.Q().PluginActions(context.Background(), 10)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, a.Action+" "+a.Plugin+" "+a.State)
	}
	want := "remove extra done, remove base failed, rollback extra done, upgrade extra done, install extra done"
	if strings.Join(got, ", ") != want {
		t.Errorf("recorded actions: %s\nwant %s", strings.Join(got, ", "), want)
	}

	// With no host running, the CLI works on the directory; the next
	// start runs the plugin.
	code, stdout, stderr := run(t, "plugin", "install", "extra@2.0.0", "--from", src, "--offline", "--plugin-dir", d.Dir, "--data-dir", dataDir)
	if code != 0 || !strings.Contains(stdout, "the next `mikrobill serve` starts it") {
		t.Fatalf("offline install: exit %d %s %s", code, stdout, stderr)
	}
	h = startHostIn(t, d.Dir, dataDir, "MIKROBILL_CONFIG="+conf)
	deadline := time.Now().Add(10 * time.Second)
	for version() != "2.0.0 running" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := version(); got != "2.0.0 running" {
		t.Errorf("after an offline install and a start: extra is %s", got)
	}
}
