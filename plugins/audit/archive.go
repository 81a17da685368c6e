package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk/audit"
)

// Archive segments.
const (
	segmentDir    = "segments"
	segmentFormat = "mikrobill-audit-segment/1"
	// segmentMax is the most events one segment file holds.
	segmentMax = 100_000
)

// segmentHeader is a segment file's first line.
type segmentHeader struct {
	Format        string `json:"format"`
	FirstSequence uint64 `json:"first_sequence"`
	LastSequence  uint64 `json:"last_sequence"`
	// PrevHash is the hash of the event before the first ("" for event 1).
	PrevHash string `json:"prev_hash"`
	// Left is the compact range of the tree's leaves [0, first-1): the
	// roots of its perfect subtrees, left to right. Right is the compact
	// range [last, checkpoint size). With the segment's leaves between
	// them they give the checkpoint's root.
	Left       [][]byte       `json:"left"`
	Right      [][]byte       `json:"right"`
	Checkpoint jsonCheckpoint `json:"checkpoint"`
}

// segmentSeal is a segment file's last line: the SHA-256 of every byte
// before it, signed with the log's key.
type segmentSeal struct {
	SHA256    string `json:"sha256"`
	PublicKey []byte `json:"public_key"`
	Signature []byte `json:"signature"`
}

func sealText(sum string) []byte { return []byte(segmentFormat + "\n" + sum + "\n") }

// jsonCheckpoint is a checkpoint in JSON (segments, routes).
type jsonCheckpoint struct {
	Origin    string    `json:"origin"`
	Size      uint64    `json:"size"`
	RootHash  []byte    `json:"root_hash"`
	Time      time.Time `json:"time"`
	PublicKey []byte    `json:"public_key"`
	Signature []byte    `json:"signature"`
}

func toJSONCheckpoint(c audit.Checkpoint) jsonCheckpoint {
	return jsonCheckpoint{Origin: c.Origin, Size: c.Size, RootHash: c.RootHash, Time: c.Time, PublicKey: c.PublicKey, Signature: c.Signature}
}

func (c jsonCheckpoint) checkpoint() audit.Checkpoint {
	return audit.Checkpoint{Origin: c.Origin, Size: c.Size, RootHash: c.RootHash, Time: c.Time, PublicKey: c.PublicKey, Signature: c.Signature}
}

// jsonEvent is an event in JSON (segments and the JSON Lines export).
type jsonEvent struct {
	Sequence     uint64            `json:"sequence"`
	ID           string            `json:"id"`
	Time         *time.Time        `json:"time,omitempty"`
	Actor        string            `json:"actor"`
	Action       string            `json:"action"`
	ResourceType string            `json:"resource_type,omitempty"`
	ResourceID   string            `json:"resource_id,omitempty"`
	Outcome      string            `json:"outcome,omitempty"`
	RemoteAddr   string            `json:"remote_addr,omitempty"`
	RequestID    string            `json:"request_id,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	PrevHash     string            `json:"prev_hash"`
	Hash         string            `json:"hash"`
	LeafHash     []byte            `json:"leaf_hash,omitempty"`
	// Proof is the event's inclusion proof under the export's checkpoint.
	Proof [][]byte `json:"proof,omitempty"`
}

func toJSONEvent(e audit.Event) jsonEvent {
	j := jsonEvent{Sequence: e.Sequence, ID: e.ID, Actor: e.Actor, Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID,
		Outcome: string(e.Outcome), RemoteAddr: e.RemoteAddr, RequestID: e.RequestID, Metadata: e.Metadata, PrevHash: e.PrevHash, Hash: e.Hash}
	if !e.Time.IsZero() {
		t := e.Time.UTC()
		j.Time = &t
	}
	return j
}

func (j jsonEvent) event() audit.Event {
	e := audit.Event{Sequence: j.Sequence, ID: j.ID, Actor: j.Actor, Action: j.Action, ResourceType: j.ResourceType, ResourceID: j.ResourceID,
		Outcome: audit.Outcome(j.Outcome), RemoteAddr: j.RemoteAddr, RequestID: j.RequestID, Metadata: j.Metadata, PrevHash: j.PrevHash, Hash: j.Hash}
	if j.Time != nil {
		e.Time = j.Time.UTC()
	}
	return e
}

// segment is a parsed segment file.
type segment struct {
	Name   string
	Header segmentHeader
	Events []audit.Event
	Leaves [][]byte
	Seal   segmentSeal
	digest string
}

func (s *store) segmentPath(name string) string { return filepath.Join(s.dir, segmentDir, name) }

func segmentName(first, last uint64) string {
	return fmt.Sprintf("segment-%012d-%012d.jsonl", first, last)
}

// ArchiveResult says what an archive run did.
type ArchiveResult struct {
	Events   uint64   `json:"events"`
	Segments []string `json:"segments"`
	// Segment is the last segment written, for logs.
	Segment string `json:"-"`
	// Through is the last archived sequence number.
	Through uint64 `json:"archived_through"`
	Cutoff  string `json:"cutoff"`
}

// archive moves the events older than cutoff (a prefix of the log: up to
// the first event at or after cutoff) into sealed segment files and removes
// them from the live log. Their leaves stay in the tree, so what remains
// still verifies against every checkpoint.
func (s *store) archive(ctx context.Context, cutoff time.Time) (*ArchiveResult, error) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	res := &ArchiveResult{Cutoff: cutoff.UTC().Format(time.RFC3339), Through: s.archivedThrough}
	if s.broken != "" {
		return nil, fmt.Errorf("%w: %s; nothing is archived from a broken log", audit.ErrChainBroken, s.broken)
	}
	var firstKept sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(seq) FROM events WHERE time_ns IS NULL OR time_ns >= ?`, cutoff.UnixNano()).Scan(&firstKept); err != nil {
		return nil, fmt.Errorf("find the events to archive: %w", err)
	}
	upto := s.tree.End()
	if firstKept.Valid {
		upto = uint64(firstKept.Int64) - 1
	}
	if upto <= s.archivedThrough {
		return res, nil
	}
	// Every archived event is under a signed checkpoint.
	if s.last.Size < upto {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		cp, err := s.insertCheckpoint(ctx, tx, s.tree)
		if err != nil {
			_ = tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		s.last = cp
	}
	// The archived events leave the index tables with them: index the
	// tail first, so none of them is in it.
	if err := s.catchUpLocked(ctx); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(s.dir, segmentDir), 0o700); err != nil {
		return nil, fmt.Errorf("make the archive folder: %w", err)
	}
	for s.archivedThrough < upto {
		first := s.archivedThrough + 1
		last := min(upto, first+segmentMax-1)
		name, head, err := s.writeSegment(ctx, first, last)
		if err != nil {
			return nil, err
		}
		if err := s.dropArchived(ctx, name, first, last, head); err != nil {
			return nil, err
		}
		s.archivedThrough = last
		res.Events += last - first + 1
		res.Segments = append(res.Segments, name)
		res.Segment = name
		res.Through = last
	}
	return res, nil
}

// writeSegment writes events first..last into a sealed segment file
// (written whole to a temporary name, synced, then renamed).
func (s *store) writeSegment(ctx context.Context, first, last uint64) (string, string, error) {
	cp := s.last
	left, err := s.rangeAt(ctx, s.db, first-1, nil)
	if err != nil {
		return "", "", err
	}
	var right [][]byte
	for _, id := range rangeNodes(last, cp.Size) {
		h, err := s.node(ctx, s.db, id, nil)
		if err != nil {
			return "", "", err
		}
		right = append(right, h)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	hdr := segmentHeader{Format: segmentFormat, FirstSequence: first, LastSequence: last, Left: left.Hashes(), Right: right, Checkpoint: toJSONCheckpoint(cp)}
	rows, err := s.db.QueryContext(ctx, eventColumns+`, t.hash FROM events LEFT JOIN tree t ON t.level = 0 AND t.idx = events.seq - 1 WHERE seq >= ? AND seq <= ? ORDER BY seq`, first, last)
	if err != nil {
		return "", "", err
	}
	defer rows.Close()
	var lines []jsonEvent
	for rows.Next() {
		var leaf []byte
		e, err := scanEvent(rows, &leaf)
		if err != nil {
			return "", "", err
		}
		if len(lines) == 0 {
			hdr.PrevHash = e.PrevHash
		}
		j := toJSONEvent(e)
		j.LeafHash = leaf
		lines = append(lines, j)
	}
	if err := rows.Err(); err != nil {
		return "", "", err
	}
	if uint64(len(lines)) != last-first+1 {
		return "", "", fmt.Errorf("%w: events %d to %d should all be in the live log, found %d", audit.ErrChainBroken, first, last, len(lines))
	}
	if err := enc.Encode(hdr); err != nil {
		return "", "", err
	}
	for _, j := range lines {
		if err := enc.Encode(j); err != nil {
			return "", "", err
		}
	}
	sum := sha256.Sum256(buf.Bytes())
	digest := hex.EncodeToString(sum[:])
	if err := enc.Encode(segmentSeal{SHA256: digest, PublicKey: s.publicKey(), Signature: ed25519.Sign(s.key, sealText(digest))}); err != nil {
		return "", "", err
	}
	name := segmentName(first, last)
	path := s.segmentPath(name)
	if err := writeFileSync(path, buf.Bytes()); err != nil {
		return "", "", fmt.Errorf("write the archive segment %s: %w", path, err)
	}
	return name, lines[len(lines)-1].Hash, nil
}

// dropArchived removes archived events from the index (the caller indexed
// them first) and then from the live log, keeping their ids (so a retried
// event is still a duplicate) and the segment's name. The two files commit
// one after the other: an index whose archive mark is not the log's is
// rebuilt when the log opens (checkIndex).
func (s *store) dropArchived(ctx context.Context, name string, first, last uint64, head string) error {
	itx, err := s.idxWriter.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = itx.Rollback() }()
	for _, q := range indexDrop {
		if _, err := itx.ExecContext(ctx, q, first, last); err != nil {
			return fmt.Errorf("remove the archived events from the indexes: %w", err)
		}
	}
	if err := setMetaIn(ctx, itx, "main.index_meta", "archived_through", fmt.Sprint(last)); err != nil {
		return err
	}
	if err := itx.Commit(); err != nil {
		return fmt.Errorf("remove the archived events from the indexes: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `INSERT INTO archived (id, seq, segment) SELECT id, seq, ? FROM events WHERE seq >= ? AND seq <= ?`, name, first, last); err != nil {
		return fmt.Errorf("record the archived events: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE seq >= ? AND seq <= ?`, first, last); err != nil {
		return fmt.Errorf("remove the archived events from the live log: %w", err)
	}
	if err := setMeta(ctx, tx, "archived_through", fmt.Sprint(last)); err != nil {
		return err
	}
	if err := setMeta(ctx, tx, "archived_head", head); err != nil {
		return err
	}
	return tx.Commit()
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// readSegment parses a segment file (without checking it: verifySegment).
func readSegment(path string) (*segment, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seg := &segment{Name: filepath.Base(path)}
	body := bytes.TrimSuffix(b, []byte("\n"))
	cut := bytes.LastIndexByte(body, '\n')
	if cut < 0 {
		return nil, fmt.Errorf("%s is not a segment file (no seal line)", path)
	}
	sum := sha256.Sum256(b[:cut+1])
	seg.digest = hex.EncodeToString(sum[:])
	if err := json.Unmarshal(body[cut+1:], &seg.Seal); err != nil {
		return nil, fmt.Errorf("%s: the seal line: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b[:cut+1]))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for i := 0; sc.Scan(); i++ {
		if i == 0 {
			if err := json.Unmarshal(sc.Bytes(), &seg.Header); err != nil {
				return nil, fmt.Errorf("%s: the header line: %w", path, err)
			}
			continue
		}
		var j jsonEvent
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		seg.Events = append(seg.Events, j.event())
		seg.Leaves = append(seg.Leaves, j.LeafHash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if seg.Header.Format != segmentFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, seg.Header.Format, segmentFormat)
	}
	return seg, nil
}

// segmentProblem is what is wrong with a segment file.
type segmentProblem struct {
	reason audit.VerifyReason
	seq    uint64
	msg    string
}

// verifySegment checks a segment on its own, with the public key alone:
// the seal, the checkpoint's signature, the chain inside, and that its
// leaves with the stored left and right ranges give the checkpoint's root.
func verifySegment(seg *segment, pub ed25519.PublicKey) *segmentProblem {
	h := seg.Header
	if !ed25519.Verify(pub, sealText(seg.digest), seg.Seal.Signature) || seg.Seal.SHA256 != seg.digest {
		return &segmentProblem{audit.ReasonSignature, h.FirstSequence, fmt.Sprintf("archive segment %s is not sealed by key %s: the file was changed after it was written", seg.Name, audit.KeyFingerprint(pub))}
	}
	cp := h.Checkpoint.checkpoint()
	if err := cp.Verify(pub); err != nil {
		return &segmentProblem{audit.ReasonSignature, h.FirstSequence, fmt.Sprintf("archive segment %s: its checkpoint: %v", seg.Name, err)}
	}
	if uint64(len(seg.Events)) != h.LastSequence-h.FirstSequence+1 || h.LastSequence > cp.Size {
		return &segmentProblem{audit.ReasonTruncated, h.FirstSequence, fmt.Sprintf("archive segment %s holds %d events, its header says %d to %d", seg.Name, len(seg.Events), h.FirstSequence, h.LastSequence)}
	}
	rng, err := rangeFactory.NewRange(0, h.FirstSequence-1, h.Left)
	if err != nil {
		return &segmentProblem{audit.ReasonTree, h.FirstSequence, fmt.Sprintf("archive segment %s: its left tree range: %v", seg.Name, err)}
	}
	prev := h.PrevHash
	for i, e := range seg.Events {
		want := h.FirstSequence + uint64(i)
		if e.Sequence != want || e.PrevHash != prev || audit.ChainHash(e.PrevHash, e) != e.Hash {
			return &segmentProblem{audit.ReasonChain, want, fmt.Sprintf("archive segment %s: event %d (%q) does not match its hash or the event before it", seg.Name, want, e.ID)}
		}
		leaf, err := audit.LeafHash(&e)
		if err != nil || !bytes.Equal(leaf, seg.Leaves[i]) {
			return &segmentProblem{audit.ReasonTree, want, fmt.Sprintf("archive segment %s: event %d's leaf hash does not match the event", seg.Name, want)}
		}
		if err := rng.Append(leaf, nil); err != nil {
			return &segmentProblem{audit.ReasonTree, want, err.Error()}
		}
		prev = e.Hash
	}
	right, err := rangeFactory.NewRange(h.LastSequence, cp.Size, h.Right)
	if err == nil {
		err = rng.AppendRange(right, nil)
	}
	var root []byte
	if err == nil {
		root, err = rootOf(rng)
	}
	if err != nil || !bytes.Equal(root, cp.RootHash) {
		return &segmentProblem{audit.ReasonTree, h.FirstSequence, fmt.Sprintf("archive segment %s: its events do not hash to the root of its checkpoint (size %d)", seg.Name, cp.Size)}
	}
	return nil
}

// segmentFiles lists the segment files in dir, in sequence order.
func segmentFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, segmentDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "segment-") && strings.HasSuffix(e.Name(), ".jsonl") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // zero-padded sequence numbers sort in order
	return names, nil
}

// checkSegments verifies the segment files present: each on its own, and
// that they chain to each other and to the live log.
func (v *verifier) checkSegments(ctx context.Context, pub ed25519.PublicKey, archivedThrough uint64) (*audit.VerifyResponse, error) {
	names, err := segmentFiles(v.s.dir)
	if err != nil {
		return nil, fmt.Errorf("list the archive segments: %w", err)
	}
	var prevLast uint64
	var prevHash string
	for _, name := range names {
		seg, err := readSegment(v.s.segmentPath(name))
		if err != nil {
			return v.fail(audit.ReasonChain, 0, "archive segment %s cannot be read: %v", name, err), nil
		}
		if p := verifySegment(seg, pub); p != nil {
			return v.fail(p.reason, p.seq, "%s", p.msg), nil
		}
		h := seg.Header
		if h.LastSequence > archivedThrough {
			continue // written by an archive run that did not finish; its events are still live
		}
		if prevLast != 0 && (h.FirstSequence != prevLast+1 || h.PrevHash != prevHash) {
			return v.fail(audit.ReasonChain, h.FirstSequence, "archive segment %s does not continue segment ending at %d: a segment is missing or was replaced", name, prevLast), nil
		}
		prevLast, prevHash = h.LastSequence, seg.Events[len(seg.Events)-1].Hash
		// Its leaves are the tree's: compare the last one.
		stored, err := v.s.node(ctx, v.tx, nodeID(0, h.LastSequence-1), nil)
		if err != nil || !bytes.Equal(stored, seg.Leaves[len(seg.Leaves)-1]) {
			return v.fail(audit.ReasonTree, h.LastSequence, "archive segment %s does not end with the leaf the tree holds for event %d", name, h.LastSequence), nil
		}
		v.resp.Checked += h.LastSequence - h.FirstSequence + 1
	}
	if prevLast == archivedThrough && prevLast > 0 {
		head, err := metaString(ctx, v.tx, "archived_head")
		if err != nil {
			return nil, err
		}
		if head != prevHash {
			return v.fail(audit.ReasonChain, archivedThrough, "the last archive segment does not end with the event the live log continues from"), nil
		}
	}
	return nil, nil
}
