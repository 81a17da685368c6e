package ui

// The audit page (admins): a search of the audit log with the filters of
// GET /api/v1/audit, through the same search (Deps.SearchAudit, billing's
// SearchAudit): the audit plugin's log when one runs, the host's own
// otherwise, and the page says which answered. The form is a GET, so a
// search is a link to share; pages go older and newer by keyset cursors;
// the export links download the same search from the API as CSV or JSON
// Lines. Times are shown, and read when typed without a zone, in the
// host's time zone.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
)

func init() {
	pageFiles = append(pageFiles, "audit.html")
}

// auditFilters are the search's query parameters, as the form and the
// API name them.
var auditFilters = []string{"actor", "action", "resource_type", "resource_id", "outcome", "from", "to"}

// auditData is the audit page's.
type auditData struct {
	// Form holds the filters as typed, by parameter name.
	Form map[string]string
	// Errs maps a refused filter to the catalog key of its problem.
	Errs fieldErrors
	// Zone names the time zone of the times shown and typed.
	Zone string
	// Searched is set when the search ran (no filter refused).
	Searched bool
	// Source and PluginError are the answer's (billing.AuditPage).
	Source, PluginError string
	Rows                []auditRow
	// Older, Newer and Newest are links to pages ("" when there is none);
	// CSV and JSONL download this search from the API.
	Older, Newer, Newest string
	CSV, JSONL           string
	// Trail is the audit trail's state (nil: not known).
	Trail *auditTrail
}

// auditTrail is what the page shows above the search: a banner when the
// audit log failed its verification, the backlog when the audit plugin is
// behind, the pinned key's fingerprint and the latest checkpoint.
type auditTrail struct {
	Installed bool
	// Failed is set when the latest verification found the log unsound:
	// FirstBad names the first bad event, Reason the kind of failure.
	Failed                    bool
	FirstBad, Reason, Message string
	// Behind, Backlog and Oldest: events waiting for the plugin.
	Behind  bool
	Backlog int64
	Oldest  string
	// Fingerprint is the pinned public key's; CheckpointSize and
	// CheckpointAt the latest checkpoint the host saw.
	Fingerprint    string
	CheckpointSize uint64
	CheckpointAt   string
	// VerifiedAt and Checked: the latest verification, when it passed.
	VerifiedAt string
	Checked    uint64
}

// trail is st as the page shows it.
func trail(lang string, st *billing.AuditStatus) *auditTrail {
	t := &auditTrail{Installed: st.Installed, Behind: st.Behind, Backlog: st.Backlog.Count, Fingerprint: st.KeyFingerprint()}
	if st.Backlog.Count > 0 {
		t.Oldest = auditTime(lang, st.Backlog.Oldest.Local())
	}
	if tr := st.Trust; tr != nil && tr.KnownSize > 0 {
		t.CheckpointSize, t.CheckpointAt = tr.KnownSize, auditTime(lang, tr.KnownAt.Local())
	}
	if v := st.Verification; v != nil {
		if st.Failed() {
			t.Failed, t.Reason, t.Message = true, v.Reason, v.Message
			t.FirstBad = fmt.Sprint(v.FirstBadSequence)
			if v.FirstBadEventID != "" {
				t.FirstBad += " (" + v.FirstBadEventID + ")"
			}
		} else if v.OK {
			t.VerifiedAt, t.Checked = auditTime(lang, v.CheckedAt.Local()), v.Checked
		}
	}
	return t
}

// auditRow is one event as the table shows it. Its fields are its own,
// not embedded: a template looks fields up by name, and looking through
// embedded structs costs allocations on every row.
type auditRow struct {
	EventID, Actor, Action, ResourceType, ResourceID, Outcome string
	// At is the event's time as the page's language writes it; ISO is
	// the machine-readable time (<time datetime>).
	At, ISO string
	// OutcomeText is the outcome in the page's language ("" when the
	// event has none, or one the page does not know), translated here
	// rather than by a call on every row of the template.
	OutcomeText string
	// Meta is the metadata, sorted by key.
	Meta []metaItem
}

// metaItem is one metadata entry.
type metaItem struct{ Key, Value string }

// hintedField is a text field with a hint below it, for the "hinted"
// template (templates/audit.html): Label is its catalog key, Hint the
// hint's element id, Err the catalog key of its problem.
type hintedField struct {
	Name, Label, Value, Hint, Err string
}

// Hinted is the filter name's text field, described by the element hint.
func (d *auditData) Hinted(name, hint string) hintedField {
	return hintedField{Name: name, Label: "audit." + name, Value: d.Form[name], Hint: hint, Err: d.Errs[name]}
}

// AuditPage serves GET /audit.
func (u *UI) AuditPage(w http.ResponseWriter, r *http.Request) error {
	lang, v := languageOf(r), r.URL.Query()
	d := auditData{Form: map[string]string{}, Errs: fieldErrors{}, Zone: time.Now().Format("MST -07:00")}
	for _, f := range auditFilters {
		d.Form[f] = v.Get(f)
	}
	// The page's size is its own: a limit in the link does not apply.
	search := url.Values{"cursor": {v.Get("cursor")}}
	for _, f := range auditFilters {
		search.Set(f, v.Get(f))
	}
	q, err := billing.ParseAuditQuery(search, time.Local)
	if err == nil {
		q.Limit = listLimit
		var page *billing.AuditPage
		if page, err = u.deps.SearchAudit(r.Context(), q); err == nil {
			d.fill(lang, q, page)
		}
	}
	if u.deps.AuditStatus != nil {
		if st, serr := u.deps.AuditStatus(r.Context()); serr == nil {
			d.Trail = trail(lang, st)
		}
	}
	pv := view{Title: "audit.title", Data: &d}
	var qe *billing.AuditQueryError
	switch {
	case errors.As(err, &qe):
		for f, p := range qe.Fields {
			d.Errs[f] = "audit.err." + p.Code
		}
		pv.Problem = "form.refused"
		if key, ok := d.Errs["cursor"]; ok {
			pv.Problem = key // no field to show it beside
		}
		return u.render(w, r, http.StatusUnprocessableEntity, "audit.html", pv)
	case err != nil:
		return err
	}
	return u.render(w, r, http.StatusOK, "audit.html", pv)
}

// fill puts a page of results, its links and the export links in d.
func (d *auditData) fill(lang string, q billing.AuditQuery, page *billing.AuditPage) {
	d.Searched, d.Source, d.PluginError = true, page.Source, page.PluginError
	d.Rows = make([]auditRow, 0, len(page.Records))
	for _, rec := range page.Records {
		row := auditRow{EventID: rec.EventID, Actor: rec.Actor, Action: rec.Action, ResourceType: rec.ResourceType, ResourceID: rec.ResourceID,
			Outcome: rec.Outcome, At: auditTime(lang, rec.OccurredAt.Local()), ISO: rec.OccurredAt.UTC().Format(time.RFC3339Nano)}
		if rec.Outcome == "success" || rec.Outcome == "failure" {
			row.OutcomeText, _ = translate(lang, "audit.outcome."+rec.Outcome)
		}
		if len(rec.Metadata) > 0 {
			row.Meta = make([]metaItem, 0, len(rec.Metadata))
			for k, v := range rec.Metadata {
				row.Meta = append(row.Meta, metaItem{k, v})
			}
			slices.SortFunc(row.Meta, func(a, b metaItem) int { return strings.Compare(a.Key, b.Key) })
		}
		d.Rows = append(d.Rows, row)
	}
	link := func(cursor string) string {
		v := url.Values{}
		for _, f := range auditFilters {
			if s := d.Form[f]; s != "" {
				v.Set(f, s)
			}
		}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		return "/audit?" + v.Encode()
	}
	if page.Older != "" {
		d.Older = link(page.Older)
	}
	if page.Newer != "" {
		d.Newer = link(page.Newer)
	}
	if q.Cursor != "" {
		d.Newest = link("")
	}
	// The API reads times without a zone in UTC: the export links carry
	// the instants this page read, with their zone.
	export := url.Values{}
	for _, f := range []struct{ name, value string }{
		{"actor", q.Actor}, {"action", q.Action}, {"resource_type", q.ResourceType}, {"resource_id", q.ResourceID}, {"outcome", q.Outcome},
	} {
		if f.value != "" {
			export.Set(f.name, f.value)
		}
	}
	if !q.From.IsZero() {
		export.Set("from", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		export.Set("to", q.To.Format(time.RFC3339Nano))
	}
	export.Set("format", "csv")
	d.CSV = "/api/v1/audit/export?" + export.Encode()
	export.Set("format", "jsonl")
	d.JSONL = "/api/v1/audit/export?" + export.Encode()
}

// auditTime writes t as lang does (i18n_audit.go: audit.time_format and
// the months' names), with its zone.
func auditTime(lang string, t time.Time) string {
	month, err := translate(lang, "audit.month."+t.Format("1"))
	if err != nil {
		month = t.Format("Jan")
	}
	s, err := translate(lang, "audit.time_format", t.Day(), month, t.Year(), t.Hour(), t.Minute(), t.Second(), t.Format("MST"))
	if err != nil {
		return t.Format(time.RFC3339)
	}
	return s
}
