package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// ProveInclusion returns the event, a checkpoint covering it and the audit
// path. An archived event is proved from its segment file (its events are
// gone from the live log, its leaves are not).
func (l *Log) ProveInclusion(ctx context.Context, req *audit.ProveInclusionRequest) (*audit.ProveInclusionResponse, error) {
	if req.EventID == "" {
		return nil, fmt.Errorf("%w: event_id is required: the id of the event to prove", sdk.ErrInvalidArgument)
	}
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	e, err := st.eventByID(ctx, req.EventID)
	if err != nil {
		return nil, err
	}
	var cp audit.Checkpoint
	if req.TreeSize == 0 {
		st.mu.Lock()
		cp = st.last
		st.mu.Unlock()
		if cp.Size < e.Sequence {
			if cp, err = st.checkpoint(ctx); err != nil {
				return nil, err
			}
		}
	} else {
		if cp, err = checkpointOfSize(ctx, st.db, req.TreeSize); err != nil {
			return nil, err
		}
		if cp.Size < e.Sequence {
			return nil, fmt.Errorf("%w: event %q has sequence %d, after the checkpoint of size %d; ask for a later checkpoint or 0 (the latest)", sdk.ErrInvalidArgument, e.ID, e.Sequence, cp.Size)
		}
	}
	p, err := st.inclusionProof(ctx, st.db, e.Sequence-1, cp.Size, nil)
	if err != nil {
		return nil, err
	}
	return &audit.ProveInclusionResponse{Event: e, LeafIndex: e.Sequence - 1, Checkpoint: cp, Proof: p}, nil
}

// eventByID finds an event in the live log or in its archive segment.
func (s *store) eventByID(ctx context.Context, id string) (audit.Event, error) {
	// Not yet indexed: in the tail, by sequence; else through event_ids.
	s.mu.Lock()
	seq, inTail := s.tail[id]
	s.mu.Unlock()
	var e audit.Event
	var err error
	if inTail {
		e, err = scanEvent(s.db.QueryRowContext(ctx, eventColumns+` FROM events WHERE seq = ? AND id = ?`, seq, id))
	} else {
		e, err = scanEvent(s.idx.QueryRowContext(ctx, eventColumns+` FROM main.event_ids x CROSS JOIN log.events events ON events.seq = x.seq WHERE x.id = ?`, id))
	}
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return e, err
	}
	var segment string
	err = s.db.QueryRowContext(ctx, `SELECT seq, segment FROM archived WHERE id = ?`, id).Scan(&seq, &segment)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("%w: no event %q in the audit log", audit.ErrUnknownEvent, id)
	}
	if err != nil {
		return e, err
	}
	seg, err := readSegment(s.segmentPath(segment))
	if err != nil {
		return e, fmt.Errorf("%w: event %q (sequence %d) is archived in segment %s, which cannot be read: %v", sdk.ErrFailedPrecondition, id, seq, segment, err)
	}
	for _, se := range seg.Events {
		if se.Sequence == seq && se.ID == id {
			return se, nil
		}
	}
	return e, fmt.Errorf("%w: event %q (sequence %d) should be in segment %s, but is not", sdk.ErrFailedPrecondition, id, seq, segment)
}

// inclusionProof builds the RFC 6962 audit path of leaf index at size from
// the stored nodes.
func (s *store) inclusionProof(ctx context.Context, q querier, index, size uint64, cache nodeCache) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return s.rehash(ctx, q, nodes, cache)
}

// consistencyProof builds the RFC 6962 consistency proof between two sizes.
func (s *store) consistencyProof(ctx context.Context, q querier, size1, size2 uint64, cache nodeCache) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return s.rehash(ctx, q, nodes, cache)
}

func (s *store) rehash(ctx context.Context, q querier, nodes proof.Nodes, cache nodeCache) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := s.node(ctx, q, id, cache)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}
