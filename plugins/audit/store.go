package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// Origin names this log in its checkpoints.
const Origin = "mikrobill-audit"

// dbFile is the log's SQLite database in the plugin's data directory.
const dbFile = "audit.db"

// nodeStride: the tree table keeps the leaves (level 0) and the nodes of
// every level that is a multiple of nodeStride. A node of another level is
// recomputed from at most 2^(nodeStride-1) stored nodes below it, so an
// inclusion or consistency proof reads at most ~log2(n) small ranges, while
// the table holds 1 + 1/2^nodeStride rows per event instead of 2 (see the
// README for the figures).
const nodeStride = 6

// timeBlock is how many sequence numbers one row of time_blocks covers.
const timeBlock = 1024

var hasher = rfc6962.DefaultHasher

var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// layoutVersion is the table layout of audit.db this code reads and
// writes (meta's "layout"). Layout 1 (no "layout" row) kept the UNIQUE id
// index and the four filter indexes on events itself; layout 2 kept them as
// tables of their own in audit.db; layout 3 keeps them in index.db (see
// index.go). openStore migrates the earlier ones (migrate).
const layoutVersion = "3"

// eventsTable is the events table: the rows only, no index but the
// sequence (the rowid). An append writes the events, the tree, the time
// blocks and a checkpoint: pages at the end of each. The id and filter
// indexes are in index.db, filled by the indexer from the events after its
// mark, thousands at a time, so each of their pages takes many entries
// instead of one or two, and on a write lock of their own.
const eventsTable = ` (
	seq           INTEGER PRIMARY KEY,
	id            TEXT NOT NULL,
	time_ns       INTEGER,
	actor         TEXT NOT NULL,
	action        TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	resource_id   TEXT NOT NULL,
	outcome       TEXT NOT NULL,
	remote_addr   TEXT NOT NULL,
	request_id    TEXT NOT NULL,
	metadata      TEXT NOT NULL,
	prev_hash     TEXT NOT NULL,
	hash          TEXT NOT NULL
)`

const schema = `
CREATE TABLE IF NOT EXISTS events` + eventsTable + `;
-- time_blocks: the earliest and latest event time in each block of
-- timeBlock sequence numbers. A time filter becomes a range of sequence
-- numbers (the blocks whose times overlap it) scanned in order, instead
-- of an index on time whose matches must all be sorted by sequence.
CREATE TABLE IF NOT EXISTS time_blocks (
	block  INTEGER PRIMARY KEY,
	min_ns INTEGER NOT NULL,
	max_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tree (
	level INTEGER NOT NULL,
	idx   INTEGER NOT NULL,
	hash  BLOB NOT NULL,
	PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
	size       INTEGER PRIMARY KEY,
	root       BLOB NOT NULL,
	time       TEXT NOT NULL,
	origin     TEXT NOT NULL,
	public_key BLOB NOT NULL,
	signature  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS archived (
	id      TEXT PRIMARY KEY,
	seq     INTEGER NOT NULL,
	segment TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
`

// store is the log on disk. Writes (append, checkpoint, archive) hold mu;
// reads run beside them on WAL snapshots.
type store struct {
	// db is audit.db; idx is index.db with audit.db attached as "log" (the
	// index's writes and the reads that use an index go there).
	db, idx *sql.DB
	// idxWriter and idxDups are connections of idx kept for the indexer's
	// transactions and the appends' duplicate lookups: SQLite keeps a
	// connection's page cache until another connection writes the file,
	// so the indexer's stays warm, and the lookups' until the next
	// indexer commit (the lookups are few: see ids).
	idxWriter, idxDups *sql.Conn
	dir                string
	// durability is the setting the log was opened with.
	durability string
	key        ed25519.PrivateKey
	now        func() time.Time

	mu sync.Mutex
	// tree is the compact range [0, size) of the Merkle tree: the roots of
	// its perfect subtrees, enough to append and to compute the root.
	tree *compact.Range
	// head is the newest event's hash ("" for an empty log).
	head string
	// last is the latest checkpoint (Size 0 before the first).
	last audit.Checkpoint
	// broken, when set, is why the log will not be extended.
	broken string
	// archivedThrough is the last archived sequence (0: none).
	archivedThrough uint64
	// indexed is the last sequence in the index tables (index_meta's
	// indexed_through); tail maps the ids of the events after it to their
	// sequences, for the duplicate check (see index.go). Both change
	// under idxMu and mu.
	indexed uint64
	tail    map[string]uint64
	// ids holds every id in the log, for the duplicate check: only the
	// ids it may hold are looked up in the index (see idfilter.go).
	ids *idFilter
	// idxMu serializes the writers of index.db; it is taken before mu.
	idxMu sync.Mutex
	// stmts are the append's prepared statements (see prepared).
	stmts map[string]*sql.Stmt
	// indexNote, when set, says why index.db was rebuilt on opening.
	indexNote string

	// The indexer goroutine: kick wakes it, stop ends it, done is closed
	// when it has.
	kick, stop, done chan struct{}
	stopOnce         sync.Once
	closed           bool
}

// Durability settings: when an append counts as stored.
const (
	durabilityFull   = "full"
	durabilityNormal = "normal"
)

// openStore opens (or creates) the log in dir with the signing key.
func openStore(ctx context.Context, dir string, key ed25519.PrivateKey, now func() time.Time, durability string) (*store, error) {
	// WAL with synchronous=FULL (durability "full", the default): a commit
	// returns only once the WAL is on disk, so an acknowledged batch
	// survives kill -9 and a power cut (the host drops events from its
	// queue once acknowledged). NORMAL ("normal") syncs only at WAL
	// checkpoints: an acknowledged batch survives kill -9 of the plugin
	// (the WAL is in the OS's page cache), not an OS crash or power cut.
	// _txlock=immediate takes the write lock at BEGIN. mmap_size lets
	// reads map the file instead of copying each page (writes still go
	// through the WAL; Verify of 1,000,000 events took half the CPU).
	sync := "FULL"
	if durability == durabilityNormal {
		sync = "NORMAL"
	}
	dsn := "file:" + (&url.URL{Path: filepath.Join(dir, dbFile)}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(" + sync + ")&_pragma=busy_timeout(10000)&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(8192)&_pragma=mmap_size(2147418112)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open the audit log %s: %w", filepath.Join(dir, dbFile), err)
	}
	db.SetMaxOpenConns(8)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("create the audit log's tables in %s: %w", filepath.Join(dir, dbFile), err)
	}
	s := &store{db: db, dir: dir, durability: durability, key: key, now: now}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.backfillTimeBlocks(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.setupIndex(ctx); err != nil {
		_ = s.closeDBs()
		return nil, err
	}
	if err := s.optimize(ctx); err != nil {
		_ = s.closeDBs()
		return nil, err
	}
	if err := s.loadTail(ctx); err != nil {
		_ = s.closeDBs()
		return nil, err
	}
	s.startIndexer()
	return s, nil
}

// backfillTimeBlocks fills time_blocks for a log written before it
// existed (once: meta's time_blocks marks it done).
func (s *store) backfillTimeBlocks(ctx context.Context) error {
	done, err := metaString(ctx, s.db, "time_blocks")
	if err != nil || done != "" {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO time_blocks (block, min_ns, max_ns)
		SELECT (seq - 1) / ?, MIN(time_ns), MAX(time_ns) FROM events WHERE time_ns IS NOT NULL GROUP BY 1`, timeBlock); err != nil {
		return fmt.Errorf("index the audit log's times: %w", err)
	}
	if err := setMeta(ctx, tx, "time_blocks", "1"); err != nil {
		return err
	}
	return tx.Commit()
}

// optimize refreshes the query planner's statistics where they are stale
// (PRAGMA optimize, with ANALYZE sampling at most 1,000 rows per index, so
// it stays cheap on a big log). Without them SQLite picks the index of the
// least selective filter: a page filtered by actor and outcome over
// 1,000,000 events took 11 ms instead of 2, one by an action prefix newest
// first 1.8 s instead of 1 ms. Run on opening and hourly.
func (s *store) optimize(ctx context.Context) error {
	for _, db := range []*sql.DB{s.db, s.idx} {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, `PRAGMA analysis_limit = 1000; PRAGMA main.optimize = 0x10002`)
		_ = conn.Close()
		if err != nil {
			return fmt.Errorf("refresh the audit log's query statistics: %w", err)
		}
	}
	return nil
}

// closeDBs closes the databases.
func (s *store) closeDBs() error {
	var err error
	for _, stmt := range s.stmts {
		err = errors.Join(err, stmt.Close())
	}
	s.stmts = nil
	for _, c := range []*sql.Conn{s.idxWriter, s.idxDups} {
		if c != nil {
			err = errors.Join(err, c.Close())
		}
	}
	if s.idx != nil {
		err = errors.Join(err, s.idx.Close())
	}
	return errors.Join(err, s.db.Close())
}

func (s *store) publicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// load reads the head, the compact range and the latest checkpoint, and
// checks the tail since that checkpoint: the log refuses appends when they
// do not agree (broken).
func (s *store) load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = ""
	var err error
	if s.archivedThrough, err = metaUint(ctx, s.db, "archived_through"); err != nil {
		return err
	}
	size, err := s.treeSize(ctx)
	if err != nil {
		return err
	}
	if s.tree, err = s.rangeAt(ctx, s.db, size, nil); err != nil {
		return err
	}
	if cp, ok, err := latestCheckpoint(ctx, s.db); err != nil {
		return err
	} else if ok {
		s.last = cp
	} else {
		s.last = audit.Checkpoint{}
	}
	var maxSeq sql.NullInt64
	var head sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`).Scan(&maxSeq, &head); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the audit log's head: %w", err)
	}
	s.head = head.String
	if !maxSeq.Valid {
		s.head, err = metaString(ctx, s.db, "archived_head")
		if err != nil {
			return err
		}
	}
	last := max(uint64(maxSeq.Int64), s.archivedThrough)
	switch {
	case last != size:
		s.broken = fmt.Sprintf("the log ends at sequence %d but its Merkle tree has %d leaves", last, size)
	case s.last.Size > size:
		s.broken = fmt.Sprintf("the log holds %d events but its latest checkpoint covers %d: events were removed", size, s.last.Size)
	case s.last.Size > 0 && !ed25519.Verify(s.publicKey(), s.last.SignedBytes(), s.last.Signature):
		s.broken = fmt.Sprintf("the latest checkpoint (size %d) is not signed by this log's key %s", s.last.Size, audit.KeyFingerprint(s.publicKey()))
	default:
		if msg, err := s.checkTail(ctx); err != nil {
			return err
		} else if msg != "" {
			s.broken = msg
		}
	}
	return nil
}

// checkTail recomputes the hashes of the events after the latest checkpoint
// (and the one it ends on), and the root at the checkpoint: cheap, and it
// catches a damaged head before anything is chained to it.
func (s *store) checkTail(ctx context.Context) (string, error) {
	from := s.last.Size
	if from > 0 {
		root, err := s.rootAt(ctx, s.db, s.last.Size, nil)
		if err != nil {
			return "", err
		}
		if !bytes.Equal(root, s.last.RootHash) {
			return fmt.Sprintf("the Merkle tree no longer matches the latest checkpoint (size %d)", s.last.Size), nil
		}
	}
	rows, err := s.db.QueryContext(ctx, eventColumns+` FROM events WHERE seq >= ? ORDER BY seq`, max(from, 1))
	if err != nil {
		return "", fmt.Errorf("read the audit log's tail: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return "", err
		}
		if audit.ChainHash(e.PrevHash, e) != e.Hash {
			return fmt.Sprintf("event %d (%s) does not match its hash", e.Sequence, e.ID), nil
		}
	}
	return "", rows.Err()
}

// treeSize is how many leaves the tree has.
func (s *store) treeSize(ctx context.Context) (uint64, error) {
	var n sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(idx) + 1 FROM tree WHERE level = 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read the Merkle tree's size: %w", err)
	}
	return uint64(n.Int64), nil
}

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// nodeCache keeps node hashes computed during one request.
type nodeCache map[compact.NodeID][]byte

// node returns the hash of the perfect subtree id, from the stored nodes:
// directly when its level is stored, else from the stored level below.
func (s *store) node(ctx context.Context, q querier, id compact.NodeID, cache nodeCache) ([]byte, error) {
	if h, ok := cache[id]; ok {
		return h, nil
	}
	base := id.Level - id.Level%nodeStride
	n := uint64(1) << (id.Level - base)
	rows, err := q.QueryContext(ctx, `SELECT hash FROM tree WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx`, base, id.Index*n, (id.Index+1)*n)
	if err != nil {
		return nil, fmt.Errorf("read the Merkle tree: %w", err)
	}
	defer rows.Close()
	hashes := make([][]byte, 0, n)
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("read the Merkle tree: %w", err)
		}
		hashes = append(hashes, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the Merkle tree: %w", err)
	}
	if uint64(len(hashes)) != n {
		return nil, fmt.Errorf("%w: the Merkle tree misses nodes under level %d index %d (has %d of %d)", audit.ErrChainBroken, id.Level, id.Index, len(hashes), n)
	}
	for len(hashes) > 1 {
		next := hashes[:0:0]
		for i := 0; i < len(hashes); i += 2 {
			next = append(next, hasher.HashChildren(hashes[i], hashes[i+1]))
		}
		hashes = next
	}
	if cache != nil {
		cache[id] = hashes[0]
	}
	return hashes[0], nil
}

// rangeAt returns the compact range [0, size) from the stored nodes.
func (s *store) rangeAt(ctx context.Context, q querier, size uint64, cache nodeCache) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, 0, len(ids))
	for _, id := range ids {
		h, err := s.node(ctx, q, id, cache)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
	}
	return rangeFactory.NewRange(0, size, hashes)
}

// rootAt returns the tree's root hash at size, from the stored nodes.
func (s *store) rootAt(ctx context.Context, q querier, size uint64, cache nodeCache) ([]byte, error) {
	r, err := s.rangeAt(ctx, q, size, cache)
	if err != nil {
		return nil, err
	}
	return rootOf(r)
}

// rootOf is the RFC 6962 root of a range from 0 (the empty tree's for none).
func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

func metaString(ctx context.Context, q querier, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return v, nil
}

func metaUint(ctx context.Context, q querier, key string) (uint64, error) {
	v, err := metaString(ctx, q, key)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s holds %q, not a number", key, v)
	}
	return n, nil
}

func setMeta(ctx context.Context, tx *sql.Tx, key, value string) error {
	return setMetaIn(ctx, tx, "meta", key, value)
}

// setMetaIn sets key in the key-value table table.
func setMetaIn(ctx context.Context, tx *sql.Tx, table, key, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

const eventFields = `events.seq, events.id, events.time_ns, events.actor, events.action, events.resource_type, events.resource_id, events.outcome, events.remote_addr, events.request_id, events.metadata, events.prev_hash, events.hash`

const eventColumns = `SELECT ` + eventFields

type scanner interface{ Scan(dest ...any) error }

func scanEvent(r scanner, extra ...any) (audit.Event, error) {
	var meta string
	e, err := scanEventRaw(r, &meta, extra...)
	if err != nil {
		return e, err
	}
	decodeMetadata(&e, meta)
	return e, nil
}

// scanEventRaw reads an event but leaves its metadata in meta, for
// decodeMetadata.
func scanEventRaw(r scanner, meta *string, extra ...any) (audit.Event, error) {
	var e audit.Event
	err := scanEventInto(r, &e, meta, extra...)
	return e, err
}

// scanEventInto is scanEventRaw into e (Verify reads into a block's slice
// in place, without an event's allocation and copy per row).
func scanEventInto(r scanner, e *audit.Event, meta *string, extra ...any) error {
	var t sql.NullInt64
	var outcome string
	dest := append([]any{&e.Sequence, &e.ID, &t, &e.Actor, &e.Action, &e.ResourceType, &e.ResourceID, &outcome, &e.RemoteAddr, &e.RequestID, meta, &e.PrevHash, &e.Hash}, extra...)
	if err := r.Scan(dest...); err != nil {
		return fmt.Errorf("read an audit event: %w", err)
	}
	e.Outcome = audit.Outcome(outcome)
	if t.Valid {
		e.Time = time.Unix(0, t.Int64).UTC()
	}
	return nil
}

func decodeMetadata(e *audit.Event, meta string) {
	if m, ok := plainMetadata(meta); ok {
		e.Metadata = m
		return
	}
	if meta != "" && meta != "{}" {
		if err := json.Unmarshal([]byte(meta), &e.Metadata); err != nil {
			// A damaged metadata column: keep the raw text, so the hash
			// check names the event instead of failing the read.
			e.Metadata = map[string]string{"": meta}
		}
	}
}

func timeNS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// append stores a batch in one transaction: see Log.Append.
func (s *store) append(ctx context.Context, events []audit.Event, checkpointEvery uint64) (*audit.AppendResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != "" {
		return nil, fmt.Errorf("%w: %s; the log takes no more events until an operator has looked at it (run `mikrobill audit verify`)", audit.ErrChainBroken, s.broken)
	}
	resp := &audit.AppendResponse{}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin an append: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	// The head, cheaply: the newest stored event must still match its hash
	// and the tree's size, or nothing is chained to it.
	size := s.tree.End()
	if size > s.archivedThrough {
		stmt, err := s.prepared(ctx, tx, eventColumns+` FROM events WHERE seq = ?`)
		if err != nil {
			return nil, fmt.Errorf("read the newest event: %w", err)
		}
		e, err := scanEvent(stmt.QueryRowContext(ctx, size))
		if err != nil {
			s.broken = fmt.Sprintf("the newest event (%d) cannot be read: %v", size, err)
			return nil, fmt.Errorf("%w: %s", audit.ErrChainBroken, s.broken)
		}
		if e.Hash != s.head || audit.ChainHash(e.PrevHash, e) != e.Hash {
			s.broken = fmt.Sprintf("the newest event (%d, %s) does not match its hash", size, e.ID)
			return nil, fmt.Errorf("%w: %s", audit.ErrChainBroken, s.broken)
		}
	}

	tree, err := rangeFactory.NewRange(0, size, append([][]byte(nil), s.tree.Hashes()...))
	if err != nil {
		return nil, err
	}
	head := s.head

	// Duplicates: within the batch, then in the log (live and archived),
	// with one query each.
	fresh := make([]audit.Event, 0, len(events))
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		if seen[e.ID] {
			resp.Duplicates++
			continue
		}
		seen[e.ID] = true
		fresh = append(fresh, e)
	}
	// Only the ids the filter cannot rule out are looked up (all of a
	// retried batch, a few of a new one).
	var maybe []string
	for _, e := range fresh {
		if _, inTail := s.tail[e.ID]; !inTail && s.ids.mayHold(e.ID) {
			maybe = append(maybe, e.ID)
		}
	}
	stored, err := storedIDs(ctx, s.idxDups, maybe, s.archivedThrough > 0)
	if err != nil {
		return nil, err
	}

	// One multi-row INSERT for the events and one for the tree's nodes:
	// a statement per row costs more than the rows themselves.
	var evArgs, nodeArgs []any
	blocks := map[uint64][2]int64{}
	visit := func(id compact.NodeID, h []byte) {
		if id.Level%nodeStride == 0 {
			nodeArgs = append(nodeArgs, id.Level, id.Index, h)
		}
	}
	now := s.now().UTC()
	for _, e := range fresh {
		if _, inTail := s.tail[e.ID]; inTail || stored[e.ID] {
			resp.Duplicates++
			continue
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC()
		e.Sequence = tree.End() + 1
		e.PrevHash = head
		e.Hash = audit.ChainHash(head, e)
		meta := "{}"
		if len(e.Metadata) > 0 {
			b, err := json.Marshal(e.Metadata)
			if err != nil {
				return nil, err
			}
			meta = string(b)
		}
		blk, ns := (e.Sequence-1)/timeBlock, e.Time.UnixNano()
		if b, ok := blocks[blk]; ok {
			blocks[blk] = [2]int64{min(b[0], ns), max(b[1], ns)}
		} else {
			blocks[blk] = [2]int64{ns, ns}
		}
		evArgs = append(evArgs, e.Sequence, e.ID, timeNS(e.Time), e.Actor, e.Action, e.ResourceType, e.ResourceID, string(e.Outcome), e.RemoteAddr, e.RequestID, meta, e.PrevHash, e.Hash)
		leaf, err := audit.LeafHash(&e)
		if err != nil {
			return nil, err
		}
		if err := tree.Append(leaf, visit); err != nil {
			return nil, err
		}
		head = e.Hash
		resp.Appended++
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO events (seq, id, time_ns, actor, action, resource_type, resource_id, outcome, remote_addr, request_id, metadata, prev_hash, hash) VALUES `, 13, evArgs); err != nil {
		return nil, fmt.Errorf("store %d events: %w", resp.Appended, err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO tree (level, idx, hash) VALUES `, 3, nodeArgs); err != nil {
		return nil, fmt.Errorf("store the Merkle tree: %w", err)
	}
	for blk, b := range blocks {
		stmt, err := s.prepared(ctx, tx, `INSERT INTO time_blocks (block, min_ns, max_ns) VALUES (?, ?, ?)
			ON CONFLICT (block) DO UPDATE SET min_ns = MIN(min_ns, excluded.min_ns), max_ns = MAX(max_ns, excluded.max_ns)`)
		if err != nil {
			return nil, fmt.Errorf("index the events' times: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, blk, b[0], b[1]); err != nil {
			return nil, fmt.Errorf("index the events' times: %w", err)
		}
	}
	var cp *audit.Checkpoint
	if resp.Appended > 0 && tree.End()-s.last.Size >= checkpointEvery {
		c, err := s.insertCheckpoint(ctx, tx, tree)
		if err != nil {
			return nil, err
		}
		cp = &c
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit an append of %d events: %w", len(events), err)
	}
	s.tree, s.head = tree, head
	if cp != nil {
		s.last = *cp
	}
	for i := 0; i < len(evArgs); i += 13 {
		id := evArgs[i+1].(string)
		s.tail[id] = evArgs[i].(uint64)
		s.ids.add(id)
	}
	if uint64(len(s.tail)) >= indexBatch {
		s.wakeIndexer()
	}
	resp.LastSequence = tree.End()
	resp.HeadHash = head
	return resp, nil
}

// insertCheckpoint signs and stores a checkpoint over tree.
func (s *store) insertCheckpoint(ctx context.Context, tx *sql.Tx, tree *compact.Range) (audit.Checkpoint, error) {
	root, err := rootOf(tree)
	if err != nil {
		return audit.Checkpoint{}, err
	}
	t := s.now().UTC()
	if !s.last.Time.IsZero() && !t.After(s.last.Time) {
		t = s.last.Time.Add(time.Nanosecond) // checkpoint times only grow
	}
	cp := audit.Checkpoint{Origin: Origin, Size: tree.End(), RootHash: root, Time: t}
	cp.Sign(s.key)
	_, err = tx.ExecContext(ctx, `INSERT INTO checkpoints (size, root, time, origin, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)`,
		cp.Size, cp.RootHash, cp.Time.Format(time.RFC3339Nano), cp.Origin, cp.PublicKey, cp.Signature)
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("store the checkpoint of size %d: %w", cp.Size, err)
	}
	return cp, nil
}

// checkpoint takes a checkpoint over the whole log unless the latest covers
// it, and returns the latest.
func (s *store) checkpoint(ctx context.Context) (audit.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.Size == s.tree.End() && s.last.Size > 0 {
		return s.last, nil
	}
	if s.broken != "" {
		return audit.Checkpoint{}, fmt.Errorf("%w: %s; no checkpoint is signed over a broken log", audit.ErrChainBroken, s.broken)
	}
	if s.tree.End() == 0 && s.last.Size == 0 {
		return audit.Checkpoint{}, fmt.Errorf("%w: the audit log is empty; there is no checkpoint yet", sdk.ErrFailedPrecondition)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return audit.Checkpoint{}, err
	}
	defer func() { _ = tx.Rollback() }()
	cp, err := s.insertCheckpoint(ctx, tx, s.tree)
	if err != nil {
		return audit.Checkpoint{}, err
	}
	if err := tx.Commit(); err != nil {
		return audit.Checkpoint{}, fmt.Errorf("commit the checkpoint of size %d: %w", cp.Size, err)
	}
	s.last = cp
	return cp, nil
}

func scanCheckpoint(r scanner) (audit.Checkpoint, error) {
	var cp audit.Checkpoint
	var t string
	if err := r.Scan(&cp.Size, &cp.RootHash, &t, &cp.Origin, &cp.PublicKey, &cp.Signature); err != nil {
		return cp, err
	}
	var err error
	if cp.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
		return cp, fmt.Errorf("checkpoint of size %d has time %q: %w", cp.Size, t, err)
	}
	return cp, nil
}

const checkpointColumns = `SELECT size, root, time, origin, public_key, signature FROM checkpoints`

func latestCheckpoint(ctx context.Context, q querier) (audit.Checkpoint, bool, error) {
	cp, err := scanCheckpoint(q.QueryRowContext(ctx, checkpointColumns+` ORDER BY size DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return cp, false, nil
	}
	if err != nil {
		return cp, false, fmt.Errorf("read the latest checkpoint: %w", err)
	}
	return cp, true, nil
}

// checkpointCovering returns the checkpoint of size treeSize (0: the
// latest).
func checkpointOfSize(ctx context.Context, q querier, treeSize uint64) (audit.Checkpoint, error) {
	cp, err := scanCheckpoint(q.QueryRowContext(ctx, checkpointColumns+` WHERE size = ?`, treeSize))
	if errors.Is(err, sql.ErrNoRows) {
		return cp, fmt.Errorf("%w: there is no checkpoint of size %d; ask for 0 (the latest) or the size of one the log has signed", sdk.ErrNotFound, treeSize)
	}
	return cp, err
}

func nodeID(level uint, index uint64) compact.NodeID { return compact.NewNodeID(level, index) }

// rangeNodes lists the perfect subtrees covering [begin, end).
func rangeNodes(begin, end uint64) []compact.NodeID { return compact.RangeNodes(begin, end, nil) }

// storedIDs returns which of ids the log holds already in its
// id index or among the archived (the caller checks the unindexed tail,
// with s.mu held: the index's mark moves under it, after its commit).
func storedIDs(ctx context.Context, idx querier, ids []string, archived bool) (map[string]bool, error) {
	found := map[string]bool{}
	if len(ids) == 0 {
		return found, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in := "(?" + strings.Repeat(", ?", len(args)-1) + ")"
	q := `SELECT id FROM main.event_ids WHERE id IN ` + in
	if archived {
		q += ` UNION ALL SELECT id FROM log.archived WHERE id IN ` + in
		args = append(args, args...)
	}
	rows, err := idx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("look for duplicate events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		found[id] = true
	}
	return found, rows.Err()
}

// insertChunk is how many rows one prepared multi-row INSERT of an append
// takes (the rest go one a statement).
const insertChunk = 25

// insertRows inserts the rows of width args with q (an INSERT ending in
// VALUES): insertChunk rows a statement, then one. The statements are
// prepared once per connection (s.prepared): a statement per row cost more
// than the rows themselves, and a multi-row INSERT compiled each batch
// measured slower still. s.mu is held.
func (s *store) insertRows(ctx context.Context, tx *sql.Tx, q string, width int, args []any) error {
	row := "(?" + strings.Repeat(", ?", width-1) + ")"
	for len(args) > 0 {
		n := 1
		if len(args) >= insertChunk*width {
			n = insertChunk
		}
		stmt, err := s.prepared(ctx, tx, q+row+strings.Repeat(", "+row, n-1))
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, args[:n*width]...); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// prepared returns q prepared for tx, from the statements the store keeps
// (database/sql prepares each once on each connection it runs on). s.mu is
// held.
func (s *store) prepared(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	stmt, ok := s.stmts[q]
	if !ok {
		var err error
		if stmt, err = s.db.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		if s.stmts == nil {
			s.stmts = map[string]*sql.Stmt{}
		}
		s.stmts[q] = stmt
	}
	return tx.StmtContext(ctx, stmt), nil
}

// plainMetadata decodes the common case of the metadata column without
// encoding/json: an object of strings with no escapes, as json.Marshal
// writes it. Anything else (ok false) goes through encoding/json. Verify
// reads every event, and this was a seventh of its time.
func plainMetadata(meta string) (map[string]string, bool) {
	if meta == "{}" || meta == "" {
		return nil, true
	}
	if len(meta) < 2 || meta[0] != '{' || meta[len(meta)-1] != '}' || strings.IndexByte(meta, '\\') >= 0 {
		return nil, false
	}
	m := make(map[string]string, 4)
	rest := meta[1 : len(meta)-1]
	for {
		k, r, ok := plainString(rest)
		if !ok || len(r) == 0 || r[0] != ':' {
			return nil, false
		}
		v, r, ok := plainString(r[1:])
		if !ok {
			return nil, false
		}
		m[k] = v
		if len(r) == 0 {
			return m, true
		}
		if r[0] != ',' {
			return nil, false
		}
		rest = r[1:]
	}
}

// plainString reads a JSON string without escapes from the start of s.
func plainString(s string) (string, string, bool) {
	if len(s) < 2 || s[0] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", false
	}
	return s[1 : 1+end], s[2+end:], true
}
