package plugins

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// bundledManifests copies the plugin.json of every bundled plugin into a
// new plugin directory under root, each beside an empty executable (Discover
// checks that it is there, not what it holds). tag goes into each
// config_schema as a "$comment", so that a process that compiled the same
// schemas before (manifest.compileSchema keeps them) compiles these again,
// as a host's start does.
func bundledManifests(tb testing.TB, root, tag string) string {
	tb.Helper()
	src := filepath.Join("..", "..", "..", "plugins") // the repository's, from this package's folder
	names, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(root, tag)
	n := 0
	for _, e := range names {
		raw, err := os.ReadFile(filepath.Join(src, e.Name(), "plugin.json"))
		if err != nil {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			tb.Fatal(err)
		}
		if cs, ok := m["config_schema"].(map[string]any); ok {
			cs["$comment"] = tag
		}
		out, _ := json.Marshal(m)
		folder := filepath.Join(dir, e.Name())
		if err := os.MkdirAll(folder, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder, "plugin.json"), out, 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder, m["executable"].(string)), []byte("#!/bin/sh\n"), 0o755); err != nil {
			tb.Fatal(err)
		}
		n++
	}
	if n < 8 {
		tb.Fatalf("found %d bundled plugins under %s, want at least 8", n, src)
	}
	return dir
}

// TestDiscoverConcurrentlyAsOneAtATime: Discover, which loads the manifests
// concurrently, finds what loading them one at a time finds, in the same
// order: every bundled plugin, and each broken folder with its own error
// (one that is not JSON, one whose config_schema does not compile, one
// without its executable), however the loads interleave.
func TestDiscoverConcurrentlyAsOneAtATime(t *testing.T) {
	dir := bundledManifests(t, t.TempDir(), "concurrent")
	broken := map[string]string{
		"broken-json":   `{"name": "broken-json",`,
		"broken-schema": `{"name": "broken-schema", "version": "1.0.0", "kind": "payment", "executable": "x", "protocol_versions": [1], "config_schema": {"type": "object", "properties": {"a": {"type": "nonsense"}}}}`,
		"broken-exe":    `{"name": "broken-exe", "version": "1.0.0", "kind": "payment", "executable": "missing", "protocol_versions": [1]}`,
	}
	for name, manifest := range broken {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "plugin.json"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "broken-schema", "x"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	summary := func(found []Found) []string {
		var out []string
		for _, f := range found {
			s := f.Name + " " + filepath.Base(f.Dir)
			if f.Err != nil {
				s += " error: " + f.Err.Error()
			} else {
				s += fmt.Sprintf(" %s %s required=%v", f.Manifest.Kind, f.Manifest.Version, f.Required)
			}
			out = append(out, s)
		}
		return out
	}
	one, err := discover(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := summary(one)
	for name := range broken {
		if !slices.ContainsFunc(one, func(f Found) bool { return f.Name == name && f.Err != nil }) {
			t.Fatalf("one at a time: %s was not found with an error: %q", name, want)
		}
	}
	for i := range 20 {
		got, err := Discover(dir)
		if err != nil {
			t.Fatal(err)
		}
		if s := summary(got); !slices.Equal(s, want) {
			t.Fatalf("Discover, try %d:\n%q\nwant (one at a time):\n%q", i, s, want)
		}
	}
}

// BenchmarkDiscoverBundled: a host's start loads every bundled plugin's
// manifest before it launches any plugin; each check compiles the
// plugin's config_schema (about 1 ms of CPU). Each round discovers a fresh
// copy of the bundled manifests one at a time (as before, the baseline)
// and concurrently (Discover), alternating; it reports the medians and
// their ratio.
func BenchmarkDiscoverBundled(b *testing.B) {
	root := b.TempDir()
	var one, all []time.Duration
	for i := range b.N {
		a, c := bundledManifests(b, root, fmt.Sprint("one-", i)), bundledManifests(b, root, fmt.Sprint("all-", i))
		if i%2 == 1 {
			a, c = c, a // alternate which runs first
		}
		start := time.Now()
		if _, err := discover(a, 1); err != nil {
			b.Fatal(err)
		}
		one = append(one, time.Since(start))
		start = time.Now()
		if _, err := Discover(c); err != nil {
			b.Fatal(err)
		}
		all = append(all, time.Since(start))
	}
	m1, m2 := median(one), median(all)
	b.ReportMetric(float64(m1.Microseconds())/1000, "one-at-a-time-ms")
	b.ReportMetric(float64(m2.Microseconds())/1000, "concurrent-ms")
	b.ReportMetric(float64(m2)/float64(m1), "concurrent/one-x")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}
