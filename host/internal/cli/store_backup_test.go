package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestStoreBackupWhileWritingThenRestore: a backup taken while records are
// written holds every one committed before it and is whole; restore puts
// it in place and keeps the store before; what must be refused is, with a
// message saying what to do.
func TestStoreBackupWhileWritingThenRestore(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	dir := filepath.Dir(st.Where())
	for i := range 100 {
		if err := st.Q().SetPluginRecord(ctx, "payment-x", fmt.Sprintf("before/%03d", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	// A writer goes on while the backup runs.
	var written atomic.Int64
	stop, done := make(chan struct{}), make(chan error)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := st.Q().SetPluginRecord(ctx, "payment-x", fmt.Sprintf("during/%06d", i), []byte("v"), 0); err != nil {
				done <- err
				return
			}
			written.Add(1)
		}
	}()
	for written.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	backup := filepath.Join(t.TempDir(), "mikrobill-backup.db")
	var stdout, stderr bytes.Buffer
	code := Execute([]string{"store", "backup", "--from", dir, "--to", backup}, &stdout, &stderr, nil)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("the writer beside the backup: %v", err)
	}
	if code != 0 {
		t.Fatalf("store backup: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "backed up") || !strings.Contains(stdout.String(), backup) {
		t.Errorf("store backup said: %s", stdout.String())
	}
	if _, err := os.Stat(backup + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial file is left: %v", err)
	}
	info, err := store.CheckBackup(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := store.LatestVersion()
	if info.SchemaVersion != latest {
		t.Errorf("backup schema %d; want %d", info.SchemaVersion, latest)
	}

	// A backup never overwrites.
	stdout.Reset()
	stderr.Reset()
	if code := Execute([]string{"store", "backup", "--from", dir, "--to", backup}, &stdout, &stderr, nil); code == 0 || !strings.Contains(stderr.String(), "never overwrites") {
		t.Errorf("a backup onto an existing file: exit %d, %s", code, stderr.String())
	}

	// Restore into a data directory that holds a store of its own.
	target := storetest.SQLite(t)
	if err := target.Q().SetPluginRecord(ctx, "payment-x", "only-in-target", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	targetDir := filepath.Dir(target.Where())
	target.Close()
	stdout.Reset()
	stderr.Reset()
	if code := Execute([]string{"store", "restore", "--from", backup, "--to", targetDir}, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("store restore: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	kept, _ := filepath.Glob(filepath.Join(targetDir, store.FileName+".before-restore-*"))
	if len(kept) == 0 {
		t.Fatalf("restore kept no copy of the store before; %s", stdout.String())
	}
	restored, err := store.Open(ctx, store.Options{DataDir: targetDir})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	all, err := restored.Q().ListPluginRecords(ctx, "payment-x", "", "", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	before, during := 0, 0
	for _, r := range all {
		switch {
		case strings.HasPrefix(r.Key, "before/"):
			before++
		case strings.HasPrefix(r.Key, "during/"):
			during++
		default:
			t.Errorf("the restored store holds %q, which only the store before had", r.Key)
		}
	}
	if before != 100 || during < 20 || int64(during) > written.Load() {
		t.Errorf("restored %d records from before the backup (want 100) and %d written during it (want 20 to %d)", before, during, written.Load())
	}

	// Refusals: garbage, a missing file, a store in use.
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, []byte("not a database at all, just some bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"store", "restore", "--from", garbage, "--to", t.TempDir()}, "not a usable mikrobill backup"},
		{[]string{"store", "restore", "--from", filepath.Join(t.TempDir(), "none.db"), "--to", t.TempDir()}, "no such file"},
		{[]string{"store", "backup", "--from", dir}, `required flag(s) "to" not set`},
	} {
		stdout.Reset()
		stderr.Reset()
		if code := Execute(tc.args, &stdout, &stderr, nil); code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %s; want an error saying %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	runQueueOn(t, restored)
	stdout.Reset()
	stderr.Reset()
	if code := Execute([]string{"store", "restore", "--from", backup, "--to", targetDir}, &stdout, &stderr, nil); code == 0 || !strings.Contains(stderr.String(), "stop it first") {
		t.Errorf("restore onto a store in use: exit %d, %s", code, stderr.String())
	}
}

// TestStoreBackupOnPostgresNamesPgDump: the PostgreSQL store is backed up
// with pg_dump, and the command says so.
func TestStoreBackupOnPostgresNamesPgDump(t *testing.T) {
	st := storetest.Postgres(t)
	if _, err := st.Backup(context.Background(), filepath.Join(t.TempDir(), "x.db")); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("Backup on PostgreSQL: %v; want it to name pg_dump", err)
	}
}
