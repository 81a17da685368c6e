package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"

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
	s    *store
	tx   *sql.Tx
	resp *audit.VerifyResponse
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
	// One read transaction: every check sees the same snapshot.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin a verification: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	v := &verifier{s: s, tx: tx, resp: &audit.VerifyResponse{OK: true}}
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
	q := eventColumns + `, t.hash FROM events LEFT JOIN tree t ON t.level = 0 AND t.idx = events.seq - 1 WHERE seq >= ?`
	args := []any{from}
	if req.ToSequence != 0 {
		q += ` AND seq <= ?`
		args = append(args, req.ToSequence)
	}
	// One goroutine reads the rows, this one checks them: reading and
	// hashing take about as long each.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []scanned, 4)
	var readErr error
	go func() {
		defer close(batches)
		readErr = v.readEvents(ctx, q+` ORDER BY seq`, args, batches)
	}()
	defer func() {
		cancel()
		for range batches { // let the reader finish before the tx ends
		}
	}()
	want := from
	for batch := range batches {
		for i := range batch {
			e, stored := &batch[i].e, batch[i].leaf
			decodeMetadata(e, batch[i].meta)
			switch {
			case e.Sequence != want:
				return v.fail(audit.ReasonChain, want, "event %d is missing (the next stored event is %d, %q): events were deleted", want, e.Sequence, e.ID), nil
			case e.PrevHash != prevHash:
				return v.fail(audit.ReasonChain, e.Sequence, "event %d (%q) does not link to the event before it: its previous hash is %s, the event before has %s", e.Sequence, e.ID, short(e.PrevHash), short(prevHash)), nil
			case audit.ChainHash(e.PrevHash, *e) != e.Hash:
				return v.fail(audit.ReasonChain, e.Sequence, "event %d (%q, %s by %s) was changed: its stored fields do not hash to its stored hash", e.Sequence, e.ID, e.Action, e.Actor), nil
			}
			leaf, err := audit.LeafHash(e)
			if err != nil {
				return v.fail(audit.ReasonChain, e.Sequence, "event %d (%q): %v", e.Sequence, e.ID, err), nil
			}
			if !bytes.Equal(leaf, stored) {
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
	if readErr != nil {
		return nil, readErr
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

// scanned is a row read for Verify: the event, its raw metadata and the
// leaf the tree holds for it.
type scanned struct {
	e    audit.Event
	meta string
	leaf []byte
}

// readEvents sends the rows of q in batches until they end, ctx ends or
// reading fails.
func (v *verifier) readEvents(ctx context.Context, q string, args []any, out chan<- []scanned) error {
	rows, err := v.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read the events: %w", err)
	}
	defer rows.Close()
	const size = 512
	batch := make([]scanned, 0, size)
	for rows.Next() {
		var sc scanned
		if sc.e, err = scanEventRaw(rows, &sc.meta, &sc.leaf); err != nil {
			return err
		}
		if batch = append(batch, sc); len(batch) == size {
			select {
			case out <- batch:
			case <-ctx.Done():
				return nil
			}
			batch = make([]scanned, 0, size)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the events: %w", err)
	}
	if len(batch) > 0 {
		select {
		case out <- batch:
		case <-ctx.Done():
		}
	}
	return nil
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
