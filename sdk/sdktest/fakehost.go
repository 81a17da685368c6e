package sdktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// FakeHost is an in-memory sdk.Host: a key-value store with TTLs and a
// record of published events. It is safe for concurrent use.
type FakeHost struct {
	mu     sync.Mutex
	kv     map[string]kvEntry
	events []sdk.Event
	// Now is the clock for TTLs; tests may replace it.
	Now func() time.Time
}

type kvEntry struct {
	value   []byte
	expires time.Time
}

var _ sdk.Host = (*FakeHost)(nil)

// NewFakeHost returns an empty FakeHost.
func NewFakeHost() *FakeHost {
	return &FakeHost{kv: map[string]kvEntry{}, Now: time.Now}
}

func (h *FakeHost) live(key string) (kvEntry, bool) {
	e, ok := h.kv[key]
	if ok && !e.expires.IsZero() && !h.Now().Before(e.expires) {
		delete(h.kv, key)
		return kvEntry{}, false
	}
	return e, ok
}

// KVGet implements sdk.Host.
func (h *FakeHost) KVGet(_ context.Context, key string) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.live(key)
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), e.value...), true, nil
}

// KVSet implements sdk.Host.
func (h *FakeHost) KVSet(_ context.Context, key string, value []byte, opts sdk.KVSetOptions) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, exists := h.live(key); exists && opts.OnlyIfAbsent {
		return false, nil
	}
	e := kvEntry{value: append([]byte(nil), value...)}
	if opts.TTL > 0 {
		e.expires = h.Now().Add(opts.TTL)
	}
	h.kv[key] = e
	return true, nil
}

// KVDelete implements sdk.Host.
func (h *FakeHost) KVDelete(_ context.Context, key string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.live(key)
	delete(h.kv, key)
	return ok, nil
}

// Publish implements sdk.Host: it records the event, filling in ID, Time
// and Source ("plugin") when empty.
func (h *FakeHost) Publish(_ context.Context, e sdk.Event) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		e.ID = hex.EncodeToString(b[:])
	}
	if e.Time.IsZero() {
		e.Time = h.Now()
	}
	if e.Source == "" {
		e.Source = "plugin"
	}
	h.events = append(h.events, e)
	return e.ID, nil
}

// Events returns the events published so far.
func (h *FakeHost) Events() []sdk.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.Event(nil), h.events...)
}
