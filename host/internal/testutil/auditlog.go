package testutil

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// AuditLog is an audit plugin for the host's tests: an in-memory log that
// keeps each event once (by ID) in a hash chain (audit.ChainHash) and
// answers Query as the contract says, with every filter, both orders and
// page tokens, at most MaxPageSize events a page. It records each Query it
// is asked, so a test can tell that the host asked it. Serve it with
// sdktest.Serve and hand its client to billing as Plugins.AuditSink:
//
//	log := &testutil.AuditLog{MaxPageSize: 3}
//	sink := sdktest.Serve(t, log).Audit()
//	svc := billing.New(db, nil, testutil.Plugins{AuditSink: sink}, billing.Config{}, nil)
//
// QueryErr, when set, fails every Query with it (a plugin in trouble);
// SetAppendErr fails Append until it is cleared (a plugin that cannot take
// events).
type AuditLog struct {
	sdk.Base
	// MaxPageSize caps a page (default 100), as a real sink caps it.
	MaxPageSize int
	// QueryErr fails every Query when set. Set it before serving.
	QueryErr error

	mu        sync.Mutex
	events    []audit.Event
	ids       map[string]bool
	queries   []audit.QueryRequest
	appendErr error
	appends   int
}

// SetAppendErr makes every Append fail with err from now on; nil lets
// Append work again.
func (l *AuditLog) SetAppendErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appendErr = err
}

// Appends is how many Append calls stored or skipped events (refused
// calls are not counted).
func (l *AuditLog) Appends() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appends
}

// Events returns a copy of the log, in sequence order.
func (l *AuditLog) Events() []audit.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.Event(nil), l.events...)
}

var _ audit.Sink = (*AuditLog)(nil)

// Describe answers "audit-test", version 1.0.0.
func (l *AuditLog) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "audit-test", Version: "1.0.0"}, nil
}

// Append chains each new event after the last; an ID seen before is a
// duplicate.
func (l *AuditLog) Append(_ context.Context, req *audit.AppendRequest) (*audit.AppendResponse, error) {
	for i := range req.Events {
		if err := req.Events[i].Validate(); err != nil {
			return nil, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.appendErr != nil {
		return nil, l.appendErr
	}
	l.appends++
	if l.ids == nil {
		l.ids = map[string]bool{}
	}
	resp := &audit.AppendResponse{}
	for _, e := range req.Events {
		if l.seen(e.ID) {
			resp.Duplicates++
			continue
		}
		e.Sequence = uint64(len(l.events) + 1)
		e.PrevHash = l.head()
		e.Hash = audit.ChainHash(e.PrevHash, e)
		l.events = append(l.events, e)
		l.ids[e.ID] = true
		resp.Appended++
	}
	resp.LastSequence, resp.HeadHash = uint64(len(l.events)), l.head()
	return resp, nil
}

func (l *AuditLog) seen(id string) bool { return l.ids[id] }

func (l *AuditLog) head() string {
	if len(l.events) == 0 {
		return ""
	}
	return l.events[len(l.events)-1].Hash
}

// Query pages through the events that match every filter, by sequence
// (newest first with Descending). A page token is the sequence number of
// the page's first event, so pages stay put while events are appended.
func (l *AuditLog) Query(_ context.Context, req *audit.QueryRequest) (*audit.QueryResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, *req)
	if l.QueryErr != nil {
		return nil, l.QueryErr
	}
	size := l.MaxPageSize
	if size <= 0 {
		size = 100
	}
	if req.PageSize > 0 && req.PageSize < size {
		size = req.PageSize
	}
	n := len(l.events)
	from := 0 // the index to start at, in the order asked
	if req.PageToken != "" {
		seq, err := strconv.Atoi(req.PageToken)
		if err != nil || seq < 1 || seq > n {
			return nil, fmt.Errorf("page token %q: %w", req.PageToken, audit.ErrInvalidPageToken)
		}
		from = seq - 1
		if req.Descending {
			from = n - seq
		}
	}
	at := func(i int) *audit.Event {
		if req.Descending {
			return &l.events[n-1-i]
		}
		return &l.events[i]
	}
	var out audit.QueryResponse
	for i := from; i < n; i++ {
		e := at(i)
		if !queryMatches(req, e) {
			continue
		}
		if len(out.Events) == size {
			out.NextPageToken = strconv.FormatUint(e.Sequence, 10)
			break
		}
		out.Events = append(out.Events, *e)
	}
	return &out, nil
}

func queryMatches(req *audit.QueryRequest, e *audit.Event) bool {
	return (req.Actor == "" || e.Actor == req.Actor) &&
		(req.Action == "" || e.Action == req.Action) &&
		(req.ResourceType == "" || e.ResourceType == req.ResourceType) &&
		(req.ResourceID == "" || e.ResourceID == req.ResourceID) &&
		(req.Outcome == "" || e.Outcome == req.Outcome) &&
		(req.Since.IsZero() || !e.Time.Before(req.Since)) &&
		(req.Until.IsZero() || e.Time.Before(req.Until))
}

// Verify checks the whole chain.
func (l *AuditLog) Verify(context.Context, *audit.VerifyRequest) (*audit.VerifyResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := ""
	for i, e := range l.events {
		if e.PrevHash != prev || audit.ChainHash(prev, e) != e.Hash {
			return &audit.VerifyResponse{Checked: uint64(i + 1), FirstBadSequence: e.Sequence, Message: "hash does not match", HeadHash: l.head()}, nil
		}
		prev = e.Hash
	}
	return &audit.VerifyResponse{OK: true, Checked: uint64(len(l.events)), HeadHash: l.head()}, nil
}

// Queries returns the queries the log was asked, in order.
func (l *AuditLog) Queries() []audit.QueryRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.QueryRequest(nil), l.queries...)
}

// Len is how many events the log holds.
func (l *AuditLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}
