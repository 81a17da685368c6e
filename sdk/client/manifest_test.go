package client

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// TestReadManifestFile: plugin.json is read only when it is a regular file
// of at most 1 MiB; a named pipe, /dev/zero and an oversized file are
// refused at once with an error that says what it is.
func TestReadManifestFile(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(path("ok.json"), []byte(`{"name": "ok"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path("limit.json"), []byte(strings.Repeat(" ", MaxManifestSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path("big.json"), []byte(strings.Repeat(" ", MaxManifestSize+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path("fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", path("zero.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.json", path("link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path("dir.json"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		file    string
		wantLen int
		wantErr []string
	}{
		{"regular file", "ok.json", 14, nil},
		{"symbolic link to a regular file", "link.json", 14, nil},
		{"exactly 1 MiB", "limit.json", MaxManifestSize, nil},
		{"one byte over 1 MiB", "big.json", 0, []string{"big.json is 1048577 bytes", "at most 1048576 bytes (1 MiB)"}},
		{"named pipe", "fifo.json", 0, []string{"fifo.json is a named pipe (FIFO), not a regular file"}},
		{"link to /dev/zero", "zero.json", 0, []string{"zero.json is a character device, not a regular file"}},
		{"directory", "dir.json", 0, []string{"dir.json is a directory, not a regular file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				data []byte
				err  error
			}
			done := make(chan result, 1)
			go func() {
				data, err := ReadManifestFile(path(tt.file))
				done <- result{data, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("ReadManifestFile(%s) blocked", tt.file)
			}
			if tt.wantErr == nil {
				if r.err != nil || len(r.data) != tt.wantLen {
					t.Errorf("ReadManifestFile = %d bytes, %v; want %d bytes", len(r.data), r.err, tt.wantLen)
				}
				return
			}
			if r.err == nil {
				t.Fatalf("ReadManifestFile = %d bytes, want an error", len(r.data))
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(r.err.Error(), w) {
					t.Errorf("error %q does not contain %q", r.err, w)
				}
			}
		})
	}
	if _, err := ReadManifestFile(path("missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadManifestFile of a missing file = %v, want fs.ErrNotExist", err)
	}
}

func TestReadManifestAndExecutableFor(t *testing.T) {
	for _, c := range []struct {
		name     string
		json     string
		wantExec string
		wantErr  string
	}{
		{"executable", `{"name":"payment-a","version":"1.0.0","kind":"payment","executable":"bin/a"}`, "bin/a", ""},
		{"default executable", `{"name":"payment-a","version":"1.0.0","kind":"payment"}`, "mikrobill-plugin-payment-a", ""},
		{"per platform", `{"name":"payment-a","version":"1.0.0","kind":"payment","executables":{"linux-amd64":"a-here","plan9-386":"a-there"}}`, "a-here", ""},
		{"no executable for this platform", `{"name":"payment-a","version":"1.0.0","kind":"payment","executables":{"plan9-386":"a-there","darwin-arm64":"a"}}`, "",
			`plugin "payment-a" ships no executable for linux-amd64, only for darwin-arm64, plan9-386; get a build for linux-amd64 from its publisher ` +
				`(or, if you build it, add an "executables" entry for linux-amd64 to its plugin.json)`},
		{"fields the launch does not need are left alone", `{"name":"a","version":"1","kind":"x","config_schema":{},"requierd":true}`, "mikrobill-plugin-a", ""},
		{"no version", `{"name":"payment-a","kind":"payment"}`, "", "plugin.json: name and version are required"},
		{"not JSON", `{`, "", "plugin.json: unexpected end of JSON input"},
		{"over 1 MiB (ReadManifestFile's bounds)", `{"name":"payment-a","version":"1.0.0"}` + strings.Repeat(" ", MaxManifestSize), "", "at most 1048576 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ManifestFileName), []byte(c.json), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := ReadManifest(dir)
			var exe string
			if err == nil {
				if m.File != filepath.Join(dir, ManifestFileName) {
					t.Errorf("File = %q, want the plugin.json read", m.File)
				}
				exe, err = m.ExecutableFor("linux", "amd64")
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil || exe != c.wantExec {
				t.Errorf("executable = %q, %v; want %q", exe, err, c.wantExec)
			}
		})
	}
	if _, err := ReadManifest(t.TempDir()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "plugin.json") {
		t.Errorf("ReadManifest of a folder without plugin.json = %v, want fs.ErrNotExist naming plugin.json", err)
	}
}

// TestCheckDescribe is the one check the host (at every launch), `mikrobill
// plugin validate` and the conformance kit run: each gets this message for
// the same manifest and Describe.
func TestCheckDescribe(t *testing.T) {
	m := &Manifest{File: "/p/liar/plugin.json", Name: "liar", Version: "1.0.0", Kind: "payment"}
	fix := "; the host refuses a plugin whose executable and plugin.json disagree: rebuild the plugin or correct plugin.json so that both say the same"
	for _, c := range []struct {
		name string
		m    *Manifest
		d    *sdk.DescribeResponse
		want string
	}{
		{"agree", m, &sdk.DescribeResponse{Name: "liar", Version: "1.0.0", Kind: "payment", Capabilities: []string{"http"}}, ""},
		{"version", m, &sdk.DescribeResponse{Name: "liar", Version: "2.0.0", Kind: "payment"},
			`the executable's Describe and /p/liar/plugin.json disagree: version: Describe says "2.0.0", but plugin.json says "1.0.0"` + fix},
		{"every field", m, &sdk.DescribeResponse{Name: "other", Version: "", Kind: "router"},
			`the executable's Describe and /p/liar/plugin.json disagree: name: Describe says "other", but plugin.json says "liar"; ` +
				`version: Describe says "", but plugin.json says "1.0.0"; kind: Describe says "router", but plugin.json says "payment"` + fix},
		{"no answer", m, nil,
			`the executable's Describe and /p/liar/plugin.json disagree: name: Describe says "", but plugin.json says "liar"; ` +
				`version: Describe says "", but plugin.json says "1.0.0"; kind: Describe says "", but plugin.json says "payment"` + fix},
		{"a manifest built in code", &Manifest{Name: "a", Version: "1.0.0", Kind: "generic"}, &sdk.DescribeResponse{Name: "a", Version: "1.0.0", Kind: "payment"},
			`the executable's Describe and plugin.json disagree: kind: Describe says "payment", but plugin.json says "generic"` + fix},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got string
			if err := c.m.CheckDescribe(c.d); err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("CheckDescribe =\n  %s\nwant\n  %s", got, c.want)
			}
		})
	}
}
