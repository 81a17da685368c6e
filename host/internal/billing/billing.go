// Package billing is the host's billing flow: invoices, payments through
// the payment plugins, webhooks, vouchers, and the jobs that provision
// subscribers on routers, notify customers and keep the audit trail.
//
// The flow, end to end:
//
//   - CreateInvoice records what a customer owes for a plan.
//   - StartPayment calls the chosen gateway's CreatePayment and records the
//     payment and its checkout link.
//   - HandleWebhook hands the gateway's raw request to its plugin. A paid
//     event is confirmed with the gateway's status API (by the plugin,
//     Event.Confirmed, or else with its GetPayment); then one transaction
//     credits the invoice exactly once (a primary key, not a check), starts
//     or extends the subscription, and inserts the provision, notify and
//     audit jobs. Replays and concurrent duplicates credit nothing more.
//   - Redeem does the same for a voucher, without a payment.
//   - Periodic jobs (on one host only) expire subscriptions (isolate or
//     remove them on the router) and send reminders 7, 3 and 1 days ahead,
//     and bill postpaid plans' next periods (recurring.go).
//   - Paying renews: an invoice for the plan a customer already has
//     extends that subscription from its end, unless it asks for a new
//     one (renewal.go). Customers hold a balance per currency (a ledger,
//     balance.go) that tops up through a gateway or in cash and pays
//     invoices, each exactly once.
//
// Start with Service (NewWithQueue), Workers and PeriodicJobs.
package billing

import (
	"crypto/rand"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/pdf"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Config is how billing runs.
type Config struct {
	// PublicURL is the host's address as customers and gateways reach it
	// (for callback and return URLs), for example "https://billing.example.net".
	PublicURL string
	// NotifyPlugin is the notification plugin customers are messaged
	// through (empty: the configuration's default, notifications.plugin).
	NotifyPlugin string
	// NotifySession is the sender session to use (empty: the plugin's choice).
	NotifySession string
	// ReminderDays are how many days before expiry reminders go out. Nil
	// means the configuration's default (jobs.reminder_days); empty, no
	// reminders.
	ReminderDays []int
	// ExpiryInterval is how often due subscriptions are looked for (zero:
	// the configuration's default, jobs.expiry_check_interval).
	ExpiryInterval time.Duration
	// ReminderInterval is how often reminders are looked for.
	ReminderInterval time.Duration
	// ReconcileInterval is how often pending payments older than two
	// minutes are checked with their gateways, in case a webhook was lost
	// (default 10 minutes).
	ReconcileInterval time.Duration
	// ReconcileAfter is how old a pending payment must be before the
	// reconciliation asks its gateway (default 2 minutes: younger ones wait
	// for their webhooks).
	ReconcileAfter time.Duration
	// InvoiceLeadDays is how many days before a postpaid period ends the
	// next period's invoice is made (nil: the configuration's default,
	// jobs.invoice_lead_days).
	InvoiceLeadDays *int
	// PostpaidGrace is how long after a postpaid period ends an unpaid
	// customer keeps the service before isolation (nil: the
	// configuration's default, jobs.postpaid_grace_days).
	PostpaidGrace *time.Duration
	// BillInterval is how often postpaid subscriptions are looked for to
	// bill (zero: hourly).
	BillInterval time.Duration
	// Location formats dates in messages (default UTC).
	Location *time.Location
	// Operator is who issues invoices and receipts (the configuration's
	// operator block), for their PDFs (InvoicePDF).
	Operator pdf.Operator
	// Language writes amounts and dates in messages and PDFs: "id" (Rp
	// 5.000, the default) or "en" (operator.language).
	Language string
	// AuditMaxLag is how long an audit event may wait for the audit plugin
	// before the audit trail counts as behind (zero: the configuration's
	// default, audit.max_lag).
	AuditMaxLag time.Duration
	// AuditVerifyInterval is how often the audit plugin's log is verified
	// (zero: the configuration's default, audit.verify_interval).
	AuditVerifyInterval time.Duration
	// LinkKey keys the digests in pay links (PayLink), at least 16 bytes;
	// it must stay the same across restarts and hosts, or links already sent
	// stop working. Empty: a random key (links die with the process).
	LinkKey []byte
}

// Service runs the billing flow.
type Service struct {
	st      *store.Store
	cipher  *store.Cipher
	plugins Plugins
	queue   *jobs.Queue
	cfg     Config
	log     hclog.Logger
	now     func() time.Time
}

// New returns the service without a job queue: it inserts no jobs, so
// what queues work (invoices, payments, webhooks, vouchers, the audit
// trail) fails. It is for the parts that queue nothing; the host makes its
// service with NewWithQueue.
func New(st *store.Store, cipher *store.Cipher, plugins Plugins, cfg Config, log hclog.Logger) *Service {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	// The settings the host's configuration declares default as it does.
	def := config.DefaultConfig()
	if cfg.ReminderDays == nil {
		cfg.ReminderDays = def.Jobs.ReminderDays
	}
	if cfg.ExpiryInterval <= 0 {
		cfg.ExpiryInterval = def.Jobs.ExpiryCheckInterval
	}
	if cfg.InvoiceLeadDays == nil {
		cfg.InvoiceLeadDays = &def.Jobs.InvoiceLeadDays
	}
	if cfg.PostpaidGrace == nil {
		grace := time.Duration(def.Jobs.PostpaidGraceDays) * 24 * time.Hour
		cfg.PostpaidGrace = &grace
	}
	if cfg.BillInterval <= 0 {
		cfg.BillInterval = time.Hour
	}
	if cfg.ReminderInterval <= 0 {
		cfg.ReminderInterval = time.Hour
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 10 * time.Minute
	}
	if cfg.AuditMaxLag <= 0 {
		cfg.AuditMaxLag = def.Audit.MaxLag
	}
	if cfg.AuditVerifyInterval <= 0 {
		cfg.AuditVerifyInterval = def.Audit.VerifyInterval
	}
	if cfg.ReconcileAfter <= 0 {
		cfg.ReconcileAfter = 2 * time.Minute
	}
	if cfg.Language == "" {
		cfg.Language = def.Operator.Language
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if len(cfg.LinkKey) < 16 {
		cfg.LinkKey = make([]byte, 32)
		_, _ = rand.Read(cfg.LinkKey)
	}
	if cfg.NotifyPlugin == "" {
		cfg.NotifyPlugin = def.Notifications.Plugin
	}
	return &Service{st: st, cipher: cipher, plugins: plugins, cfg: cfg, log: log.Named("billing"), now: time.Now}
}

// QueueConfig is how NewWithQueue makes the service's job queue.
type QueueConfig struct {
	// Jobs configures the queue: how many jobs run at once, how often it
	// polls, how long it keeps finished jobs.
	Jobs jobs.Config
	// Periodic schedules billing's periodic jobs (PeriodicJobs) on the
	// elected leader, each run once as the queue starts too.
	Periodic bool
	// More adds the workers of jobs other packages own to the queue's and
	// returns their periodic jobs (the host adds the plugin records sweep).
	More func(*river.Workers) []*river.PeriodicJob
}

// NewWithQueue returns the service with its job queue, which runs
// billing's workers (Workers) and qc's. Nothing runs until the caller
// starts the queue (Queue().Start) and it stops it.
func NewWithQueue(st *store.Store, cipher *store.Cipher, plugins Plugins, cfg Config, log hclog.Logger, qc QueueConfig) (*Service, error) {
	s := New(st, cipher, plugins, cfg, log)
	workers := s.Workers()
	var periodic []*river.PeriodicJob
	if qc.Periodic {
		periodic = s.PeriodicJobs(true)
	}
	if qc.More != nil {
		periodic = append(periodic, qc.More(workers)...)
	}
	q, err := jobs.New(st, workers, periodic, qc.Jobs)
	if err != nil {
		return nil, err
	}
	s.queue = q
	return s, nil
}

// Queue returns the job queue (nil from New).
func (s *Service) Queue() *jobs.Queue { return s.queue }
