package paymenttest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestReadManifest(t *testing.T) {
	platform := runtime.GOOS + "-" + runtime.GOARCH
	for _, c := range []struct {
		name     string
		json     string
		wantExec string
		wantErr  string
	}{
		{"executable", `{"name":"payment-a","version":"1.0.0","kind":"payment","executable":"bin/a"}`, "bin/a", ""},
		{"default executable", `{"name":"payment-a","version":"1.0.0","kind":"payment"}`, "mikrobill-plugin-payment-a", ""},
		{"per platform", `{"name":"payment-a","version":"1.0.0","kind":"payment","executables":{"` + platform + `":"a-here","plan9-386":"a-there"}}`, "a-here", ""},
		{"no executable for this platform", `{"name":"payment-a","version":"1.0.0","kind":"payment","executables":{"plan9-386":"a-there"}}`, "", "ships no executable for " + platform},
		{"not a payment plugin", `{"name":"router-a","version":"1.0.0","kind":"router"}`, "", `kind is "router"`},
		{"no version", `{"name":"payment-a","kind":"payment"}`, "", "name and version are required"},
		{"not JSON", `{`, "", "plugin.json"},
		{"over 1 MiB (read as the host reads it)", `{"name":"payment-a","version":"1.0.0","kind":"payment"}` + strings.Repeat(" ", 1<<20), "", "at most 1048576 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(c.json), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := readManifest(dir)
			var exe string
			if err == nil {
				exe, err = m.ExecutableFor(runtime.GOOS, runtime.GOARCH)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if exe != c.wantExec {
				t.Errorf("executable = %q, want %q", exe, c.wantExec)
			}
		})
	}
	if _, err := readManifest(t.TempDir()); err == nil || !strings.Contains(err.Error(), "plugin.json") {
		t.Errorf("readManifest of a folder without plugin.json = %v, want an error naming plugin.json", err)
	}
}

func TestShortTempDir(t *testing.T) {
	dir := shortTempDir(t)
	if len(dir) > maxSocketDirLen {
		t.Errorf("socket directory %q is %d bytes, want at most %d", dir, len(dir), maxSocketDirLen)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode = %v, want 0700", fi.Mode().Perm())
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Paid: "Paid", BadSignature: "BadSignature", WrongAmount: "WrongAmount", UnknownOrder: "UnknownOrder", Malformed: "Malformed", Kind(70): "Kind(70)", Unsigned: "Unsigned", UnknownStatus: "UnknownStatus"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
