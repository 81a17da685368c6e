// Package testenv builds real plugin binaries and plugin directories for the
// host's tests: the bundled plugins; testplugin, which misbehaves on
// purpose as its testplugin.json tells it; and notifyfake, a notify plugin
// whose sessions pair by a rotating QR code that a test "scans" through the
// plugin's route (testdata/notifyfake, AddNotifyFake). Only tests import it.
package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
)

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

// repoRoot is the repository's top folder.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Build builds a package once per test binary (and set of build tags) and
// returns the executable's path; a bundled plugin is built without cgo and
// without the symbol table and DWARF, as `make build` builds it. pkg is
// relative to the repository root, for example "plugins/payment-manual" or
// "host/cmd/mikrobill"; tags are build tags, such as "wafake"
// (plugins/whatsapp with its fake WhatsApp).
func Build(t testing.TB, pkg string, tags ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg
	if len(tags) > 0 {
		key += "@" + strings.Join(tags, ",")
	}
	if path, ok := built[key]; ok {
		return path
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "mikrobill-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	out := filepath.Join(buildDir, strings.NewReplacer("/", "_", "@", "_", ",", "_").Replace(key))
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	bundled := strings.HasPrefix(pkg, "plugins/")
	if bundled {
		// As `make build` builds them (PLUGIN_LDFLAGS): without the
		// symbol table and DWARF.
		args = append(args, "-ldflags", "-s -w")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = filepath.Join(repoRoot(), pkg)
	if bundled {
		// As `make build` builds them: static, without cgo.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", key, err, b)
	}
	built[key] = out
	return out
}

// TestPlugin builds testplugin and returns its path.
func TestPlugin(t testing.TB) string { return Build(t, "host/internal/testenv/testdata/testplugin") }

// NotifyFake builds notifyfake and returns its path.
func NotifyFake(t testing.TB) string { return Build(t, "host/internal/testenv/testdata/notifyfake") }

// AddNotifyFake installs notifyfake as the notify plugin name, with its
// route POST /plugins/<name>/scan (operators), and locks it. behaviour
// adds to its testplugin.json: sessions (the ids that exist at start,
// default ["main"]), rotate_ms (how long each QR code shows, default
// 1500), no_png (no QR image from the plugin: the host draws it),
// connect_ms, pairing_timeout_ms and phone; testdata/notifyfake/main.go
// says what each does.
func (d *PluginDir) AddNotifyFake(name string, behaviour map[string]any) string {
	d.t.Helper()
	return d.Add(Plugin{
		Name: name, Kind: "notify", Executable: NotifyFake(d.t), Behaviour: behaviour,
		Manifest: map[string]any{
			"description": "A fake messaging plugin for tests: sessions pair by a rotating QR code",
			"routes":      []map[string]any{{"method": "POST", "path": "/scan", "auth": "operator"}},
		},
	})
}

// PluginDir is a plugin directory under construction.
type PluginDir struct {
	t testing.TB
	// Dir is the plugin directory.
	Dir string
	// Events is the file the test plugins log "<name> start|stop <nanos>" to.
	Events string
	// NoLockSums leaves the executables out of plugins.lock.sums, as a
	// plugin directory locked by hand-written code or copied from another
	// machine is: each launch hashes its executable.
	NoLockSums bool
}

// NewPluginDir makes an empty plugin directory in a temporary folder.
func NewPluginDir(t testing.TB) *PluginDir {
	t.Helper()
	root := t.TempDir()
	d := &PluginDir{t: t, Dir: filepath.Join(root, "plugins"), Events: filepath.Join(root, "events.log")}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// Plugin describes one test plugin: its manifest and its behaviour.
type Plugin struct {
	Name     string
	Version  string // default "1.0.0"
	Kind     string // default "generic"
	Deps     []any
	Required *bool
	Env      any
	Priority int
	// Mode of testplugin: ok (default), crash, stdout, slow, badhandshake,
	// mismatch.
	Mode string
	// Behaviour adds to testplugin.json (slow_ms, health, hang_health_after,
	// env_file, exit_after_ms, describe_version).
	Behaviour map[string]any
	// Manifest adds to plugin.json.
	Manifest map[string]any
	// NoLock leaves the plugin out of plugins.lock.
	NoLock bool
	// Executable to install; default testplugin.
	Executable string
}

// Add installs a plugin folder and (unless NoLock) locks it. It returns the
// folder.
func (d *PluginDir) Add(p Plugin) string {
	d.t.Helper()
	if p.Version == "" {
		p.Version = "1.0.0"
	}
	if p.Kind == "" {
		p.Kind = "generic"
	}
	dir := filepath.Join(d.Dir, p.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		d.t.Fatal(err)
	}
	man := map[string]any{"name": p.Name, "version": p.Version, "kind": p.Kind, "protocol_versions": []int{1}}
	if len(p.Deps) > 0 {
		man["dependencies"] = p.Deps
	}
	if p.Required != nil {
		man["required"] = *p.Required
	}
	if p.Env != nil {
		man["environment"] = p.Env
	}
	if p.Priority != 0 {
		man["priority"] = p.Priority
	}
	for k, v := range p.Manifest {
		man[k] = v
	}
	WriteJSON(d.t, filepath.Join(dir, "plugin.json"), man)
	mode := p.Mode
	if mode == "" {
		mode = "ok"
	}
	b := map[string]any{"name": p.Name, "version": p.Version, "kind": p.Kind, "mode": mode, "log": d.Events}
	for k, v := range p.Behaviour {
		b[k] = v
	}
	WriteJSON(d.t, filepath.Join(dir, "testplugin.json"), b)
	src := p.Executable
	if src == "" {
		src = TestPlugin(d.t)
	}
	CopyFile(d.t, src, filepath.Join(dir, "mikrobill-plugin-"+p.Name))
	if !p.NoLock {
		d.Lock(p.Name)
	}
	return dir
}

// AddBundled installs one of the repository's plugins (plugins/<name>),
// built (with the build tags given), with its own plugin.json, and locks
// it.
func (d *PluginDir) AddBundled(name string, tags ...string) string {
	d.t.Helper()
	dir := filepath.Join(d.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		d.t.Fatal(err)
	}
	CopyFile(d.t, filepath.Join(repoRoot(), "plugins", name, "plugin.json"), filepath.Join(dir, "plugin.json"))
	CopyFile(d.t, Build(d.t, "plugins/"+name, tags...), filepath.Join(dir, "mikrobill-plugin-"+name))
	d.Lock(name)
	return dir
}

// Lock records a plugin's folder in plugins.lock, as `mikrobill plugin lock
// NAME` does, and its executable's sum in plugins.lock.sums unless
// NoLockSums is set.
func (d *PluginDir) Lock(name string) {
	d.t.Helper()
	lf, err := lockfile.Read(d.Dir)
	if err != nil {
		d.t.Fatal(err)
	}
	dir := filepath.Join(d.Dir, name)
	var man struct{ Version string }
	raw, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
	if err != nil {
		d.t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		d.t.Fatal(err)
	}
	e, sum, err := lockfile.LockSum(dir, man.Version, "mikrobill-plugin-"+name)
	if err != nil {
		d.t.Fatal(err)
	}
	lf.Plugins[name] = e
	if err := lockfile.Write(d.Dir, lf); err != nil {
		d.t.Fatal(err)
	}
	fresh := map[string]lockfile.ExecutableSum{}
	if sum != nil && !d.NoLockSums {
		fresh[name] = *sum
	}
	if err := lockfile.WriteSums(d.Dir, lf, fresh); err != nil {
		d.t.Fatal(err)
	}
}

// Logged returns the plugin names that logged an event ("start" or "stop"),
// in order.
func (d *PluginDir) Logged(event string) []string {
	d.t.Helper()
	raw, err := os.ReadFile(d.Events)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		d.t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		parts := strings.Fields(line)
		if len(parts) == 3 && parts[1] == event {
			names = append(names, parts[0])
		}
	}
	return names
}

// WriteJSON writes v as indented JSON.
func WriteJSON(t testing.TB, path string, v any) {
	t.Helper()
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// CopyFile copies a file, executable.
func CopyFile(t testing.TB, src, dst string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(fmt.Errorf("copy %s: %w", src, err))
	}
	if err := os.WriteFile(dst, raw, 0o755); err != nil {
		t.Fatal(err)
	}
}
