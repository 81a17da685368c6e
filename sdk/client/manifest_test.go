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
