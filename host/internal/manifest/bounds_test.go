package manifest_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

// okManifest is a valid plugin.json for a plugin "audit"; extra fields go
// before the closing brace.
func okManifest(extra string) string {
	return `{"name": "audit", "version": "1.0.0", "kind": "audit", "protocol_versions": [1]` + extra + `}`
}

// pluginFolder makes a folder with an executable mikrobill-plugin-audit and
// the given plugin.json.
func pluginFolder(t *testing.T, manifestJSON string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mikrobill-plugin-audit"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if manifestJSON != "" {
		if err := os.WriteFile(filepath.Join(dir, manifest.FileName), []byte(manifestJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadWithin is Load that fails the test instead of blocking.
func loadWithin(t *testing.T, dir string) (*manifest.Manifest, error) {
	t.Helper()
	type result struct {
		m   *manifest.Manifest
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := manifest.LoadFor(dir, "linux", "amd64")
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(30 * time.Second):
		t.Fatalf("Load(%s) blocked", dir)
		return nil, nil
	}
}

// TestLoadRefusesWhatIsNotAManifest: plugin.json that is a named pipe, a
// link to /dev/zero or larger than 1 MiB is refused at once with an error
// that says what it is (Load used to block on the pipe and read /dev/zero
// until the host ran out of memory).
func TestLoadRefusesWhatIsNotAManifest(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, file string)
		want  string
	}{
		{"named pipe", func(t *testing.T, file string) {
			if err := syscall.Mkfifo(file, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "is a named pipe (FIFO), not a regular file"},
		{"link to /dev/zero", func(t *testing.T, file string) {
			if err := os.Symlink("/dev/zero", file); err != nil {
				t.Fatal(err)
			}
		}, "is a character device, not a regular file"},
		{"over 1 MiB", func(t *testing.T, file string) {
			if err := os.WriteFile(file, []byte(okManifest(`, "description": "`+strings.Repeat("x", 1<<20)+`"`)), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "a plugin manifest may be at most 1048576 bytes (1 MiB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := pluginFolder(t, "")
			file := filepath.Join(dir, manifest.FileName)
			tt.setup(t, file)
			m, err := loadWithin(t, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), file) {
				t.Fatalf("Load = %v, want an error naming %s and saying %q", err, file, tt.want)
			}
			if m != nil {
				t.Errorf("Load returned a manifest for a file it refused: %+v", m)
			}
		})
	}
}

// TestParseBoundsFieldLengths: a field longer than its bound is one short
// problem that does not repeat the value (a 1 MB name used to come back in
// several messages, whole).
func TestParseBoundsFieldLengths(t *testing.T) {
	huge := strings.Repeat("a", 1<<20-200)
	tests := []struct {
		name  string
		json  string
		field string
		msg   string
	}{
		{"name", `{"name": "` + huge + `", "version": "1.0.0", "kind": "audit", "protocol_versions": [1]}`,
			"name", fmt.Sprintf("is %d bytes long; at most 64 are allowed", len(huge))},
		{"name of 65 bytes", `{"name": "` + strings.Repeat("a", 65) + `", "version": "1.0.0", "kind": "audit", "protocol_versions": [1]}`,
			"name", "is 65 bytes long; at most 64 are allowed"},
		{"description", okManifest(`, "description": "` + strings.Repeat("d", 4097) + `"`),
			"description", "is 4097 bytes long; at most 4096 are allowed"},
		{"version", `{"name": "audit", "version": "` + huge + `", "kind": "audit", "protocol_versions": [1]}`,
			"version", "at most 1024 are allowed"},
		{"dependency name", okManifest(`, "dependencies": ["` + huge + `"]`),
			"dependencies[0]", "at most 64 are allowed"},
		{"environment", okManifest(`, "environment": ["` + huge + `"]`),
			"environment[0]", "at most 64 are allowed"},
		{"event", okManifest(`, "events": ["` + huge + `"]`),
			"events[0]", "at most 1024 are allowed"},
		{"number", okManifest(`, "priority": 1` + strings.Repeat("0", 1<<19)),
			"priority", "(524289 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := manifest.Parse("plugin.json", []byte(tt.json))
			var verr *manifest.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse = %v, want a *ValidationError", err)
			}
			found := false
			for _, p := range verr.Problems {
				if p.Field == tt.field && strings.Contains(p.Message, tt.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem on %q saying %q; got:\n%.2000s", tt.field, tt.msg, err)
			}
			if n := len(err.Error()); n > 4096 {
				t.Errorf("the report is %d bytes long; a long value must not be repeated in it", n)
			}
		})
	}
}

// TestParseUnknownHugeKey: an unknown field with a huge key is reported
// without the key in full.
func TestParseUnknownHugeKey(t *testing.T) {
	key := strings.Repeat("k", 1<<19)
	_, err := manifest.Parse("plugin.json", []byte(okManifest(`, "`+key+`": 1, "`+key+`": 2`)))
	if err == nil || !strings.Contains(err.Error(), "unknown field of 524288 bytes") {
		t.Fatalf("Parse = %.500v, want an unknown field of 524288 bytes", err)
	}
	if n := len(err.Error()); n > 4096 {
		t.Errorf("the report is %d bytes long; the key must not be repeated in it", n)
	}
}

// TestParseCapsProblems: thousands of mistakes make a report of 50 lines,
// the last counting the rest.
func TestParseCapsProblems(t *testing.T) {
	events := strings.TrimSuffix(strings.Repeat(`"Bad", `, 5000), ", ")
	_, err := manifest.Parse("plugin.json", []byte(okManifest(`, "events": [`+events+`]`)))
	var verr *manifest.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Parse = %v, want a *ValidationError", err)
	}
	if len(verr.Problems) != 50 {
		t.Errorf("%d problems reported, want 50", len(verr.Problems))
	}
	if last := verr.Problems[len(verr.Problems)-1].Message; !strings.Contains(last, "4951 more problems are not shown") {
		t.Errorf("last problem %q, want it to count the 4951 not shown", last)
	}
}

// TestLoadRefusesExecutableLinkedOutsideFolder: an executable that is a
// symbolic link leading out of the plugin folder (to /bin/sh, say) is
// refused, saying so; a link that stays inside the folder is fine.
func TestLoadRefusesExecutableLinkedOutsideFolder(t *testing.T) {
	t.Run("link to /bin/sh", func(t *testing.T) {
		dir := pluginFolder(t, okManifest(""))
		exe := filepath.Join(dir, "mikrobill-plugin-audit")
		os.Remove(exe)
		if err := os.Symlink("/bin/sh", exe); err != nil {
			t.Fatal(err)
		}
		_, err := loadWithin(t, dir)
		if diff := diffProblems([]want{{"executable", `"mikrobill-plugin-audit" is a symbolic link to /`}}, problemsOf(t, filepath.Join(dir, manifest.FileName), err)); diff != "" {
			t.Fatalf("problems (-want +got):\n%s", diff)
		}
		if !strings.Contains(err.Error(), "outside the plugin folder") {
			t.Errorf("error %q does not say the link leads outside the plugin folder", err)
		}
	})
	t.Run("folder linked outside", func(t *testing.T) {
		dir := pluginFolder(t, okManifest(`, "executable": "bin/sh"`))
		if err := os.Symlink("/bin", filepath.Join(dir, "bin")); err != nil {
			t.Fatal(err)
		}
		_, err := loadWithin(t, dir)
		if err == nil || !strings.Contains(err.Error(), `"bin/sh" is a symbolic link to /`) || !strings.Contains(err.Error(), "outside the plugin folder") {
			t.Fatalf("Load = %v, want the executable refused as leading outside the folder", err)
		}
	})
	t.Run("link inside the folder", func(t *testing.T) {
		dir := pluginFolder(t, okManifest(`, "executable": "current"`))
		if err := os.Symlink("mikrobill-plugin-audit", filepath.Join(dir, "current")); err != nil {
			t.Fatal(err)
		}
		if _, err := loadWithin(t, dir); err != nil {
			t.Errorf("Load = %v, want a link inside the folder accepted", err)
		}
	})
}
