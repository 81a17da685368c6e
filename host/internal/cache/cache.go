// Package cache is the host's key-value cache and rate limiter. The
// per-plugin key-value store of the host service is backed by the cache, one
// namespace per plugin; the HTTP layer's rate limits by the Limiter.
//
// Start with Open: with no Redis URL it gives the in-memory cache (Memory)
// and limiter (MemoryLimiter); with one it gives a Failover, which serves
// from Redis (Redis, RedisLimiter), so several hosts share keys and limits,
// and from memory while Redis is away, switching back when it returns.
// Metrics counts requests, hits and misses and switches; Backend.Health
// tells the health endpoints whether the host runs degraded.
package cache

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// Errors of the package.
var (
	// ErrClosed is returned by a Failover's cache and limiter (and so by a
	// Backend's) after Close.
	ErrClosed = errors.New("cache closed")
)

// Cache is what the host needs of a cache.
type Cache interface {
	// Get returns a key's value; found is false for a missing or expired key.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Set stores a value. ttl zero keeps it until deleted or evicted. With
	// onlyIfAbsent it stores only when the key is missing, and reports
	// whether it stored.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration, onlyIfAbsent bool) (stored bool, err error)
	// Delete removes a key and reports whether it existed.
	Delete(ctx context.Context, key string) (deleted bool, err error)
}

// Memory is a bounded LRU cache with TTLs, safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element
	lru     *list.List // front: most recently used
	now     func() time.Time
	metrics *Metrics
}

type memEntry struct {
	key     string
	value   []byte
	expires time.Time
}

var _ Cache = (*Memory)(nil)

// DefaultMemoryEntries bounds the in-memory cache.
const DefaultMemoryEntries = 100_000

// NewMemory returns a cache that holds at most maxEntries keys (evicting the
// least recently used); maxEntries <= 0 means DefaultMemoryEntries.
func NewMemory(maxEntries int) *Memory {
	return NewMemoryWithMetrics(maxEntries, nil)
}

// NewMemoryWithMetrics is NewMemory counting its requests (hits, misses,
// writes) on m, which may be nil.
func NewMemoryWithMetrics(maxEntries int, m *Metrics) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMemoryEntries
	}
	return &Memory{max: maxEntries, entries: map[string]*list.Element{}, lru: list.New(), now: time.Now, metrics: m}
}

// lookup returns the live entry for key, removing it when expired.
func (m *Memory) lookup(key string) (*list.Element, bool) {
	el, ok := m.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*memEntry)
	if !e.expires.IsZero() && !m.now().Before(e.expires) {
		m.lru.Remove(el)
		delete(m.entries, key)
		return nil, false
	}
	return el, true
}

// Get implements Cache.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.lookup(key)
	if !ok {
		m.metrics.request(opGet, resultMiss)
		return nil, false, nil
	}
	m.metrics.request(opGet, resultHit)
	m.lru.MoveToFront(el)
	return append([]byte(nil), el.Value.(*memEntry).value...), true, nil
}

// Set implements Cache.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration, onlyIfAbsent bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.metrics.request(opSet, resultOK)
	var expires time.Time
	if ttl > 0 {
		expires = m.now().Add(ttl)
	}
	if el, ok := m.lookup(key); ok {
		if onlyIfAbsent {
			return false, nil
		}
		e := el.Value.(*memEntry)
		e.value, e.expires = append([]byte(nil), value...), expires
		m.lru.MoveToFront(el)
		return true, nil
	}
	m.entries[key] = m.lru.PushFront(&memEntry{key: key, value: append([]byte(nil), value...), expires: expires})
	for m.lru.Len() > m.max {
		oldest := m.lru.Back()
		m.lru.Remove(oldest)
		delete(m.entries, oldest.Value.(*memEntry).key)
	}
	return true, nil
}

// Delete implements Cache.
func (m *Memory) Delete(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.metrics.request(opDelete, resultOK)
	el, ok := m.lookup(key)
	if !ok {
		return false, nil
	}
	m.lru.Remove(el)
	delete(m.entries, key)
	return true, nil
}

// Len returns the number of entries (expired ones included until touched).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

// clear removes every entry.
func (m *Memory) clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.entries)
	m.lru.Init()
}
