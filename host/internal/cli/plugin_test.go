package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runEnv(t, nil, args...)
}

// runEnv is run with more environment variables.
func runEnv(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Execute(args, &out, &errb, append([]string{"PATH=" + os.Getenv("PATH")}, environ...))
	return code, out.String(), errb.String()
}

func TestPluginValidate(t *testing.T) {
	d := testenv.NewPluginDir(t)
	good := d.Add(testenv.Plugin{Name: "good", Kind: "payment"})
	liar := d.Add(testenv.Plugin{Name: "liar", Mode: "mismatch", Behaviour: map[string]any{"describe_version": "2.0.0"}})
	chatty := d.Add(testenv.Plugin{Name: "chatty", Mode: "stdout"})
	twoMistakes := d.Add(testenv.Plugin{Name: "sloppy"})
	testenv.WriteJSON(t, filepath.Join(twoMistakes, "plugin.json"), map[string]any{
		"name": "sloppy", "version": "1.0", "kind": "generic", "protocol_versions": []int{1}, "requierd": true,
	})
	testenv.WriteJSON(t, filepath.Join(twoMistakes, "testplugin.json"), map[string]any{"name": "sloppy", "version": "1.0", "mode": "ok"})

	tests := []struct {
		name   string
		path   string
		code   int
		stdout []string
		stderr []string
	}{
		{"valid plugin", good, 0, []string{"ok: good 1.0.0 (payment)", "sdk 0.1.0"}, nil},
		{"plugin.json path", filepath.Join(good, "plugin.json"), 0, []string{"ok: good"}, nil},
		{"two mistakes, both reported", twoMistakes, 1, nil, []string{"2 problem(s)", "version:", `"1.0"`, `unknown field "requierd"`, `did you mean "required"`}},
		{"Describe contradicts the manifest", liar, 1, nil, []string{"version:", `says "1.0.0"`, `Describe says "2.0.0"`}},
		{"stdout before the handshake", chatty, 1, nil, []string{"handshake", "hello from a chatty plugin"}},
		{"no manifest", t.TempDir(), 1, nil, []string{"plugin.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "plugin", "validate", tt.path)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestPluginLockListInspect(t *testing.T) {
	d := testenv.NewPluginDir(t)
	one := d.Add(testenv.Plugin{Name: "first", NoLock: true, Manifest: map[string]any{
		"description": "the first one",
		"config_schema": map[string]any{"type": "object", "properties": map[string]any{
			"api_key": map[string]any{"type": "string", "format": "password"},
			"region":  map[string]any{"type": "string", "title": "Region"},
		}},
		"routes": []any{map[string]any{"method": "GET", "path": "/status", "auth": "viewer"}},
	}})
	d.Add(testenv.Plugin{Name: "second", NoLock: true, Deps: []any{"first"}})
	os.Remove(filepath.Join(d.Dir, "plugins.lock"))

	code, stdout, _ := run(t, "plugin", "list", "--plugin-dir", d.Dir)
	if code != 0 || !strings.Contains(stdout, "NAME") || strings.Count(stdout, "not locked") != 2 {
		t.Errorf("list before lock: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr := run(t, "plugin", "lock", "--plugin-dir", d.Dir)
	if code != 0 || !strings.Contains(stdout, "new        first 1.0.0") || !strings.Contains(stdout, "wrote") {
		t.Fatalf("lock: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "plugin", "list", "--plugin-dir", d.Dir)
	if code != 0 || strings.Count(stdout, " ok ") != 2 {
		t.Errorf("list after lock: exit %d\n%s", code, stdout)
	}
	// Change an executable: list says so, and locking it again says changed.
	f, _ := os.OpenFile(filepath.Join(one, "mikrobill-plugin-first"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("x"))
	f.Close()
	_, stdout, _ = run(t, "plugin", "list", "--plugin-dir", d.Dir)
	if !strings.Contains(stdout, "changed since locked") {
		t.Errorf("list after tampering does not say so:\n%s", stdout)
	}
	code, stdout, _ = run(t, "plugin", "lock", "--plugin-dir", d.Dir, "first")
	if code != 0 || !strings.Contains(stdout, "changed    first") {
		t.Errorf("lock first: exit %d\n%s", code, stdout)
	}
	code, _, stderr = run(t, "plugin", "lock", "--plugin-dir", d.Dir, "nobody")
	if code != 1 || !strings.Contains(stderr, "nobody: no such plugin") {
		t.Errorf("lock nobody: exit %d\n%s", code, stderr)
	}

	code, stdout, _ = run(t, "plugin", "inspect", "--plugin-dir", d.Dir, "first")
	for _, w := range []string{"name:             first", "description:      the first one", "lock:             ok", "sha256:", "api_key: string (secret)", "GET /plugins/first/status (auth: viewer)"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("inspect does not show %q:\n%s", w, stdout)
		}
	}
	if code != 0 {
		t.Errorf("inspect: exit %d", code)
	}
	if code, _, stderr := run(t, "plugin", "inspect", "--plugin-dir", d.Dir, "ghost"); code != 1 || !strings.Contains(stderr, `no plugin "ghost"`) {
		t.Errorf("inspect ghost: exit %d %s", code, stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, stdout, _ := run(t, "version")
	if code != 0 || !strings.Contains(stdout, "plugin protocol versions: [1]") {
		t.Errorf("version: %d %s", code, stdout)
	}
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"plugin", "--help"}, {"plugin", "validate", "--help"}, {"plugin", "lock", "--help"}, {"plugin", "list", "--help"}, {"plugin", "inspect", "--help"}} {
		code, stdout, _ := run(t, args...)
		if code != 0 || !strings.Contains(stdout, "Usage:") {
			t.Errorf("%v: exit %d\n%s", args, code, stdout)
		}
	}
	if code, _, stderr := run(t, "serve", "--listen", "nonsense"); code != 1 || !strings.Contains(stderr, "host:port") {
		t.Errorf("bad --listen: exit %d %s", code, stderr)
	}
}

// TestPluginValidateRelativePath: a path relative to the working directory
// works (the plugin runs in its own folder).
func TestPluginValidateRelativePath(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "good", Kind: "payment"})
	t.Chdir(d.Dir)
	if code, stdout, stderr := run(t, "plugin", "validate", "good"); code != 0 || !strings.Contains(stdout, "ok: good") {
		t.Errorf("plugin validate good (relative): exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestPluginInspectMarksRequiredAndEnum: inspect marks the settings
// config_schema requires, lists the allowed values of an enum and shows
// defaults.
func TestPluginInspectMarksRequiredAndEnum(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "gw", Kind: "payment", Manifest: map[string]any{"config_schema": map[string]any{
		"type":     "object",
		"required": []any{"server_key"},
		"properties": map[string]any{
			"server_key":  map[string]any{"type": "string", "title": "Server key"},
			"environment": map[string]any{"type": "string", "enum": []any{"sandbox", "production"}, "default": "sandbox"},
		},
	}}})
	code, stdout, stderr := run(t, "plugin", "inspect", "--plugin-dir", d.Dir, "gw")
	if code != 0 {
		t.Fatalf("inspect: exit %d %s", code, stderr)
	}
	for _, w := range []string{
		`  - environment: string (one of "sandbox", "production") (default "sandbox")`,
		"  - server_key: string (required)",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("inspect does not show %q:\n%s", w, stdout)
		}
	}
	if strings.Contains(stdout, "environment: string (required)") {
		t.Errorf("inspect marks an optional setting required:\n%s", stdout)
	}
}
