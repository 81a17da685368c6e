package pluginstall_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestConvergeFollowsAnotherHost: host b carries out what host a did, as
// the store records it, from the same target.
func TestConvergeFollowsAnotherHost(t *testing.T) {
	ctx := context.Background()
	src := source(t, tp{Name: "pa", Version: "1.0.0"}, tp{Name: "pa", Version: "2.0.0"})
	a := newInstaller(t, testenv.NewPluginDir(t).Dir)
	bDir := testenv.NewPluginDir(t).Dir
	b := newInstaller(t, bDir)
	want := func(r *pluginstall.Result) []pluginstall.Want {
		return []pluginstall.Want{{Action: r.Action, Name: r.Name, Version: r.To, Source: src.Dir, FolderSHA256: r.FolderSHA256}}
	}
	step := func(r *pluginstall.Result, err error, version string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		did, errs := b.Converge(ctx, want(r))
		if len(errs) > 0 || len(did) != 1 {
			t.Fatalf("Converge after %s: did %v, errors %v", r.Action, did, errs)
		}
		assertConsistent(t, bDir, "pa", version)
		if did, errs := b.Converge(ctx, want(r)); len(did)+len(errs) != 0 {
			t.Errorf("a second Converge did %v, %v; want nothing", did, errs)
		}
	}
	r, err := a.Install(ctx, src, "pa", "1.0.0", pluginstall.Observer{})
	step(r, err, "1.0.0")
	r, err = a.Upgrade(ctx, src, "pa", "2.0.0", pluginstall.Observer{})
	step(r, err, "2.0.0")
	r, err = a.Rollback(ctx, "pa", pluginstall.Observer{})
	step(r, err, "1.0.0")
	r, err = a.Remove(ctx, "pa", false, false, pluginstall.Observer{})
	step(r, err, "")

	// A source whose folder changed since: refused by its hash.
	r, err = a.Install(ctx, src, "pa", "2.0.0", pluginstall.Observer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src.Dir, "pa-2.0.0", "extra.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	cDir := testenv.NewPluginDir(t).Dir // a host with no kept version
	did, errs := newInstaller(t, cDir).Converge(ctx, want(r))
	if len(did) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "not the target recorded in the store") {
		t.Fatalf("Converge from a changed source: did %v, errors %v; want refused by the folder hash", did, errs)
	}
	assertConsistent(t, cDir, "pa", "")
}
