package billing

// Searching the audit log, for GET /api/v1/audit, its export and the admin
// UI's audit page alike. The audit job (jobs.go) keeps every event in the
// host's audit_log and hands it to the audit plugin when one runs; a
// search asks the plugin when one runs (audit.Query, with the plugin's
// page tokens) and the host's log otherwise, and says which answered.
//
// Pages are keyset pages, newest first, reached through opaque cursors:
// on the host's log a cursor is an event's place (its time, then its id),
// so a page deep in the log costs what the first does; on the plugin's it
// is the plugin's page token, with the tokens of the pages before it so
// that "newer" can go back (the contract's tokens only go forward).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// Where an audit search was answered from (AuditPage.Source).
const (
	// AuditFromHost: the host's own audit log (the audit_log table).
	AuditFromHost = "host"
	// AuditFromPlugin: the audit plugin, through its Query.
	AuditFromPlugin = "plugin"
)

// Audit search limits.
const (
	// AuditDefaultLimit is a page's size unless the query says.
	AuditDefaultLimit = 50
	// auditExportBatch is how many events an export reads at a time.
	auditExportBatch = store.MaxLimit
	// auditMaxCalls bounds the plugin calls one page makes when the host
	// filters what the plugin returns (an action prefix, which the
	// contract's Query cannot ask for): a rare action in a long log gives
	// a short page with a link to the next, not a request without end.
	auditMaxCalls = 20
	// auditMaxTrail bounds the plugin page tokens a cursor carries for
	// going back ("newer"); beyond it, going back skips to the first page.
	auditMaxTrail = 50
	// AuditMaxText is the longest text filter, in characters.
	AuditMaxText = 200
)

// AuditQuery is a search of the audit log. Empty fields match every event.
// ParseAuditQuery reads one from a URL's query.
type AuditQuery struct {
	Actor string
	// Action is matched whole; one ending in "." or "*" matches the
	// actions it starts ("plan." and "plan.*" both match "plan.created").
	Action       string
	ResourceType string
	ResourceID   string
	// Outcome is "success", "failure" or empty.
	Outcome string
	// From and To bound the event's time: at or after From, before To.
	// The zero time leaves that side open.
	From, To time.Time
	// Limit is the most events on a page (1 to store.MaxLimit; 0:
	// AuditDefaultLimit).
	Limit int
	// Cursor is a previous page's Older or Newer; empty for the newest
	// page. Keep the filters the same from page to page.
	Cursor string
}

// AuditRecord is one event as a search shows it: the host's record of
// it, with the plugin's place in its hash chain when the plugin answered.
type AuditRecord struct {
	store.AuditEntry
	// Sequence and Hash are the event's place in the audit plugin's
	// chain (zero and empty when the host's log answered). The host's
	// own ID is zero when the plugin answered.
	Sequence uint64 `json:"sequence,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// AuditPage is one page of a search, newest first.
type AuditPage struct {
	Records []AuditRecord
	// Source is AuditFromHost or AuditFromPlugin.
	Source string
	// PluginError is set when an audit plugin runs but its Query failed;
	// the host's log answered instead. It says what failed.
	PluginError string
	// Older and Newer are the cursors of the pages after and before this
	// one; empty when there is none.
	Older, Newer string
}

// AuditProblem is what is wrong with one field of an audit search.
type AuditProblem struct {
	// Code is stable, for pages to word in their language: "text",
	// "outcome", "time", "range", "limit" or "cursor".
	Code string
	// Message says what is wrong and what to do, in English.
	Message string
}

// AuditQueryError refuses an audit search: each field, named as the
// query parameter, with its problem.
type AuditQueryError struct {
	Fields map[string]AuditProblem
}

func (e *AuditQueryError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, f := range names {
		parts = append(parts, f+": "+e.Fields[f].Message)
	}
	return "audit search refused: " + strings.Join(parts, "; ")
}

func (e *AuditQueryError) add(field, code, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]AuditProblem{}
	}
	if _, seen := e.Fields[field]; !seen {
		e.Fields[field] = AuditProblem{Code: code, Message: msg}
	}
}

func (e *AuditQueryError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// AuditTimeFormats are the forms ParseAuditTime reads, for messages.
const AuditTimeFormats = `"2026-01-31", "2026-01-31 14:30", "2026-01-31T14:30:00" or, with its zone, "2026-01-31T14:30:00+07:00"`

// ParseAuditTime reads a time of an audit search: RFC 3339 with its zone,
// or a date or a date and time without one, read in loc. A date alone is
// the start of that day, or, when end is set (the search's "to", which is
// not included), the start of the next, so that "to" a date includes it.
func ParseAuditTime(s string, loc *time.Location, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: write %s", s, AuditTimeFormats)
}

// ParseAuditQuery reads a search from URL query parameters: actor, action,
// resource_type, resource_id, outcome, from, to, limit and cursor. Times
// without a zone are read in loc. Every problem is reported at once, in an
// *AuditQueryError.
func ParseAuditQuery(v url.Values, loc *time.Location) (AuditQuery, error) {
	var bad AuditQueryError
	q := AuditQuery{Actor: v.Get("actor"), Action: v.Get("action"), ResourceType: v.Get("resource_type"), ResourceID: v.Get("resource_id"),
		Outcome: v.Get("outcome"), Cursor: v.Get("cursor")}
	for _, f := range []struct {
		name string
		to   *time.Time
		end  bool
	}{{"from", &q.From, false}, {"to", &q.To, true}} {
		if s := v.Get(f.name); strings.TrimSpace(s) != "" {
			t, err := ParseAuditTime(s, loc, f.end)
			if err != nil {
				bad.add(f.name, "time", err.Error())
			}
			*f.to = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			n = -1 // refused by check; 0 is the default only when left out
		}
		q.Limit = n
	}
	q.check(&bad)
	return q, bad.orNil()
}

// check adds q's problems to bad (ParseAuditQuery's for times it could
// not read stand).
func (q *AuditQuery) check(bad *AuditQueryError) {
	for _, f := range []struct {
		name string
		v    *string
	}{{"actor", &q.Actor}, {"action", &q.Action}, {"resource_type", &q.ResourceType}, {"resource_id", &q.ResourceID}} {
		*f.v = strings.TrimSpace(*f.v)
		if !plainText(*f.v, AuditMaxText) {
			bad.add(f.name, "text", fmt.Sprintf("at most %d characters, without control characters", AuditMaxText))
		}
	}
	switch q.Outcome {
	case "", string(audit.OutcomeSuccess), string(audit.OutcomeFailure):
	default:
		bad.add("outcome", "outcome", fmt.Sprintf(`"success", "failure" or empty for both, not %q`, q.Outcome))
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		bad.add("to", "range", `the end of the search is not after its start: make "to" later than "from"`)
	}
	if q.Limit < 0 || q.Limit > store.MaxLimit {
		bad.add("limit", "limit", fmt.Sprintf("a whole number from 1 to %d", store.MaxLimit))
	}
	if q.Cursor != "" {
		if _, err := decodeAuditCursor(q.Cursor); err != nil {
			bad.add("cursor", "cursor", err.Error())
		}
	}
}

// plainText reports whether s is at most max characters without control
// characters.
func plainText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// filter is q's filter for the host's log.
func (q AuditQuery) filter() store.AuditFilter {
	f := store.AuditFilter{Actor: q.Actor, Action: q.Action, ResourceType: q.ResourceType, ResourceID: q.ResourceID,
		Outcome: q.Outcome, From: q.From, To: q.To}
	if strings.HasSuffix(f.Action, "*") || strings.HasSuffix(f.Action, ".") {
		f.Action, f.ActionPrefix = strings.TrimSuffix(f.Action, "*"), true
	}
	return f
}

// auditCursor is what a cursor holds: a place in the host's log, or the
// plugin's page token with the tokens of the pages before it (Back, the
// first page's "" first).
type auditCursor struct {
	Plugin bool     `json:"p,omitempty"`
	Newer  bool     `json:"n,omitempty"`
	At     int64    `json:"t,omitempty"` // milliseconds since the epoch
	ID     int64    `json:"i,omitempty"`
	Token  string   `json:"k,omitempty"`
	Back   []string `json:"b,omitempty"`
}

func (c auditCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeAuditCursor(s string) (auditCursor, error) {
	var c auditCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || (!c.Plugin && c.ID <= 0) {
		return auditCursor{}, errors.New("not a cursor of this host's audit search; search again from the first page")
	}
	return c, nil
}

// auditSink is the running audit plugin, if any.
func (s *Service) auditSink() (audit.Sink, bool) {
	if s.plugins == nil {
		return nil, false
	}
	return s.plugins.Audit()
}

// SearchAudit answers one page of a search: from the audit plugin when one
// runs (the host's log when its Query fails, with PluginError saying so),
// else from the host's log. A cursor keeps to the source that gave it.
// A refused query is an *AuditQueryError.
func (s *Service) SearchAudit(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	var bad AuditQueryError
	if q.check(&bad); len(bad.Fields) > 0 {
		return nil, &bad
	}
	limit := q.Limit
	if limit == 0 {
		limit = AuditDefaultLimit
	}
	var cur auditCursor
	if q.Cursor != "" {
		cur, _ = decodeAuditCursor(q.Cursor) // checked
	}
	sink, running := s.auditSink()
	switch {
	case cur.Plugin && !running:
		return nil, &AuditQueryError{Fields: map[string]AuditProblem{"cursor": {"cursor",
			"this cursor pages the audit plugin's log, and no audit plugin is running now; search again from the first page"}}}
	case cur.Plugin:
		return s.searchPlugin(ctx, sink, q, cur, limit)
	case running && q.Cursor == "":
		page, err := s.searchPlugin(ctx, sink, q, cur, limit)
		if err == nil || errors.Is(err, sdk.ErrInvalidArgument) || ctx.Err() != nil {
			return page, err
		}
		s.log.Warn("the audit plugin's Query failed; the host's audit log answers", "error", err)
		page, herr := s.searchHost(ctx, q, cur, limit)
		if page != nil {
			page.PluginError = err.Error()
		}
		return page, herr
	}
	return s.searchHost(ctx, q, cur, limit)
}

// searchHost is a keyset page of the host's log.
func (s *Service) searchHost(ctx context.Context, q AuditQuery, cur auditCursor, limit int) (*AuditPage, error) {
	f := q.filter()
	after := store.AuditCursor{At: store.FromMillis(cur.At), ID: cur.ID}
	if cur.ID == 0 {
		after = store.AuditCursor{}
	}
	list, err := s.st.Q().SearchAudit(ctx, f, after, cur.Newer, limit+1)
	if err != nil {
		return nil, err
	}
	place := func(e store.AuditEntry, newer bool) string {
		return auditCursor{Newer: newer, At: store.Millis(e.OccurredAt), ID: e.ID}.encode()
	}
	page := &AuditPage{Source: AuditFromHost}
	switch {
	case cur.Newer && len(list) <= limit:
		// Back at the top: the newest page, full.
		return s.searchHost(ctx, q, auditCursor{}, limit)
	case cur.Newer:
		list = list[1:] // the one beyond the page is the newest
		page.Newer = place(list[0], true)
		page.Older = place(list[len(list)-1], false)
	default:
		if len(list) > limit {
			list = list[:limit]
			page.Older = place(list[limit-1], false)
		}
		if cur.ID != 0 && len(list) > 0 {
			page.Newer = place(list[0], true)
		}
	}
	page.Records = make([]AuditRecord, len(list))
	for i, e := range list {
		page.Records[i] = AuditRecord{AuditEntry: e}
	}
	return page, nil
}

// pluginRequest is q as the contract's Query asks it, newest first. An
// action prefix is not something Query can ask: the host filters it
// (matches).
func (q AuditQuery) pluginRequest() *audit.QueryRequest {
	req := &audit.QueryRequest{Actor: q.Actor, ResourceType: q.ResourceType, ResourceID: q.ResourceID,
		Outcome: audit.Outcome(q.Outcome), Since: q.From, Until: q.To, Descending: true}
	if f := q.filter(); !f.ActionPrefix {
		req.Action = f.Action
	}
	return req
}

// matches reports whether a plugin's event matches q: every filter is
// checked again, so a plugin that ignores one still answers the search.
func (q AuditQuery) matches(e *audit.Event) bool {
	f := q.filter()
	action := e.Action == f.Action
	if f.ActionPrefix {
		action = strings.HasPrefix(e.Action, f.Action)
	}
	return (f.Action == "" || action) &&
		(q.Actor == "" || e.Actor == q.Actor) &&
		(q.ResourceType == "" || e.ResourceType == q.ResourceType) &&
		(q.ResourceID == "" || e.ResourceID == q.ResourceID) &&
		(q.Outcome == "" || string(e.Outcome) == q.Outcome) &&
		(q.From.IsZero() || !e.Time.Before(q.From)) &&
		(q.To.IsZero() || e.Time.Before(q.To))
}

// record is a plugin's event as a search shows it.
func record(e *audit.Event) AuditRecord {
	return AuditRecord{AuditEntry: store.AuditEntry{EventID: e.ID, OccurredAt: e.Time.UTC(), Actor: e.Actor, Action: e.Action,
		ResourceType: e.ResourceType, ResourceID: e.ResourceID, Outcome: string(e.Outcome), Metadata: e.Metadata, Delivered: true},
		Sequence: e.Sequence, Hash: e.Hash}
}

// pluginPage reads up to limit matching events from the plugin, starting
// at token, asking each call for no more than the page still needs (so
// the page ends where a plugin page ends, and the plugin's next token is
// the next page's start). It returns the token after the last call (""
// at the end of the log).
func pluginPage(ctx context.Context, sink audit.Sink, q AuditQuery, token string, limit int) ([]AuditRecord, string, error) {
	req := q.pluginRequest()
	out := make([]AuditRecord, 0, limit)
	for calls := 0; ; calls++ {
		req.PageToken, req.PageSize = token, limit-len(out)
		resp, err := sink.Query(ctx, req)
		if errors.Is(err, audit.ErrInvalidPageToken) {
			return nil, "", &AuditQueryError{Fields: map[string]AuditProblem{"cursor": {"cursor",
				"the audit plugin no longer knows this page; search again from the first page"}}}
		}
		if err != nil {
			return nil, "", fmt.Errorf("query the audit plugin: %w", err)
		}
		for i := range resp.Events {
			if q.matches(&resp.Events[i]) {
				out = append(out, record(&resp.Events[i]))
			}
		}
		token = resp.NextPageToken
		if token == "" || len(out) >= limit || calls+1 >= auditMaxCalls {
			return out, token, nil
		}
	}
}

// searchPlugin is a page of the plugin's log at cur's token.
func (s *Service) searchPlugin(ctx context.Context, sink audit.Sink, q AuditQuery, cur auditCursor, limit int) (*AuditPage, error) {
	list, next, err := pluginPage(ctx, sink, q, cur.Token, limit)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Source: AuditFromPlugin, Records: list}
	if next != "" {
		back := append(append(make([]string, 0, len(cur.Back)+1), cur.Back...), cur.Token)
		if len(back) > auditMaxTrail {
			back = append(back[:1], back[len(back)-auditMaxTrail+1:]...) // keep the first page's
		}
		page.Older = auditCursor{Plugin: true, Token: next, Back: back}.encode()
	}
	if n := len(cur.Back); n > 0 {
		page.Newer = auditCursor{Plugin: true, Token: cur.Back[n-1], Back: cur.Back[:n-1]}.encode()
	}
	return page, nil
}

// ExportAudit reads every event that matches q (its Limit and Cursor do
// not apply), newest first, from the source a first page would come from.
// It reads the first batch before returning, so a refused query or an
// unreachable source is its error, not the records'; the rest are read a
// batch at a time as the records are taken, never all at once.
func (s *Service) ExportAudit(ctx context.Context, q AuditQuery) (string, iter.Seq2[*AuditRecord, error], error) {
	q.Cursor, q.Limit = "", auditExportBatch
	first, err := s.SearchAudit(ctx, q)
	if err != nil {
		return "", nil, err
	}
	records := func(yield func(*AuditRecord, error) bool) {
		page := first
		for {
			for i := range page.Records {
				if !yield(&page.Records[i], nil) {
					return
				}
			}
			if page.Older == "" {
				return
			}
			q.Cursor = page.Older
			var err error
			if page, err = s.SearchAudit(ctx, q); err != nil {
				yield(nil, err)
				return
			}
		}
	}
	return first.Source, records, nil
}
