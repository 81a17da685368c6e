package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

// qrPNGSize is the side of the QR images GetSession returns, in pixels.
const qrPNGSize = 256

// firstQRWait bounds how long StartPairing waits for the first QR code, so
// its answer can show it.
const firstQRWait = 10 * time.Second

// session is one sender session: a linked device and everything that
// happens to it. It owns its device, its state and its reconnect timer;
// the device's events reach it through watch, one goroutine per device.
// The sender reads it through canSend and claims it through the slot
// methods.
type session struct {
	p  *Plugin
	id string

	mu          sync.Mutex
	dev         wa.Device
	status      notify.SessionStatus
	hasKeys     bool
	phone       string
	pushName    string
	connectedAt time.Time
	lastSeen    time.Time
	err         string
	// While pairing: the current QR code (and its image and expiry) or the
	// pairing code; qrReady is signalled at the first code or the
	// pairing's end.
	qr        string
	qrPNG     []byte
	qrExpires time.Time
	code      string
	qrReady   chan struct{}
	// Reconnects: how many in a row, and the pending one.
	attempt   int
	reconnect *time.Timer
	closed    bool
	// The sender's bookkeeping: a message in flight, when the next may
	// start, and when the last one did.
	busy     bool
	nextSlot time.Time
	lastSend time.Time
}

func newSession(p *Plugin, rec sessionRecord) *session {
	s := &session{p: p, id: rec.ID, phone: rec.Phone, pushName: rec.PushName, status: notify.SessionStatusDisconnected}
	if rec.Phone != "" {
		// Paired once; without keys now it was logged out.
		s.status = notify.SessionStatusLoggedOut
	}
	return s
}

// start opens the device and connects it when it is paired.
func (s *session) start(ctx context.Context) error {
	dev, err := s.p.backend.Open(ctx, s.id)
	if err != nil {
		return fmt.Errorf("open session %q: %w", s.id, err)
	}
	s.mu.Lock()
	s.dev = dev
	phone, paired := dev.Paired()
	s.hasKeys = paired
	if paired {
		if phone != "" {
			s.phone = phone
		}
		s.status = notify.SessionStatusConnecting
	} else if s.status == notify.SessionStatusLoggedOut {
		s.err = "logged out: pair this session again on the Messaging page"
	}
	s.mu.Unlock()
	go s.watch(dev)
	if paired {
		// In the background: a network that is down must not hold up
		// Configure.
		go s.connect(dev)
	}
	return nil
}

// connectWatchdog is how long a connection may take to log in after
// Connect returned. A connection that neither logs in nor fails in that
// time (a socket that opened and then went quiet) is dropped and tried
// again with the backoff, so a session never stays "connecting" for good.
// Tests shorten it (atomic: timers of earlier tests may still read it).
var connectWatchdog atomic.Int64

func init() { connectWatchdog.Store(int64(90 * time.Second)) }

// connect connects a paired device, scheduling a retry when it fails or
// hangs.
func (s *session) connect(dev wa.Device) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dev.Connect(ctx); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.dev == dev && !s.closed {
			s.err = "connect: " + err.Error()
			s.scheduleReconnectLocked(dev)
		}
		return
	}
	s.mu.Lock()
	attempt := s.attempt
	s.mu.Unlock()
	time.AfterFunc(time.Duration(connectWatchdog.Load()), func() { s.connectTimedOut(dev, attempt) })
}

// connectTimedOut drops a connection that has not logged in since the
// attempt the watchdog was set for, and tries again.
func (s *session) connectTimedOut(dev wa.Device, attempt int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev != dev || s.closed || !s.hasKeys || s.status != notify.SessionStatusConnecting || s.attempt != attempt || dev.Connected() {
		return
	}
	after := time.Duration(connectWatchdog.Load())
	s.err = fmt.Sprintf("the connection did not log in within %s; trying again", after)
	s.p.log().Warn("session connection hung; reconnecting", "session", s.id, "after", after.String())
	go dev.Disconnect()
	s.scheduleReconnectLocked(dev)
}

// scheduleReconnectLocked connects again after the backoff.
func (s *session) scheduleReconnectLocked(dev wa.Device) {
	if s.reconnect != nil {
		s.reconnect.Stop()
	}
	s.attempt++
	s.status = notify.SessionStatusConnecting
	wait := s.p.settings().backoff(s.attempt, s.p.rand)
	s.p.log().Info("session reconnects", "session", s.id, "attempt", s.attempt, "in", wait.String())
	s.reconnect = time.AfterFunc(wait, func() {
		s.mu.Lock()
		ok := s.dev == dev && !s.closed && s.hasKeys && s.status == notify.SessionStatusConnecting
		s.mu.Unlock()
		if ok && !dev.Connected() {
			s.connect(dev)
		}
	})
}

// watch handles a device's events until its channel closes.
func (s *session) watch(dev wa.Device) {
	for e := range dev.Events() {
		s.handle(dev, e)
	}
}

func (s *session) handle(dev wa.Device, e wa.Event) {
	if e.Type == wa.EventReceipt {
		s.p.receipt(s.id, e)
		return
	}
	log := s.p.log().With("session", s.id)
	s.mu.Lock()
	if s.dev != dev || s.closed {
		s.mu.Unlock()
		return
	}
	s.lastSeen = time.Now()
	var save *sessionRecord
	forget, wake := false, false
	switch e.Type {
	case wa.EventQR:
		if s.code != "" {
			break // pairing by code: no QR codes to show
		}
		s.status = notify.SessionStatusPairing
		s.qr, s.qrExpires, s.err = e.QR, time.Now().Add(e.Timeout), ""
		s.qrPNG = nil
		if png, err := qrcode.Encode(e.QR, qrcode.Medium, qrPNGSize); err == nil {
			s.qrPNG = png
		} else {
			log.Warn("cannot render the QR code as an image", "error", err)
		}
		s.signalQRLocked()
		log.Info("session shows a new QR code", "expires_in", e.Timeout.String())
	case wa.EventPairSuccess:
		s.clearPairingLocked()
		s.hasKeys, s.phone, s.pushName = true, e.Phone, e.PushName
		s.status, s.err = notify.SessionStatusConnecting, ""
		save = &sessionRecord{ID: s.id, Phone: e.Phone, PushName: e.PushName}
		log.Info("session paired", "phone", e.Phone)
	case wa.EventPairError:
		s.clearPairingLocked()
		s.status = notify.SessionStatusDisconnected
		if s.phone != "" {
			s.status = notify.SessionStatusLoggedOut
		}
		s.err = fmt.Sprintf("pairing failed: %v; start pairing again on the Messaging page", e.Err)
		go dev.Disconnect()
		log.Warn("pairing failed", "error", e.Err)
	case wa.EventConnected:
		s.clearPairingLocked()
		s.hasKeys = true
		s.status, s.err, s.attempt = notify.SessionStatusConnected, "", 0
		s.connectedAt = time.Now()
		wake = true
		log.Info("session connected")
	case wa.EventDisconnected:
		if s.hasKeys && s.status != notify.SessionStatusLoggedOut {
			s.err = fmt.Sprintf("disconnected: %v", e.Err)
			s.scheduleReconnectLocked(dev)
			log.Warn("session disconnected; reconnecting", "error", e.Err)
		}
	case wa.EventLoggedOut:
		s.clearPairingLocked()
		s.hasKeys = false
		s.status = notify.SessionStatusLoggedOut
		s.err = "logged out from the phone: its messages go through the other sessions; pair it again on the Messaging page"
		forget, wake = true, true
		log.Warn("session logged out from the phone", "error", e.Err)
	}
	s.mu.Unlock()
	if save != nil {
		if err := s.p.saveSession(context.Background(), *save); err != nil {
			log.Error("cannot save the paired session", "error", err)
		}
		// Its keys go to the durable store now, not at the next check.
		s.p.shared.wake()
	}
	if forget {
		if err := s.p.forgetKeys(context.Background(), s.id); err != nil {
			log.Error("cannot delete the logged-out session's keys", "error", err)
		}
	}
	if wake {
		s.p.wake()
	}
}

func (s *session) clearPairingLocked() {
	s.qr, s.qrPNG, s.qrExpires, s.code = "", nil, time.Time{}, ""
	s.signalQRLocked()
}

func (s *session) signalQRLocked() {
	if s.qrReady != nil {
		close(s.qrReady)
		s.qrReady = nil
	}
}

// pair starts pairing: by QR code, or by pairing code for phone (digits)
// when it is set. It opens a fresh device (keys from an earlier pairing are
// gone) and returns when the first code is there.
func (s *session) pair(ctx context.Context, phone string) error {
	s.mu.Lock()
	if s.hasKeys && (s.status == notify.SessionStatusConnected || s.status == notify.SessionStatusConnecting) {
		s.mu.Unlock()
		return fmt.Errorf("%w: session %q is already paired (%s); log it out first to pair it with another phone", sdk.ErrFailedPrecondition, s.id, s.status)
	}
	old := s.dev
	s.dev = nil
	if s.reconnect != nil {
		s.reconnect.Stop()
	}
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	dev, err := s.p.backend.Open(ctx, s.id)
	if err != nil {
		return fmt.Errorf("open session %q: %w", s.id, err)
	}
	ready := make(chan struct{})
	s.mu.Lock()
	s.clearPairingLocked()
	s.dev, s.qrReady = dev, ready
	s.status, s.err, s.hasKeys, s.attempt = notify.SessionStatusPairing, "", false, 0
	s.mu.Unlock()
	go s.watch(dev)

	fail := func(err error) error {
		s.mu.Lock()
		if s.dev == dev {
			s.status, s.err = notify.SessionStatusDisconnected, err.Error()
			s.clearPairingLocked()
		}
		s.mu.Unlock()
		dev.Disconnect()
		return err
	}
	if phone != "" {
		if err := dev.Connect(ctx); err != nil {
			return fail(fmt.Errorf("%w: session %q: connect to pair by code: %w", sdk.ErrUnavailable, s.id, err))
		}
		// WhatsApp takes a pairing code request once the connection shows
		// its first QR code.
		select {
		case <-ready:
		case <-ctx.Done():
		case <-time.After(firstQRWait):
		}
		code, err := dev.PairPhone(ctx, phone)
		if err != nil {
			return fail(fmt.Errorf("%w: session %q: ask for a pairing code for +%s: %w", sdk.ErrUnavailable, s.id, phone, err))
		}
		s.mu.Lock()
		if s.dev == dev && s.status == notify.SessionStatusPairing {
			// The code replaces the QR codes.
			s.code, s.qr, s.qrPNG, s.qrExpires = code, "", nil, time.Time{}
		}
		s.mu.Unlock()
		return nil
	}
	if err := dev.PairQR(ctx); err != nil {
		return fail(fmt.Errorf("%w: session %q: start QR pairing: %w", sdk.ErrUnavailable, s.id, err))
	}
	if err := dev.Connect(ctx); err != nil {
		return fail(fmt.Errorf("%w: session %q: connect to pair: %w", sdk.ErrUnavailable, s.id, err))
	}
	select {
	case <-ready:
	case <-ctx.Done():
	case <-time.After(firstQRWait):
	}
	return nil
}

// logout unpairs the session (from the Messaging page). A session already
// logged out is forgotten instead: it leaves the list.
func (s *session) logout(ctx context.Context) (forgotten bool, err error) {
	s.mu.Lock()
	dev, hadKeys, status := s.dev, s.hasKeys, s.status
	if !hadKeys && status != notify.SessionStatusPairing {
		s.mu.Unlock()
		s.close()
		return true, nil
	}
	if s.reconnect != nil {
		s.reconnect.Stop()
	}
	// The device goes: its events from here on (the logout's own) are not
	// news, and pairing again opens a fresh one.
	s.dev = nil
	s.hasKeys = false
	s.clearPairingLocked()
	s.mu.Unlock()
	var logoutErr error
	if dev != nil {
		if hadKeys {
			logoutErr = dev.Logout(ctx)
		}
		dev.Disconnect()
		_ = dev.Close()
	}
	// The keys go whatever WhatsApp answered: the operator asked.
	if err := s.p.forgetKeys(ctx, s.id); err != nil {
		return false, fmt.Errorf("session %q: forget its keys: %w", s.id, err)
	}
	s.mu.Lock()
	s.status = notify.SessionStatusLoggedOut
	if s.phone == "" {
		s.status = notify.SessionStatusDisconnected
	}
	s.err = "logged out from the Messaging page; pair it again to send from it"
	if logoutErr != nil {
		s.err += fmt.Sprintf(" (WhatsApp was not told: %v; remove the linked device on the phone too)", logoutErr)
	}
	s.mu.Unlock()
	s.p.wake()
	return false, nil
}

// close closes the device for good.
func (s *session) close() {
	s.mu.Lock()
	dev := s.dev
	s.closed = true
	if s.reconnect != nil {
		s.reconnect.Stop()
	}
	s.signalQRLocked()
	s.mu.Unlock()
	if dev != nil {
		_ = dev.Close()
	}
}

// snapshot is the session as notify describes it.
func (s *session) snapshot() notify.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := notify.Session{ID: s.id, Status: s.status, DisplayName: s.pushName, LastSeenAt: s.lastSeen, Error: s.err}
	if s.phone != "" {
		out.Phone = "+" + s.phone
	}
	if s.status == notify.SessionStatusConnected {
		out.ConnectedAt = s.connectedAt
	}
	if s.status == notify.SessionStatusPairing && (s.qr != "" || s.code != "") {
		out.Pairing = &notify.Pairing{QRCode: s.qr, QRPNG: s.qrPNG, PairingCode: s.code, ExpiresAt: s.qrExpires}
	}
	return out
}

// state is the session's status, and whether it has keys.
func (s *session) state() (notify.SessionStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.hasKeys
}

// canSend reports whether the sender may give the session a message now
// (connected, nothing in flight, its slot come), or when it may.
func (s *session) canSend(now time.Time) (ok bool, at time.Time, connected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != notify.SessionStatusConnected || s.busy || s.closed || s.dev == nil {
		return false, time.Time{}, s.status == notify.SessionStatusConnected
	}
	return !s.nextSlot.After(now), s.nextSlot, true
}

// claim takes the session's slot for one message at now, and sets the
// next: spacing (the delay plus this slot's jitter) after this slot's
// scheduled time, but never less than delay after now. So a sender that
// wakes a little late catches up within the jitter, and two messages of a
// session are never closer than the delay.
func (s *session) claim(now time.Time, delay, spacing time.Duration) wa.Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.nextSlot
	if start.IsZero() || start.After(now) {
		start = now
	}
	next := start.Add(spacing)
	if floor := now.Add(delay); next.Before(floor) {
		next = floor
	}
	s.busy, s.lastSend, s.nextSlot = true, now, next
	return s.dev
}

// release ends the message in flight. When it was sent (sentAt, when the
// send began), the next slot is at least half the delay after it: a send
// that started very late (the machine stalled) does not bring the next one
// close to it. (Slots themselves are a full delay apart, see claim; the
// send begins a moment after its slot.)
func (s *session) release(sentAt time.Time, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = false
	if floor := sentAt.Add(delay / 2); !sentAt.IsZero() && s.nextSlot.Before(floor) {
		s.nextSlot = floor
	}
}

// lastSent is when the session last started a message (for the least
// recently used choice).
func (s *session) lastSent() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSend
}
