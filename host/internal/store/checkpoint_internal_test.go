package store

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// walTestRows rows of walTestRow bytes fill about 3,000 pages: three times
// SQLite's automatic checkpoint (1,000 pages), which would have copied
// them into the database file on commit.
const (
	walTestRows = 300
	walTestRow  = 40000
)

func openCheckpointTest(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Q().db.Exec(context.Background(), "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return s, s.where
}

func writeBlobs(t *testing.T, s *Store) {
	t.Helper()
	err := s.Tx(context.Background(), func(tx *Tx) error {
		for range walTestRows {
			if _, err := tx.Q().db.Exec(context.Background(), "INSERT INTO blobs (b) VALUES (zeroblob(?))", walTestRow); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestCommitLeavesTheCheckpoint: no connection of either pool checkpoints
// on commit, so a commit of 3,000 pages leaves them in the WAL and the
// database file as it was (SQLite's automatic checkpoint would have
// copied them before the commit returned, in the write turn).
func TestCommitLeavesTheCheckpoint(t *testing.T) {
	s, path := openCheckpointTest(t)
	for _, p := range []struct {
		name string
		q    func() (int, error)
	}{
		{"the application's pool", func() (n int, err error) {
			err = s.sqldb.QueryRow("PRAGMA wal_autocheckpoint").Scan(&n)
			return
		}},
		{"River's pool", func() (n int, err error) {
			err = s.jobdb.QueryRow("PRAGMA wal_autocheckpoint").Scan(&n)
			return
		}},
	} {
		n, err := p.q()
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s checkpoints on commit every %d pages; want 0 (the checkpointer does it)", p.name, n)
		}
	}
	s.ckpt.close() // no checkpoint but SQLite's own, if any
	s.ckpt = nil
	before := fileSize(t, path)
	writeBlobs(t, s)
	if after := fileSize(t, path); after-before > 1<<20 {
		t.Fatalf("the database file grew from %d to %d bytes on commit: the commit checkpointed", before, after)
	}
	if wal := fileSize(t, path+"-wal"); wal < walTestRows*walTestRow {
		t.Fatalf("the WAL holds %d bytes after %d rows of %d bytes; want them all", wal, walTestRows, walTestRow)
	}
}

// TestCheckpointerCopiesTheWAL: after writes, through the write turn or
// River's pool, the checkpointer copies the WAL into the database file,
// and its figures say so.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	old := checkpointEvery
	checkpointEvery = 10 * time.Millisecond
	t.Cleanup(func() { checkpointEvery = old })
	s, path := openCheckpointTest(t)
	before := fileSize(t, path)
	writeBlobs(t, s)
	waitFor(t, "the checkpointer to copy the WAL", func() bool {
		cp, _ := s.Checkpoints()
		return cp.WALFrames >= walTestRows*walTestRow/4096 && cp.Behind == 0 && fileSize(t, path)-before >= walTestRows*walTestRow
	})

	// River's writes take the write turn on their pool's connection
	// (cachingConn.turn), whose release wakes the checkpointer.
	runs := func() int64 { cp, _ := s.Checkpoints(); return cp.Runs }
	time.Sleep(50 * time.Millisecond) // past checkpointEvery: idle
	idle := runs()
	time.Sleep(100 * time.Millisecond)
	if n := runs(); n != idle {
		t.Fatalf("%d checkpoints ran with nothing written; an idle host must not wake for them", n-idle)
	}
	if _, err := s.jobdb.Exec("INSERT INTO blobs (b) VALUES (randomblob(10))"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a checkpoint after River's write", func() bool { return runs() > idle })
	if cp, _ := s.Checkpoints(); cp.Failures != 0 {
		t.Fatalf("%d checkpoints failed", cp.Failures)
	}
}

// TestCloseStopsTheCheckpointer: Close ends the checkpointer's goroutine
// before it closes the pools, and the last connection's close leaves no
// WAL behind.
func TestCloseStopsTheCheckpointer(t *testing.T) {
	s, path := openCheckpointTest(t)
	writeBlobs(t, s)
	c := s.ckpt
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	default:
		t.Fatal("the checkpointer still runs after Close")
	}
	if _, err := os.Stat(path + "-wal"); err == nil || !os.IsNotExist(err) {
		t.Fatalf("the WAL is still there after Close (%v): the last close did not checkpoint", err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWALStaysBoundedUnderWrites: with writers that never pause, a
// checkpoint beside them never copies every frame, and the WAL would grow
// without end; past walRestartFrames the checkpoint takes the write turn,
// and the WAL starts again from its beginning.
func TestWALStaysBoundedUnderWrites(t *testing.T) {
	oldEvery, oldRestart := checkpointEvery, walRestartFrames
	checkpointEvery, walRestartFrames = time.Millisecond, 300
	t.Cleanup(func() { checkpointEvery, walRestartFrames = oldEvery, oldRestart })
	s, path := openCheckpointTest(t)
	const writers, txs, rowBytes = 4, 400, 5 * 4000 // about 8,000 pages in all
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range txs {
				err := s.Tx(context.Background(), func(tx *Tx) error {
					_, err := tx.Q().db.Exec(context.Background(), "INSERT INTO blobs (b) VALUES (zeroblob(?))", rowBytes)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	cp, _ := s.Checkpoints()
	if cp.InTurn == 0 {
		t.Errorf("no checkpoint took the write turn (%d checkpoints, %d frames at the last)", cp.Runs, cp.WALFrames)
	}
	// The WAL file keeps the largest size it reached. Without the bound
	// it held nearly everything written (10,237 to 10,425 pages); with
	// it, a few times the bound, more on a loaded machine, where the
	// checkpointer's turn comes later (1,681 pages seen beside a full
	// test run and a benchmark).
	if wal, limit := fileSize(t, path+"-wal"), int64(10*300*4096); wal > limit {
		t.Fatalf("the WAL reached %d bytes (%d pages) under %d writers; want it restarted before %d bytes", wal, wal/4096, writers, limit)
	}
}
