package sdktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// FakeHost is an in-memory sdk.Host: the durable store and the cache as two
// separate key-value namespaces with TTLs, and a record of published events.
// It enforces the host's limits (sdk.ValidateKV), so a plugin that passes its
// tests here is not refused by the real host. Unlike the host's cache, its
// cache never evicts; use DropCache to show that a plugin survives losing
// it. It is safe for concurrent use.
type FakeHost struct {
	mu     sync.Mutex
	store  map[string]kvEntry
	cache  map[string]kvEntry
	events []sdk.Event
	// refused are the calls ValidateKV refused, for Refused.
	refused []error
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
	return &FakeHost{store: map[string]kvEntry{}, cache: map[string]kvEntry{}, Now: time.Now}
}

func (h *FakeHost) live(m map[string]kvEntry, key string) (kvEntry, bool) {
	e, ok := m[key]
	if ok && !e.expires.IsZero() && !h.Now().Before(e.expires) {
		delete(m, key)
		return kvEntry{}, false
	}
	return e, ok
}

// validate is sdk.ValidateKV, recording a refusal for Refused.
func (h *FakeHost) validate(op string, ns sdk.Namespace, key string, value []byte, ttl time.Duration) error {
	err := sdk.ValidateKV(ns, key, value, ttl)
	if err != nil {
		h.mu.Lock()
		h.refused = append(h.refused, fmt.Errorf("%s(key %.80q, %d bytes, ttl %s): %w", op, key, len(value), ttl, err))
		h.mu.Unlock()
	}
	return err
}

// Refused returns the calls the FakeHost refused because they broke the
// host's limits (sdk.ValidateKV: key and value sizes, TTLs), each naming
// the call and the limit, in the order they came.
func (h *FakeHost) Refused() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.refused...)
}

func (h *FakeHost) get(m map[string]kvEntry, ns sdk.Namespace, key string) ([]byte, bool, error) {
	if err := h.validate(string(ns)+" get", ns, key, nil, 0); err != nil {
		return nil, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.live(m, key)
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), e.value...), true, nil
}

func (h *FakeHost) set(m map[string]kvEntry, ns sdk.Namespace, key string, value []byte, ttl time.Duration, onlyIfAbsent bool) (bool, error) {
	if err := h.validate(string(ns)+" set", ns, key, value, ttl); err != nil {
		return false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, exists := h.live(m, key); exists && onlyIfAbsent {
		return false, nil
	}
	e := kvEntry{value: append([]byte(nil), value...)}
	if ttl > 0 {
		e.expires = h.Now().Add(ttl)
	}
	m[key] = e
	return true, nil
}

func (h *FakeHost) del(m map[string]kvEntry, ns sdk.Namespace, key string) (bool, error) {
	if err := h.validate(string(ns)+" delete", ns, key, nil, 0); err != nil {
		return false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.live(m, key)
	delete(m, key)
	return ok, nil
}

// StoreGet implements sdk.Host.
func (h *FakeHost) StoreGet(_ context.Context, key string) ([]byte, bool, error) {
	return h.get(h.store, sdk.NamespaceStore, key)
}

// StoreSet implements sdk.Host.
func (h *FakeHost) StoreSet(_ context.Context, key string, value []byte, opts sdk.StoreSetOptions) (bool, error) {
	return h.set(h.store, sdk.NamespaceStore, key, value, opts.TTL, opts.OnlyIfAbsent)
}

// StoreDelete implements sdk.Host.
func (h *FakeHost) StoreDelete(_ context.Context, key string) (bool, error) {
	return h.del(h.store, sdk.NamespaceStore, key)
}

// StoreList implements sdk.Host.
func (h *FakeHost) StoreList(_ context.Context, prefix, after string, limit int) ([]sdk.StoreEntry, error) {
	if limit <= 0 || limit > sdk.MaxStoreListLimit {
		limit = sdk.MaxStoreListLimit
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	for k := range h.store {
		if _, ok := h.live(h.store, k); ok && strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]sdk.StoreEntry, 0, len(keys))
	for _, k := range keys {
		out = append(out, sdk.StoreEntry{Key: k, Value: append([]byte(nil), h.store[k].value...)})
	}
	return out, nil
}

// CacheGet implements sdk.Host.
func (h *FakeHost) CacheGet(_ context.Context, key string) ([]byte, bool, error) {
	return h.get(h.cache, sdk.NamespaceCache, key)
}

// CacheSet implements sdk.Host.
func (h *FakeHost) CacheSet(_ context.Context, key string, value []byte, opts sdk.CacheSetOptions) (bool, error) {
	return h.set(h.cache, sdk.NamespaceCache, key, value, opts.TTL, opts.OnlyIfAbsent)
}

// CacheDelete implements sdk.Host.
func (h *FakeHost) CacheDelete(_ context.Context, key string) (bool, error) {
	return h.del(h.cache, sdk.NamespaceCache, key)
}

// KVGet implements sdk.Host (the deprecated name of CacheGet).
func (h *FakeHost) KVGet(ctx context.Context, key string) ([]byte, bool, error) {
	return h.CacheGet(ctx, key)
}

// KVSet implements sdk.Host (the deprecated name of CacheSet).
func (h *FakeHost) KVSet(ctx context.Context, key string, value []byte, opts sdk.KVSetOptions) (bool, error) {
	return h.CacheSet(ctx, key, value, opts)
}

// KVDelete implements sdk.Host (the deprecated name of CacheDelete).
func (h *FakeHost) KVDelete(ctx context.Context, key string) (bool, error) {
	return h.CacheDelete(ctx, key)
}

// DropCache empties the cache, as the host's may at any time (eviction, a
// restart, a Redis outage). The durable store keeps everything.
func (h *FakeHost) DropCache() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.cache)
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
