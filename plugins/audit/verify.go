package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/proof"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// Verify checks the log. A full check (no range) covers, in order: every
// checkpoint's signature (against req.PublicKey when set), the latest
// checkpoint against req.KnownSize, the RFC 6962 consistency proof between
// each two consecutive checkpoints, every event's hash and place in the
// chain, every leaf against the stored tree, the root at every checkpoint
// size, the log's length against the latest checkpoint, and the archive
// segment files present. It stops at the first failure. A failure also
// stops appends until the plugin is restarted (health says why).
//
// With a range (FromSequence or ToSequence set), the events are checked in
// that range only (chain and leaves); the checkpoints are checked as above,
// but the roots are recomputed only by a full check.
func (l *Log) Verify(ctx context.Context, req *audit.VerifyRequest) (*audit.VerifyResponse, error) {
	if req.ToSequence != 0 && req.FromSequence > req.ToSequence {
		return nil, fmt.Errorf("%w: from_sequence %d is after to_sequence %d", sdk.ErrInvalidArgument, req.FromSequence, req.ToSequence)
	}
	var trusted ed25519.PublicKey
	if len(req.PublicKey) > 0 {
		if len(req.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: public_key has %d bytes; give the log's Ed25519 public key (%d bytes), as GetCheckpoint and the plugin's health show it", sdk.ErrInvalidArgument, len(req.PublicKey), ed25519.PublicKeySize)
		}
		trusted = req.PublicKey
	}
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	resp, err := st.verify(ctx, req, trusted)
	if err != nil {
		return nil, err
	}
	if !resp.OK {
		st.mu.Lock()
		if st.broken == "" {
			st.broken = fmt.Sprintf("verification failed (%s): %s", resp.Reason, resp.Message)
		}
		st.mu.Unlock()
		l.Logger().Error("audit log verification failed", "reason", string(resp.Reason), "first_bad_sequence", resp.FirstBadSequence)
	}
	return resp, nil
}

// verifier carries one run of Verify.
type verifier struct {
	s  *store
	tx *sql.Tx
	// txs are read transactions of the same snapshot as tx (tx first),
	// one per event reader.
	txs  []*sql.Tx
	resp *audit.VerifyResponse
}

// snapshotTxs begins n read transactions that see the same snapshot of
// the log: each starts reading while s.mu keeps every writer out (SQLite
// fixes a WAL reader's snapshot at its first read, not at BEGIN).
func (s *store) snapshotTxs(ctx context.Context, n int) ([]*sql.Tx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	txs := make([]*sql.Tx, 0, n)
	for range n {
		tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return txs, err
		}
		txs = append(txs, tx)
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM meta`).Scan(&one); err != nil {
			return txs, err
		}
	}
	return txs, nil
}

func (v *verifier) fail(reason audit.VerifyReason, seq uint64, format string, args ...any) *audit.VerifyResponse {
	v.resp.OK = false
	v.resp.Reason = reason
	v.resp.FirstBadSequence = seq
	v.resp.Message = fmt.Sprintf(format, args...)
	return v.resp
}

func (s *store) verify(ctx context.Context, req *audit.VerifyRequest, trusted ed25519.PublicKey) (*audit.VerifyResponse, error) {
	if trusted == nil {
		trusted = s.publicKey()
	}
	// Read transactions of one snapshot: every check sees the same log.
	txs, err := s.snapshotTxs(ctx, verifyReaders)
	for _, tx := range txs {
		defer func() { _ = tx.Rollback() }()
	}
	if err != nil {
		return nil, fmt.Errorf("begin a verification: %w", err)
	}
	tx := txs[0]
	v := &verifier{s: s, tx: tx, txs: txs, resp: &audit.VerifyResponse{OK: true}}
	full := req.FromSequence <= 1 && req.ToSequence == 0

	cps, err := v.checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	var latest *audit.Checkpoint
	if len(cps) > 0 {
		latest = &cps[len(cps)-1]
	}
	if r, err := v.checkCheckpoints(ctx, cps, trusted, req.KnownSize); r != nil || err != nil {
		return r, err
	}
	archivedThrough, err := metaUint(ctx, tx, "archived_through")
	if err != nil {
		return nil, err
	}
	if r, err := v.checkSegments(ctx, trusted, archivedThrough); r != nil || err != nil {
		return r, err
	}
	if r, err := v.checkEvents(ctx, req, cps, archivedThrough, full); r != nil || err != nil {
		return r, err
	}
	if r, err := v.checkConsistency(ctx, cps); r != nil || err != nil {
		return r, err
	}
	v.resp.Checkpoint = latest
	if latest != nil {
		v.resp.Message = fmt.Sprintf("%d events checked; %d checkpoints checked; the latest, of size %d, is signed by %s", v.resp.Checked, v.resp.CheckpointsChecked, latest.Size, audit.KeyFingerprint(trusted))
	} else {
		v.resp.Message = fmt.Sprintf("%d events checked; the log has no checkpoint yet", v.resp.Checked)
	}
	if !full {
		v.resp.Message += " (a range check: hash chain and leaves only; run a full check for the roots)"
	}
	return v.resp, nil
}

func (v *verifier) checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := v.tx.QueryContext(ctx, checkpointColumns+` ORDER BY size`)
	if err != nil {
		return nil, fmt.Errorf("read the checkpoints: %w", err)
	}
	defer rows.Close()
	var cps []audit.Checkpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		cps = append(cps, cp)
	}
	return cps, rows.Err()
}

// checkCheckpoints: signatures, rollback, consistency.
func (v *verifier) checkCheckpoints(ctx context.Context, cps []audit.Checkpoint, trusted ed25519.PublicKey, knownSize uint64) (*audit.VerifyResponse, error) {
	var prev audit.Checkpoint
	for i, cp := range cps {
		if err := cp.Verify(trusted); err != nil {
			return v.fail(audit.ReasonSignature, prev.Size+1, "checkpoint %d of %d (size %d, taken %s) does not verify: %v. The checkpoints were replaced or re-signed: compare the key with the fingerprint you wrote down", i+1, len(cps), cp.Size, cp.Time.Format("2006-01-02 15:04:05Z07:00"), err), nil
		}
		if cp.Origin != Origin {
			return v.fail(audit.ReasonSignature, prev.Size+1, "checkpoint of size %d names the log %q, not %q: it belongs to another log", cp.Size, cp.Origin, Origin), nil
		}
		prev = cp
	}
	if knownSize > prev.Size {
		return v.fail(audit.ReasonRollback, prev.Size+1, "the latest checkpoint covers %d events, but a checkpoint of %d was seen before: the log was rolled back to an older copy (restore the newest copy, or find out who replaced the file)", prev.Size, knownSize), nil
	}
	return nil, nil
}

// checkConsistency checks the RFC 6962 consistency proof, built from the
// stored tree, between each two consecutive checkpoints: each extends the
// one before without changing it. A full check has compared every root
// with the events already; this also covers archived events and a range
// check.
func (v *verifier) checkConsistency(ctx context.Context, cps []audit.Checkpoint) (*audit.VerifyResponse, error) {
	cache := nodeCache{}
	for i, cp := range cps {
		if i > 0 {
			prev := cps[i-1]
			p, err := v.s.consistencyProof(ctx, v.tx, prev.Size, cp.Size, cache)
			if err != nil {
				return v.fail(audit.ReasonConsistency, prev.Size+1, "the consistency proof from checkpoint %d to %d cannot be built from the stored tree: %v", prev.Size, cp.Size, err), nil
			}
			if err := proof.VerifyConsistency(hasher, prev.Size, cp.Size, p, prev.RootHash, cp.RootHash); err != nil {
				return v.fail(audit.ReasonConsistency, prev.Size+1, "checkpoint %d does not extend checkpoint %d: the log, or its tree, was rewritten at or before event %d (%v)", cp.Size, prev.Size, cp.Size, err), nil
			}
		}
		v.resp.CheckpointsChecked++
	}
	return nil, nil
}

// checkEvents streams the live events once.
func (v *verifier) checkEvents(ctx context.Context, req *audit.VerifyRequest, cps []audit.Checkpoint, archivedThrough uint64, full bool) (*audit.VerifyResponse, error) {
	from := max(req.FromSequence, archivedThrough+1, 1)
	var prevHash string
	var err error
	if from > 1 {
		if from == archivedThrough+1 {
			if prevHash, err = metaString(ctx, v.tx, "archived_head"); err != nil {
				return nil, err
			}
		} else if err := v.tx.QueryRowContext(ctx, `SELECT hash FROM events WHERE seq = ?`, from-1).Scan(&prevHash); err != nil && err != sql.ErrNoRows {
			return nil, err
		}
	}
	// The tree up to from-1 comes from the stored nodes; the root at each
	// checkpoint then needs the live leaves only.
	rng, err := v.s.rangeAt(ctx, v.tx, from-1, nil)
	if err != nil {
		return v.fail(audit.ReasonTree, from, "the stored Merkle tree before event %d cannot be read: %v", from, err), nil
	}
	next := 0 // the next checkpoint to compare a root with
	for next < len(cps) && cps[next].Size < from {
		next++
	}
	// The last sequence to read: the snapshot's newest event, or the
	// range's end.
	var maxSeq sql.NullInt64
	if err := v.tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM events`).Scan(&maxSeq); err != nil {
		return nil, fmt.Errorf("read the audit log's head: %w", err)
	}
	end := uint64(max(maxSeq.Int64, 0))
	if req.ToSequence != 0 {
		end = min(end, req.ToSequence)
	}
	// Two goroutines read (and hash) alternate blocks of verifyBlock
	// events, each on its own read transaction of the same snapshot; this
	// one checks the blocks in order: reading was the bottleneck, and the
	// machine has more than one core.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var chans [verifyReaders]chan verifyBlockResult
	var wg sync.WaitGroup
	for k := range chans {
		chans[k] = make(chan verifyBlockResult, 2)
		q := v.txs[k%len(v.txs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(chans[k])
			v.readBlocks(ctx, q, from+uint64(k)*verifyBlock, end, chans[k])
		}()
	}
	defer func() {
		cancel()
		for k := range chans {
			for range chans[k] { // let the readers finish before the txs end
			}
		}
		wg.Wait()
	}()
	want := from
	for blk := 0; ; blk++ {
		res, ok := <-chans[blk%verifyReaders]
		if !ok {
			break
		}
		if res.err != nil {
			return nil, res.err
		}
		batch := res.rows
		for i := range batch {
			sc := &batch[i]
			e := &sc.e
			switch {
			case e.Sequence != want:
				return v.fail(audit.ReasonChain, want, "event %d is missing (the next stored event is %d, %q): events were deleted", want, e.Sequence, e.ID), nil
			case e.PrevHash != prevHash:
				return v.fail(audit.ReasonChain, e.Sequence, "event %d (%q) does not link to the event before it: its previous hash is %s, the event before has %s", e.Sequence, e.ID, short(e.PrevHash), short(prevHash)), nil
			case !sc.hashOK:
				return v.fail(audit.ReasonChain, e.Sequence, "event %d (%q, %s by %s) was changed: its stored fields do not hash to its stored hash", e.Sequence, e.ID, e.Action, e.Actor), nil
			}
			leaf := sc.leaf
			if sc.leafErr != nil {
				return v.fail(audit.ReasonChain, e.Sequence, "event %d (%q): %v", e.Sequence, e.ID, sc.leafErr), nil
			}
			if !bytes.Equal(leaf, sc.stored) {
				return v.fail(audit.ReasonTree, e.Sequence, "event %d (%q) is not the event the Merkle tree holds at its place: the log was rewritten from here on (every hash after it recomputed)", e.Sequence, e.ID), nil
			}
			if full {
				if err := rng.Append(leaf, nil); err != nil {
					return nil, err
				}
				for next < len(cps) && cps[next].Size == rng.End() {
					root, err := rootOf(rng)
					if err != nil {
						return nil, err
					}
					if !bytes.Equal(root, cps[next].RootHash) {
						start := uint64(1)
						if next > 0 {
							start = cps[next-1].Size + 1
						}
						return v.fail(audit.ReasonTree, start, "the events up to %d do not hash to the root of the signed checkpoint of that size: an event from %d to %d was changed, and the tree with it", cps[next].Size, start, cps[next].Size), nil
					}
					next++
				}
			}
			prevHash = e.Hash
			v.resp.HeadHash = e.Hash
			v.resp.Checked++
			want++
		}
	}
	last := want - 1
	if v.resp.Checked == 0 && from > 1 {
		last = from - 1
	}
	if req.ToSequence == 0 && len(cps) > 0 && cps[len(cps)-1].Size > last {
		return v.fail(audit.ReasonTruncated, last+1, "the log ends at event %d, but the latest checkpoint covers %d: events %d to %d were removed from the end", last, cps[len(cps)-1].Size, last+1, cps[len(cps)-1].Size), nil
	}
	if req.ToSequence == 0 {
		var leaves uint64
		if err := v.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM tree WHERE level = 0`).Scan(&leaves); err != nil {
			return nil, fmt.Errorf("read the Merkle tree's size: %w", err)
		}
		if leaves > last {
			return v.fail(audit.ReasonTruncated, last+1, "the log ends at event %d, but its Merkle tree holds %d leaves: events %d to %d were removed from the end", last, leaves, last+1, leaves), nil
		}
	}
	if req.ToSequence == 0 && v.resp.HeadHash == "" {
		v.resp.HeadHash = prevHash
	}
	return nil, nil
}

// verifyBlock is how many sequence numbers a Verify reader reads at a
// time, and verifyReaders how many readers take turns.
const (
	verifyBlock   = 4096
	verifyReaders = 2
)

// scanned is a row read for Verify, with what its reader computed: whether
// its stored fields hash to its stored hash, its leaf hash, and the leaf
// the tree holds at its place (nil when none).
type scanned struct {
	e       audit.Event
	hashOK  bool
	leaf    []byte
	leafErr error
	stored  []byte
}

// verifyBlockResult is one block of rows, in sequence order, or why it
// could not be read.
type verifyBlockResult struct {
	rows []scanned
	err  error
}

// readBlocks reads the blocks [from, from+verifyBlock), then every
// verifyReaders-th block after it up to last, hashing each row, and sends
// one result per block (possibly empty) until they end, ctx ends or
// reading fails.
func (v *verifier) readBlocks(ctx context.Context, q *sql.Tx, from, last uint64, out chan<- verifyBlockResult) {
	send := func(r verifyBlockResult) bool {
		select {
		case out <- r:
			return r.err == nil
		case <-ctx.Done():
			return false
		}
	}
	for lo := from; lo <= last; lo += verifyReaders * verifyBlock {
		hi := min(lo+verifyBlock-1, last)
		rows, err := v.readBlock(ctx, q, lo, hi)
		if !send(verifyBlockResult{rows: rows, err: err}) {
			return
		}
	}
}

// readBlock reads the events with sequence lo..hi and their stored leaves
// (by a second ordered scan: a join looked a leaf up per row), and hashes
// them.
func (v *verifier) readBlock(ctx context.Context, q *sql.Tx, lo, hi uint64) ([]scanned, error) {
	leaves := make([][]byte, hi-lo+1)
	lrows, err := q.QueryContext(ctx, `SELECT idx, hash FROM tree WHERE level = 0 AND idx >= ? AND idx <= ? ORDER BY idx`, lo-1, hi-1)
	if err != nil {
		return nil, fmt.Errorf("read the Merkle tree: %w", err)
	}
	for lrows.Next() {
		var idx uint64
		var h []byte
		if err := lrows.Scan(&idx, &h); err != nil {
			lrows.Close()
			return nil, fmt.Errorf("read the Merkle tree: %w", err)
		}
		leaves[idx-(lo-1)] = h
	}
	if err := lrows.Err(); err != nil {
		lrows.Close()
		return nil, fmt.Errorf("read the Merkle tree: %w", err)
	}
	lrows.Close()
	rows, err := q.QueryContext(ctx, eventColumns+` FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read the events: %w", err)
	}
	defer rows.Close()
	out := make([]scanned, 0, hi-lo+1)
	var meta string
	for rows.Next() {
		out = append(out, scanned{})
		sc := &out[len(out)-1]
		if err := scanEventInto(rows, &sc.e, &meta); err != nil {
			return nil, err
		}
		decodeMetadata(&sc.e, meta)
		if s := sc.e.Sequence; s >= lo && s <= hi {
			sc.stored = leaves[s-lo]
		}
		sc.hashOK = audit.ChainHash(sc.e.PrevHash, sc.e) == sc.e.Hash
		sc.leaf, sc.leafErr = audit.LeafHash(&sc.e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the events: %w", err)
	}
	return out, nil
}

func short(h string) string {
	if h == "" {
		return `"" (none)`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
