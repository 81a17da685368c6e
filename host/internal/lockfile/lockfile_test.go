package lockfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
)

// SHA-256 of "test" and of "", as hex.
const (
	sumTest  = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	sumEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	manualFiles := []lockfile.FileEntry{
		{Path: "mikrobill-plugin-payment-manual", Mode: "0755", SHA256: sumTest},
		{Path: "plugin.json", Mode: "0644", SHA256: sumEmpty},
	}
	auditFiles := []lockfile.FileEntry{{Path: "bin/linux-amd64/mikrobill-plugin-audit", Mode: "0755", SHA256: sumEmpty}}
	in := &lockfile.File{Plugins: map[string]lockfile.Entry{
		"payment-manual": {Version: "0.1.0", Executable: "mikrobill-plugin-payment-manual", SHA256: sumTest,
			FolderSHA256: lockfile.FolderSHA256(manualFiles), Files: manualFiles},
		"audit": {Version: "1.0.0", Executable: "bin/linux-amd64/mikrobill-plugin-audit", SHA256: sumEmpty,
			FolderSHA256: lockfile.FolderSHA256(auditFiles), Files: auditFiles},
	}}
	if err := lockfile.Write(dir, in); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := lockfile.Read(dir)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := &lockfile.File{Version: 2, Plugins: in.Plugins}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read after Write mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"audit", "payment-manual"}, got.Names()); diff != "" {
		t.Errorf("Names() mismatch (-want +got):\n%s", diff)
	}

	path := lockfile.Path(dir)
	if path != filepath.Join(dir, "plugins.lock") {
		t.Errorf("Path = %q, want %q", path, filepath.Join(dir, "plugins.lock"))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantFile := `{
  "version": 2,
  "plugins": {
    "audit": {
      "version": "1.0.0",
      "executable": "bin/linux-amd64/mikrobill-plugin-audit",
      "sha256": "` + sumEmpty + `",
      "folder_sha256": "` + lockfile.FolderSHA256(auditFiles) + `",
      "files": [
        {
          "path": "bin/linux-amd64/mikrobill-plugin-audit",
          "mode": "0755",
          "sha256": "` + sumEmpty + `"
        }
      ]
    },
    "payment-manual": {
      "version": "0.1.0",
      "executable": "mikrobill-plugin-payment-manual",
      "sha256": "` + sumTest + `",
      "folder_sha256": "` + lockfile.FolderSHA256(manualFiles) + `",
      "files": [
        {
          "path": "mikrobill-plugin-payment-manual",
          "mode": "0755",
          "sha256": "` + sumTest + `"
        },
        {
          "path": "plugin.json",
          "mode": "0644",
          "sha256": "` + sumEmpty + `"
        }
      ]
    }
  }
}
`
	if diff := cmp.Diff(wantFile, string(raw)); diff != "" {
		t.Errorf("file content mismatch (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o644 {
		t.Errorf("mode = %v, want 0644", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the plugin directory holds %v, want only plugins.lock (no temporary file left)", names)
	}
}

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	first := &lockfile.File{Plugins: map[string]lockfile.Entry{"audit": {Version: "1.0.0", Executable: "a", SHA256: sumTest}}}
	if err := lockfile.Write(dir, first); err != nil {
		t.Fatal(err)
	}
	if err := lockfile.Write(dir, &lockfile.File{}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(lockfile.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("{\n  \"version\": 2,\n  \"plugins\": {}\n}\n", string(raw)); diff != "" {
		t.Errorf("empty lock file mismatch (-want +got):\n%s", diff)
	}
	got, err := lockfile.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Plugins) != 0 {
		t.Errorf("Plugins = %v, want none", got.Plugins)
	}
}

func TestWriteMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	err := lockfile.Write(dir, &lockfile.File{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "plugins.lock")) {
		t.Fatalf("Write into a missing directory = %v, want an error naming the lock file", err)
	}
}

func TestReadMissingIsEmpty(t *testing.T) {
	got, err := lockfile.Read(t.TempDir())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if diff := cmp.Diff(&lockfile.File{Version: 2, Plugins: map[string]lockfile.Entry{}}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if _, err := got.Check("audit", "mikrobill-plugin-audit"); err == nil {
		t.Error("Check on an empty lock succeeded, want an error")
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"invalid JSON", `{"version": 1, "plugins": {`, []string{"is not a valid lock file", "run `mikrobill plugin lock`"}},
		{"content after the object", "{\"version\": 1, \"plugins\": {}}\n<<<<<<< HEAD\n", []string{"is not a valid lock file", "run `mikrobill plugin lock`"}},
		{"two objects", "{\"version\": 1, \"plugins\": {}}\n{\"version\": 1, \"plugins\": {}}\n", []string{"is not a valid lock file", "after the JSON object", "run `mikrobill plugin lock`"}},
		{"not an object", `[]`, []string{"is not a valid lock file", "run `mikrobill plugin lock`"}},
		{"unknown field", `{"version": 1, "plugins": {}, "signed_by": "me"}`, []string{"is not a valid lock file", `"signed_by"`, "run `mikrobill plugin lock`"}},
		{"unknown entry field", `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "size": 3}}}`,
			[]string{"is not a valid lock file", `"size"`, "run `mikrobill plugin lock`"}},
		{"a field twice", `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "sha256": "` + strings.Repeat("0", 64) + `"}}}`,
			[]string{"is not a valid lock file", `the key "sha256" appears twice in one object`, "run `mikrobill plugin lock`"}},
		{"a field twice in two cases", `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "SHA256": "` + strings.Repeat("0", 64) + `"}}}`,
			[]string{"is not a valid lock file", `the key "SHA256" appears twice in one object`, "run `mikrobill plugin lock`"}},
		{"a field in another case", `{"Version": 1, "plugins": {}}`,
			[]string{"is not a valid lock file", `the key "Version" is written "version"`, "run `mikrobill plugin lock`"}},
		{"a file's field in another case", `{"version": 2, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "folder_sha256": "` + sumTest + `", "files": [{"Path": "a", "mode": "0755", "sha256": "` + sumTest + `"}]}}}`,
			[]string{"is not a valid lock file", `the key "Path" is written "path"`}},
		{"a plugin twice", `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `"}, "audit": {"version": "2.0.0", "executable": "b", "sha256": "` + sumTest + `"}}}`,
			[]string{"is not a valid lock file", `the key "audit" appears twice in one object`}},
		{"wrong format version", `{"version": 3, "plugins": {}}`, []string{"has format version 3, this host reads versions 1 and 2", "run `mikrobill plugin lock`"}},
		{"no format version", `{"plugins": {}}`, []string{"has format version 0", "run `mikrobill plugin lock`"}},
		{"folder hash that is not the files'", `{"version": 2, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "folder_sha256": "` + sumTest + `", "files": [{"path": "a", "mode": "0755", "sha256": "` + sumTest + `"}]}}}`,
			[]string{`plugin "audit"`, "is not the hash of its files", "run `mikrobill plugin lock audit`"}},
		{"folder hash without files", `{"version": 2, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "folder_sha256": "` + sumTest + `"}}}`,
			[]string{`plugin "audit"`, "files is empty", "run `mikrobill plugin lock audit`"}},
		{"file path leaving the folder", `{"version": 2, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "folder_sha256": "` + sumTest + `", "files": [{"path": "../a", "mode": "0755", "sha256": "` + sumTest + `"}]}}}`,
			[]string{`plugin "audit"`, `files[0]: path "../a" is not a clean relative path`}},
		{"bad file mode", `{"version": 2, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "folder_sha256": "` + sumTest + `", "files": [{"path": "a", "mode": "rwx", "sha256": "` + sumTest + `"}]}}}`,
			[]string{`plugin "audit"`, `files[0]: mode "rwx" is neither four octal digits nor "symlink"`}},
		{"format 1 entry with files", `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sumTest + `", "folder_sha256": "` + sumTest + `", "files": [{"path": "a", "mode": "0755", "sha256": "` + sumTest + `"}]}}}`,
			[]string{`plugin "audit"`, "format version 1"}},
		{"sha256 too short", `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "abcd"}}}`,
			[]string{`plugin "audit"`, `sha256 "abcd" is not 64 hex digits`, "run `mikrobill plugin lock audit`"}},
		{"sha256 not hex", `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + strings.Repeat("zz", 32) + `"}}}`,
			[]string{`plugin "audit"`, "is not 64 hex digits", "run `mikrobill plugin lock audit`"}},
		{"sha256 missing", `{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a"}}}`,
			[]string{`plugin "audit"`, `sha256 "" is not 64 hex digits`, "run `mikrobill plugin lock audit`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(lockfile.Path(dir), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := lockfile.Read(dir)
			if err == nil {
				t.Fatalf("Read = %+v, want an error", f)
			}
			msg := err.Error()
			for _, w := range append([]string{lockfile.Path(dir)}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	files := []lockfile.FileEntry{{Path: "mikrobill-plugin-audit", Mode: "0755", SHA256: sumTest}}
	audit := lockfile.Entry{Version: "1.0.0", Executable: "mikrobill-plugin-audit", SHA256: sumTest, FolderSHA256: lockfile.FolderSHA256(files), Files: files}
	f := &lockfile.File{Version: 2, Plugins: map[string]lockfile.Entry{
		"audit":  audit,
		"legacy": {Version: "1.0.0", Executable: "mikrobill-plugin-legacy", SHA256: sumTest},
	}}
	tests := []struct {
		name       string
		plugin     string
		executable string
		wantErr    []string
	}{
		{"valid entry", "audit", "mikrobill-plugin-audit", nil},
		{"missing entry", "payment-manual", "mikrobill-plugin-payment-manual",
			[]string{`plugin "payment-manual" is not in plugins.lock`, "run `mikrobill plugin lock payment-manual`"}},
		{"different executable", "audit", "bin/linux-amd64/mikrobill-plugin-audit",
			[]string{`locked with executable "mikrobill-plugin-audit"`, `now names "bin/linux-amd64/mikrobill-plugin-audit"`, "run `mikrobill plugin lock audit`"}},
		{"entry of format version 1", "legacy", "mikrobill-plugin-legacy",
			[]string{"pinned only its executable", "format version 1", "the lock now pins the whole plugin folder", "review the folder and run `mikrobill plugin lock legacy`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := f.Check(tt.plugin, tt.executable)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if diff := cmp.Diff(audit, e); diff != "" {
					t.Errorf("Check (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check = %+v, want an error", e)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestEntrySum(t *testing.T) {
	tests := []struct {
		sha256 string
		ok     bool
	}{
		{sumTest, true},
		{strings.ToUpper(sumTest), true},
		{sumTest[:62], false},
		{sumTest + "00", false},
		{"", false},
		{strings.Repeat("g", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.sha256, func(t *testing.T) {
			sum, err := lockfile.Entry{SHA256: tt.sha256}.Sum()
			if tt.ok != (err == nil) {
				t.Fatalf("Sum() error = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && len(sum) != 32 {
				t.Errorf("Sum() has %d bytes, want 32", len(sum))
			}
		})
	}
}

// TestReadRefusesWhatIsNotALockFile: plugins.lock as a named pipe (which
// would block a plain read for ever) or a link to /dev/zero (which would
// fill memory) is refused at once, saying what it is.
func TestReadRefusesWhatIsNotALockFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"named pipe", func(path string) error { return syscall.Mkfifo(path, 0o600) }, "a named pipe (FIFO), not a regular file"},
		{"link to /dev/zero", func(path string) error { return os.Symlink("/dev/zero", path) }, "a character device, not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.make(lockfile.Path(dir)); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := lockfile.Read(dir); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Read: %v; want an error containing %q", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Read blocked on plugins.lock")
			}
		})
	}
}

// ReadShared parses a lock file once while its bytes stay the same, and
// again as soon as they change, even when the size and modification time
// are put back.
func TestReadSharedParsesChangedBytesAgain(t *testing.T) {
	dir := t.TempDir()
	files := []lockfile.FileEntry{{Path: "mikrobill-plugin-x", Mode: "0755", SHA256: sumTest}}
	entry := lockfile.Entry{Version: "1.0.0", Executable: "mikrobill-plugin-x", SHA256: sumTest,
		FolderSHA256: lockfile.FolderSHA256(files), Files: files}
	if err := lockfile.Write(dir, &lockfile.File{Plugins: map[string]lockfile.Entry{"x": entry}}); err != nil {
		t.Fatal(err)
	}
	first, err := lockfile.ReadShared(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := lockfile.ReadShared(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("the same bytes were parsed again")
	}

	path := lockfile.Path(dir)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The same length, another version: "1.0.0" becomes "9.0.0".
	changed := strings.Replace(string(raw), `"1.0.0"`, `"9.0.0"`, 1)
	if changed == string(raw) {
		t.Fatal("the lock file does not hold the version")
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	got, err := lockfile.ReadShared(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Plugins["x"].Version; v != "9.0.0" {
		t.Errorf("after the file changed, version %q, want 9.0.0", v)
	}

	if err := os.WriteFile(path, []byte(`{"version": 2, "plugins": {}, "plugins": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lockfile.ReadShared(dir); err == nil {
		t.Error("a broken lock file was read without an error")
	}
}
