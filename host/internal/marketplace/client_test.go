package marketplace

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

func TestPublishSearchFetch(t *testing.T) {
	r := newRepo(t)
	publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	publish(t, r, pluginDir(t, "notify-echo", "0.2.0", map[string][]byte{"web/index.html": []byte("<p>hi</p>")}), PublishOptions{})
	publish(t, r, pluginDir(t, "payment-cash", "1.0.0", nil), PublishOptions{})
	srv, err := Listen(r.Dir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := newClient(t, r, srv.URL(), Options{})

	got, err := c.Search(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range got {
		names = append(names, l.Name+"@"+l.Version)
	}
	if diff := cmp.Diff([]string{"notify-echo@0.2.0", "notify-echo@0.1.0", "payment-cash@1.0.0"}, names); diff != "" {
		t.Errorf("Search(\"\") (-want +got):\n%s", diff)
	}
	want := pluginstall.Listing{Source: "test", Name: "payment-cash", Version: "1.0.0", Kind: "payment", Description: "the payment-cash plugin",
		Publisher: "test-market", Summary: "payment plugin; needs database; settings token", MinHostVersion: "0.1.0",
		ProtocolVersions: []int{1}, OS: runtime.GOOS, Arch: runtime.GOARCH}
	got, err = c.Search(context.Background(), "CASH")
	if err != nil || len(got) != 1 {
		t.Fatalf("Search(CASH) = %v, %v; want payment-cash", got, err)
	}
	want.Length = got[0].Length
	if diff := cmp.Diff(want, got[0]); diff != "" || want.Length == 0 {
		t.Errorf("listing (-want +got):\n%s", diff)
	}

	var last, total int64
	dst := filepath.Join(t.TempDir(), "dst")
	os.Mkdir(dst, 0o755)
	l, err := c.Fetch(context.Background(), "notify-echo", "", dst, func(done, tot int64) { last, total = done, tot })
	if err != nil {
		t.Fatal(err)
	}
	if l.Version != "0.2.0" || last != l.Length || total != l.Length {
		t.Errorf("Fetch newest = %s, progress %d/%d of %d; want 0.2.0 and the whole length", l.Version, last, total, l.Length)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "web", "index.html")); err != nil || string(b) != "<p>hi</p>" {
		t.Errorf("web/index.html = %q, %v", b, err)
	}
	info, err := os.Stat(filepath.Join(dst, "mikrobill-plugin-notify-echo"))
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("executable mode = %v, %v; want 0755", info.Mode(), err)
	}
	if info, _ := os.Stat(filepath.Join(dst, "plugin.json")); info.Mode().Perm() != 0o644 {
		t.Errorf("plugin.json mode = %v; want 0644", info.Mode())
	}

	if _, l, err := fetch(t, c, "notify-echo", "0.1.0"); err != nil || l.Version != "0.1.0" {
		t.Errorf("Fetch 0.1.0 = %v, %v", l.Version, err)
	}
	for _, tc := range []struct{ name, version, want string }{
		{"nope", "", "has no plugin"},
		{"notify-echo", "9.9.9", "has no version 9.9.9"},
	} {
		if _, _, err := fetch(t, c, tc.name, tc.version); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Fetch(%s@%s) = %v; want ErrNotFound saying %q", tc.name, tc.version, err, tc.want)
		}
	}
	other := newClient(t, r, srv.URL(), Options{GOOS: "plan9", GOARCH: "mips"})
	if _, _, err := fetch(t, other, "notify-echo", ""); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "only for "+runtime.GOOS) {
		t.Errorf("Fetch for another platform = %v; want ErrNotFound naming the platforms there are", err)
	}
}

// archiveFile is the served file of a published target.
func archiveFile(r *Repo, p Published) string {
	dir, base := filepath.Split(p.Path)
	return r.repoPath(filepath.Join(targetsDir, filepath.FromSlash(dir), p.SHA256+"."+base))
}

func TestFetchRefusesTamperedArchive(t *testing.T) {
	r := newRepo(t)
	pub := publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	other := publish(t, r, pluginDir(t, "notify-big", "0.1.0", map[string][]byte{"data.bin": make([]byte, 100000)}), PublishOptions{})
	srv := serve(t, r)
	file := archiveFile(r, pub[0])
	orig, _ := os.ReadFile(file)

	t.Run("bytes changed", func(t *testing.T) {
		bad := append([]byte(nil), orig...)
		bad[len(bad)/2] ^= 0xff
		os.WriteFile(file, bad, 0o644)
		defer os.WriteFile(file, orig, 0o644)
		c := newClient(t, r, srv.url, Options{})
		dst, _, err := fetch(t, c, "notify-echo", "")
		if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("Fetch of an altered archive = %v; want ErrVerify on its sha256", err)
		}
		assertEmpty(t, dst)
	})
	t.Run("another archive", func(t *testing.T) {
		for _, served := range []string{archiveFile(r, other[0]), "short"} {
			data := []byte("short")
			if served != "short" {
				data, _ = os.ReadFile(served)
			}
			os.WriteFile(file, data, 0o644)
			c := newClient(t, r, srv.url, Options{})
			dst, _, err := fetch(t, c, "notify-echo", "")
			if !errors.Is(err, ErrVerify) {
				t.Errorf("Fetch served %d bytes of another file = %v; want ErrVerify", len(data), err)
			}
			assertEmpty(t, dst)
		}
		os.WriteFile(file, orig, 0o644)
	})
	c := newClient(t, r, srv.url, Options{})
	if _, _, err := fetch(t, c, "notify-echo", ""); err != nil {
		t.Errorf("Fetch of the restored archive = %v", err)
	}
}

func TestRefreshRefusesRollback(t *testing.T) {
	r := newRepo(t)
	publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	srv := serve(t, r)
	oldTS, _ := os.ReadFile(r.repoPath("timestamp.json"))
	publish(t, r, pluginDir(t, "notify-echo", "0.2.0", nil), PublishOptions{})
	c := newClient(t, r, srv.url, Options{})
	if got, err := c.Search(context.Background(), ""); err != nil || len(got) != 2 {
		t.Fatalf("Search = %v, %v; want both versions", got, err)
	}
	// An attacker (or a stale mirror) serves the older, validly signed
	// timestamp, which names the older snapshot.
	os.WriteFile(r.repoPath("timestamp.json"), oldTS, 0o644)
	_, err := c.Search(context.Background(), "")
	if !errors.Is(err, &metadata.ErrBadVersionNumber{}) || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("Search after a rollback = %v; want ErrBadVersionNumber explained as a rollback", err)
	}
	if _, _, err := fetch(t, c, "notify-echo", "0.1.0"); err == nil {
		t.Error("Fetch after a rollback succeeded")
	}
}

func TestRefreshRefusesExpiredMetadata(t *testing.T) {
	r := newRepo(t)
	publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	srv := serve(t, r)
	later := time.Now().Add(36 * time.Hour) // the timestamp lives 24h
	c := newClient(t, r, srv.url, Options{Now: func() time.Time { return later }})
	_, err := c.Search(context.Background(), "")
	if !errors.Is(err, &metadata.ErrExpiredMetadata{}) || !strings.Contains(err.Error(), "freeze") {
		t.Fatalf("Search of expired metadata = %v; want ErrExpiredMetadata explained", err)
	}
	if _, _, err := fetch(t, c, "notify-echo", ""); !errors.Is(err, &metadata.ErrExpiredMetadata{}) {
		t.Errorf("Fetch of expired metadata = %v", err)
	}
	// The publisher refreshes: the same client takes it.
	r.SetClock(func() time.Time { return later })
	if _, err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Search(context.Background(), ""); err != nil || len(got) != 1 {
		t.Errorf("Search after refresh = %v, %v", got, err)
	}
}

func TestDelegation(t *testing.T) {
	r := newRepo(t)
	if _, _, err := r.Delegate("payment-*", "acme", "new"); err != nil {
		t.Fatal(err)
	}
	acmeKey := filepath.Join(r.Dir(), KeysDir, "acme.key")
	if info, err := os.Stat(acmeKey); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("acme.key: %v, %v; want 0600", info, err)
	}
	if got := publish(t, r, pluginDir(t, "payment-x", "1.0.0", nil), PublishOptions{Key: acmeKey}); got[0].Role != "acme" || got[0].Custom.Publisher != "acme" {
		t.Errorf("published by %s as %s; want role acme", got[0].Role, got[0].Custom.Publisher)
	}
	publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})

	// The publisher side refuses to sign outside the delegation.
	if _, err := r.Publish(pluginDir(t, "payment-y", "1.0.0", nil), PublishOptions{OS: runtime.GOOS, Arch: runtime.GOARCH}); err == nil || !strings.Contains(err.Error(), "delegated to role acme") {
		t.Errorf("Publish payment-y with the targets key = %v; want refused", err)
	}
	stranger := filepath.Join(t.TempDir(), "stranger.key")
	if _, _, err := KeyGen(stranger); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(pluginDir(t, "payment-y", "1.0.0", nil), PublishOptions{Key: stranger, OS: runtime.GOOS, Arch: runtime.GOARCH}); err == nil || !strings.Contains(err.Error(), "not delegated") {
		t.Errorf("Publish payment-y with a stranger's key = %v; want refused", err)
	}

	// Attack 1: a role delegated other names (router-*) lists a payment-x.
	if _, _, err := r.Delegate("router-*", "evil", "new"); err != nil {
		t.Fatal(err)
	}
	evil := publish(t, r, pluginDir(t, "router-z", "1.0.0", nil), PublishOptions{Key: filepath.Join(r.Dir(), KeysDir, "evil.key")})
	forged := *r.targets["evil"].Signed.Targets[evil[0].Path]
	forgedPath := targetPath("payment-x", "6.6.6", runtime.GOOS, runtime.GOARCH)
	forged.Path = forgedPath
	raw := []byte(strings.NewReplacer(`"router-z"`, `"payment-x"`, `"1.0.0"`, `"6.6.6"`).Replace(string(*forged.Custom)))
	rm := json_RawMessage(raw)
	forged.Custom = &rm
	r.targets["evil"].Signed.Targets[forgedPath] = &forged
	if err := r.bumpTargets("evil", nil); err != nil {
		t.Fatal(err)
	}
	// Attack 2: acme's metadata signed by a key not delegated to it.
	sk, _ := readKey(stranger)
	r.targets["acme"].Signed.Targets[targetPath("payment-x", "7.7.7", runtime.GOOS, runtime.GOARCH)] = r.targets["acme"].Signed.Targets[targetPath("payment-x", "1.0.0", runtime.GOOS, runtime.GOARCH)]
	if err := r.commit(); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, r)
	c := newClient(t, r, srv.url, Options{})
	got, problems, err := c.Listings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range got {
		names = append(names, l.Name+"@"+l.Version+" by "+l.Publisher)
	}
	// acme's 7.7.7 was added to its metadata without re-signing: its
	// version is unchanged in snapshot, so the client keeps 1.0.0; the
	// forged 6.6.6 in evil's role is refused.
	if diff := cmp.Diff([]string{"notify-echo@0.1.0 by test-market", "payment-x@1.0.0 by acme", "router-z@1.0.0 by evil"}, names); diff != "" {
		t.Errorf("listed (-want +got):\n%s\nproblems: %v", diff, problems)
	}
	if len(problems) != 1 || problems[0].Target != forgedPath || !strings.Contains(problems[0].Reason, "not signed by a role trusted") {
		t.Errorf("problems = %v; want the forged %s", problems, forgedPath)
	}
	if _, _, err := fetch(t, c, "payment-x", "6.6.6"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Fetch of the forged payment-x 6.6.6 = %v; want not found", err)
	}
	if _, l, err := fetch(t, c, "payment-x", ""); err != nil || l.Version != "1.0.0" {
		t.Errorf("Fetch payment-x = %v, %v; want acme's 1.0.0", l.Version, err)
	}

	// Now acme's role metadata is re-signed by the stranger's key.
	if err := r.bumpTargets("acme", sk); err != nil {
		t.Fatal(err)
	}
	if err := r.commit(); err != nil {
		t.Fatal(err)
	}
	got, problems, err = c.Listings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range got {
		if l.Name == "payment-x" {
			t.Errorf("payment-x %s listed from a role signed by an undelegated key", l.Version)
		}
	}
	if len(problems) == 0 || !strings.Contains(problems[0].Reason, "not signed by the keys") {
		t.Errorf("problems = %v; want acme's role refused for its signature", problems)
	}
	if _, _, err := fetch(t, c, "payment-x", ""); err == nil {
		t.Error("Fetch payment-x from a role signed by an undelegated key succeeded")
	}
}

func TestKeyRotationKeepsClientsWorking(t *testing.T) {
	r := newRepo(t)
	publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	if _, _, err := r.Delegate("payment-*", "acme", "new"); err != nil {
		t.Fatal(err)
	}
	firstRoot, _ := r.RootJSON()
	srv := serve(t, r)
	c := newClient(t, r, srv.url, Options{})
	if _, err := c.Search(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	for i, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP, "acme"} {
		before, _ := readKey(r.keyPath(role))
		id, err := r.RotateKey(role, "new")
		if err != nil {
			t.Fatalf("rotate %s: %v", role, err)
		}
		if id == before.id {
			t.Errorf("rotate %s kept key %s", role, id)
		}
		publish(t, r, pluginDir(t, "notify-echo", "0.2."+string(rune('0'+i)), nil), PublishOptions{})
		got, err := c.Search(context.Background(), "notify-echo")
		if err != nil || len(got) != i+2 {
			t.Fatalf("after rotating %s: Search = %d listings, %v; want %d", role, len(got), err, i+2)
		}
	}
	publish(t, r, pluginDir(t, "payment-x", "1.0.0", nil), PublishOptions{Key: filepath.Join(r.Dir(), KeysDir, "acme.key")})
	// A host that trusted the first root follows the rotations.
	fresh, err := NewClient("fresh", srv.url, firstRoot, filepath.Join(t.TempDir(), "fresh"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, l, err := fetch(t, fresh, "payment-x", ""); err != nil || l.Publisher != "acme" {
		t.Errorf("a client trusting the first root: Fetch payment-x = %v, %v", l, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(r.Dir(), KeysDir, retiredDir)); len(entries) != 5 {
		t.Errorf("keys/retired holds %d keys; want the 5 rotated out", len(entries))
	}
}

func TestFetchResumesCutDownload(t *testing.T) {
	r := newRepo(t)
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	pub := publish(t, r, pluginDir(t, "notify-big", "1.0.0", map[string][]byte{"data.bin": big}), PublishOptions{})
	srv := serve(t, r)
	archive := "/" + targetsDir + "/" + strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(archiveFile(r, pub[0]), r.repoPath(targetsDir))), "/")
	cuts := 0
	srv.setWrap(func(w http.ResponseWriter, req *http.Request, next http.Handler) {
		if req.URL.Path != archive || req.Header.Get("Range") != "" || cuts > 0 {
			next.ServeHTTP(w, req)
			return
		}
		cuts++
		// Half the archive, then the connection closes.
		data, _ := os.ReadFile(archiveFile(r, pub[0]))
		w.Header().Set("Content-Length", itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	c := newClient(t, r, srv.url, Options{})
	var last int64
	dst := filepath.Join(t.TempDir(), "dst")
	os.Mkdir(dst, 0o755)
	l, err := c.Fetch(context.Background(), "notify-big", "", dst, func(done, _ int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "data.bin")); string(b) != string(big) {
		t.Error("data.bin differs after a resumed download")
	}
	var ranged []string
	for _, line := range srv.requests() {
		if strings.HasPrefix(line, "GET "+archive+" bytes=") {
			ranged = append(ranged, line)
		}
	}
	if cuts != 1 || len(ranged) != 1 || last != l.Length {
		t.Errorf("cuts %d, range requests %v, progress at %d of %d; want one cut, one resume, all bytes", cuts, ranged, last, l.Length)
	}
	if entries, _ := os.ReadDir(filepath.Join(c.dir, clientDownloadsDir)); len(entries) != 0 {
		t.Errorf("downloads/ keeps %d files after a fetch", len(entries))
	}
}

func TestFileURLWorksOffline(t *testing.T) {
	r := newRepo(t)
	publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	// The repository folder copied to another machine (here: folder).
	copyDir := filepath.Join(t.TempDir(), "usb", "repository")
	if err := os.CopyFS(copyDir, os.DirFS(r.RepositoryPath())); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, r, "file://"+copyDir, Options{HTTPClient: &http.Client{Transport: refuseNetwork{}}})
	if got, err := c.Search(context.Background(), ""); err != nil || len(got) != 1 {
		t.Fatalf("Search over file:// = %v, %v", got, err)
	}
	dst, _, err := fetch(t, c, "notify-echo", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "plugin.json")); err != nil {
		t.Error(err)
	}
}

// refuseNetwork fails every request that reaches it: file:// must not.
type refuseNetwork struct{}

func (refuseNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("network used for " + r.URL.String())
}

func TestPublishRefusesChangedVersion(t *testing.T) {
	r := newRepo(t)
	dir := pluginDir(t, "notify-echo", "0.1.0", nil)
	publish(t, r, dir, PublishOptions{})
	if again := publish(t, r, dir, PublishOptions{}); !again[0].Unchanged {
		t.Errorf("publishing the same folder again: %+v; want unchanged", again[0])
	}
	os.WriteFile(filepath.Join(dir, "extra.txt"), []byte("x"), 0o644)
	if _, err := r.Publish(dir, PublishOptions{OS: runtime.GOOS, Arch: runtime.GOARCH}); err == nil || !strings.Contains(err.Error(), "never changes") {
		t.Errorf("publishing changed contents under the same version = %v; want refused", err)
	}
}

func TestDetectPlatform(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	goos, goarch, err := DetectPlatform(exe)
	if err != nil || goos != runtime.GOOS || goarch != runtime.GOARCH {
		t.Errorf("DetectPlatform(test binary) = %s/%s, %v; want %s/%s", goos, goarch, err, runtime.GOOS, runtime.GOARCH)
	}
	script := filepath.Join(t.TempDir(), "x")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	if _, _, err := DetectPlatform(script); err == nil {
		t.Error("DetectPlatform(a script) succeeded")
	}
}

func TestResolveAndFetchTarget(t *testing.T) {
	r := newRepo(t)
	pub := publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	srv := serve(t, r)
	c := newClient(t, r, srv.url, Options{})
	l, sum, err := c.Resolve(context.Background(), "notify-echo", "")
	if err != nil || l.Version != "0.1.0" || sum != pub[0].SHA256 {
		t.Fatalf("Resolve = %+v, %s, %v; want 0.1.0 with sha256 %s", l, sum, err, pub[0].SHA256)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	os.Mkdir(dst, 0o755)
	if _, err := c.FetchTarget(context.Background(), "notify-echo", "0.1.0", sum, dst, nil); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	os.Mkdir(other, 0o755)
	if _, err := c.FetchTarget(context.Background(), "notify-echo", "0.1.0", strings.Repeat("0", 64), other, nil); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "now signs") {
		t.Errorf("FetchTarget of another sha256 = %v; want refused", err)
	}
	assertEmpty(t, other)
}

// TestTargetMetadataMustMatchItsPath: a signed target whose custom
// metadata names another plugin, version or platform than its path is
// refused: a plugin's name is its path's, which delegations guard.
func TestTargetMetadataMustMatchItsPath(t *testing.T) {
	r := newRepo(t)
	pub := publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	tf := r.targets[metadata.TARGETS].Signed.Targets[pub[0].Path]
	for _, tc := range []struct{ from, to, want string }{
		{`"name":"notify-echo"`, `"name":"payment-x"`, `names plugin "payment-x"`},
		{`"version":"0.1.0"`, `"version":"0.2.0"`, `says version "0.2.0"`},
		{`"arch":"` + runtime.GOARCH + `"`, `"arch":"mips"`, "says platform"},
	} {
		orig := *tf.Custom
		forged := json_RawMessage(strings.Replace(string(orig), tc.from, tc.to, 1))
		tf.Custom = &forged
		if err := r.bumpTargets(metadata.TARGETS, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.commit(); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, r, "file://"+r.RepositoryPath(), Options{})
		got, problems, err := c.Listings(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Reason, tc.want) {
			t.Errorf("%s: listed %v, problems %v; want it refused saying %q", tc.to, got, problems, tc.want)
		}
		if _, _, err := fetch(t, c, "payment-x", ""); err == nil {
			t.Errorf("%s: Fetch payment-x succeeded", tc.to)
		}
		tf.Custom = &orig
	}
}

func TestFetchResumesStalledDownload(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 300 * time.Millisecond
	r := newRepo(t)
	pub := publish(t, r, pluginDir(t, "notify-big", "1.0.0", map[string][]byte{"data.bin": make([]byte, 1<<20)}), PublishOptions{})
	srv := serve(t, r)
	stalled := make(chan struct{})
	var first sync.Once
	srv.setWrap(func(w http.ResponseWriter, req *http.Request, next http.Handler) {
		hang := false
		if strings.HasSuffix(req.URL.Path, ".tar.gz") {
			first.Do(func() { hang = true })
		}
		if !hang {
			next.ServeHTTP(w, req)
			return
		}
		data, _ := os.ReadFile(archiveFile(r, pub[0]))
		w.Header().Set("Content-Length", itoa(len(data)))
		w.Write(data[:len(data)/3])
		w.(http.Flusher).Flush()
		select { // hang, as a stuck server does
		case <-req.Context().Done():
		case <-time.After(10 * time.Second):
		}
		close(stalled)
	})
	c := newClient(t, r, srv.url, Options{})
	if _, _, err := fetch(t, c, "notify-big", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stalled:
	case <-time.After(5 * time.Second):
		t.Error("the stalled request was not cut")
	}
}

func TestRepoIsLockedWhileOpen(t *testing.T) {
	r := newRepo(t)
	if _, err := Open(r.Dir()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Open while another has it = %v; want refused", err)
	}
	r.Close()
	again, err := Open(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := again.Publish(pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{OS: runtime.GOOS, Arch: runtime.GOARCH}); err != nil {
		t.Errorf("Publish after reopening = %v", err)
	}
}

// TestFetchStartsOverWhenResumedFileDoesNotVerify: a partial file left
// from before whose bytes are wrong (a disk error, a different server
// answer) fails the whole-file check after resuming; Fetch drops it and
// downloads once more from the start.
func TestFetchStartsOverWhenResumedFileDoesNotVerify(t *testing.T) {
	r := newRepo(t)
	pub := publish(t, r, pluginDir(t, "notify-big", "1.0.0", map[string][]byte{"data.bin": make([]byte, 1<<20)}), PublishOptions{})
	srv := serve(t, r)
	c := newClient(t, r, srv.url, Options{})
	garbage := make([]byte, pub[0].Length/2)
	for i := range garbage {
		garbage[i] = 0xAA
	}
	if err := os.WriteFile(filepath.Join(c.dir, clientDownloadsDir, pub[0].SHA256+".part"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fetch(t, c, "notify-big", ""); err != nil {
		t.Fatal(err)
	}
	var gets []string
	for _, line := range srv.requests() {
		if strings.Contains(line, ".tar.gz") {
			gets = append(gets, line)
		}
	}
	if len(gets) != 2 || !strings.Contains(gets[0], "bytes=") || strings.Contains(gets[1], "bytes=") {
		t.Errorf("archive requests %v; want a resume, then a download from the start", gets)
	}
}
