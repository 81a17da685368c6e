package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestStatementJournalsStayInMemory: inside a transaction SQLite keeps a
// statement journal, the first state of every page a savepoint or a
// statement changes, so that the savepoint or the statement alone can be
// undone. The store's group commit puts each transaction of a group in a
// savepoint (group.go), whose journal holds every page that transaction
// changes. SQLite keeps the journal in memory up to 64 KiB and then, by
// default, moves it to a temporary file for the rest of the SQLite
// transaction, written with a system call for each page (in the
// webhooks' benchmark about 60 a webhook, more than the WAL's). The
// embedded database keeps it in memory (temp_store MEMORY in sqliteDSN),
// on the host's connections and on River's: no temporary file is open
// while a savepoint changes 200 KB.
func TestStatementJournalsStayInMemory(t *testing.T) {
	s := openGroupTest(t)
	ctx := context.Background()
	if _, err := s.Q().DB().Exec(ctx, "CREATE TABLE bodies (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(tx *Tx) error {
		for i := range 200 {
			if _, err := tx.Q().DB().Exec(ctx, "INSERT INTO bodies (id, body) VALUES (?, ?)", i, strings.Repeat("a", 1000)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Every page of the table, in a savepoint: about 200 KB of journal.
	steps := []string{"SAVEPOINT member", "UPDATE bodies SET body = replace(body, 'a', 'b')", "RELEASE member"}

	var open []string
	before := tempFilesOpen(t)
	err := s.Tx(ctx, func(tx *Tx) error {
		for i, q := range steps {
			if _, err := tx.Q().DB().Exec(ctx, q); err != nil {
				return err
			}
			if i == 1 {
				open = newSince(before, tempFilesOpen(t))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) > 0 {
		t.Errorf("the host's transaction had temporary files open: %q; want its statement journal in memory (temp_store MEMORY)", open)
	}

	// River's pool, in a transaction of its own.
	before = tempFilesOpen(t)
	tx, err := s.jobdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // committed below; a failed test rolls back
	for i, q := range steps {
		if _, err := tx.ExecContext(ctx, strings.ReplaceAll(q, "'a', 'b'", "'b', 'c'")); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if open := newSince(before, tempFilesOpen(t)); len(open) > 0 {
				t.Errorf("River's transaction had temporary files open: %q; want its statement journal in memory (temp_store MEMORY)", open)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	var body string
	if err := s.Q().DB().QueryRow(ctx, "SELECT body FROM bodies WHERE id = 199").Scan(&body); err != nil {
		t.Fatal(err)
	}
	if body != strings.Repeat("c", 1000) {
		t.Errorf("the last row after both updates starts %q, want all c", body[:10])
	}
}

// tempFilesOpen lists the files this process holds open that SQLite made
// as temporary files: unlinked (O_TMPFILE or deleted after opening), not
// the database, its WAL or its shared memory.
func tempFilesOpen(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list this process's open files: %v", err)
	}
	var temp []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil {
			continue // closed since it was listed
		}
		if strings.HasSuffix(target, " (deleted)") && !strings.Contains(target, FileName) {
			temp = append(temp, target)
		}
	}
	return temp
}

// newSince is what now holds that before did not.
func newSince(before, now []string) []string {
	var added []string
	for _, f := range now {
		if !slices.Contains(before, f) {
			added = append(added, f)
		}
	}
	return added
}

// BenchmarkGroupCommitJournal: 32 writers, each transaction changing 20
// rows of 20,000 at random (20 pages or so, as a paid webhook's credit
// changes the pages of its tables and their indexes: the invoice, the
// payment, the subscription, three jobs) and adding one, so that each
// transaction's savepoint journals more than the 64 KiB SQLite keeps in
// memory by default. Baseline in the same run: "journal-file", SQLite's
// default temporary storage (files), as the store had it before. Reports
// the write system calls a transaction (all of the process's, from
// /proc/self/io) besides the time.
func BenchmarkGroupCommitJournal(b *testing.B) {
	for _, bb := range []struct{ name, tempStore string }{{"journal-file", "DEFAULT"}, {"journal-memory", "MEMORY"}} {
		b.Run(bb.name, func(b *testing.B) {
			defer func(old string) { sqliteTempStore = old }(sqliteTempStore)
			sqliteTempStore = bb.tempStore
			ctx := context.Background()
			s := openGroupBench(b)
			if _, err := s.Q().DB().Exec(ctx, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, balance INTEGER NOT NULL, note TEXT NOT NULL)"); err != nil {
				b.Fatal(err)
			}
			const rows, changes = 20000, 20
			if err := s.Tx(ctx, func(tx *Tx) error {
				for i := range rows {
					if _, err := tx.Q().DB().Exec(ctx, "INSERT INTO accounts (id, name, balance, note) VALUES (?, ?, 0, ?)", i, "account-"+strconv.Itoa(i), strings.Repeat("n", 200)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			before, _ := s.WriteTurn()
			w0 := writeSyscalls(b)
			var next atomic.Int64
			b.SetParallelism(16) // 32 writers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := next.Add(1)
					err := s.Tx(ctx, func(tx *Tx) error {
						for i := range int64(changes) {
							id := (n*7919 + i*104729) % rows
							if _, err := tx.Q().DB().Exec(ctx, "UPDATE accounts SET balance = balance + 1 WHERE id = ?", id); err != nil {
								return err
							}
						}
						_, err := tx.Q().DB().Exec(ctx, "INSERT INTO names (name, body) VALUES (?, ?)", strconv.FormatInt(n, 10), groupBenchBody)
						return err
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(writeSyscalls(b)-w0)/float64(b.N), "write-syscalls/tx")
			after, _ := s.WriteTurn()
			if commits := after.Commits - before.Commits; commits > 0 {
				b.ReportMetric(float64(after.Committed-before.Committed)/float64(commits), "tx/commit")
			}
			var sum int64
			if err := s.Q().DB().QueryRow(ctx, "SELECT sum(balance) FROM accounts").Scan(&sum); err != nil {
				b.Fatal(err)
			}
			if sum != changes*int64(b.N) {
				b.Fatalf("the balances add up to %d after %d transactions of %d changes, want %d", sum, b.N, changes, changes*b.N)
			}
		})
	}
}

// writeSyscalls is the write system calls this process has made
// (/proc/self/io's syscw).
func writeSyscalls(b *testing.B) int64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Fatalf("read /proc/self/io: %v", err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatalf("/proc/self/io: %q: %v", line, err)
			}
			return n
		}
	}
	b.Fatalf("/proc/self/io has no syscw line: %q", raw)
	return 0
}
