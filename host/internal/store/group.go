package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Group commit on SQLite.
//
// SQLite has one writer, and each transaction's commit writes every page
// it changed to the WAL (two write calls a page). Under concurrent
// payments most of the writer's time went to the commits and to the pages
// that consecutive transactions share (the ends of the tables and their
// indexes). So transactions that find the writer busy queue here and the
// next one to run takes the queue, up to groupMax, into one SQLite
// transaction: each in a savepoint of its own, run one after another, and
// committed once. Nothing about what each one commits changes:
//
//   - A transaction whose function fails (or panics) is rolled back to its
//     savepoint; the others in the group go on, and its caller gets its
//     error (or its panic, raised again in the caller's goroutine as a
//     *TxPanic that carries the stack where the function panicked).
//   - No caller is told a transaction committed before the group's commit
//     did. A failed commit, or a group that cannot go on (SQLite rolled the
//     whole transaction back, say after a disk error), is every member's
//     error: none of them committed.
//   - Statements in a group run without their caller's cancellation (an
//     interrupted SQLite statement rolls back the whole transaction, which
//     the others share). A caller cancelled before its function starts is
//     left out with its context's error; a caller cancelled after that
//     waits for the group's outcome, which is the truth of what committed.
//   - A transaction that finds nobody waiting runs alone, without a
//     savepoint, as before.
//   - One that waits in the queue longer than SQLite's busy timeout gives
//     up with ErrUnavailable, as a wait for the write turn does.
//
// The caller whose transaction is first in the queue leads: it runs the
// group in its own goroutine, then hands the lead to the first caller
// still queued, so no caller runs more than one group.

// groupMax bounds the transactions committed together, and so how long one
// group holds the writer. (A variable for BenchmarkGroupCommit's baseline,
// 1: every transaction alone.)
var groupMax = 16

// groupWaitLimit is how long a transaction waits in the queue before it
// gives up: SQLite's busy timeout (a variable for the tests).
var groupWaitLimit = sqliteBusy

// txGroup is the queue of SQLite transactions waiting to run.
type txGroup struct {
	mu      sync.Mutex
	queue   []*txCall
	leading bool // a caller is running a group or has been handed the lead
}

// txCall is one caller's transaction in the queue.
type txCall struct {
	ctx    context.Context
	fn     func(*Tx) error
	wake   chan struct{} // one send: done, or lead
	queued time.Time     // when it found another caller leading; zero if it led at once
	// Set under txGroup.mu:
	taken bool // in a group already: the caller waits for its outcome
	lead  bool // handed the lead
	// Set by the leader before the wake:
	done  bool
	err   error
	panic any
}

// groupTx runs fn in a transaction that may be shared with other callers'
// (see above).
func (s *Store) groupTx(ctx context.Context, fn func(*Tx) error) error {
	g := s.group
	c := &txCall{ctx: ctx, fn: fn, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.leading {
		g.leading, c.lead = true, true
	} else {
		c.queued = time.Now()
	}
	lead := c.lead
	g.mu.Unlock()
	if !lead {
		// Waiting longer than SQLite's busy timeout without being taken
		// into a group is ErrUnavailable, as waiting for the write turn
		// is (a function that writes outside its transaction would
		// otherwise wait for itself for ever).
		limit := time.NewTimer(groupWaitLimit)
		defer limit.Stop()
		var gaveUp error
		select {
		case <-c.wake:
		case <-ctx.Done():
			gaveUp = ctx.Err()
		case <-limit.C:
			gaveUp = &unavailableError{fmt.Errorf("the embedded database stayed busy for %s (other writes held it)", groupWaitLimit)}
		}
		if gaveUp != nil {
			g.mu.Lock()
			if !c.taken && !c.lead {
				g.remove(c)
				g.mu.Unlock()
				c.countWait(s.writer)
				return gaveUp
			}
			g.mu.Unlock()
			<-c.wake // in a group, or leading: see it through
		}
	}
	if !c.done {
		s.lead()
	}
	if c.panic != nil {
		panic(c.panic)
	}
	return c.err
}

// countWait counts the caller's wait in the queue, up to now, if it
// queued (a caller that led at once counts its wait for the turn itself).
func (c *txCall) countWait(w *writeTurn) {
	if !c.queued.IsZero() {
		w.waitedFor(time.Since(c.queued))
	}
}

// waiting says whether transactions wait in the queue.
func (g *txGroup) waiting() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue) > 0
}

func (g *txGroup) remove(c *txCall) {
	for i, q := range g.queue {
		if q == c {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			return
		}
	}
}

// lead runs one group: the queue's first groupMax transactions, the
// leader's own first among them. Then it hands the lead on and tells each
// member its outcome, even if a member's function ended the goroutine
// (runtime.Goexit, as a test's t.Fatal does).
func (s *Store) lead() {
	g := s.group
	g.mu.Lock()
	n := min(len(g.queue), groupMax)
	batch := make([]*txCall, n)
	copy(batch, g.queue[:n])
	g.queue = append(g.queue[:0], g.queue[n:]...)
	for _, c := range batch {
		c.taken = true
	}
	g.mu.Unlock()
	ran := false
	defer func() {
		if !ran {
			for _, c := range batch {
				if !c.done && c.err == nil && c.panic == nil {
					c.err = errors.New("the transaction's group was abandoned when a function in it ended its goroutine; nothing of it was committed")
				}
			}
		}
		for _, c := range batch {
			c.done = true
			c.wake <- struct{}{}
		}
		// The next leader is woken last: the goroutine woken last runs
		// next on this processor (Go's runnext), and the writer waits for
		// it, while the members' answers can wait their turn.
		g.mu.Lock()
		if len(g.queue) > 0 {
			next := g.queue[0]
			next.lead = true
			next.wake <- struct{}{}
		} else {
			g.leading = false
		}
		g.mu.Unlock()
	}()
	s.runGroup(batch)
	ran = true
}

// runGroup runs the members' functions in one transaction and commits it,
// setting each member's outcome.
func (s *Store) runGroup(batch []*txCall) {
	ctx := context.WithoutCancel(batch[0].ctx)
	failAll := func(err error) {
		for _, c := range batch {
			if c.err == nil && c.panic == nil {
				c.err = err
			}
		}
	}
	var live []*txCall
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.countWait(s.writer)
			c.err = err
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	w := s.writer
	unlock, waited, err := w.take(ctx)
	if first := live[0]; first.queued.IsZero() && waited >= 0 {
		w.waitedFor(waited) // the members queued count their wait below
	}
	if err != nil {
		for _, c := range live {
			c.countWait(w)
		}
		failAll(err)
		return
	}
	defer unlock()
	st, err := s.sqldb.BeginTx(ctx, nil)
	if err != nil {
		failAll(mapErr(err))
		return
	}
	tx := &Tx{sqlTx: st, q: &Queries{db: sqlDB{q: st, detached: true}, store: s}, detached: true}
	committed := false
	defer func() {
		if !committed {
			_ = st.Rollback()
		}
	}()
	alone := len(live) == 1
	var ok []*txCall
	for _, c := range live {
		if !alone {
			if _, err := st.ExecContext(ctx, "SAVEPOINT member"); err != nil {
				failAll(fmt.Errorf("begin a savepoint: %w", mapErr(err)))
				return
			}
		}
		c.countWait(w)
		c.err, c.panic = callTx(c.fn, tx)
		if c.err == nil && c.panic == nil {
			if !alone {
				if _, err := st.ExecContext(ctx, "RELEASE member"); err != nil {
					// SQLite rolled the whole transaction back (a swallowed
					// error, a full disk): nothing of the group stands.
					failAll(fmt.Errorf("the transaction was rolled back under it: %w", mapErr(err)))
					return
				}
			}
			ok = append(ok, c)
			continue
		}
		if alone {
			return
		}
		if err := rollbackMember(ctx, st); err != nil {
			failAll(fmt.Errorf("the transaction it shared was rolled back: %w", mapErr(err)))
			return
		}
	}
	if len(ok) == 0 {
		return
	}
	committed = true
	if err := st.Commit(); err != nil {
		failAll(&commitError{mapErr(err)})
		return
	}
	w.commits.Add(1)
	w.committed.Add(int64(len(ok)))
}

// groupable says whether a statement outside a transaction may join a
// group: an INSERT, UPDATE or DELETE (not a statement that cannot run in
// a transaction, such as VACUUM).
func groupable(query string) bool {
	return startsWith(query, "INSERT", "UPDATE", "DELETE", "WITH")
}

// startsWith says whether a statement's first word, after any comments
// (River's queries begin with sqlc's "-- name: ..." line), begins with one
// of verbs (in any case).
func startsWith(query string, verbs ...string) bool {
	q := skipComments(query)
	for _, verb := range verbs {
		if len(q) > len(verb) && strings.EqualFold(q[:len(verb)], verb) {
			return true
		}
	}
	return false
}

// skipComments returns query from its first word: without the blanks and
// the "--" and "/* */" comments before it (empty if nothing follows them).
func skipComments(query string) string {
	q := query
	for {
		q = strings.TrimLeft(q, " \t\r\n")
		switch {
		case strings.HasPrefix(q, "--"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return ""
			}
			q = q[i+1:]
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q, "*/")
			if i < 0 {
				return ""
			}
			q = q[i+2:]
		default:
			return q
		}
	}
}

// rollbackMember undoes a member's statements and ends its savepoint.
func rollbackMember(ctx context.Context, st *sql.Tx) error {
	if _, err := st.ExecContext(ctx, "ROLLBACK TO member"); err != nil {
		return err
	}
	_, err := st.ExecContext(ctx, "RELEASE member")
	return err
}

// callTx runs fn, turning a panic into a *TxPanic.
func callTx(fn func(*Tx) error, tx *Tx) (err error, p any) {
	defer func() {
		if r := recover(); r != nil {
			p = &TxPanic{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(tx), nil
}

// TxPanic is what Tx on the embedded database panics with when the
// transaction's function panicked. In a group the function may have run
// in another caller's goroutine, and the panic is raised again in its
// caller's, where the stack of the panic itself is gone: Stack keeps it.
// Value is what the function panicked with. Error, which a crash prints,
// gives both; errors.Is and errors.As see Value when it is an error.
type TxPanic struct {
	Value any
	Stack []byte // of the goroutine that ran the function, at the panic
}

func (p *TxPanic) Error() string {
	return fmt.Sprintf("%v\n\n[the transaction's function panicked here:]\n%s", p.Value, p.Stack)
}

func (p *TxPanic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}
