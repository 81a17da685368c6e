package web

// The audit trail in /health, /health/detailed and /ready: whether the
// audit plugin is behind the host's log (how many events wait, since
// when), and the latest verification of its log. See config.AuditConfig
// for what audit.fail_closed changes.

import (
	"context"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
)

// auditHealth is the "audit" object of /health and /health/detailed.
type auditHealth struct {
	// Status is healthy, degraded (behind, or the last verification could
	// not run) or unhealthy (the log failed its verification).
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	// Backlog is how many events wait for the audit plugin, the oldest
	// since OldestUndelivered, LagSeconds ago.
	Backlog           int64      `json:"backlog"`
	OldestUndelivered *time.Time `json:"oldest_undelivered,omitempty"`
	LagSeconds        int64      `json:"lag_seconds"`
	Behind            bool       `json:"behind"`
	// Verification is the latest verification of the plugin's log.
	Verification *auditVerificationHealth `json:"verification,omitempty"`
	// KeyFingerprint is the fingerprint of the log's public key the host
	// pinned.
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	// FailClosed is audit.fail_closed: when set, an unhealthy or behind
	// audit trail makes the host not ready.
	FailClosed bool `json:"fail_closed"`
}

type auditVerificationHealth struct {
	CheckedAt        time.Time `json:"checked_at"`
	OK               bool      `json:"ok"`
	Checked          uint64    `json:"checked"`
	Reason           string    `json:"reason,omitempty"`
	FirstBadSequence uint64    `json:"first_bad_sequence,omitempty"`
	FirstBadEventID  string    `json:"first_bad_event_id,omitempty"`
	Message          string    `json:"message,omitempty"`
	CheckpointSize   uint64    `json:"checkpoint_size"`
}

// auditHealth reports the audit trail, or false when there is nothing to
// report (no billing, no audit plugin and no verification).
func (s *Server) auditHealth(ctx context.Context) (*auditHealth, bool) {
	if s.deps.Billing == nil {
		return nil, false
	}
	st, err := s.deps.Billing.AuditStatus(ctx)
	if err != nil {
		return &auditHealth{Status: healthDegraded, Message: "the audit trail's state cannot be read: " + err.Error(), FailClosed: s.failClosed()}, true
	}
	if !st.Installed && st.Verification == nil {
		return nil, false
	}
	h := &auditHealth{Status: healthHealthy, Backlog: st.Backlog.Count, LagSeconds: int64(st.Lag.Seconds()), Behind: st.Behind,
		KeyFingerprint: st.KeyFingerprint(), FailClosed: s.failClosed()}
	if st.Backlog.Count > 0 {
		h.OldestUndelivered = &st.Backlog.Oldest
	}
	if v := st.Verification; v != nil {
		h.Verification = &auditVerificationHealth{CheckedAt: v.CheckedAt, OK: v.OK, Checked: v.Checked, Reason: v.Reason,
			FirstBadSequence: v.FirstBadSequence, FirstBadEventID: v.FirstBadEventID, Message: v.Message, CheckpointSize: v.CheckpointSize}
	}
	switch {
	case st.Failed():
		h.Status, h.Message = healthUnhealthy, auditFailure(st)
	case st.Behind:
		h.Status = healthDegraded
		h.Message = fmt.Sprintf("the audit trail is behind: %d events wait for the audit plugin, the oldest for %s (more than audit.max_lag, %s); they are kept in the host's audit log and delivered once the plugin takes them",
			st.Backlog.Count, st.Lag.Round(time.Second), st.MaxLag)
	case st.Verification != nil && st.Verification.Reason == billing.ReasonError:
		h.Status, h.Message = healthDegraded, st.Verification.Message
	}
	return h, true
}

// auditFailure words a failed verification: the first bad event and the
// reason.
func auditFailure(st *billing.AuditStatus) string {
	v := st.Verification
	ev := fmt.Sprintf("event %d", v.FirstBadSequence)
	if v.FirstBadEventID != "" {
		ev += fmt.Sprintf(" (%s)", v.FirstBadEventID)
	}
	return fmt.Sprintf("the audit log failed its verification at %s: first bad %s, reason %q: %s. See docs/operations.md, \"When the audit log fails verification\"",
		v.CheckedAt.UTC().Format(time.RFC3339), ev, v.Reason, v.Message)
}

func (s *Server) failClosed() bool { return s.deps.Config != nil && s.deps.Config.Audit.FailClosed }

// auditNotReady is why the audit trail makes the host not ready: only with
// audit.fail_closed, when the trail is behind or the log failed its
// verification.
func (s *Server) auditNotReady(h *auditHealth) (string, bool) {
	if h == nil || !h.FailClosed || h.Status == healthHealthy {
		return "", false
	}
	if h.Status == healthUnhealthy || h.Behind {
		return "audit.fail_closed: " + h.Message, true
	}
	return "", false
}
