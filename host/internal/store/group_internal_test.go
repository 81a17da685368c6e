package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openGroupTest opens an embedded database with a table of names.
func openGroupTest(t *testing.T) *Store {
	return openTestStore(t, "CREATE TABLE names (name TEXT PRIMARY KEY)")
}

// openTestStore opens an embedded database in a directory of the test's
// own, closed when it ends, and runs schema on it.
func openTestStore(tb testing.TB, schema ...string) *Store {
	tb.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	for _, q := range schema {
		if _, err := s.Q().DB().Exec(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func insertName(ctx context.Context, tx *Tx, name string) error {
	_, err := tx.Q().DB().Exec(ctx, "INSERT INTO names (name) VALUES (?)", name)
	return err
}

func names(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.Q().DB().Query(context.Background(), "SELECT name FROM names ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// holdWriter starts a transaction that holds the writer (and the group's
// lead) until the returned release is called; it then inserts name.
func holdWriter(t *testing.T, s *Store, name string) (release func() error) {
	t.Helper()
	inTx, free := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Tx(context.Background(), func(tx *Tx) error {
			close(inTx)
			<-free
			return insertName(context.Background(), tx, name)
		})
	}()
	<-inTx
	return func() error { close(free); return <-done }
}

// waitQueued waits until n transactions wait in the group's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.group.mu.Lock()
		l := len(s.group.queue)
		s.group.mu.Unlock()
		if l == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions queued, want %d", l, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommitKeepsEachOutcome: transactions that wait for the writer
// run as one group, committed once, and each keeps its own outcome: one
// that fails or panics is rolled back alone and its caller gets its error
// or its panic; the others, and a write outside a transaction, commit.
func TestGroupCommitKeepsEachOutcome(t *testing.T) {
	s := openGroupTest(t)
	ctx := context.Background()
	release := holdWriter(t, s, "holder")
	before, _ := s.WriteTurn()

	refused := errors.New("refused by its function")
	var wg sync.WaitGroup
	var okErr1, okErr2, failErr, execErr error
	var panicked any
	wg.Go(func() {
		okErr1 = s.Tx(ctx, func(tx *Tx) error { return insertName(ctx, tx, "ok-1") })
	})
	waitQueued(t, s, 1)
	wg.Go(func() {
		failErr = s.Tx(ctx, func(tx *Tx) error {
			if err := insertName(ctx, tx, "failed"); err != nil {
				return err
			}
			return refused
		})
	})
	waitQueued(t, s, 2)
	wg.Go(func() {
		defer func() { panicked = recover() }()
		_ = s.Tx(ctx, func(tx *Tx) error {
			if err := insertName(ctx, tx, "panicked"); err != nil {
				return err
			}
			panic("a bug in the function")
		})
	})
	waitQueued(t, s, 3)
	wg.Go(func() {
		_, execErr = s.Q().DB().Exec(ctx, "INSERT INTO names (name) VALUES (?)", "exec")
	})
	waitQueued(t, s, 4)
	wg.Go(func() {
		okErr2 = s.Tx(ctx, func(tx *Tx) error {
			// Earlier members' changes are visible: one transaction.
			var n int
			if err := tx.Q().DB().QueryRow(ctx, "SELECT COUNT(*) FROM names WHERE name IN ('ok-1', 'exec')").Scan(&n); err != nil {
				return err
			}
			return insertName(ctx, tx, fmt.Sprintf("ok-2-saw-%d", n))
		})
	})
	waitQueued(t, s, 5)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	if okErr1 != nil || okErr2 != nil || execErr != nil {
		t.Fatalf("members that succeeded: %v, %v, %v", okErr1, okErr2, execErr)
	}
	if !errors.Is(failErr, refused) {
		t.Errorf("the failing member got %v, want its own error", failErr)
	}
	// The caller gets the panic, with the stack of the goroutine that ran
	// its function (the group's leader), where it panicked.
	if p, ok := panicked.(*TxPanic); !ok || p.Value != "a bug in the function" {
		t.Errorf("the panicking member's caller recovered %v, want its panic", panicked)
	} else if !strings.Contains(string(p.Stack), "TestGroupCommitKeepsEachOutcome.func") {
		t.Errorf("the panic's stack does not show the function that panicked:\n%s", p.Stack)
	}
	if got, want := names(t, s), []string{"exec", "holder", "ok-1", "ok-2-saw-2"}; !slices.Equal(got, want) {
		t.Errorf("committed %q, want %q", got, want)
	}
	after, _ := s.WriteTurn()
	if commits, committed := after.Commits-before.Commits, after.Committed-before.Committed; commits != 2 || committed != 4 {
		t.Errorf("%d commits of %d transactions, want 2 of 4 (the holder alone, then one group of three)", commits, committed)
	}
	if waits := after.Waits - before.Waits; waits != 5 {
		t.Errorf("%d writers waited, want the 5 queued", waits)
	}
}

// TestGroupBrokenTransactionCommitsNothing: a member that ends the shared
// transaction under the group (here a ROLLBACK; in life SQLite rolls back
// by itself after some errors) and returns nil fails every member: none of
// their changes is kept, and the members after it do not run in SQLite's
// autocommit.
func TestGroupBrokenTransactionCommitsNothing(t *testing.T) {
	s := openGroupTest(t)
	ctx := context.Background()
	release := holdWriter(t, s, "holder")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	var lastRan bool
	wg.Go(func() { errs[0] = s.Tx(ctx, func(tx *Tx) error { return insertName(ctx, tx, "first") }) })
	waitQueued(t, s, 1)
	wg.Go(func() {
		errs[1] = s.Tx(ctx, func(tx *Tx) error {
			if err := insertName(ctx, tx, "breaker"); err != nil {
				return err
			}
			_, err := tx.SQLTx().ExecContext(ctx, "ROLLBACK")
			return err
		})
	})
	waitQueued(t, s, 2)
	wg.Go(func() {
		errs[2] = s.Tx(ctx, func(tx *Tx) error {
			lastRan = true
			return insertName(ctx, tx, "last")
		})
	})
	waitQueued(t, s, 3)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("member %d was told it committed", i)
		}
	}
	if lastRan {
		t.Error("the member after the broken transaction ran")
	}
	if got := names(t, s); !slices.Equal(got, []string{"holder"}) {
		t.Errorf("committed %q, want only the holder's", got)
	}
	// The store goes on.
	if err := s.Tx(ctx, func(tx *Tx) error { return insertName(ctx, tx, "after") }); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCancellation: a caller cancelled while it waits leaves the
// queue at once with its context's error and its function never runs; a
// caller cancelled while its function runs does not interrupt the shared
// transaction (SQLite would roll all of it back): its statements run, and
// it is told the truth, that it committed.
func TestGroupCancellation(t *testing.T) {
	s := openGroupTest(t)
	ctx := context.Background()
	release := holdWriter(t, s, "holder")
	var wg sync.WaitGroup
	var firstErr, midErr, lastErr error
	wg.Go(func() { firstErr = s.Tx(ctx, func(tx *Tx) error { return insertName(ctx, tx, "first") }) })
	waitQueued(t, s, 1)
	wg.Go(func() {
		mctx, cancel := context.WithCancel(ctx)
		midErr = s.Tx(mctx, func(tx *Tx) error {
			if err := insertName(mctx, tx, "mid-before"); err != nil {
				return err
			}
			cancel()
			if err := insertName(mctx, tx, "mid-after"); err != nil {
				return err
			}
			_, err := tx.SQLTx().ExecContext(tx.Context(mctx), "INSERT INTO names (name) VALUES ('mid-raw')")
			return err
		})
	})
	waitQueued(t, s, 2)
	qctx, cancelQueued := context.WithCancel(ctx)
	queuedErr := make(chan error, 1)
	var queuedRan bool
	go func() {
		queuedErr <- s.Tx(qctx, func(tx *Tx) error {
			queuedRan = true
			return insertName(qctx, tx, "queued")
		})
	}()
	waitQueued(t, s, 3)
	cancelQueued()
	select {
	case err := <-queuedErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the cancelled waiter got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller cancelled while it waited for the writer was still waiting 5 s later")
	}
	waitQueued(t, s, 2)
	wg.Go(func() { lastErr = s.Tx(ctx, func(tx *Tx) error { return insertName(ctx, tx, "last") }) })
	waitQueued(t, s, 3)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if firstErr != nil || midErr != nil || lastErr != nil {
		t.Fatalf("members: %v, %v, %v; want all committed", firstErr, midErr, lastErr)
	}
	if queuedRan {
		t.Error("the cancelled waiter's function ran")
	}
	want := []string{"first", "holder", "last", "mid-after", "mid-before", "mid-raw"}
	if got := names(t, s); !slices.Equal(got, want) {
		t.Errorf("committed %q, want %q", got, want)
	}
}

// TestGroupCommitUnderLoad: many writers at once, some failing, some
// outside a transaction: every success is committed once, no failure
// leaves a trace, and the writer committed them in fewer commits than
// transactions.
func TestGroupCommitUnderLoad(t *testing.T) {
	s := openGroupTest(t)
	ctx := context.Background()
	if _, err := s.Q().DB().Exec(ctx, "CREATE TABLE tally (n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Q().DB().Exec(ctx, "INSERT INTO tally (n) VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.WriteTurn()
	const writers, each = 48, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	var want []string
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%02d-%02d", w, i)
				var err error
				switch {
				case i%5 == 4: // a write outside a transaction
					_, err = s.Q().DB().Exec(ctx, "INSERT INTO names (name) VALUES (?)", name)
					if err == nil {
						_, err = s.Q().DB().Exec(ctx, "UPDATE tally SET n = n + 1")
					}
				default:
					err = s.Tx(ctx, func(tx *Tx) error {
						if err := insertName(ctx, tx, name); err != nil {
							return err
						}
						if _, err := tx.Q().DB().Exec(ctx, "UPDATE tally SET n = n + 1"); err != nil {
							return err
						}
						if i%7 == 3 {
							return errors.New("refused")
						}
						return nil
					})
				}
				if err == nil {
					mu.Lock()
					want = append(want, name)
					mu.Unlock()
				} else if err.Error() != "refused" {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(want)
	if got := names(t, s); !slices.Equal(got, want) {
		t.Fatalf("committed %d names, want the %d that succeeded", len(got), len(want))
	}
	var n int
	if err := s.Q().DB().QueryRow(ctx, "SELECT n FROM tally").Scan(&n); err != nil || n != len(want) {
		t.Errorf("tally %d (%v), want %d", n, err, len(want))
	}
	after, _ := s.WriteTurn()
	commits, committed := after.Commits-before.Commits, after.Committed-before.Committed
	t.Logf("%d transactions and writes committed in %d commits", committed, commits)
	if committed != int64(len(want)+len(want)-countTx(want)) || commits >= committed {
		t.Errorf("%d committed in %d commits; want %d (each success, a write outside a transaction counting twice) in fewer commits",
			committed, commits, len(want)+len(want)-countTx(want))
	}
}

// countTx counts the names written in a transaction (not i%5 == 4).
func countTx(names []string) int {
	n := 0
	for _, name := range names {
		var w, i int
		fmt.Sscanf(name, "w%d-%d", &w, &i)
		if i%5 != 4 {
			n++
		}
	}
	return n
}

// openGroupBench opens an embedded database for the writers of
// BenchmarkGroupCommit, BenchmarkRiverBesideTheHost and
// BenchmarkGroupCommitJournal.
func openGroupBench(b *testing.B) *Store {
	return openTestStore(b, "CREATE TABLE names (name TEXT PRIMARY KEY, body TEXT)", "CREATE TABLE tally (n INTEGER NOT NULL)", "INSERT INTO tally (n) VALUES (0)")
}

var groupBenchBody = strings.Repeat("x", 1000)

// groupBenchTx is one benchmark writer's transaction: a row with 1 KB of
// text, and the shared counter.
func groupBenchTx(ctx context.Context, s *Store, n int64) error {
	return s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.Q().DB().Exec(ctx, "INSERT INTO names (name, body) VALUES (?, ?)", strconv.FormatInt(n, 10), groupBenchBody); err != nil {
			return err
		}
		_, err := tx.Q().DB().Exec(ctx, "UPDATE tally SET n = n + 1")
		return err
	})
}

// BenchmarkGroupCommit: 32 writers at once, each transaction two writes
// (a row of its own and a shared counter), committed in groups against
// each alone (groupMax 1, the baseline, in the same run). ns/op is per
// transaction.
func BenchmarkGroupCommit(b *testing.B) {
	for _, bb := range []struct {
		name string
		max  int
	}{{"alone", 1}, {"grouped", 16}} {
		b.Run(bb.name, func(b *testing.B) {
			defer func(old int) { groupMax = old }(groupMax)
			groupMax = bb.max
			ctx := context.Background()
			s := openGroupBench(b)
			before, _ := s.WriteTurn()
			var next atomic.Int64
			b.SetParallelism(16) // 32 writers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := groupBenchTx(ctx, s, next.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			after, _ := s.WriteTurn()
			if commits := after.Commits - before.Commits; commits > 0 {
				b.ReportMetric(float64(after.Committed-before.Committed)/float64(commits), "tx/commit")
			}
		})
	}
}

// TestGroupWaitIsBounded: a transaction that waits in the queue longer
// than SQLite's busy timeout gives up with ErrUnavailable, as a wait for
// the write turn does, and its function never runs; a function that
// writes outside its own transaction so fails instead of waiting for
// itself for ever.
func TestGroupWaitIsBounded(t *testing.T) {
	defer func(old time.Duration) { groupWaitLimit = old }(groupWaitLimit)
	groupWaitLimit = 200 * time.Millisecond
	s := openGroupTest(t)
	ctx := context.Background()
	err := s.Tx(ctx, func(tx *Tx) error {
		if err := insertName(ctx, tx, "inside"); err != nil {
			return err
		}
		// A write outside the transaction waits for the writer this
		// transaction holds.
		_, err := s.Q().DB().Exec(ctx, "INSERT INTO names (name) VALUES ('outside')")
		if !IsUnavailable(err) {
			return fmt.Errorf("the write outside the transaction: %v, want ErrUnavailable", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, s); !slices.Equal(got, []string{"inside"}) {
		t.Errorf("committed %q, want only the transaction's own write", got)
	}
}

// panicsInTx panics with err inside a transaction.
func panicsInTx(ctx context.Context, tx *Tx, err error) error {
	if e := insertName(ctx, tx, "never"); e != nil {
		return e
	}
	panic(err)
}

// TestTxPanicKeepsValueAndStack: a function that panics alone (no group)
// reaches its caller as a *TxPanic that errors.Is sees through, whose
// message names the function where it panicked; nothing it wrote stays.
func TestTxPanicKeepsValueAndStack(t *testing.T) {
	s := openGroupTest(t)
	ctx := context.Background()
	boom := errors.New("boom")
	var got any
	func() {
		defer func() { got = recover() }()
		_ = s.Tx(ctx, func(tx *Tx) error { return panicsInTx(ctx, tx, boom) })
	}()
	err, ok := got.(error)
	if !ok || !errors.Is(err, boom) {
		t.Fatalf("recovered %v (%T), want a panic that is boom", got, got)
	}
	var p *TxPanic
	if !errors.As(err, &p) || !strings.Contains(p.Error(), "store.panicsInTx") || !strings.HasPrefix(p.Error(), "boom\n") {
		t.Fatalf("the panic's message does not start with its value and name panicsInTx:\n%v", err)
	}
	if n := names(t, s); len(n) != 0 {
		t.Fatalf("a transaction that panicked left %q", n)
	}
}
