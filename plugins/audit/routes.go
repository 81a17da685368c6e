package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// Export limits: HandleHTTP answers with one whole body, so one export
// response holds at most exportMax events; its last line links to the rest.
const (
	exportDefault = 10_000
	exportMax     = 10_000
)

// HandleHTTP serves the routes of plugin.json.
func (l *Log) HandleHTTP(ctx context.Context, req *sdk.HandleHTTPRequest) (*sdk.HandleHTTPResponse, error) {
	switch req.Route {
	case "/export":
		return l.export(ctx, &req.Request)
	case "/checkpoint":
		return l.checkpointRoute(ctx)
	case "/archive":
		return l.archiveRoute(ctx, &req.Request)
	}
	return nil, fmt.Errorf("%w: no route %s %s in the audit plugin", sdk.ErrNotFound, req.Request.Method, req.Route)
}

func jsonResponse(v any) (*sdk.HandleHTTPResponse, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK,
		Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}, Body: buf.Bytes()}}, nil
}

// checkpointView is a checkpoint as the routes show it.
type checkpointView struct {
	Checkpoint           jsonCheckpoint `json:"checkpoint"`
	PublicKey            string         `json:"public_key"`
	PublicKeyFingerprint string         `json:"public_key_fingerprint"`
	// SignedText is what the signature covers (audit.Checkpoint.SignedBytes).
	SignedText string `json:"signed_text"`
}

func viewOf(cp audit.Checkpoint) checkpointView {
	return checkpointView{Checkpoint: toJSONCheckpoint(cp), PublicKey: base64.StdEncoding.EncodeToString(cp.PublicKey),
		PublicKeyFingerprint: audit.KeyFingerprint(cp.PublicKey), SignedText: string(cp.SignedBytes())}
}

func (l *Log) checkpointRoute(ctx context.Context) (*sdk.HandleHTTPResponse, error) {
	resp, err := l.GetCheckpoint(ctx, &audit.GetCheckpointRequest{})
	if err != nil {
		return nil, err
	}
	return jsonResponse(viewOf(resp.Checkpoint))
}

type archiveBody struct {
	Before        string `json:"before"`
	OlderThanDays *int   `json:"older_than_days"`
}

func (l *Log) archiveRoute(ctx context.Context, r *sdk.HTTPRequest) (*sdk.HandleHTTPResponse, error) {
	var body archiveBody
	if len(bytes.TrimSpace(r.Body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return nil, fmt.Errorf(`%w: the body must be a JSON object like {"before": "2025-01-01T00:00:00Z"} or {"older_than_days": 365}: %v`, sdk.ErrInvalidArgument, err)
		}
	}
	var cutoff time.Time
	switch {
	case body.Before != "" && body.OlderThanDays != nil:
		return nil, fmt.Errorf("%w: give before or older_than_days, not both", sdk.ErrInvalidArgument)
	case body.Before != "":
		t, err := time.Parse(time.RFC3339, body.Before)
		if err != nil {
			return nil, fmt.Errorf("%w: before %q is not an RFC 3339 time such as 2025-01-01T00:00:00Z", sdk.ErrInvalidArgument, body.Before)
		}
		cutoff = t
	case body.OlderThanDays != nil:
		if *body.OlderThanDays < 1 {
			return nil, fmt.Errorf("%w: older_than_days must be at least 1, got %d", sdk.ErrInvalidArgument, *body.OlderThanDays)
		}
		cutoff = l.now().Add(-time.Duration(*body.OlderThanDays) * 24 * time.Hour)
	default:
		days := l.config().RetentionDays
		if days == 0 {
			return nil, fmt.Errorf(`%w: retention_days is 0 (keep every event), so say what to archive: {"before": "2025-01-01T00:00:00Z"} or {"older_than_days": 365}`, sdk.ErrInvalidArgument)
		}
		cutoff = l.now().Add(-time.Duration(days) * 24 * time.Hour)
	}
	if cutoff.After(l.now()) {
		return nil, fmt.Errorf("%w: the cutoff %s is in the future; archiving would empty the live log", sdk.ErrInvalidArgument, cutoff.UTC().Format(time.RFC3339))
	}
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	res, err := st.archive(ctx, cutoff)
	if err != nil {
		return nil, err
	}
	if res.Segments == nil {
		res.Segments = []string{}
	}
	l.Logger().Info("archived audit events", "events", res.Events, "through", res.Through)
	return jsonResponse(res)
}

// exportTrailer is the last line of a JSON Lines export.
type exportTrailer struct {
	// Checkpoint is the signed checkpoint every event's proof leads to.
	Checkpoint checkpointView `json:"checkpoint"`
	// Events is how many events this response holds.
	Events int `json:"events"`
	// Next is the URL of the rest of the export; empty when this is all.
	Next string `json:"next"`
}

// exportQuery reads an export's filters from the URL query.
func exportQuery(raw string) (*audit.QueryRequest, string, int, string, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, "", 0, "", fmt.Errorf("%w: the query string: %v", sdk.ErrInvalidArgument, err)
	}
	known := map[string]bool{"format": true, "actor": true, "action": true, "resource_type": true, "resource_id": true, "outcome": true, "since": true, "until": true, "after": true, "limit": true}
	for k := range v {
		if !known[k] {
			return nil, "", 0, "", fmt.Errorf("%w: unknown parameter %q; the export takes format, actor, action, resource_type, resource_id, outcome, since, until, after and limit", sdk.ErrInvalidArgument, k)
		}
	}
	q := &audit.QueryRequest{Actor: v.Get("actor"), Action: v.Get("action"), ResourceType: v.Get("resource_type"), ResourceID: v.Get("resource_id"), Outcome: audit.Outcome(v.Get("outcome"))}
	switch q.Outcome {
	case "", audit.OutcomeSuccess, audit.OutcomeFailure:
	default:
		return nil, "", 0, "", fmt.Errorf("%w: outcome must be success or failure, got %q", sdk.ErrInvalidArgument, q.Outcome)
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, "", 0, "", fmt.Errorf("%w: %s %q is not an RFC 3339 time such as 2025-03-01T00:00:00Z", sdk.ErrInvalidArgument, p.name, s)
			}
			*p.t = t
		}
	}
	format := v.Get("format")
	switch format {
	case "":
		format = "jsonl"
	case "jsonl", "csv":
	default:
		return nil, "", 0, "", fmt.Errorf("%w: format must be jsonl or csv, got %q", sdk.ErrInvalidArgument, format)
	}
	limit := exportDefault
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > exportMax {
			return nil, "", 0, "", fmt.Errorf("%w: limit must be 1 to %d, got %q", sdk.ErrInvalidArgument, exportMax, s)
		}
		limit = n
	}
	return q, format, limit, v.Get("after"), nil
}

// export answers GET /export: the events matching the filters, oldest
// first, up to limit, each with its inclusion proof under a checkpoint
// taken for the export (JSON Lines), then that checkpoint and the link to
// the rest.
func (l *Log) export(ctx context.Context, r *sdk.HTTPRequest) (*sdk.HandleHTTPResponse, error) {
	q, format, limit, after, err := exportQuery(r.RawQuery)
	if err != nil {
		return nil, err
	}
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	var afterSeq uint64
	if after != "" {
		if afterSeq, err = decodeToken(after, q); err != nil {
			return nil, err
		}
	}
	cp, err := st.checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.catchUp(ctx); err != nil {
		return nil, err
	}
	var events []audit.Event
	next := ""
	sel, args, hit, err := st.pageSQL(ctx, page{filters: q, after: afterSeq, hasAfter: true, through: cp.Size, limit: limit + 1})
	if err != nil {
		return nil, err
	}
	if !hit {
		sel, args = eventColumns+` FROM events WHERE 0`, nil
	}
	rows, err := st.idx.QueryContext(ctx, sel, args...)
	if err != nil {
		return nil, fmt.Errorf("read the export: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		if len(events) == limit {
			next = encodeToken(events[limit-1].Sequence, q)
			break
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the export: %w", err)
	}
	nextURL := ""
	if next != "" {
		v, _ := url.ParseQuery(r.RawQuery)
		v.Set("after", next)
		nextURL = "/plugins/audit/export?" + v.Encode()
	}
	var buf bytes.Buffer
	header := http.Header{"Cache-Control": {"no-store"}, "X-Audit-Checkpoint-Size": {strconv.FormatUint(cp.Size, 10)}}
	if nextURL != "" {
		header.Set("Link", "<"+nextURL+`>; rel="next"`)
	}
	if format == "csv" {
		writeCSV(&buf, events, cp, nextURL)
		header.Set("Content-Type", "text/csv; charset=utf-8")
		header.Set("Content-Disposition", `attachment; filename="audit.csv"`)
	} else {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		cache := nodeCache{}
		for _, e := range events {
			j := toJSONEvent(e)
			if j.LeafHash, err = audit.LeafHash(&e); err != nil {
				return nil, err
			}
			if j.Proof, err = st.inclusionProof(ctx, st.db, e.Sequence-1, cp.Size, cache); err != nil {
				return nil, err
			}
			if err := enc.Encode(j); err != nil {
				return nil, err
			}
		}
		if err := enc.Encode(exportTrailer{Checkpoint: viewOf(cp), Events: len(events), Next: nextURL}); err != nil {
			return nil, err
		}
		header.Set("Content-Type", "application/jsonl; charset=utf-8")
		header.Set("Content-Disposition", `attachment; filename="audit.jsonl"`)
	}
	return &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Header: header, Body: buf.Bytes()}}, nil
}

// csvColumns are the CSV export's columns.
var csvColumns = []string{"sequence", "time", "id", "actor", "action", "resource_type", "resource_id", "outcome", "remote_addr", "request_id", "metadata", "prev_hash", "hash"}

// writeCSV writes the events, then two trailer rows: "#checkpoint" with
// the checkpoint's size, root (base64), time, public key (base64) and
// signature (base64), and "#next" with the URL of the rest (empty when
// none).
func writeCSV(buf *bytes.Buffer, events []audit.Event, cp audit.Checkpoint, next string) {
	cw := csv.NewWriter(buf)
	_ = cw.Write(csvColumns)
	for _, e := range events {
		meta := []byte("{}")
		if len(e.Metadata) > 0 {
			meta, _ = json.Marshal(e.Metadata)
		}
		t := ""
		if !e.Time.IsZero() {
			t = e.Time.UTC().Format(time.RFC3339Nano)
		}
		_ = cw.Write([]string{strconv.FormatUint(e.Sequence, 10), t, csvCell(e.ID), csvCell(e.Actor), csvCell(e.Action), csvCell(e.ResourceType),
			csvCell(e.ResourceID), csvCell(string(e.Outcome)), csvCell(e.RemoteAddr), csvCell(e.RequestID), string(meta), e.PrevHash, e.Hash})
	}
	b64 := base64.StdEncoding.EncodeToString
	// Trailer rows have as many columns as the others, so CSV readers that
	// insist on it read them.
	pad := func(cells ...string) []string { return append(cells, make([]string, len(csvColumns)-len(cells))...) }
	_ = cw.Write(pad("#checkpoint", strconv.FormatUint(cp.Size, 10), b64(cp.RootHash), cp.Time.Format(time.RFC3339Nano), b64(cp.PublicKey), b64(cp.Signature), cp.Origin))
	_ = cw.Write(pad("#next", next))
	cw.Flush()
}

// csvCell keeps a spreadsheet from reading a cell as a formula, as the
// host's own export does: one that starts with =, +, -, @, a tab or a
// carriage return gets a leading ' (OWASP's advice on CSV injection).
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
