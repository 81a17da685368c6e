package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openJobPoolTest opens an embedded database with a table of jobs, made
// through River's pool.
func openJobPoolTest(t *testing.T) *Store {
	t.Helper()
	s := openGroupTest(t)
	if _, err := s.jobdb.Exec("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return s
}

// fetchJobs is shaped as River's fetch is: sqlc's comment line, then an
// UPDATE whose rows are read back.
const fetchJobs = "-- name: JobGetAvailable :many\nUPDATE jobs SET state = 'running' WHERE state = 'available' RETURNING id"

func countJobs(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.sqldb.QueryRow("SELECT count(*) FROM jobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func drain(rows *sql.Rows) error {
	for rows.Next() {
	}
	return errors.Join(rows.Err(), rows.Close())
}

// TestRiverPoolTakesTheWriteTurn: River's pool writes only in the store's
// write turn, as the host's own writers do: its transactions, its writes
// outside one (also after a comment, as River's queries begin) wait while
// another holds the turn, and its reads do not.
func TestRiverPoolTakesTheWriteTurn(t *testing.T) {
	s := openJobPoolTest(t)
	ctx := context.Background()
	release, err := s.writer.lock(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var n int
	if err := s.jobdb.QueryRowContext(ctx, "-- name: JobCount :one\nSELECT count(*) FROM jobs").Scan(&n); err != nil {
		t.Fatalf("a read on River's pool while the turn is held: %v", err)
	}

	done := make(chan error, 3)
	go func() {
		_, err := s.jobdb.ExecContext(ctx, "INSERT INTO jobs (state) VALUES ('available')")
		done <- err
	}()
	go func() {
		rows, err := s.jobdb.QueryContext(ctx, fetchJobs)
		if err == nil {
			err = drain(rows)
		}
		done <- err
	}()
	go func() {
		tx, err := s.jobdb.BeginTx(ctx, nil)
		if err != nil {
			done <- err
			return
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO jobs (state) VALUES ('available')"); err != nil {
			_ = tx.Rollback()
			done <- err
			return
		}
		done <- tx.Commit()
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("a write on River's pool ended (%v) while the host held the write turn", err)
	default:
	}
	if n := countJobs(t, s); n != 0 {
		t.Fatalf("%d jobs written while the host held the write turn", n)
	}
	release()
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := countJobs(t, s); n != 2 {
		t.Fatalf("%d jobs, want 2", n)
	}
}

// TestRiverPoolHoldsTheTurnUntilItsRowsClose: a write whose rows are read
// back (River's fetch) ends its implicit transaction when its rows are
// closed, and keeps the turn until then; so does a transaction until its
// end, committed or rolled back.
func TestRiverPoolHoldsTheTurnUntilItsRowsClose(t *testing.T) {
	s := openJobPoolTest(t)
	ctx := context.Background()
	if _, err := s.jobdb.ExecContext(ctx, "INSERT INTO jobs (state) VALUES ('available'), ('available')"); err != nil {
		t.Fatal(err)
	}
	turnFree := func() bool {
		tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		release, err := s.writer.lock(tctx)
		if err != nil {
			return false
		}
		release()
		return true
	}

	rows, err := s.jobdb.QueryContext(ctx, fetchJobs)
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("no row: %v", rows.Err())
	}
	if turnFree() {
		t.Fatal("the turn was free while the fetch's rows were open")
	}
	if err := drain(rows); err != nil {
		t.Fatal(err)
	}
	if !turnFree() {
		t.Fatal("the turn stayed taken after the fetch's rows were closed")
	}

	for _, end := range []string{"commit", "rollback"} {
		tx, err := s.jobdb.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if turnFree() {
			t.Fatalf("the turn was free inside a transaction (%s)", end)
		}
		if end == "commit" {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		if !turnFree() {
			t.Fatalf("the turn stayed taken after the transaction's %s", end)
		}
	}
}

// TestRiverPoolNeverMeetsTheLock: with SQLite's busy timeout at 0, a
// writer that finds SQLite's lock taken fails at once ("database is
// locked") instead of sleeping in the busy handler. The host's
// transactions and River's writes, all at once, never do: they queue for
// the one write turn.
func TestRiverPoolNeverMeetsTheLock(t *testing.T) {
	defer func(old time.Duration) { sqliteBusyTimeout = old }(sqliteBusyTimeout)
	sqliteBusyTimeout = 0
	s := openJobPoolTest(t)
	ctx := context.Background()
	const rounds = 150
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for w := range 4 {
		wg.Go(func() {
			for i := range rounds {
				if err := s.Tx(ctx, func(tx *Tx) error { return insertName(ctx, tx, fmt.Sprintf("w%d-%d", w, i)) }); err != nil {
					fail(fmt.Errorf("host transaction: %w", err))
				}
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			tx, err := s.jobdb.BeginTx(ctx, nil)
			if err == nil {
				_, err = tx.ExecContext(ctx, "INSERT INTO jobs (state) VALUES ('available')")
				if err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
			}
			if err != nil {
				fail(fmt.Errorf("River's transaction %d: %w", i, err))
			}
			rows, err := s.jobdb.QueryContext(ctx, fetchJobs)
			if err == nil {
				err = drain(rows)
			}
			if err != nil {
				fail(fmt.Errorf("River's fetch %d: %w", i, err))
			}
		}
	})
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d writes met SQLite's lock, the first: %v", len(errs), errs[0])
	}
	if got := len(names(t, s)); got != 4*rounds {
		t.Fatalf("%d host writes committed, want %d", got, 4*rounds)
	}
	if n := countJobs(t, s); n != rounds {
		t.Fatalf("%d jobs, want %d", n, rounds)
	}
}

// turnLog records who wrote, in order, through the application's pool
// while holding the turn (as the host's writers do), or through River's.
type turnLog struct {
	t *testing.T
	s *Store
}

func newTurnLog(t *testing.T, s *Store) turnLog {
	t.Helper()
	if _, err := s.sqldb.Exec("CREATE TABLE turns (id INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return turnLog{t, s}
}

// host takes the turn (and holds it until release is closed, if given)
// and writes who; done has its outcome.
func (l turnLog) host(who string, release <-chan struct{}) (done chan error) {
	done = make(chan error, 1)
	took := make(chan struct{})
	go func() {
		unlock, err := l.s.writer.lock(context.Background())
		close(took)
		if err != nil {
			done <- err
			return
		}
		defer unlock()
		if release != nil {
			<-release
		}
		_, err = l.s.sqldb.Exec("INSERT INTO turns (who) VALUES (?)", who)
		done <- err
	}()
	if release != nil {
		<-took
	}
	return done
}

func (l turnLog) river(who string) (done chan error) {
	done = make(chan error, 1)
	go func() {
		_, err := l.s.jobdb.Exec("INSERT INTO turns (who) VALUES (?)", who)
		done <- err
	}()
	return done
}

func (l turnLog) waiting(n int32) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.s.writer.waiting.Load() != n {
		if time.Now().After(deadline) {
			l.t.Fatalf("%d host writers wait for the turn, want %d", l.s.writer.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (l turnLog) order(dones ...chan error) string {
	l.t.Helper()
	for _, d := range dones {
		if err := <-d; err != nil {
			l.t.Fatal(err)
		}
	}
	rows, err := l.s.sqldb.Query("SELECT who FROM turns ORDER BY id")
	if err != nil {
		l.t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			l.t.Fatal(err)
		}
		got = append(got, w)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		l.t.Fatal(err)
	}
	return fmt.Sprint(got)
}

// TestRiverPoolLetsTheHostGoFirst: a host writer that comes while River's
// pool waits for the turn writes first, as a webhook's credit should not
// wait for a job's fetch.
func TestRiverPoolLetsTheHostGoFirst(t *testing.T) {
	defer func(old time.Duration) { backgroundYield = old }(backgroundYield)
	backgroundYield = 10 * time.Second
	s := openJobPoolTest(t)
	l := newTurnLog(t, s)
	free := make(chan struct{})
	a := l.host("a", free) // holds the turn
	river := l.river("river")
	time.Sleep(20 * time.Millisecond) // River waits for the turn
	b := l.host("b", nil)
	l.waiting(1) // b waits for it too
	close(free)
	if got := l.order(a, b, river); got != "[a b river]" {
		t.Fatalf("written in the order %s, want [a b river]: the host's writer first", got)
	}
}

// TestRiverPoolIsNotStarved: River lets the host's writers go first for
// backgroundYield only; then it takes its turn among them, before those
// that came after.
func TestRiverPoolIsNotStarved(t *testing.T) {
	defer func(old time.Duration) { backgroundYield = old }(backgroundYield)
	backgroundYield = 30 * time.Millisecond
	s := openJobPoolTest(t)
	l := newTurnLog(t, s)
	free := make(chan struct{})
	a := l.host("a", free)
	b := l.host("b", nil)
	l.waiting(1)
	river := l.river("river")
	time.Sleep(200 * time.Millisecond) // past backgroundYield: River waits in turn
	c := l.host("c", nil)
	l.waiting(2) // b and c wait (River's wait is not counted)
	close(free)
	if got := l.order(a, b, river, c); got != "[a b river c]" {
		t.Fatalf("written in the order %s, want [a b river c]: River in turn after backgroundYield", got)
	}
}

// BenchmarkRiverBesideTheHost: 32 host writers (transactions as
// BenchmarkGroupCommit's) while a job queue's pool writes beside them as
// River's does under load: three jobs inserted in a transaction, then a
// fetch (an UPDATE whose rows are read back), every 2 ms. Baseline
// "busy-handler": River's pool meets SQLite's lock, and a host writer that
// finds it taken sleeps in SQLite's busy handler; "write-turn": River's
// pool takes the host's write turn, after the host's waiting writers.
// Reports the host transactions' p99 and River's rounds a second.
func BenchmarkRiverBesideTheHost(b *testing.B) {
	for _, bb := range []struct {
		name string
		turn bool
	}{{"busy-handler", false}, {"write-turn", true}} {
		b.Run(bb.name, func(b *testing.B) {
			defer func(old bool) { riverTakesTheTurn = old }(riverTakesTheTurn)
			riverTakesTheTurn = bb.turn
			ctx := context.Background()
			s := openGroupBench(b)
			if _, err := s.Q().DB().Exec(ctx, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, args TEXT)"); err != nil {
				b.Fatal(err)
			}
			args := strings.Repeat("a", 300)
			stop := make(chan struct{})
			var rounds atomic.Int64
			var river sync.WaitGroup
			river.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
					tx, err := s.jobdb.BeginTx(ctx, nil)
					if err != nil {
						b.Error(err)
						return
					}
					for range 3 {
						if _, err := tx.ExecContext(ctx, "INSERT INTO jobs (state, args) VALUES ('available', ?)", args); err != nil {
							b.Error(err)
						}
					}
					if err := tx.Commit(); err != nil {
						b.Error(err)
						return
					}
					rows, err := s.jobdb.QueryContext(ctx, fetchJobs)
					if err == nil {
						err = drain(rows)
					}
					if err != nil {
						b.Error(err)
						return
					}
					rounds.Add(1)
				}
			})
			var (
				next atomic.Int64
				mu   sync.Mutex
				all  []time.Duration
			)
			b.SetParallelism(16) // 32 writers on 2 cores
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					err := groupBenchTx(ctx, s, next.Add(1))
					mine = append(mine, time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			elapsed := time.Since(start)
			close(stop)
			river.Wait()
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
			}
			b.ReportMetric(float64(rounds.Load())/elapsed.Seconds(), "river-rounds/s")
		})
	}
}
