package plugins

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/cache"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
)

// eventTimeout bounds the delivery of one event to one plugin.
const eventTimeout = 10 * time.Second

// hostService is the sdk.Host the host offers one plugin: its own namespace
// of the cache and of the durable store, and event publishing. The limits
// are the SDK's (sdk.ValidateKV), the same that sdktest enforces.
type hostService struct {
	m      *Manager
	plugin string
	cache  cache.Cache
	store  *store.Store
}

var _ sdk.Host = (*hostService)(nil)

func (h *hostService) cacheKey(key string) string { return "plugin:" + h.plugin + ":" + key }

func (h *hostService) CacheGet(ctx context.Context, key string) ([]byte, bool, error) {
	if err := sdk.ValidateKV(sdk.NamespaceCache, key, nil, 0); err != nil {
		return nil, false, err
	}
	return h.cache.Get(ctx, h.cacheKey(key))
}

func (h *hostService) CacheSet(ctx context.Context, key string, value []byte, opts sdk.CacheSetOptions) (bool, error) {
	if err := sdk.ValidateKV(sdk.NamespaceCache, key, value, opts.TTL); err != nil {
		return false, err
	}
	return h.cache.Set(ctx, h.cacheKey(key), value, opts.TTL, opts.OnlyIfAbsent)
}

func (h *hostService) CacheDelete(ctx context.Context, key string) (bool, error) {
	if err := sdk.ValidateKV(sdk.NamespaceCache, key, nil, 0); err != nil {
		return false, err
	}
	return h.cache.Delete(ctx, h.cacheKey(key))
}

func (h *hostService) KVGet(ctx context.Context, key string) ([]byte, bool, error) {
	return h.CacheGet(ctx, key)
}

func (h *hostService) KVSet(ctx context.Context, key string, value []byte, opts sdk.KVSetOptions) (bool, error) {
	return h.CacheSet(ctx, key, value, opts)
}

func (h *hostService) KVDelete(ctx context.Context, key string) (bool, error) {
	return h.CacheDelete(ctx, key)
}

// The durable store is the host's database (Deps.Store), a namespace per
// plugin in the table plugin_records.

func (h *hostService) StoreGet(ctx context.Context, key string) ([]byte, bool, error) {
	if err := sdk.ValidateKV(sdk.NamespaceStore, key, nil, 0); err != nil {
		return nil, false, err
	}
	q, err := h.records()
	if err != nil {
		return nil, false, err
	}
	v, err := q.GetPluginRecord(ctx, h.plugin, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, storeError(ctx, err)
	}
	return v, true, nil
}

func (h *hostService) StoreSet(ctx context.Context, key string, value []byte, opts sdk.StoreSetOptions) (bool, error) {
	if err := sdk.ValidateKV(sdk.NamespaceStore, key, value, opts.TTL); err != nil {
		return false, err
	}
	q, err := h.records()
	if err != nil {
		return false, err
	}
	if opts.OnlyIfAbsent {
		stored, err := q.SetPluginRecordIfAbsent(ctx, h.plugin, key, value, opts.TTL)
		if err != nil {
			return false, storeError(ctx, err)
		}
		return stored, nil
	}
	if err := q.SetPluginRecord(ctx, h.plugin, key, value, opts.TTL); err != nil {
		return false, storeError(ctx, err)
	}
	return true, nil
}

func (h *hostService) StoreDelete(ctx context.Context, key string) (bool, error) {
	if err := sdk.ValidateKV(sdk.NamespaceStore, key, nil, 0); err != nil {
		return false, err
	}
	q, err := h.records()
	if err != nil {
		return false, err
	}
	err = q.DeletePluginRecord(ctx, h.plugin, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storeError(ctx, err)
	}
	return true, nil
}

func (h *hostService) StoreList(ctx context.Context, prefix, after string, limit int) ([]sdk.StoreEntry, error) {
	if limit <= 0 || limit > sdk.MaxStoreListLimit {
		limit = sdk.MaxStoreListLimit
	}
	q, err := h.records()
	if err != nil {
		return nil, err
	}
	recs, err := q.ListPluginRecords(ctx, h.plugin, prefix, after, limit)
	if err != nil {
		return nil, storeError(ctx, err)
	}
	out := make([]sdk.StoreEntry, 0, len(recs))
	for _, r := range recs {
		out = append(out, sdk.StoreEntry{Key: r.Key, Value: r.Value})
	}
	return out, nil
}

// errNoDatabase: the manager was made without Deps.Store (only tests do
// that; the host always passes its database).
var errNoDatabase = fmt.Errorf("%w: this host was started without a database, so it has no durable plugin store", sdk.ErrUnavailable)

func (h *hostService) records() (*store.Queries, error) {
	if h.store == nil {
		return nil, errNoDatabase
	}
	return h.store.Q(), nil
}

// storeError is a failed durable-store call as the plugin sees it: the
// caller's own cancellation or deadline as such, anything else (the
// database unreachable, busy, timed out) as sdk.ErrUnavailable, which the
// plugin may retry: the record is not lost, only not reachable now.
func storeError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: the host's database did not answer; retry later: %w", sdk.ErrUnavailable, err)
}

// Publish hands an event to the host (Deps.OnEvent) and delivers it to the
// plugins that subscribe to its type.
func (h *hostService) Publish(ctx context.Context, e sdk.Event) (string, error) {
	if !validEventType(e.Type) {
		return "", fmt.Errorf("%w: event type %q must be dotted lower case, for example \"payment.confirmed\"", sdk.ErrInvalidArgument, e.Type)
	}
	e.Source = h.plugin
	if e.ID == "" {
		e.ID = newEventID()
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if h.m.deps.OnEvent != nil {
		if err := h.m.deps.OnEvent(ctx, e); err != nil {
			return "", fmt.Errorf("the host did not take event %s: %w", e.Type, err)
		}
	}
	h.m.Deliver(e)
	return e.ID, nil
}

// Deliver hands an event to every running plugin whose manifest subscribes
// to its type (except its publisher), each in the background with a timeout.
func (m *Manager) Deliver(e sdk.Event) {
	for _, p := range m.Plugins() {
		if !p.wants(e) {
			continue
		}
		m.wg.Go(func() { p.deliver(m.ctx, e) })
	}
}

// subscribes reports whether any pattern ("invoice.paid", "invoice.*", "*")
// matches the event type.
func subscribes(patterns []string, typ string) bool {
	for _, p := range patterns {
		switch {
		case p == "*" || p == typ:
			return true
		case strings.HasSuffix(p, ".*") && strings.HasPrefix(typ, strings.TrimSuffix(p, "*")):
			return true
		}
	}
	return false
}

func validEventType(t string) bool {
	if t == "" || len(t) > 128 || strings.HasPrefix(t, ".") || strings.HasSuffix(t, ".") || strings.Contains(t, "..") {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
