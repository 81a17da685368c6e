package pluginstall_test

// File identities (client.FileID) are taken on Linux only.

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestInstallRecordsTheLockSums: an install or an upgrade records in
// plugins.lock.sums the identity of the executable it checked, which is
// the file in place afterwards (the folder is moved, not copied), so the
// host's first launch of it need not hash it again; a rollback to a kept
// version leaves no entry that vouches for the version it left.
func TestInstallRecordsTheLockSums(t *testing.T) {
	dir := testenv.NewPluginDir(t).Dir
	in := newInstaller(t, dir)
	ctx := context.Background()
	src := source(t, tp{Name: "pa", Version: "1.0.0"}, tp{Name: "pa", Version: "2.0.0"})
	exe := filepath.Join(dir, "pa", "mikrobill-plugin-pa")
	recorded := func(when string) bool {
		t.Helper()
		lf, err := lockfile.Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		sums, err := lockfile.ReadSums(dir)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		id := testenv.FileID(t, exe)
		s, ok := sums["pa"]
		if ok && (s.SHA256 != lf.Plugins["pa"].SHA256 || s.Executable != lf.Plugins["pa"].Executable) {
			t.Errorf("%s: pa's sums entry %+v does not name the locked executable (%s)", when, s, lf.Plugins["pa"].SHA256)
		}
		return ok && s.ID == id
	}
	if _, err := in.Install(ctx, src, "pa", "1.0.0", pluginstall.Observer{}); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !recorded("after the install") {
		t.Error("after the install: plugins.lock.sums does not hold the executable in place")
	}
	if _, err := in.Upgrade(ctx, src, "pa", "", pluginstall.Observer{}); err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	if !recorded("after the upgrade") {
		t.Error("after the upgrade: plugins.lock.sums does not hold the new executable in place")
	}
	if _, err := in.Rollback(ctx, "pa", pluginstall.Observer{}); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	recorded("after the rollback") // an entry left must name the locked executable
}
