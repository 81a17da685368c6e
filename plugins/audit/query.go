package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk/audit"
)

// Page sizes of Query.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// maxPrefixActions is how many distinct actions an action prefix may match
// for Query to merge their pages (more: one range, which SQLite sorts).
const maxPrefixActions = 64

// actionsWithPrefix lists the distinct actions the indexed events hold
// that start with p, one index seek each (up to maxPrefixActions+1).
func (s *store) actionsWithPrefix(ctx context.Context, p string) ([]string, error) {
	var out []string
	cur, op := p, ">="
	for len(out) <= maxPrefixActions {
		var a sql.NullString
		if err := s.idx.QueryRowContext(ctx, `SELECT MIN(action) FROM by_action WHERE action `+op+` ? AND action < ?`, cur, p+"\U0010FFFF").Scan(&a); err != nil {
			return nil, fmt.Errorf("query the audit log's actions: %w", err)
		}
		if !a.Valid {
			break
		}
		out = append(out, a.String)
		cur, op = a.String, ">"
	}
	return out, nil
}

// resourceIDs lists the distinct resource ids of type typ the indexed
// events hold, one index seek each (up to maxPrefixActions+1).
func (s *store) resourceIDs(ctx context.Context, typ string) ([]string, error) {
	var out []string
	cur, op := "", ">="
	for len(out) <= maxPrefixActions {
		var id sql.NullString
		if err := s.idx.QueryRowContext(ctx, `SELECT MIN(resource_id) FROM by_resource WHERE resource_type = ? AND resource_id `+op+` ?`, typ, cur).Scan(&id); err != nil {
			return nil, fmt.Errorf("query the audit log's resources: %w", err)
		}
		if !id.Valid {
			break
		}
		out = append(out, id.String)
		cur, op = id.String, ">"
	}
	return out, nil
}

// actionPrefix reports whether an action filter is a prefix: one ending in
// "." or "*" matches the actions it starts ("plan." and "plan.*" both match
// "plan.created"), as the host's audit search reads it.
func actionPrefix(action string) (string, bool) {
	if strings.HasSuffix(action, "*") {
		return strings.TrimSuffix(action, "*"), true
	}
	if strings.HasSuffix(action, ".") {
		return action, true
	}
	return action, false
}

// page is a read of events matching filters in sequence order.
type page struct {
	filters *audit.QueryRequest // its filters only
	desc    bool
	// after, when set, bounds the sequences: above it (below it when desc).
	after    uint64
	hasAfter bool
	// through, when not 0, is the last sequence read.
	through uint64
	limit   int
}

// pageSQL is the SELECT of a page of events (eventColumns). The index
// tables hold the events up to indexed_through: the caller runs catchUp
// first. One index table drives the read (walked in (value, seq) order from
// the page's start, each entry joined to its event, the other filters
// checked on the event): the resource's, the actor's, the action's or the
// outcome's, in that order (from the usually most selective), else events
// itself. A resource type alone is read like an action prefix below, one
// range per resource id (up to 64; with more, events in order). An action prefix becomes one such read per action it matches
// (each a page of its (action, seq) range), merged by sequence: one range
// over the index would make SQLite sort every match, 250,000 of 1,000,000
// events for "plan." (0.6 to 0.8 s a page, where the merge takes about a
// millisecond). A time filter bounds the sequences by the time blocks it
// overlaps. hit false: nothing can match.
func (s *store) pageSQL(ctx context.Context, p page) (string, []any, bool, error) {
	req := p.filters
	var actions []string
	prefix, isPrefix := actionPrefix(req.Action)
	isPrefix = isPrefix && req.Action != ""
	if isPrefix {
		var err error
		if actions, err = s.actionsWithPrefix(ctx, prefix); err != nil {
			return "", nil, false, err
		}
		if len(actions) == 0 {
			return "", nil, false, nil
		}
		if len(actions) > maxPrefixActions {
			actions = nil // too many to merge: one range, sorted
		}
	}

	// Bounds on the sequence, "%[1]s" standing for the driving column.
	var seqConds []string
	var seqArgs []any
	if p.hasAfter {
		if p.desc {
			seqConds = append(seqConds, "%[1]s < ?")
		} else {
			seqConds = append(seqConds, "%[1]s > ?")
		}
		seqArgs = append(seqArgs, p.after)
	}
	if p.through > 0 {
		seqConds = append(seqConds, "%[1]s <= ?")
		seqArgs = append(seqArgs, p.through)
	}
	if !req.Since.IsZero() || !req.Until.IsZero() {
		since, until := int64(math.MinInt64), int64(math.MaxInt64)
		if !req.Since.IsZero() {
			since = req.Since.UnixNano()
		}
		if !req.Until.IsZero() {
			until = req.Until.UnixNano()
		}
		var lo, hi sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT MIN(block), MAX(block) FROM time_blocks WHERE max_ns >= ? AND min_ns < ?`, since, until).Scan(&lo, &hi); err != nil {
			return "", nil, false, fmt.Errorf("query the audit log's times: %w", err)
		}
		if !lo.Valid {
			return "", nil, false, nil
		}
		seqConds = append(seqConds, "%[1]s BETWEEN ? AND ?")
		seqArgs = append(seqArgs, lo.Int64*timeBlock+1, (hi.Int64+1)*timeBlock)
	}

	// The filters, checked on the event's own columns.
	var evConds []string
	var evArgs []any
	add := func(cond string, a ...any) { evConds = append(evConds, cond); evArgs = append(evArgs, a...) }
	if req.Actor != "" {
		add("events.actor = ?", req.Actor)
	}
	switch {
	case isPrefix && actions == nil:
		// A range; "\U0010FFFF" sorts after every character SQLite
		// compares in text order.
		add("events.action >= ? AND events.action < ?", prefix, prefix+"\U0010FFFF")
	case req.Action != "" && !isPrefix:
		add("events.action = ?", req.Action)
	}
	if req.ResourceType != "" {
		add("events.resource_type = ?", req.ResourceType)
	}
	if req.ResourceID != "" {
		add("events.resource_id = ?", req.ResourceID)
	}
	if req.Outcome != "" {
		add("events.outcome = ?", string(req.Outcome))
	}
	if !req.Since.IsZero() {
		add("events.time_ns >= ?", req.Since.UnixNano())
	}
	if !req.Until.IsZero() {
		add("events.time_ns < ?", req.Until.UnixNano())
	}

	order := " ASC"
	if p.desc {
		order = " DESC"
	}
	var mergeArgs []any
	// read is the SELECT of cols driven by table x (none: events) with
	// the condition drive on it.
	read := func(cols, table, drive string, driveArgs []any) (string, []any) {
		col, from := "events.seq", "events"
		var where []string
		var args []any
		if table != "" {
			col, from = "x.seq", table+" x CROSS JOIN events ON events.seq = x.seq"
			where, args = append(where, drive), append(args, driveArgs...)
		}
		for _, c := range seqConds {
			where = append(where, fmt.Sprintf(c, col))
		}
		where, args = append(where, evConds...), append(append(args, seqArgs...), evArgs...)
		q := "SELECT " + cols + " FROM " + from
		if len(where) > 0 {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		return q + " ORDER BY " + col + order + " LIMIT ?", append(args, p.limit)
	}
	// merge is the SELECT of the pages of several reads merged by sequence.
	merge := func(table, drive string, driveArgs [][]any) string {
		subs := make([]string, len(driveArgs))
		var args []any
		for i, da := range driveArgs {
			q, qa := read("events.seq", table, drive, da)
			subs[i] = "SELECT seq FROM (" + q + ")"
			args = append(args, qa...)
		}
		mergeArgs = append(args, p.limit)
		return eventColumns + " FROM events WHERE seq IN (" + strings.Join(subs, " UNION ALL ") + ") ORDER BY seq" + order + " LIMIT ?"
	}
	if len(actions) > 0 {
		da := make([][]any, len(actions))
		for i, a := range actions {
			da[i] = []any{a}
		}
		return merge("by_action", "x.action = ?", da), mergeArgs, true, nil
	}
	var table, drive string
	var driveArgs []any
	switch {
	case req.ResourceType != "" && req.ResourceID != "":
		table, drive, driveArgs = "by_resource", "x.resource_type = ? AND x.resource_id = ?", []any{req.ResourceType, req.ResourceID}
	case req.Actor != "":
		table, drive, driveArgs = "by_actor", "x.actor = ?", []any{req.Actor}
	case req.Action != "" && !isPrefix:
		table, drive, driveArgs = "by_action", "x.action = ?", []any{req.Action}
	case isPrefix:
		table, drive, driveArgs = "by_action", "x.action >= ? AND x.action < ?", []any{prefix, prefix + "\U0010FFFF"}
	case req.ResourceType != "" && req.Outcome == "":
		// A type alone: its (type, id, seq) ranges merged, one per id, as
		// for an action prefix; a type with more ids is common enough to
		// read events in order.
		ids, err := s.resourceIDs(ctx, req.ResourceType)
		if err != nil {
			return "", nil, false, err
		}
		if len(ids) == 0 {
			return "", nil, false, nil
		}
		if len(ids) <= maxPrefixActions {
			da := make([][]any, len(ids))
			for i, id := range ids {
				da[i] = []any{req.ResourceType, id}
			}
			return merge("by_resource", "x.resource_type = ? AND x.resource_id = ?", da), mergeArgs, true, nil
		}
	case req.Outcome != "":
		table, drive, driveArgs = "by_outcome", "x.outcome = ?", []any{string(req.Outcome)}
	}
	q, args := read(eventFields, table, drive, driveArgs)
	return q, args, true, nil
}

// filterTag binds a page token to the filters it was made for, so a token
// used with other filters is refused instead of skipping events.
func filterTag(req *audit.QueryRequest) string {
	h := sha256.New()
	for _, f := range []string{req.Actor, req.Action, req.ResourceType, req.ResourceID, string(req.Outcome),
		timeKey(req.Since), timeKey(req.Until), strconv.FormatBool(req.Descending)} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// Page tokens are "q1.<sequence>.<filter tag>" in unpadded URL base64: the
// sequence of the last event returned; the next page starts after it.
func encodeToken(seq uint64, req *audit.QueryRequest) string {
	return base64.RawURLEncoding.EncodeToString([]byte("q1." + strconv.FormatUint(seq, 10) + "." + filterTag(req)))
}

func decodeToken(tok string, req *audit.QueryRequest) (uint64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, fmt.Errorf("%w: page token %q is not one this audit log made; query again from the first page", audit.ErrInvalidPageToken, tok)
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != "q1" {
		return 0, fmt.Errorf("%w: page token %q is not one this audit log made; query again from the first page", audit.ErrInvalidPageToken, tok)
	}
	seq, err := strconv.ParseUint(parts[1], 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%w: page token %q is damaged; query again from the first page", audit.ErrInvalidPageToken, tok)
	}
	if parts[2] != filterTag(req) {
		return 0, fmt.Errorf("%w: page token %q was made for other filters; keep the filters the same from page to page, or start again from the first page", audit.ErrInvalidPageToken, tok)
	}
	return seq, nil
}

// Query reads a page of events, keyset-paged on the sequence number.
func (l *Log) Query(ctx context.Context, req *audit.QueryRequest) (*audit.QueryResponse, error) {
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	return st.query(ctx, req)
}

func (s *store) query(ctx context.Context, req *audit.QueryRequest) (*audit.QueryResponse, error) {
	size := req.PageSize
	if size <= 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	p := page{filters: req, desc: req.Descending, limit: size + 1}
	if req.PageToken != "" {
		after, err := decodeToken(req.PageToken, req)
		if err != nil {
			return nil, err
		}
		p.after, p.hasAfter = after, true
	}
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	q, args, hit, err := s.pageSQL(ctx, p)
	if err != nil || !hit {
		return &audit.QueryResponse{}, err
	}
	rows, err := s.idx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query the audit log: %w", err)
	}
	defer rows.Close()
	resp := &audit.QueryResponse{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		if len(resp.Events) == size {
			last := resp.Events[size-1].Sequence
			resp.NextPageToken = encodeToken(last, req)
			break
		}
		resp.Events = append(resp.Events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query the audit log: %w", err)
	}
	return resp, nil
}
