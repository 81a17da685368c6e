package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestMarketplaceInstallThroughTheRunningHost: the two halves together. A
// marketplace made by `marketplace init` and `publish`, served on loopback
// and trusted by `marketplace add`; then, against a running host, `plugin
// install NAME@1.0.0` from it, `plugin upgrade NAME@1.1.0` (blue-green),
// `plugin rollback` (back to 1.0.0), and an upgrade to a tampered archive
// refused with nothing placed and 1.0.0 still serving. Each finished action
// is recorded in the store, an install or upgrade with the marketplace as
// its source (a rollback fetches nothing: no source).
func TestMarketplaceInstallThroughTheRunningHost(t *testing.T) {
	market := filepath.Join(t.TempDir(), "market")
	mustRun(t, "marketplace", "init", market, "--publisher", "Loopback Market")
	plat := []string{"--os", runtime.GOOS, "--arch", runtime.GOARCH}
	publish := func(version string) {
		t.Helper()
		src := installSource(t, testenv.Plugin{Name: "extra", Version: version})
		mustRun(t, append([]string{"marketplace", "publish", filepath.Join(src, "extra-"+version), "--repo", market}, plat...)...)
	}
	// 1.2.0 is published and signed too; its archive's bytes are flipped
	// on the server later (serve holds the repository: no publish while it
	// runs).
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		publish(v)
	}
	url, _ := serveMarketplace(t, market)

	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "base"})
	dataDir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "marketplace", "add", "loopback", url, "--root", filepath.Join(market, "root.json"), "--data-dir", dataDir)
	conf := filepath.Join(t.TempDir(), "mikrobill.hcl")
	if err := os.WriteFile(conf, []byte("plugins {\n  upgrade_grace = \"1s\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startHostIn(t, d.Dir, dataDir, "MIKROBILL_CONFIG="+conf)
	cli := []string{"--address", "http://" + h.addr, "--token", h.adminToken()}
	locked := func() string {
		t.Helper()
		f, err := lockfile.Read(d.Dir)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := f.Plugins["extra"]
		if !ok {
			return "absent"
		}
		if e.FolderSHA256 == "" {
			t.Errorf("plugins.lock entry of extra %s has no folder hash", e.Version)
		}
		return e.Version
	}
	for _, step := range []struct {
		args []string
		out  string
		want string
	}{
		{[]string{"install", "extra@1.0.0"}, "extra 1.0.0 installed", "1.0.0"},
		{[]string{"upgrade", "extra@1.1.0"}, "extra 1.0.0 -> 1.1.0 (upgrade; 1.0.0 kept for rollback)", "1.1.0"},
		{[]string{"rollback", "extra"}, "extra 1.1.0 -> 1.0.0 (rollback", "1.0.0"},
	} {
		code, stdout, stderr := run(t, append(append([]string{"plugin"}, step.args...), cli...)...)
		if code != 0 || !strings.Contains(stdout, step.out) {
			t.Fatalf("plugin %v: exit %d\nstdout %s\nstderr %s", step.args, code, stdout, stderr)
		}
		if got := h.pluginState("extra"); got != step.want+" running" {
			t.Errorf("after plugin %v: /health/plugins says extra is %s, want %s running", step.args, got, step.want)
		}
		if got := locked(); got != step.want {
			t.Errorf("after plugin %v: plugins.lock has extra %s, want %s", step.args, got, step.want)
		}
	}

	// The newest, 1.2.0, tampered on the server: the upgrade is refused
	// before anything is placed.
	archives, err := filepath.Glob(filepath.Join(market, "repository", "targets", "extra", "1.2.0", "*"))
	if err != nil || len(archives) != 1 {
		all, _ := filepath.Glob(filepath.Join(market, "repository", "targets", "extra", "*", "*"))
		t.Fatalf("the archive of extra 1.2.0: %v %v (targets: %v)", archives, err, all)
	}
	b, err := os.ReadFile(archives[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(archives[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, append([]string{"plugin", "upgrade", "extra"}, cli...)...)
	if code == 0 || !strings.Contains(stderr, "1.2.0") {
		t.Errorf("upgrade to a tampered archive: exit %d\nstdout %s\nstderr %s\nwant refused naming 1.2.0", code, stdout, stderr)
	}
	if got := h.pluginState("extra"); got != "1.0.0 running" {
		t.Errorf("after the refused upgrade: extra is %s, want 1.0.0 running", got)
	}
	if got := locked(); got != "1.0.0" {
		t.Errorf("after the refused upgrade: plugins.lock has extra %s", got)
	}
	for _, placed := range []string{filepath.Join(d.Dir, ".versions", "extra", "1.2.0"), filepath.Join(d.Dir, ".staging")} {
		if ents, err := os.ReadDir(placed); err == nil && (placed != filepath.Join(d.Dir, ".staging") || len(ents) > 0) {
			t.Errorf("the refused upgrade left %s (%d entries)", placed, len(ents))
		}
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
		got = append(got, a.Action+" "+a.Plugin+" "+a.Version+" "+a.State+" from "+a.Source)
	}
	want := "upgrade extra  failed from loopback, rollback extra 1.0.0 done from , upgrade extra 1.1.0 done from loopback, install extra 1.0.0 done from loopback"
	if strings.Join(got, ", ") != want {
		t.Errorf("recorded actions:\n%s\nwant\n%s", strings.Join(got, ", "), want)
	}
}
