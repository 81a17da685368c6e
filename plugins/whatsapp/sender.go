package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

var timeNow = time.Now

// dueBatch is how many due messages the sender reads at a time.
const dueBatch = 256

// bufMaxAge is how long the sender uses the due messages it read ahead
// before reading them again.
const bufMaxAge = time.Second

// duePages bounds how many batches one pass reads (64k messages).
const duePages = 256

// idleWait is how long the sender sleeps when nothing is due and nothing
// wakes it (a safety net: every change wakes it).
const idleWait = 30 * time.Second

// sender takes queued messages to sessions: each session at most one
// message per delay (plus jitter), one in flight per session, the least
// recently used ready session first. It owns its goroutine and the set of
// messages in flight.
type sender struct {
	p *Plugin

	kick     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	inflight sync.WaitGroup

	mu     sync.Mutex
	flying map[string]bool // message ids in flight
	// landed holds, for each message whose delivery ended since the read
	// ahead began, the number of its landing (gen counts them). A read of
	// the queue that began before a message landed may still show it as
	// due (its outcome was recorded after the read), so such a message is
	// skipped until a later read; without this, a message could be sent,
	// failed or retried twice.
	landed map[string]uint64
	gen    uint64

	// numbers known to be on WhatsApp, so each is checked once per run.
	onWA sync.Map

	// The due messages read ahead (dispatch's goroutine only): when read,
	// whether the read filled a batch (more may follow), and stale, set
	// when a message was queued or put back for a retry.
	buf     []*message
	bufAt   time.Time
	bufGen  uint64 // readStarts before buf was read
	bufFull bool
	stale   atomic.Bool
}

func newSender(p *Plugin) *sender {
	ctx, cancel := context.WithCancel(context.Background())
	return &sender{p: p, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}), flying: map[string]bool{}, landed: map[string]uint64{}}
}

// queued tells the sender the queue has new due messages.
func (s *sender) queued() {
	s.stale.Store(true)
	s.wake()
}

func (s *sender) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// stop ends the loop and waits for the messages in flight.
func (s *sender) stop(ctx context.Context) {
	s.cancel()
	select {
	case <-s.done:
	case <-ctx.Done():
		return
	}
	waited := make(chan struct{})
	go func() { s.inflight.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
	}
}

// Retention is how long a message that is done (sent, delivered, read or
// failed) stays in the queue's database, its idempotency key with it: a
// repeat of the key within it is a duplicate. The queue is pruned at start
// and daily.
const Retention = 400 * 24 * time.Hour

func (s *sender) run() {
	defer close(s.done)
	var pruned time.Time
	for {
		if now := timeNow(); now.Sub(pruned) >= 24*time.Hour {
			pruned = now
			if n, err := s.p.store.prune(s.ctx, now.Add(-Retention)); err != nil {
				s.p.log().Error("cannot prune the queue", "error", err)
			} else if n > 0 {
				s.p.log().Info("queue pruned", "messages", n, "older_than_days", int(Retention.Hours()/24))
			}
		}
		// dispatch's wait counts from when it started: the time it took
		// is not added to every session's slot.
		start := time.Now()
		wait := s.dispatch()
		t := time.NewTimer(wait - time.Since(start))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-s.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// dispatch hands due messages to ready sessions and says how long to sleep.
func (s *sender) dispatch() time.Duration {
	now := timeNow()
	cfg := s.p.settings()
	sessions := s.p.sessionList()
	wait := idleWait
	var ready []*session
	anyConnected := false
	for _, ss := range sessions {
		ok, at, connected := ss.canSend(now)
		anyConnected = anyConnected || connected
		switch {
		case ok:
			ready = append(ready, ss)
		case !at.IsZero() && at.After(now):
			wait = min(wait, at.Sub(now))
		}
	}
	if !anyConnected {
		return s.untilDue(now, wait)
	}
	if len(ready) == 0 {
		return wait
	}
	// The due messages read ahead, oldest first, then further pages while
	// ready sessions remain: messages waiting for a reconnecting session do
	// not hold up the rest.
	if len(s.buf) == 0 || s.stale.Swap(false) || now.Sub(s.bufAt) > bufMaxAge {
		g := s.readStarts()
		msgs, err := s.p.store.due(s.ctx, now, 0, dueBatch)
		if err != nil {
			if s.ctx.Err() == nil {
				s.p.log().Error("cannot read the queue", "error", err)
			}
			return time.Second
		}
		s.buf, s.bufAt, s.bufGen, s.bufFull = msgs, now, g, len(msgs) == dueBatch
		s.forgetLandedBy(g)
	}
	var after int64
	if n := len(s.buf); n > 0 {
		after = s.buf[n-1].Seq
	}
	s.buf, ready = s.assign(cfg, now, s.bufGen, s.buf, ready, &wait)
	more := s.bufFull
	for page := 0; more && len(ready) > 0 && page < duePages; page++ {
		g := s.readStarts()
		msgs, err := s.p.store.due(s.ctx, now, after, dueBatch)
		if err != nil {
			if s.ctx.Err() == nil {
				s.p.log().Error("cannot read the queue", "error", err)
			}
			return time.Second
		}
		if n := len(msgs); n > 0 {
			after = msgs[n-1].Seq
		}
		more = len(msgs) == dueBatch
		_, ready = s.assign(cfg, now, g, msgs, ready, &wait)
	}
	if len(ready) > 0 {
		// Sessions left idle: sleep until the next message becomes due.
		return s.untilDue(now, wait)
	}
	return wait
}

// assign gives messages to ready sessions (the least recently used one
// that the message's route allows) and starts their delivery. It returns
// the messages not given (still waiting) and the sessions still ready, and
// lowers wait to the next slot of the sessions it used. read is what
// readStarts said before msgs were read from the queue.
func (s *sender) assign(cfg settings, now time.Time, read uint64, msgs []*message, ready []*session, wait *time.Duration) (rest []*message, _ []*session) {
	rest = msgs[:0]
	for _, m := range msgs {
		if len(ready) == 0 {
			rest = append(rest, m)
			continue
		}
		if s.busyOrLanded(m.ID, read) {
			continue // read again if it comes back to the queue
		}
		allowed, pinned := s.route(cfg, m)
		best := -1
		for i, ss := range ready {
			if pinned && !allowed[ss.id] {
				continue
			}
			if best < 0 || ss.lastSent().Before(ready[best].lastSent()) {
				best = i
			}
		}
		if best < 0 {
			rest = append(rest, m)
			continue
		}
		ss := ready[best]
		ready = append(ready[:best], ready[best+1:]...)
		spacing := cfg.delay() + time.Duration(float64(cfg.delay())*float64(cfg.JitterPercent)/100*s.p.rand())
		dev := ss.claim(now, cfg.delay(), spacing)
		*wait = min(*wait, spacing)
		s.setFlying(m.ID)
		s.inflight.Add(1)
		go s.deliver(ss, dev, m)
	}
	return rest, ready
}

// untilDue is the time until the next queued message becomes due, at most
// wait.
func (s *sender) untilDue(now time.Time, wait time.Duration) time.Duration {
	next, err := s.p.store.nextDue(s.ctx, now)
	if err == nil && !next.IsZero() {
		wait = min(wait, next.Sub(now))
	}
	return max(wait, time.Millisecond)
}

// route says which sessions may send m: pinned with the allowed ones, or
// any connected one. A message sticks to the session Send named, or to its
// location's (routing by_location), while that session is paired (even if
// it is reconnecting: the message waits); a logged-out, never-paired or
// unknown one lets any connected session take it.
func (s *sender) route(cfg settings, m *message) (allowed map[string]bool, pinned bool) {
	want := m.Session
	if want == "" {
		want = cfg.sessionOfLocation(m.Location)
	}
	if want == "" {
		return nil, false
	}
	ss, err := s.p.session(want)
	if err != nil {
		return nil, false
	}
	if _, keys := ss.state(); !keys {
		return nil, false
	}
	return map[string]bool{want: true}, true
}

// plannedSession is the session a queued message waits for, or "" when
// any connected session may send it.
func (s *sender) plannedSession(m *message) string {
	allowed, pinned := s.route(s.p.settings(), m)
	if !pinned {
		return ""
	}
	for id := range allowed {
		return id
	}
	return ""
}

// busyOrLanded reports whether message id is in flight, or landed after
// a read of the queue that began at read (so the read may be stale).
func (s *sender) busyOrLanded(id string, read uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flying[id] || s.landed[id] > read
}

// readStarts is called before the queue is read; what it returns goes to
// assign with the messages read.
func (s *sender) readStarts() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// land ends message id's flight once its outcome is recorded.
func (s *sender) land(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.flying, id)
	s.gen++
	s.landed[id] = s.gen
}

// forgetLandedBy drops the landings a read of the queue that began at read
// already saw: no read still in use began before them.
func (s *sender) forgetLandedBy(read uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, g := range s.landed {
		if g <= read {
			delete(s.landed, id)
		}
	}
}

func (s *sender) setFlying(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flying[id] = true
}

// deliver sends one message from ss and records the outcome: sent, failed
// for good (the number has no WhatsApp), or queued again after a backoff.
func (s *sender) deliver(ss *session, dev wa.Device, m *message) {
	defer s.inflight.Done()
	// The session is free for its next slot as soon as WhatsApp answered;
	// the message stays in flight (not sent again) until its outcome is
	// recorded.
	released := false
	var sentAt time.Time
	release := func() {
		if !released {
			released = true
			ss.release(sentAt, s.p.settings().delay())
			s.wake()
		}
	}
	defer func() {
		release()
		s.land(m.ID)
		s.wake()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := s.p.log().With("session", ss.id, "message", m.ID)
	err := s.p.store.loadAttachments(ctx, m)
	if err == nil && s.p.settings().CheckNumbers {
		err = s.checkNumber(ctx, dev, m.To)
	}
	start := timeNow()
	if err == nil {
		sentAt = start
		msg := wa.Message{ID: m.ID, To: m.To, Text: m.Text}
		for _, a := range m.Attachments {
			msg.Attachments = append(msg.Attachments, wa.Attachment{Filename: a.Filename, MIMEType: a.MIMEType, Data: a.Data})
		}
		_, err = dev.Send(ctx, msg)
	}
	release()
	switch {
	case err == nil:
		s.p.stats.observeSend(timeNow().Sub(start))
		s.p.stats.attempts.Inc("sent")
		if err := s.p.store.markSent(ctx, m.ID, ss.id, timeNow()); err != nil {
			// Sent but not recorded: it goes again with the same id, which
			// WhatsApp drops as a repeat.
			log.Error("message sent but not recorded as sent", "error", err)
		} else if err := s.p.shared.settle(ctx, m.ID, true); err != nil {
			// The store keeps it queued: the next host sends it again,
			// with the same id, which WhatsApp drops as a repeat.
			log.Error("message sent but not recorded as sent in the host's durable store", "error", err)
		}
	case errors.Is(err, wa.ErrNotOnWhatsApp):
		s.p.stats.attempts.Inc("failed")
		reason := fmt.Sprintf("+%s is not on WhatsApp: %v", m.To, notify.ErrInvalidRecipient)
		if err := s.p.store.markFailed(ctx, m.ID, reason); err != nil {
			log.Error("cannot record a failed message", "error", err)
		} else if err := s.p.shared.settle(ctx, m.ID, true); err != nil {
			log.Error("cannot record a failed message in the host's durable store", "error", err)
		}
		log.Info("message failed: the number is not on WhatsApp", "to", m.To)
	default:
		s.p.stats.attempts.Inc("retry")
		next := timeNow().Add(s.p.settings().backoff(m.Attempts+1, s.p.rand))
		s.stale.Store(true)
		if err := s.p.store.markRetry(ctx, m.ID, err.Error(), next); err != nil {
			log.Error("cannot record a message for a retry", "error", err)
		}
		log.Warn("message not sent; it waits and is retried", "attempt", m.Attempts+1, "retry_at", next.Format(time.RFC3339), "error", err)
	}
}

// checkNumber asks WhatsApp whether phone has an account (once per number
// and run): wa.ErrNotOnWhatsApp when it has none.
func (s *sender) checkNumber(ctx context.Context, dev wa.Device, phone string) error {
	if _, ok := s.onWA.Load(phone); ok {
		return nil
	}
	res, err := dev.OnWhatsApp(ctx, []string{phone})
	if err != nil {
		return fmt.Errorf("check +%s on WhatsApp: %w", phone, err)
	}
	if !res[phone] {
		return wa.ErrNotOnWhatsApp
	}
	s.onWA.Store(phone, true)
	return nil
}
