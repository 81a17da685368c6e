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
// GET /api/v1/audit (listAudit) pages through the host's audit log.

import (
	"net/http"
	"strconv"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
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

// listAudit pages through the host's audit log.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	items, total, err := s.deps.DB.Q().ListAudit(r.Context(), page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}
