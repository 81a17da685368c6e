package marketplace

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// newRepo makes a repository with Init in a temporary folder.
func newRepo(t testing.TB) *Repo {
	t.Helper()
	r, err := Init(filepath.Join(t.TempDir(), "market"), InitOptions{Publisher: "test-market"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// pluginDir writes a plugin folder: plugin.json, an executable script and
// the extra files.
func pluginDir(t testing.TB, name, version string, extra map[string][]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name+"-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	kind := "notify"
	if len(name) > 8 && name[:8] == "payment-" {
		kind = "payment"
	}
	m := map[string]any{"name": name, "version": version, "kind": kind, "description": "the " + name + " plugin",
		"protocol_versions": []int{1}, "min_host_version": "0.1.0",
		"dependencies": []any{"database"}, "config_schema": map[string]any{"type": "object", "properties": map[string]any{"token": map[string]any{"type": "string"}}}}
	data, _ := json.MarshalIndent(m, "", "  ")
	files := map[string][]byte{"plugin.json": data}
	for k, v := range extra {
		files[k] = v
	}
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "mikrobill-plugin-"+name)
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho "+name+" "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// publish publishes a plugin folder for this platform.
func publish(t testing.TB, r *Repo, dir string, opt PublishOptions) []Published {
	t.Helper()
	opt.OS, opt.Arch = runtime.GOOS, runtime.GOARCH
	out, err := r.Publish(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// server serves a repository on 127.0.0.1:0 through Handler, with an
// optional wrapper that tests swap to tamper with answers.
type server struct {
	url  string
	mu   sync.Mutex
	wrap func(w http.ResponseWriter, r *http.Request, next http.Handler)
	log  []string // "METHOD PATH RANGE"
}

func serve(t testing.TB, r *Repo) *server {
	t.Helper()
	s := &server{}
	h := Handler(r.Dir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.log = append(s.log, fmt.Sprintf("%s %s %s", req.Method, req.URL.Path, req.Header.Get("Range")))
		wrap := s.wrap
		s.mu.Unlock()
		if wrap != nil {
			wrap(w, req, h)
			return
		}
		h.ServeHTTP(w, req)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.url = "http://" + ln.Addr().String()
	return s
}

func (s *server) setWrap(f func(w http.ResponseWriter, r *http.Request, next http.Handler)) {
	s.mu.Lock()
	s.wrap = f
	s.mu.Unlock()
}

func (s *server) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// newClient trusts r's current root.
func newClient(t testing.TB, r *Repo, url string, opt Options) *Client {
	t.Helper()
	root, err := r.RootJSON()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient("test", url, root, filepath.Join(t.TempDir(), "client"), opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fetch fetches into a new empty folder.
func fetch(t testing.TB, c *Client, name, version string) (string, pluginstall.Listing, error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "dst")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := c.Fetch(context.Background(), name, version, dst, nil)
	return dst, l, err
}

func assertEmpty(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%s holds %d entries after a refused fetch; want none", dir, len(entries))
	}
}

type json_RawMessage = json.RawMessage

func itoa(n int) string { return fmt.Sprint(n) }
