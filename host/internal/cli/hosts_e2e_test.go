package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestTwoHostsOnOnePostgres: two `serve` hosts, each with its own data and
// plugin directory, on one PostgreSQL database. A lasting disable and its
// enable through one reach the other within 2 seconds; a plugin installed
// through one is installed and started on the other while it runs; `plugin
// status` shows both hosts and one leader; a third host with another JWT
// secret refuses to start.
func TestTwoHostsOnOnePostgres(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set: several hosts need PostgreSQL", storetest.EnvPostgres)
	}
	env := []string{"DATABASE_URL=" + storetest.PostgresURL(t), "JWT_SECRET=" + strings.Repeat("j", 32),
		"COOKIE_SECRET=" + strings.Repeat("c", 32), "MIKROBILL_ENCRYPTION_KEY=" + strings.Repeat("ab", 32)}
	start := func(id string) *host {
		d := testenv.NewPluginDir(t)
		d.Add(testenv.Plugin{Name: "base"})
		return startHostIn(t, d.Dir, filepath.Join(t.TempDir(), "data"), append([]string{"MIKROBILL_HOST_ID=" + id}, env...)...)
	}
	a, b := start("host-a"), start("host-b")
	tok := a.adminToken()
	within := func(bound time.Duration, what string, h *host, plugin, want string) {
		t.Helper()
		began := time.Now()
		for h.pluginState(plugin) != want {
			if time.Since(began) > bound {
				t.Fatalf("%s: %s is %q on the other host after %s, want %q", what, plugin, h.pluginState(plugin), bound, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%s: on the other host in %s", what, time.Since(began).Round(time.Millisecond))
	}

	addrA := "http://" + a.addr
	if code, _, stderr := run(t, "plugin", "disable", "base", "--persist", "--address", addrA, "--token", tok); code != 0 {
		t.Fatalf("disable --persist: %d %s", code, stderr)
	}
	within(2*time.Second, "a lasting disable", b, "base", "1.0.0 disabled")
	if code, _, stderr := run(t, "plugin", "enable", "base", "--address", addrA, "--token", tok); code != 0 {
		t.Fatalf("enable: %d %s", code, stderr)
	}
	within(2*time.Second, "its enable", b, "base", "1.0.0 running")

	src := installSource(t, testenv.Plugin{Name: "extra", Version: "1.0.0", Deps: []any{"base"}})
	if code, _, stderr := run(t, "plugin", "install", "extra@1.0.0", "--from", src, "--address", addrA, "--token", tok); code != 0 {
		t.Fatalf("install through host-a: %d %s", code, stderr)
	}
	within(10*time.Second, "an install", b, "extra", "1.0.0 running")

	// The token host-a's database made works on host-b; both hosts are
	// there, one of them the leader.
	// (the plugin states in the registry are those of each host's last
	// heartbeat, 2 s apart).
	var code int
	var stdout, stderr string
	began := time.Now()
	for {
		code, stdout, stderr = run(t, "plugin", "status", "--address", "http://"+b.addr, "--token", tok)
		if code == 0 && regexp.MustCompile(`(?m)^extra\s+running\s+running$`).MatchString(stdout) || time.Since(began) > 10*time.Second {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 0 || !regexp.MustCompile(`(?m)^host-a\s+alive\s`).MatchString(stdout) || !regexp.MustCompile(`(?m)^host-b \(this one\)\s+alive\s`).MatchString(stdout) ||
		len(regexp.MustCompile(`\salive\s+leader\s`).FindAllString(stdout, -1)) != 1 ||
		!regexp.MustCompile(`(?m)^extra\s+running\s+running$`).MatchString(stdout) ||
		!strings.Contains(stdout, "Plugins on each host (on host-b, which answered, as they are now; on the others as of their last heartbeat):") {
		t.Errorf("plugin status on host-b: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// A host with another JWT secret refuses to start.
	d := testenv.NewPluginDir(t)
	other := []string{"MIKROBILL_HOST_ID=host-c", "JWT_SECRET=" + strings.Repeat("x", 32)}
	for _, kv := range env {
		if !strings.HasPrefix(kv, "JWT_SECRET=") {
			other = append(other, kv)
		}
	}
	code, _, stderr = runEnv(t, other, "serve", "--listen", "127.0.0.1:0", "--plugin-dir", d.Dir, "--data-dir", filepath.Join(t.TempDir(), "data"))
	if code != 1 || !strings.Contains(stderr, "security.jwt_secret is not the one of host") {
		t.Errorf("a host with another jwt secret: exit %d %s", code, stderr)
	}
}
