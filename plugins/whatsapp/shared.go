package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

// What the plugin keeps in the host's durable store (sdk.Host's Store*),
// so that it can move to another host that shares the database: the
// sessions, each session's device state, every message accepted and not yet
// sent, the outcome of the ones that were, and the idempotency keys. The
// data directory's queue.db and device database are this host's working
// copy; at start the plugin brings them up to date from the store
// (README.md, "Moving between hosts").
const (
	// keyInit is set once a host has put its local state in the store;
	// from then on the store is the truth about which sessions exist.
	keyInit = "wa/v1/init"
	// prefixSession + session id: its sessionRecord.
	prefixSession = "wa/v1/session/"
	// prefixDevice + session id: a blob of the device's exported state.
	prefixDevice = "wa/v1/device/"
	// prefixQueued + message id: a blob of a message not sent yet.
	prefixQueued = "wa/v1/queued/"
	// prefixDone + message id: a doneRecord, for Retention.
	prefixDone = "wa/v1/done/"
	// prefixKey + sha256 of an idempotency key: the message id, for
	// Retention.
	prefixKey = "wa/v1/key/"
	// prefixChunk + a blob's key + "/" + a part's SHA-256: the parts of a
	// blob too large for its header (blob.go).
	prefixChunk = "wa/v1/chunk/"
)

// listPage is how many entries one StoreList asks for (the queued
// messages' headers carry up to inlineBytes each).
const listPage = 100

// syncInterval is how often the device state is checked for changes (and
// written when it changed). Tests shorten it.
var syncInterval = time.Second

// doneRecord is what became of a message that left the queue.
type doneRecord struct {
	ID             string                `json:"id"`
	IdempotencyKey string                `json:"idempotency_key"`
	Session        string                `json:"session,omitempty"`
	Status         notify.DeliveryStatus `json:"status"`
	Error          string                `json:"error,omitempty"`
	CreatedAt      time.Time             `json:"created_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
}

// shared is the plugin's side of the durable store.
type shared struct {
	h       sdk.Host
	st      *store
	backend wa.Backend
	p       *Plugin

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	// devMu orders the writes of device state: a logout's tombstone is
	// never followed by a copy exported before it.
	devMu sync.Mutex

	mu          sync.Mutex
	lastChanges uint64
	synced      bool
	// overtaken: sessions whose device state another host wrote after
	// this one last did (it runs them now); this host stops writing them.
	overtaken map[string]bool
}

func newShared(p *Plugin, h sdk.Host, st *store, b wa.Backend) *shared {
	return &shared{h: h, st: st, backend: b, p: p, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), overtaken: map[string]bool{}}
}

func storeErr(what string, err error) error {
	return fmt.Errorf("%w: %s in the host's durable store: %w", sdk.ErrUnavailable, what, err)
}

// notOurs is the error for a value in the store this plugin cannot read.
func notOurs(key string, err error) error {
	return fmt.Errorf("the durable store's %s is not what this plugin wrote (another plugin version, or edited by hand): %w", key, err)
}

// putJSON writes v at key.
func (s *shared) putJSON(ctx context.Context, key string, v any, ttl time.Duration) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.h.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: ttl}); err != nil {
		return storeErr("write "+key, err)
	}
	return nil
}

// getJSON reads key into v.
func (s *shared) getJSON(ctx context.Context, key string, v any) (bool, error) {
	raw, ok, err := s.h.StoreGet(ctx, key)
	if err != nil {
		return false, storeErr("read "+key, err)
	}
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, notOurs(key, err)
	}
	return true, nil
}

// list reads every entry under prefix.
func (s *shared) list(ctx context.Context, prefix string, each func(key string, value []byte) error) error {
	after := ""
	for {
		page, err := s.h.StoreList(ctx, prefix, after, listPage)
		if err != nil {
			return storeErr("list "+prefix, err)
		}
		for _, e := range page {
			if err := each(e.Key, e.Value); err != nil {
				return err
			}
		}
		if len(page) < listPage {
			return nil
		}
		after = page[len(page)-1].Key
	}
}

// ---- sessions

func (s *shared) saveSession(ctx context.Context, r sessionRecord) error {
	return s.putJSON(ctx, prefixSession+r.ID, r, 0)
}

func (s *shared) deleteSession(ctx context.Context, id string) error {
	if _, err := s.h.StoreDelete(ctx, prefixSession+id); err != nil {
		return storeErr("forget session "+id, err)
	}
	return nil
}

// ---- device state

// syncDevices writes the device state of every session whose state
// changed since it was last written (force: check them all).
func (s *shared) syncDevices(ctx context.Context, force bool) error {
	n, err := s.backend.Changes(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if !force && s.synced && n == s.lastChanges {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	// The sessions of the queue's database, not the running ones: at
	// Shutdown they are closed already.
	recs, err := s.st.sessions(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range recs {
		if err := s.syncDevice(ctx, r.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.mu.Lock()
	s.lastChanges, s.synced = n, true
	s.mu.Unlock()
	return nil
}

// syncDevice writes one session's device state when it differs from the
// copy this host last wrote or imported.
func (s *shared) syncDevice(ctx context.Context, id string) error {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	s.mu.Lock()
	lost := s.overtaken[id]
	s.mu.Unlock()
	if lost {
		return nil
	}
	data, err := s.backend.Export(ctx, id)
	if err != nil || data == nil {
		return err // nil: no keys; a logout wrote its tombstone
	}
	local, err := s.st.deviceGen(ctx, id)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	if sha == local.SHA256 {
		return nil
	}
	key := prefixDevice + id
	var cur blobHeader
	found, err := s.getJSON(ctx, key, &cur)
	if err != nil {
		return err
	}
	if found && cur.Gen > local.Gen {
		s.mu.Lock()
		s.overtaken[id] = true
		s.mu.Unlock()
		s.p.log().Error("another host wrote this session's device state after this one did, so it runs the session now; this host stops saving it (restart the plugin here to take the newer copy)",
			"session", id, "store_generation", cur.Gen, "local_generation", local.Gen)
		return nil
	}
	gen := max(local.Gen, cur.Gen) + 1
	if err := s.putBlob(ctx, key, gen, data, 0, cur); err != nil {
		return err
	}
	return s.st.setDeviceGen(ctx, id, deviceGen{Gen: gen, SHA256: sha})
}

// forgetDevice replaces a session's device state by a tombstone (a newer
// generation, deleted), so that no host imports the keys again.
func (s *shared) forgetDevice(ctx context.Context, id string) error {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	key := prefixDevice + id
	local, err := s.st.deviceGen(ctx, id)
	if err != nil {
		return err
	}
	var cur blobHeader
	found, err := s.getJSON(ctx, key, &cur)
	if err != nil {
		return err
	}
	if found && cur.Deleted {
		return s.st.setDeviceGen(ctx, id, deviceGen{Gen: max(local.Gen, cur.Gen)})
	}
	gen := max(local.Gen, cur.Gen) + 1
	if err := s.putJSON(ctx, key, blobHeader{Gen: gen, Deleted: true, Updated: time.Now().UTC()}, 0); err != nil {
		return err
	}
	if found {
		s.dropParts(ctx, key, cur, blobHeader{})
	}
	s.mu.Lock()
	delete(s.overtaken, id)
	s.mu.Unlock()
	return s.st.setDeviceGen(ctx, id, deviceGen{Gen: gen})
}

// wake asks for a device sync now (after a pairing).
func (s *shared) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// syncShare bounds the time the device sync takes: after a pass that took
// d, the next waits at least (syncShare-1)·d, so exporting a large state
// (BenchmarkExport: 60 ms for 2,000 signal sessions) takes at most a tenth
// of a core, at the cost of a longer interval between copies.
const syncShare = 10

// run writes changed device state at start, every syncInterval (or
// longer, see syncShare), and at once when woken, until close.
func (s *shared) run() {
	defer close(s.done)
	t := time.NewTimer(0)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.syncDevices(ctx, false)
		cancel()
		switch {
		case err != nil && !failing:
			failing = true
			s.p.log().Error("cannot save the device state to the host's durable store; it is tried again at the next pass, and until it succeeds another host would need the session paired again", "error", err)
		case err == nil && failing:
			failing = false
			s.p.log().Info("device state saved to the host's durable store again")
		}
		t.Stop()
		t.Reset(max(syncInterval, (syncShare-1)*time.Since(start)))
	}
}

// close stops run and writes what changed since its last pass.
func (s *shared) close(ctx context.Context) error {
	close(s.stop)
	<-s.done
	return s.syncDevices(ctx, true)
}

// ---- start: the data directory brought up to date from the store

// restore runs at the first Configure, before any session starts: sessions,
// device state and queued messages in the store that this data directory
// lacks (or has older) are imported, and, on the first start of all (the
// store never had this plugin's state), the data directory's are written
// to the store.
func (s *shared) restore(ctx context.Context) error {
	_, initialized, err := s.h.StoreGet(ctx, keyInit)
	if err != nil {
		return storeErr("read "+keyInit, err)
	}
	if err := s.restoreSessions(ctx, initialized); err != nil {
		return err
	}
	if err := s.restoreDevices(ctx); err != nil {
		return err
	}
	if err := s.restoreQueue(ctx, initialized); err != nil {
		return err
	}
	if !initialized {
		if _, err := s.h.StoreSet(ctx, keyInit, []byte(time.Now().UTC().Format(time.RFC3339)), sdk.StoreSetOptions{}); err != nil {
			return storeErr("write "+keyInit, err)
		}
	}
	return nil
}

func (s *shared) restoreSessions(ctx context.Context, initialized bool) error {
	remote := map[string]sessionRecord{}
	err := s.list(ctx, prefixSession, func(key string, value []byte) error {
		var r sessionRecord
		if err := json.Unmarshal(value, &r); err != nil {
			return notOurs(key, err)
		}
		remote[strings.TrimPrefix(key, prefixSession)] = r
		return nil
	})
	if err != nil {
		return err
	}
	local, err := s.st.sessions(ctx)
	if err != nil {
		return err
	}
	for _, r := range local {
		if _, ok := remote[r.ID]; ok {
			continue
		}
		if !initialized {
			if err := s.saveSession(ctx, r); err != nil {
				return err
			}
			continue
		}
		// Forgotten on another host.
		if err := s.st.deleteSession(ctx, r.ID); err != nil {
			return err
		}
	}
	for _, r := range remote {
		if err := s.st.saveSession(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (s *shared) restoreDevices(ctx context.Context) error {
	inStore := map[string]bool{}
	err := s.list(ctx, prefixDevice, func(key string, value []byte) error {
		id := strings.TrimPrefix(key, prefixDevice)
		inStore[id] = true
		var hdr blobHeader
		if err := json.Unmarshal(value, &hdr); err != nil {
			return notOurs(key, err)
		}
		local, err := s.st.deviceGen(ctx, id)
		if err != nil {
			return err
		}
		if hdr.Gen <= local.Gen {
			return nil // this data directory has it, or newer
		}
		if hdr.Deleted {
			if err := s.backend.Delete(ctx, id); err != nil {
				return fmt.Errorf("session %q was logged out on another host: delete its keys here: %w", id, err)
			}
			s.p.log().Info("session's keys deleted: it was logged out on another host", "session", id)
			return s.st.setDeviceGen(ctx, id, deviceGen{Gen: hdr.Gen})
		}
		data, err := s.readBlob(ctx, key, hdr)
		if err != nil {
			return err
		}
		if err := s.backend.Import(ctx, id, data); err != nil {
			return err
		}
		s.p.log().Info("session's device state taken from the durable store", "session", id, "generation", hdr.Gen, "local_generation", local.Gen)
		return s.st.setDeviceGen(ctx, id, deviceGen{Gen: hdr.Gen, SHA256: hdr.SHA256})
	})
	if err != nil {
		return err
	}
	// Written from here once, and the store does not have it (a new
	// database): the next pass writes it again.
	gens, err := s.st.deviceGens(ctx)
	if err != nil {
		return err
	}
	for id, g := range gens {
		if !inStore[id] && g.SHA256 != "" {
			if err := s.st.setDeviceGen(ctx, id, deviceGen{Gen: g.Gen}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *shared) restoreQueue(ctx context.Context, initialized bool) error {
	remote := map[string]bool{}
	imported := 0
	err := s.list(ctx, prefixQueued, func(key string, value []byte) error {
		id := strings.TrimPrefix(key, prefixQueued)
		remote[id] = true
		if m, err := s.st.lookup(ctx, id, ""); err == nil {
			if m.Status == notify.DeliveryStatusQueued {
				return nil
			}
			// Done here, and its outcome did not reach the store.
			return s.settle(ctx, id, true)
		} else if !errors.Is(err, notify.ErrUnknownMessage) {
			return err
		}
		var hdr blobHeader
		if err := json.Unmarshal(value, &hdr); err != nil {
			return notOurs(key, err)
		}
		m, err := s.readMessage(ctx, key, hdr)
		if err != nil {
			return err
		}
		if _, err := s.st.importMessage(ctx, m); err != nil {
			return err
		}
		imported++
		return nil
	})
	if err != nil {
		return err
	}
	// Messages queued here that the store does not hold as queued: sent
	// by another host (its outcome is in the store), or, on the first
	// start with the store, queued before it was used.
	ids, err := s.st.queuedIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if remote[id] {
			continue
		}
		var d doneRecord
		found, err := s.getJSON(ctx, prefixDone+id, &d)
		if err != nil {
			return err
		}
		if found {
			if err := s.st.applyDone(ctx, d); err != nil {
				return err
			}
			continue
		}
		m, err := s.st.lookup(ctx, id, "")
		if err != nil {
			return err
		}
		if err := s.st.loadAttachments(ctx, m); err != nil {
			return err
		}
		if err := s.putQueued(ctx, m); err != nil {
			return err
		}
		if _, err := s.h.StoreSet(ctx, keyOf(m.IdempotencyKey), []byte(m.ID), sdk.StoreSetOptions{TTL: Retention, OnlyIfAbsent: true}); err != nil {
			return storeErr("claim the idempotency key", err)
		}
		if !initialized {
			continue
		}
		s.p.log().Warn("a message queued here was missing from the durable store; written there again", "message", id)
	}
	if imported > 0 {
		s.p.log().Info("queued messages taken from the durable store", "messages", imported)
	}
	return nil
}

// ---- the queue

func keyOf(idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return prefixKey + hex.EncodeToString(sum[:])
}

// putQueued writes a queued message (with its attachments).
func (s *shared) putQueued(ctx context.Context, m *message) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.putBlob(ctx, prefixQueued+m.ID, 1, raw, 0, blobHeader{})
}

func (s *shared) readMessage(ctx context.Context, key string, hdr blobHeader) (*message, error) {
	raw, err := s.readBlob(ctx, key, hdr)
	if err != nil {
		return nil, err
	}
	var m message
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&m); err != nil {
		return nil, fmt.Errorf("the durable store's %s is not a message this plugin wrote: %w", key, err)
	}
	return &m, nil
}

// accept takes a new message from Send: its idempotency key is claimed in
// the store (so that a repeat on any host finds the first message), the
// message is written to the store, then to the local queue. It returns the
// first message of the key instead, dup true, when there is one.
func (s *shared) accept(ctx context.Context, m *message) (_ *message, dup bool, err error) {
	if first, err := s.st.lookup(ctx, "", m.IdempotencyKey); err == nil {
		return first, true, nil
	} else if !errors.Is(err, notify.ErrUnknownMessage) {
		return nil, false, err
	}
	id := newMessageID()
	key := keyOf(m.IdempotencyKey)
	stored, err := s.h.StoreSet(ctx, key, []byte(id), sdk.StoreSetOptions{TTL: Retention, OnlyIfAbsent: true})
	if err != nil {
		return nil, false, storeErr("claim the idempotency key", err)
	}
	if !stored {
		raw, ok, err := s.h.StoreGet(ctx, key)
		if err != nil {
			return nil, false, storeErr("read the idempotency key", err)
		}
		if ok {
			id = string(raw)
			first, err := s.find(ctx, id)
			if err == nil {
				// Accepted on another host: the local queue learns it too.
				if _, err := s.st.importMessage(ctx, first); err != nil {
					return nil, false, err
				}
				return first, true, nil
			}
			if !errors.Is(err, notify.ErrUnknownMessage) {
				return nil, false, err
			}
			// The key was claimed and the claimant stopped before writing
			// the message: it is this one, under the claimed id.
		}
	}
	now := time.Now()
	m.ID, m.Status, m.CreatedAt, m.UpdatedAt = id, notify.DeliveryStatusQueued, now, now
	m.NAttachments = len(m.Attachments)
	if err := s.putQueued(ctx, m); err != nil {
		return nil, false, err
	}
	return s.st.enqueue(ctx, m)
}

// find reads a message from the store: queued (with its attachments) or
// done; ErrUnknownMessage when it holds neither.
func (s *shared) find(ctx context.Context, id string) (*message, error) {
	var d doneRecord
	found, err := s.getJSON(ctx, prefixDone+id, &d)
	if err != nil {
		return nil, err
	}
	if found {
		return &message{ID: d.ID, IdempotencyKey: d.IdempotencyKey, Session: d.Session, Status: d.Status, Error: d.Error, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}, nil
	}
	var hdr blobHeader
	found, err = s.getJSON(ctx, prefixQueued+id, &hdr)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no message has id %q", notify.ErrUnknownMessage, id)
	}
	return s.readMessage(ctx, prefixQueued+id, hdr)
}

// lookup finds a message in the store by id or, when id is empty, by
// idempotency key (GetDeliveryStatus for a message another host took).
func (s *shared) lookup(ctx context.Context, id, idempotencyKey string) (*message, error) {
	if id == "" {
		raw, ok, err := s.h.StoreGet(ctx, keyOf(idempotencyKey))
		if err != nil {
			return nil, storeErr("read the idempotency key", err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: no message has idempotency key %q", notify.ErrUnknownMessage, idempotencyKey)
		}
		id = string(raw)
	}
	return s.find(ctx, id)
}

// settle writes what became of a message (its local record, which is not
// queued any more) to the store; left the queue: its queued copy goes.
func (s *shared) settle(ctx context.Context, id string, leftQueue bool) error {
	m, err := s.st.lookup(ctx, id, "")
	if err != nil {
		return err
	}
	if m.Status == notify.DeliveryStatusQueued {
		return nil
	}
	d := doneRecord{ID: m.ID, IdempotencyKey: m.IdempotencyKey, Session: m.Session, Status: m.Status, Error: m.Error, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if err := s.putJSON(ctx, prefixDone+id, d, Retention); err != nil {
		return err
	}
	if !leftQueue {
		return nil
	}
	key := prefixQueued + id
	var hdr blobHeader
	found, err := s.getJSON(ctx, key, &hdr)
	if err != nil || !found {
		return err
	}
	if _, err := s.h.StoreDelete(ctx, key); err != nil {
		return storeErr("delete "+key, err)
	}
	s.dropParts(ctx, key, hdr, blobHeader{})
	return nil
}

// receipt applies a receipt to the record of a message this host's queue
// does not hold (the previous host sent it), by the rules of applyReceipt:
// never back, failed only from sent.
func (s *shared) receipt(ctx context.Context, id string, status notify.DeliveryStatus, reason string, at time.Time) error {
	var d doneRecord
	found, err := s.getJSON(ctx, prefixDone+id, &d)
	if err != nil || !found {
		return err // not a message of this plugin's
	}
	switch {
	case status == notify.DeliveryStatusFailed && d.Status != notify.DeliveryStatusSent:
		return nil
	case status != notify.DeliveryStatusFailed && (d.Status == notify.DeliveryStatusFailed || statusRank[status] <= statusRank[d.Status]):
		return nil
	}
	d.Status, d.Error, d.UpdatedAt = status, reason, at
	return s.putJSON(ctx, prefixDone+id, d, Retention)
}
