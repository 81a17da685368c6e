package lockfile

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse feeds plugins.lock bytes to the reader the host checks every
// launch against. A file it refuses gets an error that names the file and
// says to run `mikrobill plugin lock`; a file it accepts holds only
// entries whose checksums are 64 hex digits and whose folder hash is the
// hash of its sorted, unique files, and it writes back (as Write does) to
// bytes that read again as the same lock, and write again byte for byte.
func FuzzParse(f *testing.F) {
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	files := []FileEntry{{Path: "mikrobill-plugin-payment-manual", Mode: "0755", SHA256: sum}, {Path: "plugin.json", Mode: "0644", SHA256: sum}}
	valid, err := encode(&File{Version: formatVersion, Plugins: map[string]Entry{
		"payment-manual": {Version: "0.1.0", Executable: "mikrobill-plugin-payment-manual", SHA256: sum, FolderSHA256: FolderSHA256(files), Files: files},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "mikrobill-plugin-audit", "sha256": "` + sum + `"}}}`))
	f.Add([]byte(`{"version": 2, "plugins": {}}`))
	f.Add([]byte(`{"version": 3, "plugins": {}}`))
	f.Add([]byte(`{"version": 2, "plugins": {}} {}`))
	f.Add(bytes.Replace(valid, []byte(`"0644"`), []byte(`"0o644"`), 1))
	f.Add(bytes.Replace(valid, []byte(`"plugin.json"`), []byte(`"../plugin.json"`), 1))
	f.Add(bytes.Replace(valid, []byte(`"version":`), []byte(`"Version":`), 1))
	f.Add([]byte(`{"version": 1, "plugins": {"audit": {"version": "1.0.0", "executable": "a", "sha256": "` + sum + `", "SHA256": "` + sum + `"}}}`))

	const path = "/plugins/plugins.lock"
	f.Fuzz(func(t *testing.T, raw []byte) {
		lock, err := parse(path, raw)
		if err != nil {
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "mikrobill plugin lock") {
				t.Fatalf("the error neither names %s nor says to run `mikrobill plugin lock`: %v", path, err)
			}
			return
		}
		if lock.Version != formatVersion && lock.Version != legacyVersion {
			t.Fatalf("accepted format version %d", lock.Version)
		}
		for name, e := range lock.Plugins {
			if _, err := e.Sum(); err != nil {
				t.Fatalf("plugin %q: accepted %v", name, err)
			}
			if e.Legacy() {
				if len(e.Files) > 0 {
					t.Fatalf("plugin %q: a legacy entry with files was accepted", name)
				}
				if _, err := lock.Check(name, e.Executable); err == nil {
					t.Fatalf("plugin %q: Check passed a legacy entry, which pins only the executable", name)
				}
				continue
			}
			if got := FolderSHA256(e.Files); got != e.FolderSHA256 {
				t.Fatalf("plugin %q: folder_sha256 %s accepted, the files hash to %s", name, e.FolderSHA256, got)
			}
			for i := 1; i < len(e.Files); i++ {
				if e.Files[i-1].Path >= e.Files[i].Path {
					t.Fatalf("plugin %q: files %q and %q accepted out of order", name, e.Files[i-1].Path, e.Files[i].Path)
				}
			}
			if len(e.Compare(e.Files)) != 0 {
				t.Fatalf("plugin %q: the entry differs from its own files: %v", name, e.Compare(e.Files))
			}
		}
		out, err := encode(lock)
		if err != nil {
			t.Fatalf("encode an accepted lock: %v", err)
		}
		again, err := parse(path, out)
		if err != nil {
			t.Fatalf("the lock written back does not read: %v\n%s", err, out)
		}
		// "files": [] and no files are the same lock.
		if diff := cmp.Diff(lock.Plugins, again.Plugins, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("the lock written back reads otherwise (-read +reread):\n%s", diff)
		}
		out2, err := encode(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("writing the lock twice gives different bytes (%v):\n%s\n---\n%s", err, out, out2)
		}
	})
}
