package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// writePlugin writes a plugin folder with a script for an executable.
func writePlugin(t *testing.T, name, version, minHost string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	os.MkdirAll(dir, 0o755)
	m := map[string]any{"name": name, "version": version, "kind": "payment", "description": "pays with " + name,
		"protocol_versions": []int{1}, "min_host_version": minHost}
	data, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, "plugin.json"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "mikrobill-plugin-"+name), []byte("#!/bin/sh\n"), 0o755)
	return dir
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, args...)
	if code != 0 {
		t.Fatalf("mikrobill %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestMarketplaceCommands(t *testing.T) {
	market := filepath.Join(t.TempDir(), "market")
	data := t.TempDir()
	plat := []string{"--os", runtime.GOOS, "--arch", runtime.GOARCH}

	out := mustRun(t, "marketplace", "init", market, "--publisher", "Demo Market")
	for _, want := range []string{"hand out this root:", filepath.Join(market, "root.json"), "root  ", "timestamp  "} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	mustRun(t, append([]string{"marketplace", "publish", writePlugin(t, "payment-cash", "1.0.0", ""), writePlugin(t, "payment-future", "1.0.0", "99.0.0"), "--repo", market}, plat...)...)
	out = mustRun(t, "marketplace", "delegate", market, "--name", "payment-acme-*", "--key", "new")
	if !strings.Contains(out, "delegated payment-acme-*/*/* to role payment-acme") {
		t.Errorf("delegate output:\n%s", out)
	}
	acme := filepath.Join(market, "keys", "payment-acme.key")
	if code, _, errOut := run(t, append([]string{"marketplace", "publish", writePlugin(t, "payment-acme-qris", "2.0.0", ""), "--repo", market}, plat...)...); code == 0 || !strings.Contains(errOut, "--key FILE") {
		t.Errorf("publishing a delegated name without its key: exit %d, %s", code, errOut)
	}
	mustRun(t, append([]string{"marketplace", "publish", writePlugin(t, "payment-acme-qris", "2.0.0", ""), "--repo", market, "--key", acme}, plat...)...)
	mustRun(t, "marketplace", "rotate-key", market, "timestamp")
	out = mustRun(t, "marketplace", "refresh", market)
	if !strings.Contains(out, "re-signed snapshot, timestamp") {
		t.Errorf("refresh output:\n%s", out)
	}

	// serve, then trust it over HTTP.
	url, served := serveMarketplace(t, market)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.Contains(served, "--root "+filepath.Join(market, "root.json")) {
		t.Errorf("serve printed %q", served)
	}

	dd := []string{"--data-dir", data}
	out = mustRun(t, append([]string{"marketplace", "add", "demo", url, "--root", filepath.Join(market, "root.json")}, dd...)...)
	for _, want := range []string{"compare them", "serves 3 plugin archives", "trusted marketplace demo"} {
		if !strings.Contains(out, want) {
			t.Errorf("add output lacks %q:\n%s", want, out)
		}
	}
	mustRun(t, append([]string{"marketplace", "add", "offline", "file://" + filepath.Join(market, "repository"), "--root", filepath.Join(market, "root.json")}, dd...)...)
	if code, _, errOut := run(t, append([]string{"marketplace", "add", "broken", "http://127.0.0.1:1/nothing", "--root", filepath.Join(market, "root.json")}, dd...)...); code == 0 || !strings.Contains(errOut, "not added") {
		t.Errorf("add of an unreachable marketplace: exit %d, %s", code, errOut)
	}
	out = mustRun(t, append([]string{"marketplace", "list"}, dd...)...)
	if !strings.Contains(out, "demo") || !strings.Contains(out, "offline") || strings.Contains(out, "broken") {
		t.Errorf("list:\n%s", out)
	}

	out = mustRun(t, append([]string{"plugin", "search", "acme"}, dd...)...)
	if !strings.Contains(out, "payment-acme-qris  2.0.0") || !strings.Contains(out, "payment-acme") || strings.Contains(out, "payment-cash") {
		t.Errorf("plugin search acme:\n%s", out)
	}
	out = mustRun(t, append([]string{"plugin", "search", "--json"}, dd...)...)
	var rows []struct {
		pluginstall.Listing
		Compatible string `json:"compatible"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 6 {
		t.Fatalf("plugin search --json: %d rows, %v\n%s", len(rows), err, out)
	}
	out = mustRun(t, append([]string{"plugin", "info", "payment-future"}, dd...)...)
	for _, want := range []string{"in marketplace demo", "in marketplace offline", "publisher:   Demo Market", "needs mikrobill >= 99.0.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("plugin info lacks %q:\n%s", want, out)
		}
	}

	dst := filepath.Join(t.TempDir(), "got")
	if code, _, errOut := run(t, append([]string{"marketplace", "fetch", "payment-cash", "--to", dst}, dd...)...); code == 0 || !strings.Contains(errOut, "--from") {
		t.Errorf("fetch offered by two marketplaces: exit %d, %s", code, errOut)
	}
	out = mustRun(t, append([]string{"marketplace", "fetch", "payment-cash@1.0.0", "--to", dst, "--from", "offline"}, dd...)...)
	if !strings.Contains(out, "fetched payment-cash 1.0.0") {
		t.Errorf("fetch:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dst, "mikrobill-plugin-payment-cash")); err != nil {
		t.Error(err)
	}
	mustRun(t, append([]string{"marketplace", "remove", "offline"}, dd...)...)
	if code, _, errOut := run(t, append([]string{"marketplace", "remove", "offline"}, dd...)...); code == 0 || !strings.Contains(errOut, "not trusted") {
		t.Errorf("remove twice: exit %d, %s", code, errOut)
	}
}

// serveMarketplace runs `mikrobill marketplace serve DIR` on loopback until
// the test ends; it returns the URL and what serve printed.
func serveMarketplace(t *testing.T, dir string) (url, printed string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	served := make(chan string, 1)
	g := &globals{stdout: &stdout, stderr: &stderr, serving: func(u string) { served <- u }}
	root := newRoot(g)
	root.SetArgs([]string{"marketplace", "serve", dir})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	select {
	case url = <-served:
	case err := <-done:
		t.Fatalf("marketplace serve: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("marketplace serve did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("marketplace serve: %v", err)
		}
	})
	return url, stdout.String()
}

// TestMarketplaceHelp: every marketplace command explains itself.
func TestMarketplaceHelp(t *testing.T) {
	cmds := append(newMarketplace(&globals{}).Commands(), newPluginSearch(&globals{}), newPluginInfo(&globals{}))
	for _, c := range cmds {
		if len(c.Long) < 200 || c.Short == "" {
			t.Errorf("%s: --help is too thin (Short %q, Long %d characters)", c.Name(), c.Short, len(c.Long))
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Usage == "" {
				t.Errorf("%s --%s has no usage", c.Name(), f.Name)
			}
		})
	}
}

// TestConfigShowMarketplaceBlocks: config show prints the marketplace
// blocks as the file declares them, the root made absolute.
func TestConfigShowMarketplaceBlocks(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "acme-root.json"), []byte("{}"), 0o644)
	file := filepath.Join(dir, "mikrobill.hcl")
	os.WriteFile(file, []byte("marketplace \"acme\" {\n  url  = \"https://plugins.acme.example/repository\"\n  root = \"acme-root.json\"\n}\n"), 0o644)
	out := mustRun(t, "config", "show", "--config", file)
	want := "marketplace \"acme\" {\n  url  = \"https://plugins.acme.example/repository\"\n  root = \"" + filepath.Join(dir, "acme-root.json") + "\"\n}"
	if !strings.Contains(out, want) {
		t.Errorf("config show lacks\n%s\nin:\n%s", want, out)
	}
}
