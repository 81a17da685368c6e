package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/text/language"

	moneyfmt "github.com/mikrobill/mikrobill/host/internal/money"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// scanBatch bounds one scan; the rest come with the next scan.
const scanBatch = 500

// ExpiryScanArgs looks for subscriptions whose period is over (periodic).
type ExpiryScanArgs struct{}

// Kind implements river.JobArgs.
func (ExpiryScanArgs) Kind() string { return "expiry_scan" }

type expiryScanWorker struct {
	river.WorkerDefaults[ExpiryScanArgs]
	s *Service
}

// Work queues an expire job for every active subscription whose period is
// over (for a postpaid plan, when the grace after the period is over),
// and an expire_voucher_login job for every hotspot voucher whose
// validity is. The jobs are unique by subscription and expiry, so overlapping
// scans queue nothing twice.
func (w *expiryScanWorker) Work(ctx context.Context, _ *river.Job[ExpiryScanArgs]) error {
	s := w.s
	due, err := s.st.Q().ListDueSubscriptionsGrace(ctx, s.now(), *s.cfg.PostpaidGrace, scanBatch)
	if err != nil {
		return err
	}
	for _, d := range due {
		if _, err := s.queue.Insert(ctx, ExpireArgs{SubscriptionID: d.ID, ExpiresAtMS: store.Millis(d.ExpiresAt)}, nil); err != nil {
			return err
		}
	}
	if len(due) > 0 {
		s.log.Info("subscriptions due for expiry queued", "count", len(due))
	}
	return s.queueDueVoucherLogins(ctx)
}

// ReminderScanArgs looks for subscriptions to remind (periodic).
type ReminderScanArgs struct{}

// Kind implements river.JobArgs.
func (ReminderScanArgs) Kind() string { return "reminder_scan" }

type reminderScanWorker struct {
	river.WorkerDefaults[ReminderScanArgs]
	s *Service
}

// Work queues the reminders: for each configured day count d, the active
// subscriptions that expire between d-1 and d days from now get an
// "expiry_reminder" message, once per subscription, expiry and d.
func (w *reminderScanWorker) Work(ctx context.Context, _ *river.Job[ReminderScanArgs]) error {
	s := w.s
	now := s.now()
	for _, d := range s.cfg.ReminderDays {
		from := now.Add(time.Duration(d-1) * 24 * time.Hour)
		subs, err := s.st.Q().ListExpiringBetween(ctx, from, from.Add(24*time.Hour))
		if err != nil {
			return err
		}
		for _, sub := range subs {
			key := fmt.Sprintf("reminder-%d-%d-%dd", sub.ID, store.Millis(sub.ExpiresAt), d)
			if _, err := s.queue.Insert(ctx, NotifyArgs{Template: "expiry_reminder", CustomerID: sub.CustomerID, SubscriptionID: sub.ID, Key: key}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// ExpireArgs ends one subscription's period on the router.
type ExpireArgs struct {
	SubscriptionID int64 `json:"subscription_id" river:"unique"`
	// ExpiresAtMS is the expiry being handled (Unix ms): a renewed
	// subscription has another, and is left alone.
	ExpiresAtMS int64 `json:"expires_at_ms" river:"unique"`
}

// Kind implements river.JobArgs.
func (ExpireArgs) Kind() string { return "expire" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ExpireArgs) InsertOpts() river.InsertOpts { return unique() }

type expireWorker struct {
	river.WorkerDefaults[ExpireArgs]
	s *Service
}

// Work ends a subscription's period on the router: moved to the plan's
// isolation profile when it has one, removed otherwise, and its active
// session disconnected so the change takes effect. A router that is down
// fails the run and River retries: the job is never lost. A subscription
// renewed meanwhile is left alone.
func (w *expireWorker) Work(ctx context.Context, job *river.Job[ExpireArgs]) error {
	s := w.s
	svc, err := s.st.Q().GetSubscriptionView(ctx, job.Args.SubscriptionID)
	if err != nil {
		return err
	}
	if svc.Status != store.SubscriptionActive || store.Millis(svc.ExpiresAt) != job.Args.ExpiresAtMS {
		s.log.Info("subscription changed since it was due; not expiring it", "subscription", svc.SubscriptionID, "status", svc.Status)
		return nil
	}
	rt, err := s.plugins.Router(svc.LocationPlugin)
	if err != nil {
		return err
	}
	ref := router.UserRef{Location: svc.LocationName, Kind: userKind(svc.Plan), Name: svc.RouterUsername}
	to, action := store.SubscriptionExpired, "subscription.expired"
	if svc.Plan.IsolationProfile != "" {
		to, action = store.SubscriptionIsolated, "subscription.isolated"
	}
	routerNote, err := endLogin(ctx, rt, ref, svc.Plan.IsolationProfile, svc.LocationPlugin)
	if err != nil {
		return err
	}
	meta := map[string]string{"user": svc.RouterUsername, "location": svc.LocationName, "plan": svc.Plan.Name}
	if routerNote != "" {
		meta["router"] = routerNote
		s.log.Warn("subscription expired; the router was not changed", "subscription", svc.SubscriptionID, "user", ref.Name, "location", ref.Location, "why", routerNote)
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		moved, err := tx.Q().MoveSubscription(ctx, svc.SubscriptionID, to, store.SubscriptionActive)
		if err != nil || !moved {
			return err
		}
		if _, err := s.queue.InsertTx(ctx, tx, NotifyArgs{Template: "expired", CustomerID: svc.CustomerID, SubscriptionID: svc.SubscriptionID,
			Key: fmt.Sprintf("expired-%d-%d", svc.SubscriptionID, job.Args.ExpiresAtMS)}, nil); err != nil {
			return err
		}
		_, err = s.queue.InsertTx(ctx, tx, auditJob(AuditEvent{Actor: "system", Action: action, ResourceType: "subscription", ResourceID: strconv.FormatInt(svc.SubscriptionID, 10),
			Metadata: meta}, s.now()), nil)
		return err
	})
}

// endLogin ends a login's period on the router: moved to the isolation
// profile (when there is one) or removed, its sessions ended. The period
// ends whatever the router holds: a login that is not there, or an entry
// mikrobill must not touch, comes back as a note (and `routers sync`
// reports it) rather than an error retried for ever. A router that fails
// is an error (the job retries).
func endLogin(ctx context.Context, rt router.Router, ref router.UserRef, isolation, plugin string) (note string, err error) {
	if isolation != "" {
		_, err = rt.IsolateUser(ctx, &router.IsolateUserRequest{User: ref, IsolationProfile: isolation, Disconnect: true})
	} else {
		_, err = rt.RemoveUser(ctx, &router.RemoveUserRequest{User: ref, Disconnect: true})
	}
	verb := "remove"
	if isolation != "" {
		verb = "isolate"
	}
	switch {
	case errors.Is(err, router.ErrUnknownLocation):
		return "", fmt.Errorf("%s %s: %w; add location %q to plugin %q's settings", verb, ref.Name, err, ref.Location, plugin)
	case errors.Is(err, router.ErrNotManaged):
		return "the router's entry of that name was not created by mikrobill and was left as it is", nil
	case errors.Is(err, sdk.ErrNotFound) && isolation != "":
		// Nothing to isolate: the login is not on the router (removed
		// by hand, or never provisioned). `routers sync` puts an
		// isolated login back when repairing.
		return "no login of that name on the router", nil
	case errors.Is(err, sdk.ErrNotFound):
		return "", nil // removed already
	case err != nil:
		return "", fmt.Errorf("%s %s on %s: %w", verb, ref.Name, ref.Location, err)
	}
	return "", nil
}

// formatMoney writes an amount for a customer's message, as the admin UI
// and the PDFs do (host/internal/money), in the configured language
// (operator.language): "Rp 5.000" in Indonesian, "IDR 5,000" in English.
func (s *Service) formatMoney(amount int64, currency string) string {
	return moneyfmt.Format(language.Make(s.cfg.Language), amount, currency)
}

// message is a rendered notify job: the text and where it goes.
type message struct {
	text string
	// phone is the customer's phone (E.164), empty when none.
	phone string
	// location is the name of the customer's location (notify plugins
	// may pick a sender session by it), empty when unknown.
	location string
}

// render fills a message template for a notify job and returns it with the
// customer's phone and location. A message about a subscription without an
// invoice of its own (a reminder, an expiry) links to the subscription's
// open invoice, or, without one, to the customer portal where the customer
// renews.
func (s *Service) render(ctx context.Context, a NotifyArgs) (*message, error) {
	q := s.st.Q()
	tmpl, err := q.GetTemplateByName(ctx, a.Template)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unsendable(fmt.Errorf("message %w; create it under /api/v1/templates", err))
	}
	if err != nil {
		return nil, err
	}
	cust, err := q.GetCustomer(ctx, a.CustomerID, s.cipher)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unsendable(fmt.Errorf("customer %d: %w", a.CustomerID, err))
	}
	if err != nil {
		return nil, err
	}
	// What the message is about may be gone (a deleted invoice): its
	// fields stay empty. Any other failure (the database away a moment)
	// fails the run, and River retries it: a message is never sent with
	// fields left out because a read failed.
	gone := func(err error) bool { return errors.Is(err, store.ErrNotFound) }
	vars := map[string]string{"name": cust.Name, "package": "", "price": "", "expired_date": "", "invoice": "", "payment_link": ""}
	if a.SubscriptionID != 0 {
		svc, err := q.GetSubscriptionView(ctx, a.SubscriptionID)
		switch {
		case err == nil:
			vars["package"] = svc.Plan.Name
			vars["price"] = s.formatMoney(svc.Plan.Price, svc.Plan.Currency)
			if !svc.ExpiresAt.IsZero() {
				vars["expired_date"] = svc.ExpiresAt.In(s.cfg.Location).Format("02 Jan 2006 15:04")
			}
		case !gone(err):
			return nil, fmt.Errorf("subscription %d: %w", a.SubscriptionID, err)
		}
		if a.InvoiceID == 0 {
			vars["payment_link"] = s.renewLink(ctx, a.CustomerID, a.SubscriptionID)
		}
	}
	if a.InvoiceID != 0 {
		inv, err := q.GetInvoice(ctx, a.InvoiceID)
		switch {
		case err == nil:
			vars["invoice"] = inv.Number
			vars["payment_link"] = inv.PaymentURL
			vars["price"] = s.formatMoney(inv.Amount, inv.Currency)
			if vars["package"] == "" {
				plan, err := q.GetPlan(ctx, inv.PlanID)
				switch {
				case err == nil:
					vars["package"] = plan.Name
				case !gone(err):
					return nil, fmt.Errorf("plan %d: %w", inv.PlanID, err)
				}
			}
		case !gone(err):
			return nil, fmt.Errorf("invoice %d: %w", a.InvoiceID, err)
		}
	}
	text, err := store.RenderTemplate(tmpl.Body, vars)
	if err != nil {
		return nil, unsendable(fmt.Errorf("message template %q: %w; fix it under /api/v1/templates", a.Template, err))
	}
	m := &message{text: text, phone: cust.Phone}
	if cust.LocationID != 0 {
		loc, err := q.GetLocation(ctx, cust.LocationID)
		switch {
		case err == nil:
			m.location = loc.Name
		case !gone(err):
			return nil, fmt.Errorf("location %d: %w", cust.LocationID, err)
		}
	}
	return m, nil
}

// unsendableError is a message that cannot be rendered however often it
// is tried (its template or its customer is not there, the template does
// not render): its job is cancelled, to be retried once fixed.
type unsendableError struct{ err error }

func (e *unsendableError) Error() string { return e.err.Error() }
func (e *unsendableError) Unwrap() error { return e.err }

func unsendable(err error) error { return &unsendableError{err: err} }

// renewLink is where a customer pays for a subscription that a message
// is about: its newest unpaid invoice's payment link (the pay page when
// the invoice has none), or the customer portal, where the customer renews.
func (s *Service) renewLink(ctx context.Context, customerID, subscriptionID int64) string {
	invs, _, err := s.st.Q().ListInvoices(ctx, store.InvoiceFilter{Status: store.InvoiceUnpaid, CustomerID: customerID}, store.Page{Limit: 100})
	if err != nil {
		s.log.Warn("list the open invoices for a message's payment link; it links to the portal", "customer", customerID, "error", err)
	}
	for _, inv := range invs {
		if inv.SubscriptionID != subscriptionID {
			continue
		}
		if inv.PaymentURL != "" {
			return inv.PaymentURL
		}
		return s.PayLink(inv.Number)
	}
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/portal"
}
