package billing

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// unique makes a job unique by its fields tagged river:"unique", so the
// same work is never queued twice. Each job's Args type is declared beside
// its worker: provision, notify and audit below, expire and the scans in
// expiry.go, confirm_payment and reconcile in confirm.go.
func unique() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Workers returns the workers of every billing job.
func (s *Service) Workers() *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &provisionWorker{s: s})
	river.AddWorker(w, &notifyWorker{s: s})
	river.AddWorker(w, &auditWorker{s: s})
	river.AddWorker(w, &auditDrainWorker{s: s})
	river.AddWorker(w, &auditVerifyWorker{s: s})
	river.AddWorker(w, &expireWorker{s: s})
	river.AddWorker(w, &expiryScanWorker{s: s})
	river.AddWorker(w, &reminderScanWorker{s: s})
	river.AddWorker(w, &confirmPaymentWorker{s: s})
	river.AddWorker(w, &reconcileScanWorker{s: s})
	river.AddWorker(w, &reconcileGatewayWorker{s: s})
	river.AddWorker(w, &provisionHotspotBatchWorker{s: s})
	river.AddWorker(w, &voucherLoginScanWorker{s: s})
	river.AddWorker(w, &expireVoucherLoginWorker{s: s})
	river.AddWorker(w, &postpaidBillWorker{s: s})
	return w
}

// PeriodicJobs returns the expiry, reminder, reconciliation and hotspot
// first-login scans, the postpaid bills, and the audit trail's drain and
// verification; River runs them on the
// elected leader only.
func (s *Service) PeriodicJobs(runOnStart bool) []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(s.cfg.ExpiryInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ExpiryScanArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: runOnStart, ID: "expiry_scan"}),
		river.NewPeriodicJob(river.PeriodicInterval(s.cfg.ReminderInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ReminderScanArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: runOnStart, ID: "reminder_scan"}),
		river.NewPeriodicJob(river.PeriodicInterval(s.cfg.ReconcileInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ReconcileScanArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: runOnStart, ID: "reconcile_scan"}),
		// First logins are looked for as often as expiries: a voucher's
		// validity starts there.
		river.NewPeriodicJob(river.PeriodicInterval(s.cfg.ExpiryInterval),
			func() (river.JobArgs, *river.InsertOpts) { return VoucherLoginScanArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: runOnStart, ID: "voucher_login_scan"}),
		river.NewPeriodicJob(river.PeriodicInterval(s.cfg.BillInterval),
			func() (river.JobArgs, *river.InsertOpts) { return PostpaidBillArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: runOnStart, ID: "postpaid_bill"}),
		// The audit trail: a drain now and then (besides each event's), so
		// delivery resumes once an audit plugin that was down is back.
		river.NewPeriodicJob(river.PeriodicInterval(AuditDrainInterval),
			func() (river.JobArgs, *river.InsertOpts) { return AuditDrainArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: runOnStart, ID: "audit_drain"}),
		// The audit plugin's log verified against what the host keeps.
		river.NewPeriodicJob(river.PeriodicInterval(s.cfg.AuditVerifyInterval),
			func() (river.JobArgs, *river.InsertOpts) { return AuditVerifyArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: runOnStart, ID: "audit_verify"}),
	}
}

// AuditEvent is an action to record in the audit log: who did what to
// which record, and how it ended.
type AuditEvent struct {
	// Actor is who did it: "user:<id>", "system" or "gateway:<plugin>".
	Actor string
	// Action is what was done, for example "invoice.paid".
	Action string
	// ResourceType and ResourceID name what it was done to, for example
	// "invoice" and "INV-2026-0001".
	ResourceType string
	ResourceID   string
	// Outcome is "success" (when empty) or "failure".
	Outcome string
	// Metadata names what changed; never a secret.
	Metadata map[string]string
}

// Audit records an administrative action (a plugin disabled, say) through
// the audit job: into the host's audit log and to the audit plugin.
func (s *Service) Audit(ctx context.Context, ev AuditEvent) error {
	if s.queue == nil {
		return errors.New("the job queue is not set up; the audit event cannot be recorded")
	}
	_, err := s.queue.Insert(ctx, auditJob(ev, s.now()), nil)
	return err
}

// AuditTx is Audit inside a store transaction: the action and its record
// commit together or not at all.
func (s *Service) AuditTx(ctx context.Context, tx *store.Tx, ev AuditEvent) error {
	if s.queue == nil {
		return errors.New("the job queue is not set up; the audit event cannot be recorded")
	}
	_, err := s.queue.InsertTx(ctx, tx, auditJob(ev, s.now()), nil)
	return err
}

// auditJob builds the audit job of ev, which happened at at, with a fresh
// event id.
func auditJob(ev AuditEvent, at time.Time) AuditArgs {
	var b [12]byte
	_, _ = rand.Read(b[:])
	if ev.Outcome == "" {
		ev.Outcome = "success"
	}
	return AuditArgs{EventID: hex.EncodeToString(b[:]), OccurredAt: at.UTC(), Actor: ev.Actor, Action: ev.Action,
		ResourceType: ev.ResourceType, ResourceID: ev.ResourceID, Outcome: ev.Outcome, Metadata: ev.Metadata}
}

var profileChars = regexp.MustCompile(`[^a-z0-9]+`)

// profileName is the router profile of a plan: its own, or one derived from
// its name ("Home 10M" -> "mb-home-10m").
func profileName(p store.Plan) string {
	if p.Profile != "" {
		return p.Profile
	}
	return "mb-" + strings.Trim(profileChars.ReplaceAllString(strings.ToLower(p.Name), "-"), "-")
}

func userKind(p store.Plan) router.UserKind {
	if p.Kind == store.PlanPPPoE {
		return router.KindPPP
	}
	return router.KindHotspot
}

// undecryptableError: a customer's router password cannot be decrypted.
type undecryptableError struct {
	customer int64
	err      error
}

func (e *undecryptableError) Error() string {
	return fmt.Sprintf("customer %d's router password cannot be decrypted (was the encryption key changed?): %v", e.customer, e.err)
}

func (e *undecryptableError) Unwrap() error { return e.err }

// provision ensures the plan's profile and the subscriber's login on the
// router, with the plan's profile, or with profile when it is set (the
// isolation profile of an isolated subscription, which the operator keeps
// on the router). Both calls are idempotent. It returns the profile the
// login has.
func (s *Service) provision(ctx context.Context, rt router.Router, svc *store.SubscriptionView, profile string) (string, error) {
	password, err := s.cipher.Decrypt(svc.RouterPasswordEn)
	if err != nil {
		return "", &undecryptableError{svc.CustomerID, err}
	}
	kind := userKind(svc.Plan)
	if profile == "" {
		profile = profileName(svc.Plan)
		if _, err := rt.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: svc.LocationName, Profile: router.Profile{
			Kind: kind, Name: profile, RateLimit: svc.Plan.RateLimit, SharedUsers: svc.Plan.SharedUsers,
			Comment: "plan " + svc.Plan.Name,
		}}); err != nil {
			return "", fmt.Errorf("ensure profile %s on %s: %w", profile, svc.LocationName, err)
		}
	}
	if _, err := rt.UpsertUser(ctx, &router.UpsertUserRequest{Location: svc.LocationName, User: router.User{
		Kind: kind, Name: svc.RouterUsername, Password: password, Profile: profile,
		LimitUptime: svc.Plan.TimeLimit, LimitBytesTotal: uint64(max(svc.Plan.DataLimitBytes, 0)),
		Comment: fmt.Sprintf("customer %d %s", svc.CustomerID, svc.CustomerName),
	}}); err != nil {
		return "", fmt.Errorf("provision %s on %s: %w", svc.RouterUsername, svc.LocationName, err)
	}
	return profile, nil
}

// ProvisionArgs puts a subscriber on their router with their plan's profile.
type ProvisionArgs struct {
	SubscriptionID int64 `json:"subscription_id" river:"unique"`
	// InvoiceID is the invoice that paid for it (0 for a manual sync).
	InvoiceID int64 `json:"invoice_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (ProvisionArgs) Kind() string { return "provision" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ProvisionArgs) InsertOpts() river.InsertOpts { return unique() }

type provisionWorker struct {
	river.WorkerDefaults[ProvisionArgs]
	s *Service
}

// Work ensures the plan's profile and the subscriber's login on the
// router. Both calls are idempotent, so a retry after a router outage (or
// a run twice) changes nothing more. A router that is down fails the run,
// and River retries it with backoff: the job is never lost.
func (w *provisionWorker) Work(ctx context.Context, job *river.Job[ProvisionArgs]) error {
	s := w.s
	svc, err := s.st.Q().GetSubscriptionView(ctx, job.Args.SubscriptionID)
	if err != nil {
		return err
	}
	if svc.Status != store.SubscriptionActive {
		s.log.Info("subscription is no longer active; nothing to provision", "subscription", svc.SubscriptionID, "status", svc.Status)
		return nil
	}
	rt, err := s.plugins.Router(svc.LocationPlugin)
	if err != nil {
		return err
	}
	profile, err := s.provision(ctx, rt, svc, "")
	var undecryptable *undecryptableError
	switch {
	case errors.As(err, &undecryptable):
		return river.JobCancel(err)
	case errors.Is(err, router.ErrNotManaged):
		// Retrying cannot help: a person must look.
		return river.JobCancel(fmt.Errorf("%w; then retry this job", err))
	case errors.Is(err, router.ErrInvalidRateLimit):
		return river.JobCancel(fmt.Errorf("%w; fix plan %q's rate limit, then retry this job", err, svc.Plan.Name))
	}
	if err != nil {
		return err
	}
	s.log.Info("subscriber provisioned", "subscription", svc.SubscriptionID, "user", svc.RouterUsername, "location", svc.LocationName, "profile", profile)
	return nil
}

// NotifyArgs sends a customer a message from a template.
type NotifyArgs struct {
	// Template is the message template's name.
	Template       string `json:"template"`
	CustomerID     int64  `json:"customer_id"`
	SubscriptionID int64  `json:"subscription_id,omitempty"`
	InvoiceID      int64  `json:"invoice_id,omitempty"`
	// Key makes the message unique, and is the notifier's idempotency key.
	Key string `json:"key" river:"unique"`
}

// Kind implements river.JobArgs.
func (NotifyArgs) Kind() string { return "notify" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (NotifyArgs) InsertOpts() river.InsertOpts { return unique() }

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	s *Service
}

// Work renders the template and sends it through the notification plugin.
// A message that cannot ever be sent (no plugin, no phone, a bad number, no
// template) is cancelled with the reason, so it shows among the jobs to
// look at and can be retried once fixed; a database that is away a
// moment, a plugin that is down or a session that is not connected fails
// the run and River retries.
func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	s := w.s
	a := job.Args
	msg, err := s.render(ctx, a)
	var never *unsendableError
	if errors.As(err, &never) {
		return river.JobCancel(err)
	}
	if err != nil {
		// The database away a moment: River retries.
		return fmt.Errorf("render %q for customer %d: %w", a.Template, a.CustomerID, err)
	}
	if msg.phone == "" {
		return river.JobCancel(fmt.Errorf("customer %d has no phone number to send %q to", a.CustomerID, a.Template))
	}
	n, err := s.plugins.Notifier(s.cfg.NotifyPlugin)
	if err != nil {
		return river.JobCancel(fmt.Errorf("%w; install and enable it (notifications.plugin), then retry this job", err))
	}
	req := &notify.SendRequest{SessionID: s.cfg.NotifySession, To: msg.phone, Text: msg.text, IdempotencyKey: a.Key, Location: msg.location}
	if att, ok := s.receiptAttachment(ctx, a); ok {
		req.Attachments = append(req.Attachments, att)
	}
	resp, err := n.Send(ctx, req)
	if errors.Is(err, notify.ErrInvalidRecipient) {
		return river.JobCancel(err)
	}
	if err != nil {
		return fmt.Errorf("send %q to customer %d: %w", a.Template, a.CustomerID, err)
	}
	s.log.Info("message sent", "template", a.Template, "customer", a.CustomerID, "message", resp.MessageID, "duplicate", resp.Duplicate)
	// Recorded completed now rather than in the queue's next batch of
	// completions: a host killed in between leaves the job running, and
	// once rescued another host's plugin may send the message again.
	if err := s.st.Tx(ctx, func(tx *store.Tx) error { return jobs.CompleteTx(ctx, tx, job) }); err != nil {
		s.log.Warn("message sent; its job is recorded completed by the queue instead", "template", a.Template, "customer", a.CustomerID, "error", err)
	}
	return nil
}

// ReceiptTemplate is the message template that says a payment was
// received; its message carries the receipt as PDF.
const ReceiptTemplate = "payment_received"

// receiptAttachment is the receipt PDF of a's invoice when a is the
// payment-received message. Every message carries it (the notify protocol
// has no capability for attachments; a plugin that cannot send files
// sends the text). A receipt that cannot be made (a logo that is not
// there) is logged and the message goes without it: the customer still
// hears the payment arrived.
func (s *Service) receiptAttachment(ctx context.Context, a NotifyArgs) (notify.Attachment, bool) {
	if a.Template != ReceiptTemplate || a.InvoiceID == 0 {
		return notify.Attachment{}, false
	}
	var buf bytes.Buffer
	name, err := s.InvoicePDF(ctx, &buf, a.InvoiceID, "")
	if err != nil {
		s.log.Error("the receipt PDF could not be made; the message goes without it", "invoice", a.InvoiceID, "error", err)
		return notify.Attachment{}, false
	}
	return notify.Attachment{Filename: name, MIMEType: "application/pdf", Data: buf.Bytes()}, true
}

// AuditArgs records an audit event: in the host's audit log, and with the
// audit plugin when one is installed.
type AuditArgs struct {
	EventID      string            `json:"event_id" river:"unique"`
	OccurredAt   time.Time         `json:"occurred_at"`
	Actor        string            `json:"actor"`
	Action       string            `json:"action"`
	ResourceType string            `json:"resource_type"`
	ResourceID   string            `json:"resource_id"`
	Outcome      string            `json:"outcome"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// Kind implements river.JobArgs.
func (AuditArgs) Kind() string { return "audit" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (AuditArgs) InsertOpts() river.InsertOpts { return unique() }

type auditWorker struct {
	river.WorkerDefaults[AuditArgs]
	s *Service
}

// Work keeps the event in the host's audit log (once, by event id) and,
// with an audit plugin installed, queues the drain that delivers it
// (auditdelivery.go) in the same transaction: the host's log is the
// plugin's durable queue, and the drain keeps the log's order.
func (w *auditWorker) Work(ctx context.Context, job *river.Job[AuditArgs]) error {
	s := w.s
	a := job.Args
	entry := &store.AuditEntry{EventID: a.EventID, OccurredAt: a.OccurredAt, Actor: a.Actor, Action: a.Action,
		ResourceType: a.ResourceType, ResourceID: a.ResourceID, Outcome: a.Outcome, Metadata: a.Metadata}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		if err := q.LockAuditOrder(ctx); err != nil {
			return err
		}
		if _, err := q.AppendAudit(ctx, entry); err != nil {
			return err
		}
		if s.plugins == nil || !s.plugins.AuditInstalled() {
			return nil
		}
		_, err := s.queue.InsertTx(ctx, tx, AuditDrainArgs{}, nil)
		return err
	})
}
