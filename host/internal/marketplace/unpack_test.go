package marketplace

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	body     string
	linkname string
	size     int64 // header size when body is longer or shorter on purpose
}

func tarGz(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.linkname, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestUnpack(t *testing.T) {
	many := make([]tarEntry, 11)
	for i := range many {
		many[i] = tarEntry{name: "f" + string(rune('a'+i)), body: "x"}
	}
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		limits  Limits
		want    string // "" for success
	}{
		{"plain folder", []tarEntry{{name: "plugin.json", body: "{}", mode: 0o600}, {name: "bin/", typ: tar.TypeDir}, {name: "bin/run", body: "#!", mode: 0o700}}, Limits{}, ""},
		{"absolute path", []tarEntry{{name: "/etc/cron.d/x", body: "x"}}, Limits{}, "absolute path"},
		{"dot dot", []tarEntry{{name: "a/../../x", body: "x"}}, Limits{}, "leaves the folder"},
		{"dot dot alone", []tarEntry{{name: "../x", body: "x"}}, Limits{}, "leaves the folder"},
		{"not clean", []tarEntry{{name: "a//b", body: "x"}}, Limits{}, "not a clean path"},
		{"backslash", []tarEntry{{name: "a\\..\\x", body: "x"}}, Limits{}, "backslash"},
		{"symlink out", []tarEntry{{name: "evil", typ: tar.TypeSymlink, linkname: "/etc/passwd"}}, Limits{}, "is a link"},
		{"symlink in", []tarEntry{{name: "a", body: "x"}, {name: "b", typ: tar.TypeSymlink, linkname: "a"}}, Limits{}, "is a link"},
		{"hardlink", []tarEntry{{name: "h", typ: tar.TypeLink, linkname: "../../x"}}, Limits{}, "is a link"},
		{"device", []tarEntry{{name: "null", typ: tar.TypeChar}}, Limits{}, "special file"},
		{"fifo", []tarEntry{{name: "p", typ: tar.TypeFifo}}, Limits{}, "special file"},
		{"twice", []tarEntry{{name: "a", body: "1"}, {name: "a", body: "2"}}, Limits{}, "twice"},
		{"too many files", many, Limits{MaxFiles: 10}, "more than 10 entries"},
		{"too large", []tarEntry{{name: "a", body: strings.Repeat("x", 600)}, {name: "b", body: strings.Repeat("x", 600)}}, Limits{MaxBytes: 1000}, "more than 1000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			err := Unpack(bytes.NewReader(tarGz(t, tc.entries...)), dst, tc.limits)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				for name, mode := range map[string]os.FileMode{"plugin.json": 0o644, "bin/run": 0o755, "bin": 0o755 | os.ModeDir} {
					info, err := os.Stat(filepath.Join(dst, name))
					if err != nil || info.Mode() != mode {
						t.Errorf("%s: %v, %v; want mode %v", name, info.Mode(), err, mode)
					}
				}
				return
			}
			if !errors.Is(err, ErrUnsafeArchive) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unpack = %v; want ErrUnsafeArchive saying %q", err, tc.want)
			}
			if _, err := os.Lstat("/etc/cron.d/x"); err == nil && tc.name == "absolute path" {
				t.Error("wrote outside the folder")
			}
		})
	}
	t.Run("not empty", func(t *testing.T) {
		dst := t.TempDir()
		os.WriteFile(filepath.Join(dst, "old"), nil, 0o644)
		if err := Unpack(bytes.NewReader(tarGz(t, tarEntry{name: "a", body: "x"})), dst, Limits{}); err == nil {
			t.Error("Unpack into a folder that is not empty succeeded")
		}
	})
	t.Run("not gzip", func(t *testing.T) {
		if err := Unpack(strings.NewReader("plain"), t.TempDir(), Limits{}); !errors.Is(err, ErrUnsafeArchive) {
			t.Errorf("Unpack(plain text) = %v", err)
		}
	})
}
