package web

// The audit trail of the admin API's changes. A change made in a store
// transaction queues its audit job in that transaction (auditTx, through
// change), so the change and its record commit together or not at all, as
// billing's own changes do; a change made elsewhere (an API token, which
// the auth package makes) is recorded right after it (audit). The audit
// job writes the host's audit_log and hands the event to the audit plugin.
//
// Metadata names what changed, never a secret: no password, token, voucher
// code or plugin setting value.
//
// GET /api/v1/audit (listAudit) searches the audit log a page at a time
// and GET /api/v1/audit/export (exportAudit) streams a search as CSV or
// JSON Lines, both through billing's search (billing/auditsearch.go),
// which the audit page (ui/audit.go) uses too: the audit plugin's log
// when one runs, the host's own otherwise.

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// auditEvent is what a change records: "plan.updated" on plan 7, say.
// The request's user (the actor) and the outcome (success) are filled in
// when it is queued.
type auditEvent = billing.AuditEvent

// event builds an audit event about the record with a numeric id.
func event(action, resourceType string, id int64, meta map[string]string) *auditEvent {
	return &auditEvent{Action: action, ResourceType: resourceType, ResourceID: strconv.FormatInt(id, 10), Metadata: meta}
}

// auditing reports whether audit events can be queued. Without billing (or
// its job queue, in tests) there is no audit job to queue, and changes go
// unrecorded.
func (s *Server) auditing() bool {
	return s.deps.Billing != nil && s.deps.Billing.Queue() != nil
}

// audit records a change that has been made already (outside a store
// transaction). A failure to queue the event is logged, not returned: the
// change has happened, and the request must say so.
func (s *Server) audit(r *http.Request, ev *auditEvent) {
	if !s.auditing() {
		return
	}
	if err := s.deps.Billing.Audit(r.Context(), withActor(r, ev)); err != nil {
		s.log.Error("change not audited", "action", ev.Action, "resource_type", ev.ResourceType, "resource_id", ev.ResourceID, "error", err)
	}
}

// auditTx queues the audit job of a change in the change's transaction.
// An error fails the transaction: no change without its record.
func (s *Server) auditTx(r *http.Request, tx *store.Tx, ev *auditEvent) error {
	if ev == nil || !s.auditing() {
		return nil
	}
	return s.deps.Billing.AuditTx(r.Context(), tx, withActor(r, ev))
}

// withActor is ev as a change the request's user made successfully.
func withActor(r *http.Request, ev *auditEvent) billing.AuditEvent {
	e := *ev
	e.Actor, e.Outcome = actor(r), "success"
	return e
}

// change runs fn in a store transaction and queues the audit event it
// returns in the same transaction. Refusals the store words for people
// come back as the API's answers (see refusal).
func (s *Server) change(r *http.Request, fn func(q *store.Queries) (*auditEvent, error)) error {
	err := s.deps.DB.Tx(r.Context(), func(tx *store.Tx) error {
		ev, err := fn(tx.Q())
		if err != nil {
			return err
		}
		return s.auditTx(r, tx, ev)
	})
	return refusal(err)
}

// auditList is GET /audit's answer: a keyset page, not the API's offset
// list (docs/api.md, Audit log).
type auditList struct {
	Items []billing.AuditRecord `json:"items"`
	Limit int                   `json:"limit"`
	// Source says which log answered: "host" or "plugin".
	Source      string `json:"source"`
	PluginError string `json:"plugin_error,omitempty"`
	// Older and Newer are the cursors of the next pages (null: none).
	Older *string `json:"older"`
	Newer *string `json:"newer"`
}

// listAudit searches the audit log (billing.Service.SearchAudit, as the
// audit page does): filters and a cursor in the query, times without a
// zone in UTC.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	if o := v.Get("offset"); o != "" && o != "0" {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "some fields are not valid; see details",
			FieldErrors{"offset": `the audit log pages by cursor, not offset: pass the answer's "older" as ?cursor=`}}
	}
	q, err := billing.ParseAuditQuery(v, time.UTC)
	if err != nil {
		return auditRefusal(err)
	}
	page, err := s.deps.Billing.SearchAudit(r.Context(), q)
	if err != nil {
		return auditRefusal(err)
	}
	body := auditList{Items: page.Records, Limit: q.Limit, Source: page.Source, PluginError: page.PluginError}
	if body.Items == nil {
		body.Items = []billing.AuditRecord{}
	}
	if body.Limit == 0 {
		body.Limit = billing.AuditDefaultLimit
	}
	if page.Older != "" {
		body.Older = &page.Older
	}
	if page.Newer != "" {
		body.Newer = &page.Newer
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// auditRefusal answers a refused audit search as 422 with a message per
// field; other errors are returned as they are.
func auditRefusal(err error) error {
	var qe *billing.AuditQueryError
	if !errors.As(err, &qe) {
		return err
	}
	details := FieldErrors{}
	for f, p := range qe.Fields {
		details[f] = p.Message
	}
	return &apiError{http.StatusUnprocessableEntity, "validation_failed", "some fields are not valid; see details", details}
}

// auditExportFormats are the formats of GET /audit/export, with their
// content types.
var auditExportFormats = map[string]string{
	"csv":   "text/csv; charset=utf-8",
	"jsonl": "application/x-ndjson; charset=utf-8",
}

// auditCSVHeader names the columns of a CSV export.
var auditCSVHeader = []string{"occurred_at", "event_id", "actor", "action", "resource_type", "resource_id", "outcome", "metadata", "id", "sequence", "hash"}

// exportAudit streams every event of a search (the filters of GET /audit;
// no cursor or limit) as CSV or JSON Lines, newest first. From the audit
// plugin, the export ends with the signed checkpoint it ends at: the last
// JSON Lines line is {"checkpoint": {...}}, and both formats carry it in
// the X-Audit-Checkpoint trailer; events appended after it are left out. The records are
// read a batch at a time as they are written (billing.ExportAudit), never
// all at once. A failure once the answer has started cuts the connection,
// so the download fails instead of looking complete.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) error {
	v := maps.Clone(r.URL.Query())
	format := v.Get("format")
	v.Del("cursor")
	v.Del("limit")
	q, err := billing.ParseAuditQuery(v, time.UTC)
	if _, ok := auditExportFormats[format]; !ok {
		var qe *billing.AuditQueryError
		if !errors.As(err, &qe) {
			qe = &billing.AuditQueryError{Fields: map[string]billing.AuditProblem{}}
		}
		qe.Fields["format"] = billing.AuditProblem{Code: "format", Message: `"csv" or "jsonl" (JSON Lines)`}
		err = qe
	}
	if err != nil {
		return auditRefusal(err)
	}
	// From the audit plugin, the export ends with the checkpoint it ends
	// at: one signed now over the whole log, taken before the first page
	// is read, so every event exported is under it (newer ones are left
	// out).
	cp, trusted, cpErr := s.deps.Billing.AuditCheckpoint(r.Context(), true)
	source, records, err := s.deps.Billing.ExportAudit(r.Context(), q)
	if err != nil {
		return auditRefusal(err)
	}
	var end *checkpointJSON
	if source == billing.AuditFromPlugin && cpErr == nil {
		end = toCheckpointJSON(cp, trusted)
	} else if source == billing.AuditFromPlugin && !errors.Is(cpErr, audit.ErrNoProofs) {
		s.log.Warn("audit export without its checkpoint", "error", cpErr)
	}
	h := w.Header()
	if end != nil {
		h.Set("Trailer", "X-Audit-Checkpoint")
	}
	h.Set("Content-Type", auditExportFormats[format])
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%s.%s"`, time.Now().UTC().Format("20060102-150405"), format))
	h.Set("X-Audit-Source", source)
	bw := bufio.NewWriterSize(w, 32<<10)
	var write func(*billing.AuditRecord) error
	var enc *json.Encoder
	if format == "csv" {
		cw := csv.NewWriter(bw)
		_ = cw.Write(auditCSVHeader)
		write = func(rec *billing.AuditRecord) error {
			meta, _ := json.Marshal(rec.Metadata)
			if rec.Metadata == nil {
				meta = []byte("{}")
			}
			seq := ""
			if rec.Sequence != 0 {
				seq = strconv.FormatUint(rec.Sequence, 10)
			}
			id := ""
			if rec.ID != 0 {
				id = strconv.FormatInt(rec.ID, 10)
			}
			cw.Write([]string{rec.OccurredAt.UTC().Format(time.RFC3339Nano), csvCell(rec.EventID), csvCell(rec.Actor), csvCell(rec.Action),
				csvCell(rec.ResourceType), csvCell(rec.ResourceID), csvCell(rec.Outcome), string(meta), id, seq, rec.Hash})
			cw.Flush() // into bw, which writes to the client as it fills
			return cw.Error()
		}
	} else {
		enc = json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(rec *billing.AuditRecord) error { return enc.Encode(rec) }
	}
	n := 0
	for rec, err := range records {
		if err == nil && end != nil && rec.Sequence > end.Size {
			continue // appended after the checkpoint
		}
		if err == nil {
			err = write(rec)
		}
		if err != nil {
			s.log.Error("audit export cut short", "written", n, "error", err)
			panic(http.ErrAbortHandler)
		}
		n++
	}
	if end != nil {
		if enc != nil {
			_ = writeCheckpointLine(enc, end)
		}
		b, _ := json.Marshal(end)
		h.Set("X-Audit-Checkpoint", string(b))
	}
	if err := bw.Flush(); err != nil {
		s.log.Warn("audit export not delivered", "error", err)
	}
	return nil
}

// csvCell keeps a spreadsheet from reading a cell as a formula: one that
// starts with =, +, -, @, a tab or a carriage return gets a leading '
// (OWASP's advice on CSV injection). Metadata, a JSON object, starts with
// {.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
