package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// Deferred secondary indexing, in a file of its own. An append writes
// what must be durable and in order (the events, the Merkle tree, the time
// blocks, a checkpoint) to audit.db; the id index and the four filter
// indexes (actor, action, resource, outcome) are tables in a second SQLite
// file, index.db, filled from the events by one goroutine in transactions
// of up to indexBatch events. In batches of 100, each index took about one
// random page an event (about 55 CPU-µs an event of 83, see
// docs/BENCHMARKS.md); in batches of thousands a page takes many entries.
// In a file of its own the indexer has its own write lock: its
// transactions no longer hold up the appends (SQLite has one writer per
// file), so on two cores they run side by side.
//
// The index is derived data: Verify never reads it, and when it does not
// match the log it is thrown away and built again from the events
// (checkIndex). index.db's index_meta holds its high-water mark,
// indexed_through, with the hash of that event (indexed_hash) and the
// archived_through it was made against, written in the same transaction as
// the rows. On opening, a mark beyond the log's end (the log is an older
// copy than its index), a hash that is not the log's at that sequence (an
// index of another log or another copy), another archive mark or an
// unknown layout makes the plugin rebuild the index. An index.db that is
// only older than the log (a restored copy of it, or one whose last
// commits a power cut took: it is written with synchronous=NORMAL) has
// rows that are still true; the indexer goes on from its mark.
//
// The events after the mark (the tail) are known in memory by id
// (store.tail) for the duplicate check, rebuilt from events when the log
// opens (when more than maxOpenTail events wait, the index catches up
// before the log opens instead). Reads that use an index (Query, export,
// ProveInclusion, archive) first index the tail themselves (catchUp), which
// is at most indexBatch events plus what arrived since the indexer last ran.
//
// Locks: idxMu serializes the index's writers (the indexer, catchUp,
// archive, close) and is taken before s.mu, which the indexer holds only to
// read the log's end and to move its mark, never during a transaction.

// indexFile is the index database in the plugin's data directory.
const indexFile = "index.db"

// indexLayout is the table layout of index.db this code writes (its
// index_meta's "layout"); another one is rebuilt.
const indexLayout = "1"

// indexBatch is the most events one indexing transaction moves; the
// indexer runs as soon as the tail reaches it.
const indexBatch = 20000

// maxOpenTail is the longest tail a log opens with (its ids are held in
// memory): a longer one (a new or rebuilt index.db, a migrated log) is
// indexed before the log opens.
var maxOpenTail uint64 = 50_000

// indexInterval is how often the indexer looks for a tail below
// indexBatch (tests stop it by raising this before opening a log).
var indexInterval = time.Second

// indexSchema is index.db's: the secondary indexes, keyed by value and
// sequence, covering the events up to index_meta's indexed_through.
const indexSchema = `
CREATE TABLE IF NOT EXISTS event_ids (
	id  TEXT PRIMARY KEY,
	seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS by_actor (
	actor TEXT NOT NULL,
	seq   INTEGER NOT NULL,
	PRIMARY KEY (actor, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS by_action (
	action TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	PRIMARY KEY (action, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS by_resource (
	resource_type TEXT NOT NULL,
	resource_id   TEXT NOT NULL,
	seq           INTEGER NOT NULL,
	PRIMARY KEY (resource_type, resource_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS by_outcome (
	outcome TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (outcome, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
`

// indexTables are index.db's index tables.
var indexTables = []string{"event_ids", "by_actor", "by_action", "by_resource", "by_outcome"}

// indexFill fills the index tables from the events with ?1 < seq <= ?2.
// OR IGNORE: only an edited file holds two events with one id (Verify names
// it); the index then keeps the first, and the indexer goes on.
var indexFill = []string{
	`INSERT OR IGNORE INTO main.event_ids (id, seq) SELECT id, seq FROM log.events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq`,
	`INSERT OR IGNORE INTO main.by_actor (actor, seq) SELECT actor, seq FROM log.events WHERE seq > ?1 AND seq <= ?2`,
	`INSERT OR IGNORE INTO main.by_action (action, seq) SELECT action, seq FROM log.events WHERE seq > ?1 AND seq <= ?2`,
	`INSERT OR IGNORE INTO main.by_resource (resource_type, resource_id, seq) SELECT resource_type, resource_id, seq FROM log.events WHERE seq > ?1 AND seq <= ?2`,
	`INSERT OR IGNORE INTO main.by_outcome (outcome, seq) SELECT outcome, seq FROM log.events WHERE seq > ?1 AND seq <= ?2`,
}

// indexDrop removes the index rows of the events with ?1 <= seq <= ?2
// (archived), one range seek per distinct value.
var indexDrop = []string{
	`DELETE FROM main.event_ids WHERE id IN (SELECT id FROM log.events WHERE seq >= ?1 AND seq <= ?2)`,
	`DELETE FROM main.by_actor WHERE actor IN (SELECT DISTINCT actor FROM log.events WHERE seq >= ?1 AND seq <= ?2) AND seq >= ?1 AND seq <= ?2`,
	`DELETE FROM main.by_action WHERE action IN (SELECT DISTINCT action FROM log.events WHERE seq >= ?1 AND seq <= ?2) AND seq >= ?1 AND seq <= ?2`,
	`DELETE FROM main.by_resource WHERE (resource_type, resource_id) IN (SELECT DISTINCT resource_type, resource_id FROM log.events WHERE seq >= ?1 AND seq <= ?2) AND seq >= ?1 AND seq <= ?2`,
	`DELETE FROM main.by_outcome WHERE outcome IN (SELECT DISTINCT outcome FROM log.events WHERE seq >= ?1 AND seq <= ?2) AND seq >= ?1 AND seq <= ?2`,
}

// attachLog opens index.db connections with the log attached as "log", so
// one statement reads an index table and the events it points at. The
// log is only read through them (a connection of the index's pool never
// writes to it, so a transaction there never takes the log's write lock).
type attachLog struct {
	driver.Connector
	logPath string
}

func (c attachLog) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("the sqlite driver's connection cannot run statements")
	}
	for _, q := range []string{
		`ATTACH DATABASE ` + sqlQuote(c.logPath) + ` AS log`,
		`PRAGMA log.cache_size = -65536`,
		`PRAGMA log.mmap_size = 2147418112`,
	} {
		if _, err := ex.ExecContext(ctx, q, nil); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("attach the audit log %s to its index: %w", c.logPath, err)
		}
	}
	return conn, nil
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// openIndex opens (or creates, mode 0600) index.db in dir with the log
// attached. synchronous=NORMAL: a power cut can take the index's last
// commits, never corrupt it, and the indexer redoes them from its mark.
func openIndex(ctx context.Context, dir string) (*sql.DB, error) {
	path := filepath.Join(dir, indexFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the audit index %s: %w", path, err)
	}
	_ = f.Close()
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(8192)&_pragma=mmap_size(1073741824)"
	conn, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open the audit index %s: %w", path, err)
	}
	db := sql.OpenDB(attachLog{Connector: conn, logPath: filepath.Join(dir, dbFile)})
	db.SetMaxOpenConns(8)
	if _, err := db.ExecContext(ctx, indexSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("create the audit index's tables in %s: %w", path, err)
	}
	return db, nil
}

// removeIndex deletes index.db and its WAL files.
func removeIndex(dir string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(dir, indexFile+suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the audit index to rebuild it: %w", err)
		}
	}
	return nil
}

// setupIndex opens index.db, checks it against the log (load has run) and
// rebuilds it when it does not match; s.indexNote says why it was rebuilt.
// A tail longer than maxOpenTail is indexed here.
func (s *store) setupIndex(ctx context.Context) error {
	idx, err := openIndex(ctx, s.dir)
	var why string
	if err == nil {
		s.idx = idx
		why, err = s.checkIndex(ctx)
	}
	if err != nil {
		// An index that cannot be read (a damaged or foreign file) is
		// rebuilt like one that does not match.
		why = fmt.Sprintf("it cannot be read (%v)", err)
	}
	if why != "" {
		if s.idx != nil {
			_ = s.idx.Close()
			s.idx = nil
		}
		if err := removeIndex(s.dir); err != nil {
			return err
		}
		if s.idx, err = openIndex(ctx, s.dir); err != nil {
			return err
		}
		if err := s.resetIndex(ctx); err != nil {
			return err
		}
		if s.tree.End() > 0 {
			s.indexNote = "the index " + filepath.Join(s.dir, indexFile) + " was rebuilt from the log: " + why
		}
	}
	if s.idxWriter, err = s.idx.Conn(ctx); err != nil {
		return fmt.Errorf("open the audit index: %w", err)
	}
	if s.idxDups, err = s.idx.Conn(ctx); err != nil {
		return fmt.Errorf("open the audit index: %w", err)
	}
	// One connection (the log attached, both schemas read) waits in the
	// pool for the first query, which would open it otherwise.
	if err := s.idx.PingContext(ctx); err != nil {
		return fmt.Errorf("open the audit index: %w", err)
	}
	if s.tree.End()-s.indexed > maxOpenTail {
		s.idxMu.Lock()
		defer s.idxMu.Unlock()
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.catchUpLocked(ctx)
	}
	return nil
}

// checkIndex reads index.db's mark into s.indexed and says why it does not
// match the log ("" when it does).
func (s *store) checkIndex(ctx context.Context) (string, error) {
	meta := map[string]string{}
	rows, err := s.idx.QueryContext(ctx, `SELECT key, value FROM main.index_meta`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return "", err
		}
		meta[k] = v
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if meta["layout"] == "" {
		return "there was none", nil
	}
	if meta["layout"] != indexLayout {
		return fmt.Sprintf("it has layout %q, this plugin writes %q", meta["layout"], indexLayout), nil
	}
	through, err1 := strconv.ParseUint(meta["indexed_through"], 10, 64)
	archived, err2 := strconv.ParseUint(meta["archived_through"], 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("its marks are not numbers (indexed_through %q, archived_through %q)", meta["indexed_through"], meta["archived_through"]), nil
	}
	switch size := s.tree.End(); {
	case through > size:
		return fmt.Sprintf("it covers %d events but the log holds %d: the log is older than its index (an earlier copy of %s?)", through, size, dbFile), nil
	case archived != s.archivedThrough:
		return fmt.Sprintf("it was made with the events through %d archived, the log has archived through %d", archived, s.archivedThrough), nil
	case through < s.archivedThrough:
		return fmt.Sprintf("it covers %d events, fewer than the %d archived", through, s.archivedThrough), nil
	}
	want, err := s.hashAt(ctx, through)
	if err != nil {
		return "", err
	}
	if meta["indexed_hash"] != want {
		return fmt.Sprintf("its event %d has hash %.16s..., the log's has %.16s... (an index of another log or another copy)", through, meta["indexed_hash"], want), nil
	}
	s.indexed = through
	return "", nil
}

// hashAt is the chain hash of event seq of the log ("" for 0; the archived
// head for the last archived event).
func (s *store) hashAt(ctx context.Context, seq uint64) (string, error) {
	if seq == 0 {
		return "", nil
	}
	if seq == s.archivedThrough {
		return metaString(ctx, s.db, "archived_head")
	}
	var h string
	err := s.db.QueryRowContext(ctx, `SELECT hash FROM events WHERE seq = ?`, seq).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read event %d's hash: %w", seq, err)
	}
	return h, nil
}

// resetIndex marks an empty index.db as this layout's, covering nothing.
func (s *store) resetIndex(ctx context.Context) error {
	tx, err := s.idx.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	// The archived events are in no index: it starts after them.
	head, err := s.hashAt(ctx, s.archivedThrough)
	if err != nil {
		return err
	}
	through := strconv.FormatUint(s.archivedThrough, 10)
	for k, v := range map[string]string{"layout": indexLayout, "indexed_through": through, "indexed_hash": head, "archived_through": through} {
		if err := setMetaIn(ctx, tx, "main.index_meta", k, v); err != nil {
			return fmt.Errorf("set up the audit index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set up the audit index: %w", err)
	}
	s.indexed = s.archivedThrough
	return nil
}

// migrate brings the file to layoutVersion in one transaction. From layout
// 1 (the events table with its own UNIQUE id index and four filter indexes)
// it rebuilds events without them; from layout 2 (the index tables in
// audit.db) it drops them. The index is then built in index.db
// (setupIndex); a new file only records the layout.
func (s *store) migrate(ctx context.Context) error {
	path := filepath.Join(s.dir, dbFile)
	v, err := metaString(ctx, s.db, "layout")
	if err != nil {
		return err
	}
	if v == layoutVersion {
		return nil
	}
	if v != "" && v != "2" {
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
	for _, t := range indexTables {
		steps = append(steps, `DROP TABLE IF EXISTS `+t)
	}
	steps = append(steps, `DELETE FROM meta WHERE key = 'indexed_through'`)
	for _, q := range steps {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrate the audit log %s to layout %s (%.40s...): %w; the file is unchanged", path, layoutVersion, q, err)
		}
	}
	if err := setMeta(ctx, tx, "layout", layoutVersion); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate the audit log %s: %w", path, err)
	}
	// An index.db beside a log of an earlier layout is not this log's.
	return removeIndex(s.dir)
}

// loadTail reads the ids of the events after the index's mark.
func (s *store) loadTail(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the audit log's unindexed events: %w", err)
	}
	return s.loadIDFilter(ctx)
}

// loadIDFilter fills s.ids with the ids of the index, the archived events
// and the tail. s.mu is held.
func (s *store) loadIDFilter(ctx context.Context) error {
	s.ids = newIDFilter()
	rows, err := s.idx.QueryContext(ctx, `SELECT id FROM main.event_ids UNION ALL SELECT id FROM log.archived`)
	if err != nil {
		return fmt.Errorf("read the audit log's event ids: %w", err)
	}
	defer rows.Close()
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("read the audit log's event ids: %w", err)
		}
		s.ids.add(id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the audit log's event ids: %w", err)
	}
	for id := range s.tail {
		s.ids.add(id)
	}
	return nil
}

// startIndexer starts the goroutine that indexes the tail: when it reaches
// indexBatch (wakeIndexer) and every indexInterval, in transactions of up
// to indexBatch events on index.db, beside the appends.
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
// whether a tail remains. It holds s.mu only to read the log's end and to
// move the mark: appends go on during its transaction.
func (s *store) indexStep(ctx context.Context) (more bool, err error) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	s.mu.Lock()
	closed, from, last := s.closed, s.indexed, s.tree.End()
	s.mu.Unlock()
	if closed {
		return false, errors.New("the audit log is closed")
	}
	to, err := s.indexRange(ctx, from, last)
	if err != nil || to == from {
		return false, err
	}
	s.mu.Lock()
	s.markIndexed(to)
	s.mu.Unlock()
	return to < last, nil
}

// indexRange indexes the events from+1 to at most from+indexBatch (and
// last) in one transaction on index.db and returns the new mark. idxMu is
// held; the events up to last are committed.
func (s *store) indexRange(ctx context.Context, from, last uint64) (uint64, error) {
	if last <= from {
		return from, nil
	}
	to := min(last, from+indexBatch)
	tx, err := s.idxWriter.BeginTx(ctx, nil)
	if err != nil {
		return from, fmt.Errorf("index the audit log: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range indexFill {
		if _, err := tx.ExecContext(ctx, q, from, to); err != nil {
			return from, fmt.Errorf("index the audit log's events %d to %d: %w", from+1, to, err)
		}
	}
	// The hash at the mark ("" when that event is missing: a damaged log,
	// which Verify names; hashAt says "" too, so the index still matches).
	var head string
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT hash FROM log.events WHERE seq = ?), '')`, to).Scan(&head); err != nil {
		return from, fmt.Errorf("index the audit log: read event %d: %w", to, err)
	}
	if err := setMetaIn(ctx, tx, "main.index_meta", "indexed_through", strconv.FormatUint(to, 10)); err != nil {
		return from, fmt.Errorf("index the audit log: %w", err)
	}
	if err := setMetaIn(ctx, tx, "main.index_meta", "indexed_hash", head); err != nil {
		return from, fmt.Errorf("index the audit log: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return from, fmt.Errorf("index the audit log's events %d to %d: %w", from+1, to, err)
	}
	return to, nil
}

// markIndexed moves the mark to and drops the indexed ids from the tail.
// s.mu is held.
func (s *store) markIndexed(to uint64) {
	s.indexed = to
	for id, seq := range s.tail {
		if seq <= to {
			delete(s.tail, id)
		}
	}
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

// catchUpLocked is catchUp with idxMu and s.mu held.
func (s *store) catchUpLocked(ctx context.Context) error {
	if s.closed {
		return errors.New("the audit log is closed")
	}
	for s.indexed < s.tree.End() {
		to, err := s.indexRange(ctx, s.indexed, s.tree.End())
		if err != nil {
			return err
		}
		s.markIndexed(to)
	}
	return nil
}

// close stops the indexer, indexes the tail (so the files on disk are fully
// indexed) and closes the databases, after the write in progress.
func (s *store) close() error {
	if s.stop != nil {
		s.stopOnce.Do(func() { close(s.stop) })
		<-s.done
	}
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	var err error
	if s.tree != nil && s.idx != nil {
		err = s.catchUpLocked(context.Background())
	}
	s.closed = true
	return errors.Join(err, s.closeDBs())
}
