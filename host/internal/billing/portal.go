package billing

// The customer portal (/portal): customers sign in with their router login
// or a one-time code sent to their phone through the notify plugin, see
// their subscription, data used and invoices, and buy or renew a plan.
// The web package's portal pages call these methods; the sessions and
// codes are the store's (migration 00008), apart from the admin users'.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// The portal's rules.
const (
	// PortalSessionTTL is how long a customer stays signed in.
	PortalSessionTTL = 7 * 24 * time.Hour
	// PortalCodeTTL is how long a one-time code works.
	PortalCodeTTL = 10 * time.Minute
	// PortalCodeAttempts is how many wrong codes end a code.
	PortalCodeAttempts = 5
	// portalPlugInTimeout bounds each call the portal makes to a plugin
	// while a page waits (the router's counters, the notifier's sessions).
	portalPluginTimeout = 4 * time.Second
)

// Errors of the portal's sign-in, for its pages.
var (
	// ErrPortalBadCredentials: no customer has this router username and
	// password.
	ErrPortalBadCredentials = errors.New("wrong username or password")
	// ErrPortalBadCode: the code is not the one sent (or none was sent).
	ErrPortalBadCode = errors.New("the code is not the one we sent; check the message, or ask for a new code")
	// ErrPortalCodeExpired: the code was right once but has expired or was
	// tried wrong too often; a new one is needed.
	ErrPortalCodeExpired = errors.New("the code has expired or was tried too often; ask for a new code")
	// ErrPortalNoMessaging: no notify plugin with a connected session can
	// send the code.
	ErrPortalNoMessaging = errors.New("codes cannot be sent just now: the messaging service is not connected; sign in with your router username and password")
	// ErrPortalPhoneShared: several customers have the phone number, so a
	// code cannot say who signs in.
	ErrPortalPhoneShared = errors.New("several accounts use this phone number; sign in with your router username and password")
)

// PortalSignIn checks a router username and password against every
// customer with that username (at any location), comparing in constant
// time, and returns the customer. A wrong pair is ErrPortalBadCredentials.
func (s *Service) PortalSignIn(ctx context.Context, username, password string) (*store.Customer, error) {
	if s.cipher == nil {
		return nil, fmt.Errorf("%w: the host has no encryption key (security.encryption_key), so customers' router passwords cannot be read", sdk.ErrFailedPrecondition)
	}
	found, err := s.st.Q().CustomersByRouterUsername(ctx, username, s.cipher)
	if err != nil {
		return nil, err
	}
	given := sha256.Sum256([]byte(password))
	var match *store.Customer
	for i := range found {
		c := &found[i]
		stored := sha256.Sum256([]byte(c.RouterPassword))
		// Every candidate is compared, matched or not, and digests of equal
		// length are compared, so the time says nothing of the password.
		ok := subtle.ConstantTimeCompare(given[:], stored[:]) == 1 && c.RouterPassword != ""
		if ok && match == nil {
			match = c
		}
	}
	if match == nil || password == "" {
		return nil, ErrPortalBadCredentials
	}
	return match, nil
}

// PortalCodesAvailable reports whether one-time codes can be sent: the
// configured notify plugin runs and has a connected session (the
// configured one, when one is).
func (s *Service) PortalCodesAvailable(ctx context.Context) bool {
	n, err := s.plugins.Notifier(s.cfg.NotifyPlugin)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, portalPluginTimeout)
	defer cancel()
	resp, err := n.ListSessions(ctx, &notify.ListSessionsRequest{})
	if err != nil {
		return false
	}
	for _, ss := range resp.Sessions {
		if ss.Status == notify.SessionStatusConnected && (s.cfg.NotifySession == "" || ss.ID == s.cfg.NotifySession) {
			return true
		}
	}
	return false
}

// codeDigest is the keyed digest of a phone's code that the store keeps.
func (s *Service) codeDigest(phone, code string) string {
	mac := hmac.New(sha256.New, s.cfg.LinkKey)
	mac.Write([]byte("mikrobill portal code v1\x00" + phone + "\x00" + code))
	return hex.EncodeToString(mac.Sum(nil))
}

// PortalSendCode makes a 6-digit code for the customer with the phone
// number, replacing the phone's earlier code, and sends message(code)
// through the notify plugin. A number no customer has gets no code and no
// error, so the answer does not tell who is a customer.
func (s *Service) PortalSendCode(ctx context.Context, phone string, message func(code string) string) error {
	if err := notify.ValidateE164(phone); err != nil {
		return fmt.Errorf("%w: %w", sdk.ErrInvalidArgument, err)
	}
	found, err := s.st.Q().CustomersByPhone(ctx, phone)
	if err != nil {
		return err
	}
	switch {
	case len(found) == 0:
		s.log.Info("portal code asked for an unknown phone")
		return nil
	case len(found) > 1:
		return ErrPortalPhoneShared
	}
	n, err := s.plugins.Notifier(s.cfg.NotifyPlugin)
	if err != nil {
		return fmt.Errorf("%w (%w)", ErrPortalNoMessaging, err)
	}
	num, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return err
	}
	code := fmt.Sprintf("%06d", num.Int64())
	digest := s.codeDigest(phone, code)
	rec := &store.PortalCode{Phone: phone, CodeHash: digest, CustomerID: found[0].ID, ExpiresAt: s.now().Add(PortalCodeTTL)}
	if err := s.st.Q().PutPortalCode(ctx, rec); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, portalPluginTimeout)
	defer cancel()
	_, err = n.Send(sctx, &notify.SendRequest{SessionID: s.cfg.NotifySession, To: phone, Text: message(code), IdempotencyKey: "portal-code-" + digest[:24]})
	if err != nil {
		// A code nobody received must not stay usable.
		if derr := s.st.Q().DeletePortalCode(ctx, phone); derr != nil {
			s.log.Warn("delete an unsent portal code", "customer", found[0].ID, "error", derr)
		}
		return fmt.Errorf("%w (%w)", ErrPortalNoMessaging, err)
	}
	s.log.Info("portal code sent", "customer", found[0].ID)
	return nil
}

// PortalCheckCode checks a phone's code and returns its customer. A right
// code works once: of two requests with it, one wins. A wrong one counts
// (ErrPortalBadCode) and PortalCodeAttempts of them end the code
// (ErrPortalCodeExpired), as its expiry does.
func (s *Service) PortalCheckCode(ctx context.Context, phone, code string) (*store.Customer, error) {
	q := s.st.Q()
	rec, err := q.GetPortalCode(ctx, phone)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrPortalBadCode
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(rec.ExpiresAt) || rec.Attempts >= PortalCodeAttempts {
		if err := q.DeletePortalCode(ctx, phone); err != nil {
			return nil, err
		}
		return nil, ErrPortalCodeExpired
	}
	digest := s.codeDigest(phone, code)
	if !hmac.Equal([]byte(digest), []byte(rec.CodeHash)) {
		n, err := q.FailPortalCode(ctx, phone)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrPortalBadCode
		}
		if err != nil {
			return nil, err
		}
		if n >= PortalCodeAttempts {
			if err := q.DeletePortalCode(ctx, phone); err != nil {
				return nil, err
			}
			return nil, ErrPortalCodeExpired
		}
		return nil, ErrPortalBadCode
	}
	used, err := q.UsePortalCode(ctx, phone, digest)
	if err != nil {
		return nil, err
	}
	if !used {
		return nil, ErrPortalBadCode
	}
	return q.GetCustomer(ctx, rec.CustomerID, nil)
}

// PortalStartSession starts a portal session for a customer and returns
// the cookie's value and when it ends.
func (s *Service) PortalStartSession(ctx context.Context, customerID int64, remote string) (string, time.Time, error) {
	value, digest, err := auth.NewSessionValue()
	if err != nil {
		return "", time.Time{}, err
	}
	sess := &store.PortalSession{IDHash: digest, CustomerID: customerID, ExpiresAt: s.now().Add(PortalSessionTTL), Remote: remote}
	if err := s.st.Q().CreatePortalSession(ctx, sess); err != nil {
		return "", time.Time{}, err
	}
	return value, sess.ExpiresAt, nil
}

// PortalSession returns the customer a portal cookie's value signs in, or
// nil when it signs in no one (unknown, ended or expired).
func (s *Service) PortalSession(ctx context.Context, value string) (*store.Customer, error) {
	q := s.st.Q()
	digest := auth.Digest(value)
	sess, err := q.GetPortalSession(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(sess.ExpiresAt) {
		if err := q.DeletePortalSession(ctx, digest); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("delete an expired portal session", "customer", sess.CustomerID, "error", err)
		}
		return nil, nil
	}
	c, err := q.GetCustomer(ctx, sess.CustomerID, nil)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return c, err
}

// PortalEndSession ends the session of a portal cookie's value, if any.
func (s *Service) PortalEndSession(ctx context.Context, value string) error {
	err := s.st.Q().DeletePortalSession(ctx, auth.Digest(value))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// PortalSubscription is one of a customer's subscriptions as the portal
// shows it.
type PortalSubscription struct {
	store.Subscription
	Plan *store.Plan
}

// PortalUsage is what the router reports of a customer's use now.
type PortalUsage struct {
	// Unreachable: the router (or its plugin) did not answer.
	Unreachable bool
	// Online: the customer has an active session.
	Online bool
	// Bytes is the traffic of the active sessions, in and out.
	Bytes uint64
	// Uptime is the longest active session's.
	Uptime time.Duration
}

// PortalInvoice is an invoice with its plan's name and, while unpaid, its
// pay page (a path on the host: PayPath).
type PortalInvoice struct {
	store.Invoice
	Plan    string
	PayLink string
}

// PortalHome is what the portal's home page shows a customer.
type PortalHome struct {
	Customer *store.Customer
	// Current is the subscription the customer uses (the newest active or
	// isolated one, else the newest), nil when none.
	Current *PortalSubscription
	// Usage is the router's report on Current (nil without one).
	Usage    *PortalUsage
	Invoices []PortalInvoice
	// Plans are the plans on sale (active, with a price).
	Plans []store.Plan
}

// PortalHome loads the portal's home page for a customer. Its records are
// read in one snapshot (store.ReadTx), so the page never shows an invoice
// paid with the subscription it renewed not yet extended. Then the router
// is asked for the data used, with a short timeout; when it does not
// answer, Usage says so and the page shows the rest.
func (s *Service) PortalHome(ctx context.Context, customerID int64) (*PortalHome, error) {
	var h *PortalHome
	if err := s.st.ReadTx(ctx, func(q *store.Queries) error {
		var err error
		h, err = portalRecords(ctx, q, customerID, s.PayPath)
		return err
	}); err != nil {
		return nil, err
	}
	if h.Current != nil && h.Current.Plan != nil && h.Current.Status == store.SubscriptionActive {
		h.Usage = s.portalUsage(ctx, h.Customer, *h.Current.Plan)
	}
	return h, nil
}

// portalRecords reads what the portal's home page shows from the store.
func portalRecords(ctx context.Context, q *store.Queries, customerID int64, payPath func(number string) string) (*PortalHome, error) {
	cust, err := q.GetCustomer(ctx, customerID, nil)
	if err != nil {
		return nil, err
	}
	h := &PortalHome{Customer: cust}
	plans, _, err := q.ListPlans(ctx, store.Page{Limit: store.MaxLimit})
	if err != nil {
		return nil, err
	}
	byID := map[int64]*store.Plan{}
	for i := range plans {
		p := &plans[i]
		byID[p.ID] = p
		if p.Active && p.Price > 0 {
			h.Plans = append(h.Plans, *p)
		}
	}
	subs, _, err := q.ListSubscriptions(ctx, store.SubscriptionFilter{CustomerID: customerID}, store.Page{Limit: 20})
	if err != nil {
		return nil, err
	}
	for i := range subs {
		sub := &subs[i]
		if sub.Status == store.SubscriptionActive || sub.Status == store.SubscriptionIsolated {
			h.Current = &PortalSubscription{Subscription: *sub, Plan: byID[sub.PlanID]}
			break
		}
	}
	if h.Current == nil && len(subs) > 0 {
		h.Current = &PortalSubscription{Subscription: subs[0], Plan: byID[subs[0].PlanID]}
	}
	invoices, _, err := q.ListInvoices(ctx, store.InvoiceFilter{CustomerID: customerID}, store.Page{Limit: 50})
	if err != nil {
		return nil, err
	}
	for _, inv := range invoices {
		pi := PortalInvoice{Invoice: inv}
		if p := byID[inv.PlanID]; p != nil {
			pi.Plan = p.Name
		}
		if inv.Status == store.InvoiceUnpaid {
			pi.PayLink = payPath(inv.Number)
		}
		h.Invoices = append(h.Invoices, pi)
	}
	return h, nil
}

// portalUsage asks the customer's router for their active sessions.
func (s *Service) portalUsage(ctx context.Context, cust *store.Customer, plan store.Plan) *PortalUsage {
	u := &PortalUsage{}
	loc, err := s.st.Q().GetLocation(ctx, cust.LocationID)
	if err != nil {
		u.Unreachable = true
		return u
	}
	rt, err := s.plugins.Router(loc.Plugin)
	if err != nil {
		u.Unreachable = true
		return u
	}
	ctx, cancel := context.WithTimeout(ctx, portalPluginTimeout)
	defer cancel()
	resp, err := rt.ListActiveSessions(ctx, &router.ListActiveSessionsRequest{Location: loc.Name, Kind: userKind(plan), User: cust.RouterUsername})
	if err != nil {
		s.log.Info("portal: the router did not report usage", "customer", cust.ID, "location", loc.Name, "error", err)
		u.Unreachable = true
		return u
	}
	for _, ss := range resp.Sessions {
		if ss.User != cust.RouterUsername {
			continue
		}
		u.Online = true
		u.Bytes += ss.BytesIn + ss.BytesOut
		u.Uptime = max(u.Uptime, ss.Uptime)
	}
	return u
}

// PortalBuy makes an invoice for a plan the customer chose and starts its
// payment at the gateway, both as actor ("portal:<router username>").
// Where the customer goes next is the payment's CheckoutURL, else the
// invoice's PaymentURL (then the pay page's PayPath). A
// customer with a subscription on the plan renews it (the payment extends
// it); otherwise the payment starts a new one. When the gateway refuses,
// the invoice is cancelled again.
func (s *Service) PortalBuy(ctx context.Context, customerID, planID int64, gateway, actor string) (*PaymentStart, error) {
	q := s.st.Q()
	plan, err := q.GetPlan(ctx, planID)
	if err != nil {
		return nil, err
	}
	if !plan.Active || plan.Price <= 0 {
		return nil, fmt.Errorf("%w: plan %q is not on sale", sdk.ErrFailedPrecondition, plan.Name)
	}
	subs, _, err := q.ListSubscriptions(ctx, store.SubscriptionFilter{CustomerID: customerID}, store.Page{Limit: 20})
	if err != nil {
		return nil, err
	}
	var renew int64
	for _, sub := range subs {
		if sub.PlanID == planID && sub.Status != store.SubscriptionCancelled && sub.Status != store.SubscriptionPending {
			renew = sub.ID
			break
		}
	}
	inv, err := s.CreateInvoice(ctx, customerID, planID, renew, 24*time.Hour, actor)
	if err != nil {
		return nil, err
	}
	start, err := s.StartPayment(ctx, inv.ID, gateway, "", actor)
	if err != nil {
		if cerr := s.CancelInvoice(ctx, inv.ID, actor); cerr != nil {
			s.log.Warn("cancel a portal invoice whose payment did not start", "invoice", inv.Number, "error", cerr)
		}
		return nil, err
	}
	s.log.Info("portal purchase started", "customer", strconv.FormatInt(customerID, 10), "invoice", inv.Number, "gateway", gateway)
	if start.Payment.CheckoutURL == "" {
		// The host's own pay page, on the address the customer uses.
		start.Invoice.PaymentURL = s.PayPath(inv.Number)
	}
	return start, nil
}

// PortalInvoicePDF writes the customer's invoice id as a PDF (a receipt
// once paid; InvoicePDF) and returns its file name. An invoice of another
// customer is store.ErrNotFound, as one that does not exist: the portal
// does not tell them apart.
func (s *Service) PortalInvoicePDF(ctx context.Context, w io.Writer, customerID, invoiceID int64, lang string) (string, error) {
	inv, err := s.st.Q().GetInvoice(ctx, invoiceID)
	if err != nil {
		return "", err
	}
	if inv.CustomerID != customerID {
		return "", fmt.Errorf("invoice %d: %w", invoiceID, store.ErrNotFound)
	}
	return s.InvoicePDF(ctx, w, invoiceID, lang)
}
