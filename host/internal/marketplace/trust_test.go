package marketplace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

func TestTrustAddListRemove(t *testing.T) {
	r := newRepo(t)
	publish(t, r, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	root, _ := r.RootJSON()
	cfg := config.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Marketplaces = map[string]*config.MarketplaceConfig{}
	cfg.Marketplaces["company"] = &config.MarketplaceConfig{URL: "file://" + r.RepositoryPath(), Root: r.RootPath()}

	if _, err := Add(cfg, "demo", "file://"+r.RepositoryPath(), root); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url string
		root      []byte
		want      string
	}{
		{"demo", "file://" + r.RepositoryPath(), root, "trusted already"},
		{"company", "file://" + r.RepositoryPath(), root, "declared in"},
		{"Bad Name", "file:///x", root, "marketplace name"},
		{"ftp", "ftp://example.net/x", root, "https://, http:// or file://"},
		{"rel", "file://relative/x", root, "three slashes"},
		{"garbage", "file:///x", []byte(`{"signed":{}}`), "not TUF root metadata"},
	} {
		if _, err := Add(cfg, tc.name, tc.url, tc.root); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%s, %s) = %v; want %q", tc.name, tc.url, err, tc.want)
		}
	}
	info, err := os.Stat(filepath.Join(TrustDir(cfg.DataDir), "demo"))
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("marketplaces/demo: %v, %v; want 0700", info, err)
	}
	list, err := List(cfg)
	if err != nil || len(list) != 2 || list[0].Name != "company" || !list[0].Config || list[1].Name != "demo" || list[1].Config {
		t.Fatalf("List = %+v, %v", list, err)
	}
	sources, err := Sources(cfg, Options{})
	if err != nil || len(sources) != 2 {
		t.Fatalf("Sources = %v, %v", sources, err)
	}
	for _, s := range sources {
		got, err := s.Search(context.Background(), "")
		if err != nil || len(got) != 1 || got[0].Source != s.Name() {
			t.Errorf("%s: Search = %v, %v", s.Name(), got, err)
		}
	}
	// A declared marketplace whose root file is gone does not take the
	// others down.
	cfg.Marketplaces["gone"] = &config.MarketplaceConfig{URL: "file://" + r.RepositoryPath(), Root: filepath.Join(t.TempDir(), "missing.json")}
	if sources, err := Sources(cfg, Options{}); len(sources) != 2 || err == nil || !strings.Contains(err.Error(), "marketplace gone") {
		t.Errorf("Sources with a broken marketplace = %d sources, %v; want the 2 others and an error naming it", len(sources), err)
	}
	delete(cfg.Marketplaces, "gone")
	if err := Remove(cfg, "company"); err == nil || !strings.Contains(err.Error(), "remove its block") {
		t.Errorf("Remove(configured) = %v", err)
	}
	if err := Remove(cfg, "demo"); err != nil {
		t.Fatal(err)
	}
	if err := Remove(cfg, "demo"); !errors.Is(err, ErrNotTrusted) {
		t.Errorf("Remove twice = %v; want ErrNotTrusted", err)
	}
	if list, _ := List(cfg); len(list) != 1 {
		t.Errorf("List after Remove = %+v", list)
	}
}

func TestNewClientDropsCacheOfAnotherRoot(t *testing.T) {
	a, b := newRepo(t), newRepo(t)
	publish(t, a, pluginDir(t, "notify-echo", "0.1.0", nil), PublishOptions{})
	publish(t, b, pluginDir(t, "notify-other", "0.1.0", nil), PublishOptions{})
	dir := filepath.Join(t.TempDir(), "m")
	rootA, _ := a.RootJSON()
	rootB, _ := b.RootJSON()
	ca, _ := NewClient("m", "file://"+a.RepositoryPath(), rootA, dir, Options{})
	if _, err := ca.Search(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	// The configuration now names another marketplace (and root) for m.
	cb, err := NewClient("m", "file://"+b.RepositoryPath(), rootB, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cb.Search(context.Background(), ""); err != nil || len(got) != 1 || got[0].Name != "notify-other" {
		t.Errorf("Search after the root changed = %v, %v", got, err)
	}
}

func TestFingerprints(t *testing.T) {
	r := newRepo(t)
	root, _ := r.RootJSON()
	fp, version, err := Fingerprints(root)
	if err != nil || version != 1 || len(fp) != 4 || fp[0].Role != "root" || len(fp[0].Public) != 64 || len(fp[0].KeyID) != 64 {
		t.Fatalf("Fingerprints = %+v, %d, %v", fp, version, err)
	}
	k, _ := readKey(r.keyPath("root"))
	if fp[0].KeyID != k.id {
		t.Errorf("root key id %s; keys/root.key is %s", fp[0].KeyID, k.id)
	}
	tampered := []byte(strings.Replace(string(root), `"consistent_snapshot": true`, `"consistent_snapshot": false`, 1))
	if _, _, err := Fingerprints(tampered); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("Fingerprints(altered root) = %v; want refused", err)
	}
}
