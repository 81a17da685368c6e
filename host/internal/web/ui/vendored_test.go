package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// TestVendoredChecksums: every vendored file is listed in VENDORED.md with
// the SHA-256 of the committed file, and every listed file is there.
func TestVendoredChecksums(t *testing.T) {
	table, err := staticFS.ReadFile("static/vendor/VENDORED.md")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(string(table), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 8 || strings.TrimSpace(cells[1]) == "File" || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		want[strings.TrimSpace(cells[1])] = strings.TrimSpace(cells[6])
	}
	if len(want) < 3 {
		t.Fatalf("VENDORED.md lists %d files; want htmx and uPlot's", len(want))
	}
	files, err := fs.Glob(staticFS, "static/vendor/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := path.Base(f)
		if name == "VENDORED.md" {
			continue
		}
		b, err := staticFS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		got := hex.EncodeToString(sum[:])
		switch w, ok := want[name]; {
		case !ok:
			t.Errorf("%s is not listed in VENDORED.md: record its package, version, source path and SHA-256", name)
		case w != got:
			t.Errorf("%s: SHA-256 %s; VENDORED.md records %s", name, got, w)
		}
		delete(want, name)
	}
	for name := range want {
		t.Errorf("VENDORED.md lists %s, which is not in static/vendor", name)
	}
}
