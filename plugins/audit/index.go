package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// Deferred secondary indexing. An append writes what must be durable and in
// order (the events, the Merkle tree, the time blocks, a checkpoint); the
// id index and the four filter indexes (actor, action, resource, outcome)
// are tables of their own, filled from events by one goroutine in
// transactions of up to indexBatch events. In batches of 100, each index
// took about one random page an event (about 55 CPU-µs an event of 83, see
// docs/BENCHMARKS.md); in batches of thousands a page takes many entries.
//
// meta's indexed_through is the last sequence in the index tables, written
// in the same transaction as the rows. The events after it (the tail) are
// known in memory by id (store.tail) for the duplicate check, rebuilt from
// events when the log opens. Reads that use an index (Query, export,
// ProveInclusion, archive) first index the tail themselves (catchUp), which
// is at most indexBatch events plus what arrived since the indexer last ran.
// Verify reads events only: an index table plays no part in what it checks.

// indexBatch is the most events one indexing transaction moves; the
// indexer runs as soon as the tail reaches it.
const indexBatch = 5000

// indexInterval is how often the indexer looks for a tail below
// indexBatch (tests stop it by raising this before opening a log).
var indexInterval = 200 * time.Millisecond

// indexFill fills the index tables from the events with ?1 < seq <= ?2.
// OR IGNORE: only an edited file holds two events with one id (Verify names
// it); the index then keeps the first, and the indexer goes on.
var indexFill = []string{
	`INSERT OR IGNORE INTO event_ids (id, seq) SELECT id, seq FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq`,
	`INSERT OR IGNORE INTO by_actor (actor, seq) SELECT actor, seq FROM events WHERE seq > ?1 AND seq <= ?2`,
	`INSERT OR IGNORE INTO by_action (action, seq) SELECT action, seq FROM events WHERE seq > ?1 AND seq <= ?2`,
	`INSERT OR IGNORE INTO by_resource (resource_type, resource_id, seq) SELECT resource_type, resource_id, seq FROM events WHERE seq > ?1 AND seq <= ?2`,
	`INSERT OR IGNORE INTO by_outcome (outcome, seq) SELECT outcome, seq FROM events WHERE seq > ?1 AND seq <= ?2`,
}

// indexDrop removes the index rows of the events with ?1 <= seq <= ?2
// (archived), one range seek per distinct value.
var indexDrop = []string{
	`DELETE FROM event_ids WHERE id IN (SELECT id FROM events WHERE seq >= ?1 AND seq <= ?2)`,
	`DELETE FROM by_actor WHERE actor IN (SELECT DISTINCT actor FROM events WHERE seq >= ?1 AND seq <= ?2) AND seq >= ?1 AND seq <= ?2`,
	`DELETE FROM by_action WHERE action IN (SELECT DISTINCT action FROM events WHERE seq >= ?1 AND seq <= ?2) AND seq >= ?1 AND seq <= ?2`,
	`DELETE FROM by_resource WHERE (resource_type, resource_id) IN (SELECT DISTINCT resource_type, resource_id FROM events WHERE seq >= ?1 AND seq <= ?2) AND seq >= ?1 AND seq <= ?2`,
	`DELETE FROM by_outcome WHERE outcome IN (SELECT DISTINCT outcome FROM events WHERE seq >= ?1 AND seq <= ?2) AND seq >= ?1 AND seq <= ?2`,
}

// migrate brings the file to layoutVersion in one transaction. From layout
// 1 (the events table with its own UNIQUE id index and four filter indexes)
// it rebuilds events without them and fills the index tables from it; a new
// file only records the layout.
func (s *store) migrate(ctx context.Context) error {
	path := filepath.Join(s.dir, dbFile)
	v, err := metaString(ctx, s.db, "layout")
	if err != nil {
		return err
	}
	if v == layoutVersion {
		return nil
	}
	if v != "" {
		return fmt.Errorf("the audit log %s has table layout %s, which this plugin (version %s, layout %s) does not know: a newer version of the audit plugin wrote it; run that version again (or restore a backup made by this one)", path, v, Version, layoutVersion)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate the audit log %s: %w", path, err)
	}
	defer func() { _ = tx.Rollback() }()
	var indexes int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'`).Scan(&indexes); err != nil {
		return fmt.Errorf("migrate the audit log %s: %w", path, err)
	}
	const cols = `seq, id, time_ns, actor, action, resource_type, resource_id, outcome, remote_addr, request_id, metadata, prev_hash, hash`
	steps := []string{}
	if indexes > 0 {
		steps = append(steps,
			`CREATE TABLE events_v2`+eventsTable,
			`INSERT INTO events_v2 (`+cols+`) SELECT `+cols+` FROM events ORDER BY seq`,
			`DROP TABLE events`,
			`ALTER TABLE events_v2 RENAME TO events`,
		)
	}
	for _, q := range steps {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrate the audit log %s to layout %s (%.40s...): %w; the file is unchanged", path, layoutVersion, q, err)
		}
	}
	var through sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM events`).Scan(&through); err != nil {
		return fmt.Errorf("migrate the audit log %s: %w", path, err)
	}
	for _, q := range indexFill {
		if _, err := tx.ExecContext(ctx, q, 0, through.Int64); err != nil {
			return fmt.Errorf("migrate the audit log %s: index its events: %w; the file is unchanged", path, err)
		}
	}
	if err := setMeta(ctx, tx, "indexed_through", strconv.FormatInt(through.Int64, 10)); err != nil {
		return err
	}
	if err := setMeta(ctx, tx, "layout", layoutVersion); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate the audit log %s: %w", path, err)
	}
	return nil
}

// loadTail reads indexed_through and the ids of the events after it.
func (s *store) loadTail(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.indexed, err = metaUint(ctx, s.db, "indexed_through"); err != nil {
		return err
	}
	s.tail = map[string]uint64{}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, id FROM events WHERE seq > ? ORDER BY seq`, s.indexed)
	if err != nil {
		return fmt.Errorf("read the audit log's unindexed events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		var id string
		if err := rows.Scan(&seq, &id); err != nil {
			return fmt.Errorf("read the audit log's unindexed events: %w", err)
		}
		if _, dup := s.tail[id]; !dup {
			s.tail[id] = seq
		}
	}
	return rows.Err()
}

// startIndexer starts the goroutine that indexes the tail: when it reaches
// indexBatch (wakeIndexer) and every indexInterval, in transactions of up
// to indexBatch events, each holding s.mu (appends wait for one at most).
func (s *store) startIndexer() {
	s.kick, s.stop, s.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	every := indexInterval
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-s.kick:
			case <-t.C:
			}
			// An error (say a full disk) leaves the tail for the next
			// round; the reads that catch up themselves report it.
			for {
				more, err := s.indexStep(context.Background())
				if err != nil || !more {
					break
				}
				select {
				case <-s.stop:
					return
				default:
				}
			}
		}
	}()
}

// wakeIndexer asks the indexer to run now. s.mu is held.
func (s *store) wakeIndexer() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// indexStep indexes up to indexBatch events of the tail; more reports
// whether a tail remains.
func (s *store) indexStep(ctx context.Context) (more bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.indexStepLocked(ctx)
}

func (s *store) indexStepLocked(ctx context.Context) (bool, error) {
	if s.closed {
		return false, errors.New("the audit log is closed")
	}
	from, last := s.indexed, s.tree.End()
	if last <= from {
		return false, nil
	}
	to := min(last, from+indexBatch)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("index the audit log: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range indexFill {
		if _, err := tx.ExecContext(ctx, q, from, to); err != nil {
			return false, fmt.Errorf("index the audit log's events %d to %d: %w", from+1, to, err)
		}
	}
	if err := setMeta(ctx, tx, "indexed_through", strconv.FormatUint(to, 10)); err != nil {
		return false, fmt.Errorf("index the audit log: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("index the audit log's events %d to %d: %w", from+1, to, err)
	}
	s.indexed = to
	for id, seq := range s.tail {
		if seq <= to {
			delete(s.tail, id)
		}
	}
	return to < last, nil
}

// catchUp indexes the whole tail, one bounded transaction at a time (an
// append can run between two).
func (s *store) catchUp(ctx context.Context) error {
	for {
		more, err := s.indexStep(ctx)
		if err != nil || !more {
			return err
		}
	}
}

// catchUpLocked is catchUp with s.mu held.
func (s *store) catchUpLocked(ctx context.Context) error {
	for {
		more, err := s.indexStepLocked(ctx)
		if err != nil || !more {
			return err
		}
	}
}

// close stops the indexer, indexes the tail (so the file on disk is fully
// indexed) and closes the database, after the write in progress.
func (s *store) close() error {
	if s.stop != nil {
		s.stopOnce.Do(func() { close(s.stop) })
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	var err error
	if s.tree != nil {
		err = s.catchUpLocked(context.Background())
	}
	s.closed = true
	return errors.Join(err, s.db.Close())
}
