package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// The WAL's checkpoint on SQLite.
//
// A checkpoint copies the pages that commits appended to the WAL back into
// the database file. SQLite's own (wal_autocheckpoint, 1000 pages) runs in
// the connection whose commit took the WAL past its size, before that
// commit returns: inside this process's write turn, so every writer
// queued behind it, and every member of a group commit, waited for it.
// Under 32 concurrent webhooks, 13 of the commits made while 1,000 were
// answered (0.9 s) took 2 to 7 ms for it (BENCHMARKS.md, "the WAL's
// checkpoint off the write turn").
//
// So no connection checkpoints on its commit (wal_autocheckpoint(0) in
// sqliteDSN) and the store's checkpointer does, beside the writer: a
// PASSIVE checkpoint takes no write lock and waits for nobody, readers or
// writers; it copies what it can and leaves the rest for the next one.
// Writes wake it (the write turn's release, which River's connection takes
// for its writes too), and it runs at most once every
// checkpointEvery; nothing else does, so an idle host checkpoints only
// after River's own periodic writes, and a checkpoint with nothing
// to copy is a read of the WAL's header. The last connection to close
// checkpoints what is left, as before.
//
// The WAL is reset and written again from its start by the first writer
// that finds every frame in it copied. A checkpoint beside a busy writer
// rarely copies every frame (the writer has appended more by the time it
// ends), so under writes without a pause the WAL would grow without end.
// When the WAL is past walRestartFrames at a checkpoint, the next one
// takes the write turn, as SQLite's own did: nothing is appended while it
// copies, and the next writer starts the WAL again.

// checkpointEvery is the least time between two checkpoints (a variable
// for the tests).
var checkpointEvery = 200 * time.Millisecond

// walRestartFrames is the WAL's size (in frames, a page each) past which
// the next checkpoint takes the write turn (see above): four times
// SQLite's automatic checkpoint, 16 MiB of 4 KiB pages.
var walRestartFrames int64 = 4000

// checkpointer runs the embedded database's checkpoints (see above).
type checkpointer struct {
	db   *sql.DB
	turn *writeTurn    // taken when the WAL grew past walRestartFrames
	kick chan struct{} // one pending wake-up
	stop chan struct{}
	once sync.Once // closes stop
	done chan struct{}
	// How the checkpoints went, for the metrics (CheckpointStats).
	runs, failures, inTurn atomic.Int64
	walFrames              atomic.Int64 // frames in the WAL at the last checkpoint
	behind                 atomic.Int64 // of those, the frames it could not copy
}

// newCheckpointer returns db's checkpointer, not started: set its turn,
// then start it.
func newCheckpointer(db *sql.DB) *checkpointer {
	return &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

func (c *checkpointer) start() { go c.run() }

// wrote tells the checkpointer that the WAL grew. It never blocks.
func (c *checkpointer) wrote() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	pause := time.NewTimer(0)
	<-pause.C
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		c.checkpoint()
		pause.Reset(checkpointEvery)
		select {
		case <-c.stop:
			pause.Stop()
			return
		case <-pause.C:
		}
	}
}

// checkpoint runs one PASSIVE checkpoint. A failure leaves the frames in
// the WAL, where readers find them, for the next checkpoint (or the last
// connection's close): nothing is lost, and the metrics count it.
func (c *checkpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c.turn != nil && c.walFrames.Load() > walRestartFrames {
		unlock, err := c.turn.lockQuiet(ctx)
		if err != nil { // the writer is stuck: a PASSIVE checkpoint still copies what it can
			c.failures.Add(1)
		} else {
			defer unlock()
			c.inTurn.Add(1)
		}
	}
	var busy, frames, copied int64
	err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	c.runs.Add(1)
	if err != nil {
		c.failures.Add(1)
		return
	}
	if frames < 0 { // -1, -1: the database is not in WAL mode
		frames, copied = 0, 0
	}
	c.walFrames.Store(frames)
	c.behind.Store(frames - copied)
}

// close stops the checkpointer and waits for a checkpoint under way.
func (c *checkpointer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

// CheckpointStats is how the embedded database's checkpoints went: how
// many ran and failed, and at the last one the frames (pages) in the WAL
// and those it could not copy yet because a reader still read them. A
// WAL whose frames keep growing while Behind stays above zero has a
// reader that never lets go of its snapshot.
type CheckpointStats struct {
	Runs, Failures    int64
	WALFrames, Behind int64
	// InTurn is how many checkpoints took the write turn, because the WAL
	// had grown past 4,000 frames under writes without a pause.
	InTurn int64
}

// Checkpoints returns the embedded database's checkpoint figures; false on
// PostgreSQL.
func (s *Store) Checkpoints() (CheckpointStats, bool) {
	c := s.ckpt
	if c == nil {
		return CheckpointStats{}, false
	}
	return CheckpointStats{Runs: c.runs.Load(), Failures: c.failures.Load(), WALFrames: c.walFrames.Load(), Behind: c.behind.Load(),
		InTurn: c.inTurn.Load()}, true
}
