package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

// Name and Version must match plugin.json.
const (
	Name    = "whatsapp"
	Version = "0.2.0"
)

const description = "WhatsApp messages to customers from linked-device sessions, through a throttled durable queue"

// BackendFunc opens WhatsApp's side in the plugin's data directory: the
// default build's is whatsmeow, the wafake build's the fake.
type BackendFunc func(dir string, log hclog.Logger) (wa.Backend, error)

// Plugin is mikrobill's WhatsApp plugin. The first Configure opens the
// queue and the backend in the data directory, starts every session the
// operator created and the sender; Shutdown stops them.
type Plugin struct {
	sdk.Base

	newBackend BackendFunc

	// cfg is read without a lock (sessions read it under their own), and
	// replaced by Configure.
	cfg atomic.Pointer[settings]

	mu       sync.RWMutex
	started  bool
	sessions map[string]*session
	order    []string // session ids, in the order created

	// Set by the first Configure.
	store   *store
	backend wa.Backend
	sender  *sender
	shared  *shared
	stats   *stats

	rmu sync.Mutex
	rng *rand.Rand

	// logger, when set, replaces the logger Serve gives (tests).
	logger hclog.Logger
	// host, when set, replaces the host services Serve gives (tests).
	host sdk.Host
}

var (
	_ notify.Notifier = (*Plugin)(nil)
	_ sdk.Shutdowner  = (*Plugin)(nil)
)

// NewPlugin returns an unconfigured plugin on the backend newBackend opens.
func NewPlugin(newBackend BackendFunc) *Plugin {
	p := &Plugin{
		newBackend: newBackend,
		sessions:   map[string]*session{},
		stats:      newStats(),
		rng:        rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	cfg := DefaultSettings()
	p.cfg.Store(&cfg)
	return p
}

// Describe implements sdk.Plugin.
func (p *Plugin) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: Name, Version: Version, Description: description}, nil
}

// Configure implements sdk.Plugin. The first call opens the queue and the
// sessions in the data directory; later ones change the settings at once
// (the sender reads them for every message).
func (p *Plugin) Configure(ctx context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	cfg := DefaultSettings()
	if err := sdk.DecodeConfig(req.Settings, &cfg); err != nil {
		return nil, err
	}
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	resp := &sdk.ConfigureResponse{}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.Store(&cfg)
	for _, ls := range cfg.LocationSessions {
		if _, ok := p.sessions[ls.Session]; !ok && p.started {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf("location_sessions: location %q names session %q, which does not exist yet; its messages go through the other sessions until it is paired", ls.Location, ls.Session))
		}
	}
	if active := p.activeLocked(); active > cfg.MaxSessions {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("max_sessions is %d but %d sessions are paired; they keep sending, and no new session can be paired until some are logged out", cfg.MaxSessions, active))
	}
	if p.started {
		if p.sender != nil {
			p.sender.wake()
		}
		return resp, nil
	}
	if req.DataDir == "" {
		return nil, fmt.Errorf("%w: the host gave no data directory; the whatsapp plugin keeps its queue and device keys there (upgrade the host)", sdk.ErrFailedPrecondition)
	}
	st, err := openStore(req.DataDir)
	if err != nil {
		return nil, err
	}
	backend, err := p.newBackend(req.DataDir, p.log().Named("wa"))
	if err != nil {
		st.close()
		return nil, fmt.Errorf("open whatsapp's device store in %s: %w", req.DataDir, err)
	}
	sh := newShared(p, p.kv(), st, backend)
	if err := sh.restore(ctx); err != nil {
		backend.Close()
		st.close()
		return nil, fmt.Errorf("bring the whatsapp state in %s up to date from the host's durable store: %w", req.DataDir, err)
	}
	recs, err := st.sessions(ctx)
	if err != nil {
		backend.Close()
		st.close()
		return nil, err
	}
	p.store, p.backend, p.shared = st, backend, sh
	for _, r := range recs {
		s := newSession(p, r)
		p.sessions[r.ID] = s
		p.order = append(p.order, r.ID)
	}
	p.started = true
	p.sender = newSender(p)
	for _, id := range p.order {
		if err := p.sessions[id].start(ctx); err != nil {
			resp.Warnings = append(resp.Warnings, err.Error())
			p.log().Error("cannot start a session", "session", id, "error", err)
		}
	}
	go p.sender.run()
	go sh.run()
	p.log().Info("whatsapp plugin started", "sessions", len(p.order), "data_dir", req.DataDir)
	return resp, nil
}

// Shutdown implements sdk.Shutdowner: the sender stops (the message in
// flight finishes), then the sessions; the device state that changed since
// it was last saved goes to the durable store, and the backend and the
// queue close.
func (p *Plugin) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.started {
		p.mu.Unlock()
		return nil
	}
	// The store and backend stay set (closed): a late receipt or call gets
	// an error, not a nil pointer.
	snd, sessions, backend, st, sh := p.sender, p.sessions, p.backend, p.store, p.shared
	p.sessions, p.order, p.sender, p.started = map[string]*session{}, nil, nil, false
	p.mu.Unlock()
	if snd != nil {
		snd.stop(ctx)
	}
	for _, s := range sessions {
		s.close()
	}
	var errs []error
	if sh != nil {
		if err := sh.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("save the device state to the host's durable store: %w", err))
		}
	}
	if backend != nil {
		errs = append(errs, backend.Close())
	}
	if st != nil {
		errs = append(errs, st.close())
	}
	return errors.Join(errs...)
}

// log is the plugin's logger: hclog JSON on stderr.
func (p *Plugin) log() hclog.Logger {
	if p.logger != nil {
		return p.logger
	}
	return p.Logger()
}

// kv is the host's services: the durable store keeps what must move with
// the plugin to another host (shared.go).
func (p *Plugin) kv() sdk.Host {
	if p.host != nil {
		return p.host
	}
	return p.Host()
}

// saveSession records a session in the durable store, then in the queue's
// database.
func (p *Plugin) saveSession(ctx context.Context, r sessionRecord) error {
	if err := p.shared.saveSession(ctx, r); err != nil {
		return err
	}
	return p.store.saveSession(ctx, r)
}

// deleteSession forgets a session in the durable store and the queue's
// database.
func (p *Plugin) deleteSession(ctx context.Context, id string) error {
	if err := p.shared.deleteSession(ctx, id); err != nil {
		return err
	}
	return p.store.deleteSession(ctx, id)
}

// forgetKeys deletes a session's keys here and in the durable store.
func (p *Plugin) forgetKeys(ctx context.Context, id string) error {
	if err := p.backend.Delete(ctx, id); err != nil {
		return err
	}
	return p.shared.forgetDevice(ctx, id)
}

// settings are the current settings; safe under any lock.
func (p *Plugin) settings() settings { return *p.cfg.Load() }

// rand is a random number in [0, 1), for jitter.
func (p *Plugin) rand() float64 {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.rng.Float64()
}

// wake tells the sender something changed (a session connected, a message
// was queued).
func (p *Plugin) wake() {
	p.mu.RLock()
	snd := p.sender
	p.mu.RUnlock()
	if snd != nil {
		snd.wake()
	}
}

// ready checks that Configure has run.
func (p *Plugin) ready() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.started {
		return fmt.Errorf("%w: the whatsapp plugin is not configured yet", sdk.ErrUnavailable)
	}
	return nil
}

// sessionList is every session, in the order created.
func (p *Plugin) sessionList() []*session {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*session, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, p.sessions[id])
	}
	return out
}

func (p *Plugin) session(id string) (*session, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s, ok := p.sessions[id]
	if !ok {
		return nil, fmt.Errorf("%w: no session %q; start pairing to create it", notify.ErrUnknownSession, id)
	}
	return s, nil
}

// ListSessions implements notify.Notifier.
func (p *Plugin) ListSessions(context.Context, *notify.ListSessionsRequest) (*notify.ListSessionsResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	resp := &notify.ListSessionsResponse{Sessions: []notify.Session{}}
	for _, s := range p.sessionList() {
		resp.Sessions = append(resp.Sessions, s.snapshot())
	}
	return resp, nil
}

// GetSession implements notify.Notifier.
func (p *Plugin) GetSession(_ context.Context, req *notify.GetSessionRequest) (*notify.GetSessionResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	s, err := p.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	return &notify.GetSessionResponse{Session: s.snapshot()}, nil
}

// StartPairing implements notify.Notifier. A new session counts against
// max_sessions with every session that is paired or pairing; a logged-out
// one does not.
func (p *Plugin) StartPairing(ctx context.Context, req *notify.StartPairingRequest) (*notify.StartPairingResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if err := checkSessionID(req.SessionID); err != nil {
		return nil, err
	}
	var phone string
	if req.Phone != "" {
		var err error
		if phone, err = NormalizePhone(req.Phone, p.settings().DefaultCountry); err != nil {
			return nil, fmt.Errorf("%w: pairing code for: %s", sdk.ErrInvalidArgument, strings.TrimPrefix(err.Error(), notify.ErrInvalidRecipient.Error()+": "))
		}
	}
	p.mu.Lock()
	s, ok := p.sessions[req.SessionID]
	counted := false
	if ok {
		st, keys := s.state()
		counted = keys || st == notify.SessionStatusPairing
	}
	if active := p.activeLocked(); !counted && active >= p.settings().MaxSessions {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %d sessions are paired or pairing, the most max_sessions allows; log one out, or raise max_sessions in the plugin's settings", sdk.ErrFailedPrecondition, active)
	}
	if !ok {
		s = newSession(p, sessionRecord{ID: req.SessionID})
		if err := p.saveSession(ctx, sessionRecord{ID: req.SessionID}); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.sessions[req.SessionID] = s
		p.order = append(p.order, req.SessionID)
	}
	p.mu.Unlock()
	if err := s.pair(ctx, phone); err != nil {
		return nil, err
	}
	by := "qr"
	if phone != "" {
		by = "code"
	}
	p.log().Info("pairing started", "session", req.SessionID, "by", by)
	return &notify.StartPairingResponse{Session: s.snapshot()}, nil
}

// Logout implements notify.Notifier. A session already logged out is
// forgotten (it leaves the list).
func (p *Plugin) Logout(ctx context.Context, req *notify.LogoutRequest) (*notify.LogoutResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	s, err := p.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	forgotten, err := s.logout(ctx)
	if err != nil {
		return nil, err
	}
	if forgotten {
		p.mu.Lock()
		if p.sessions[req.SessionID] == s {
			delete(p.sessions, req.SessionID)
			p.order = slices.DeleteFunc(p.order, func(id string) bool { return id == req.SessionID })
		}
		p.mu.Unlock()
		// Its keys are gone here; a logout whose tombstone did not reach
		// the store writes it now.
		if err := p.shared.forgetDevice(ctx, req.SessionID); err != nil {
			return nil, err
		}
		if err := p.deleteSession(ctx, req.SessionID); err != nil {
			return nil, err
		}
		p.log().Info("session forgotten", "session", req.SessionID)
		return &notify.LogoutResponse{}, nil
	}
	p.log().Info("session logged out", "session", req.SessionID)
	return &notify.LogoutResponse{}, nil
}

// Send implements notify.Notifier. The recipient is normalized (local
// numbers belong to default_country), the message recorded in the queue
// with its idempotency key, and Send returns: the sender sends it when a
// session can.
//
// When no session is paired at all (none connected, connecting or
// reconnecting), the message is queued all the same and Send answers
// ErrSessionNotConnected: the host's notify job retries (each retry
// answers the same until a session is paired, then the first message,
// Duplicate), so the job shows why nothing goes out, and the message is
// sent once, as soon as a session is paired, even if the host gave up.
func (p *Plugin) Send(ctx context.Context, req *notify.SendRequest) (*notify.SendResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	cfg := p.settings()
	to, err := NormalizePhone(req.To, cfg.DefaultCountry)
	if err != nil {
		return nil, err
	}
	r := *req
	r.To = "+" + to
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if req.SessionID != "" {
		if _, err := p.session(req.SessionID); err != nil {
			return nil, err
		}
	}
	m, dup, err := p.shared.accept(ctx, &message{IdempotencyKey: req.IdempotencyKey, Session: req.SessionID, Location: req.Location, To: to, Text: req.Text, Attachments: req.Attachments})
	if err != nil {
		if !errors.Is(err, sdk.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
		}
		return nil, err
	}
	if !dup {
		p.stats.queued.Inc()
		p.mu.RLock()
		if p.sender != nil {
			p.sender.queued()
		}
		p.mu.RUnlock()
	}
	if m.Status == notify.DeliveryStatusQueued && !p.anyPaired() {
		return nil, fmt.Errorf("%w: no WhatsApp session is paired, so message %s waits in the queue; pair a session on the Messaging page and it is sent", notify.ErrSessionNotConnected, m.ID)
	}
	resp := &notify.SendResponse{MessageID: m.ID, Status: m.Status, Duplicate: dup, SessionID: m.Session}
	if m.Status == notify.DeliveryStatusQueued {
		resp.SessionID = p.sender.plannedSession(m)
	}
	return resp, nil
}

// activeLocked counts the sessions paired or pairing, the ones
// max_sessions limits. p.mu is held.
func (p *Plugin) activeLocked() int {
	n := 0
	for _, s := range p.sessions {
		if st, keys := s.state(); keys || st == notify.SessionStatusPairing {
			n++
		}
	}
	return n
}

// anyPaired reports whether some session has keys (it is connected or
// will reconnect).
func (p *Plugin) anyPaired() bool {
	for _, s := range p.sessionList() {
		if _, keys := s.state(); keys {
			return true
		}
	}
	return false
}

// GetDeliveryStatus implements notify.Notifier.
func (p *Plugin) GetDeliveryStatus(ctx context.Context, req *notify.GetDeliveryStatusRequest) (*notify.GetDeliveryStatusResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if req.MessageID == "" && req.IdempotencyKey == "" {
		return nil, fmt.Errorf("%w: give a message id or an idempotency key", sdk.ErrInvalidArgument)
	}
	m, err := p.store.lookup(ctx, req.MessageID, req.IdempotencyKey)
	if errors.Is(err, notify.ErrUnknownMessage) {
		// Taken by another host that ran the plugin before this one.
		m, err = p.shared.lookup(ctx, req.MessageID, req.IdempotencyKey)
	}
	if err != nil {
		return nil, err
	}
	resp := &notify.GetDeliveryStatusResponse{MessageID: m.ID, Status: m.Status, UpdatedAt: m.UpdatedAt}
	if m.Status == notify.DeliveryStatusFailed {
		resp.Error = m.Error
	}
	return resp, nil
}

// receipt applies a device's receipt to the queue.
func (p *Plugin) receipt(sessionID string, e wa.Event) {
	var status notify.DeliveryStatus
	reason := ""
	switch e.Receipt {
	case wa.ReceiptDelivered:
		status = notify.DeliveryStatusDelivered
	case wa.ReceiptRead:
		status = notify.DeliveryStatusRead
	case wa.ReceiptFailed:
		status, reason = notify.DeliveryStatusFailed, "WhatsApp could not deliver the message"
	default:
		return
	}
	at := e.Time
	if at.IsZero() {
		at = timeNow()
	}
	n, err := p.store.applyReceipt(context.Background(), sessionID, e.MessageIDs, status, reason, at)
	if err != nil {
		p.log().Error("cannot record a receipt", "session", sessionID, "receipt", string(e.Receipt), "error", err)
		return
	}
	p.stats.receipts.Inc(string(e.Receipt))
	_ = n
	for _, id := range e.MessageIDs {
		err := p.shared.settle(context.Background(), id, true)
		if errors.Is(err, notify.ErrUnknownMessage) {
			// Sent by the host that ran the plugin before this one.
			err = p.shared.receipt(context.Background(), id, status, reason, at)
		}
		if err != nil {
			p.log().Error("cannot record a receipt in the host's durable store", "session", sessionID, "message", id, "error", err)
		}
	}
}
