package sdk

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// Host is what the host offers a plugin at run time (Base.Host). The host
// implements the same interface on its side, one namespace per plugin.
//
// A plugin has two key-value namespaces, and picks by what a loss would cost:
//
//   - The durable store (StoreGet, StoreSet, StoreDelete, StoreList) is a
//     table in the host's database (SQLite or PostgreSQL). What is written
//     there survives plugin and host restarts, is never evicted, and is the
//     same on every host that shares the database. TTLs go up to
//     MaxStoreTTL (400 days); expired rows are swept by a periodic job.
//     Idempotency records, replay records, payments and anything else that
//     must last belong here.
//   - The cache (CacheGet, CacheSet, CacheDelete) is the host's cache (Redis,
//     or memory): fast, and it may lose entries at any time (eviction, a
//     restart, a Redis outage). Use it only for what can be fetched or
//     computed again: a token, a rate, a lookup.
//
// Both enforce the limits below (ValidateKV); the host, sdktest's FakeHost
// and the conformance kit apply the same ones.
type Host interface {
	// StoreGet reads a key of the durable store. A missing or expired key
	// is found=false, not an error.
	StoreGet(ctx context.Context, key string) (value []byte, found bool, err error)
	// StoreSet writes a key of the durable store. With OnlyIfAbsent it
	// stores only when the key does not exist (or has expired), atomically,
	// and reports whether it stored: a replay guard or a lock.
	StoreSet(ctx context.Context, key string, value []byte, opts StoreSetOptions) (stored bool, err error)
	// StoreDelete removes a key of the durable store and reports whether it
	// existed.
	StoreDelete(ctx context.Context, key string) (deleted bool, err error)
	// StoreList returns up to limit live entries of the durable store whose
	// keys start with prefix and sort after the key after (pass the last key
	// of a page to get the next), in key order. A limit of zero, or over
	// MaxStoreListLimit, is MaxStoreListLimit.
	StoreList(ctx context.Context, prefix, after string, limit int) ([]StoreEntry, error)

	// CacheGet reads a key of the cache. A missing, expired or evicted key
	// is found=false, not an error.
	CacheGet(ctx context.Context, key string) (value []byte, found bool, err error)
	// CacheSet writes a key of the cache; the cache may drop it at any time.
	// With OnlyIfAbsent it stores only when the key does not exist.
	CacheSet(ctx context.Context, key string, value []byte, opts CacheSetOptions) (stored bool, err error)
	// CacheDelete removes a key of the cache and reports whether it existed.
	CacheDelete(ctx context.Context, key string) (deleted bool, err error)

	// KVGet is CacheGet.
	//
	// Deprecated: the cache may lose entries; use StoreGet for records that
	// must last, CacheGet for what may be lost. Kept for plugins built
	// before the durable store existed; their KV* calls still reach the
	// cache.
	KVGet(ctx context.Context, key string) (value []byte, found bool, err error)
	// KVSet is CacheSet.
	//
	// Deprecated: use StoreSet or CacheSet (see KVGet).
	KVSet(ctx context.Context, key string, value []byte, opts KVSetOptions) (stored bool, err error)
	// KVDelete is CacheDelete.
	//
	// Deprecated: use StoreDelete or CacheDelete (see KVGet).
	KVDelete(ctx context.Context, key string) (deleted bool, err error)

	// Publish hands an event to the host for its subscribers. The host sets
	// Source, and ID and Time when they are empty; it returns the ID.
	Publish(ctx context.Context, event Event) (id string, err error)
}

// StoreSetOptions are the options of Host.StoreSet.
type StoreSetOptions struct {
	// TTL after which the key expires, at most MaxStoreTTL; zero keeps it
	// until it is deleted.
	TTL time.Duration
	// OnlyIfAbsent stores only when the key does not exist.
	OnlyIfAbsent bool
}

// CacheSetOptions are the options of Host.CacheSet.
type CacheSetOptions struct {
	// TTL after which the key expires, at most MaxCacheTTL; zero keeps it
	// until it is deleted or evicted.
	TTL time.Duration
	// OnlyIfAbsent stores only when the key does not exist.
	OnlyIfAbsent bool
}

// KVSetOptions are the options of the deprecated Host.KVSet.
//
// Deprecated: use StoreSetOptions or CacheSetOptions.
type KVSetOptions = CacheSetOptions

// StoreEntry is one key of the durable store and its value.
type StoreEntry struct {
	Key   string
	Value []byte
}

// Limits of the host's key-value namespaces. The host enforces them, and so
// do sdktest.FakeHost and the conformance kit, through ValidateKV.
const (
	// MaxKeyBytes is the longest key, in bytes.
	MaxKeyBytes = 512
	// MaxValueBytes is the largest value: keep larger data in the plugin's
	// data directory.
	MaxValueBytes = 1 << 20
	// MaxStoreTTL is the longest time to live in the durable store.
	MaxStoreTTL = 400 * 24 * time.Hour
	// MaxCacheTTL is the longest time to live in the cache.
	MaxCacheTTL = 30 * 24 * time.Hour
	// MaxStoreListLimit is the most entries one StoreList returns.
	MaxStoreListLimit = 1000
)

// Namespace names a key-value namespace in ValidateKV's errors.
type Namespace string

// The two key-value namespaces.
const (
	NamespaceStore Namespace = "store"
	NamespaceCache Namespace = "cache"
)

// ValidateKV checks a key, a value and a time to live against the limits of
// a namespace; the errors wrap ErrInvalidArgument and say what to change.
// Pass a nil value and a zero ttl to check a key alone.
func ValidateKV(ns Namespace, key string, value []byte, ttl time.Duration) error {
	if key == "" || len(key) > MaxKeyBytes {
		return fmt.Errorf("%w: %s keys are 1 to %d bytes, got %d", ErrInvalidArgument, ns, MaxKeyBytes, len(key))
	}
	if len(value) > MaxValueBytes {
		return fmt.Errorf("%w: %s values are at most %d bytes, got %d; keep large data in the plugin's data directory", ErrInvalidArgument, ns, MaxValueBytes, len(value))
	}
	maxTTL := MaxCacheTTL
	if ns == NamespaceStore {
		maxTTL = MaxStoreTTL
	}
	if ttl < 0 || ttl > maxTTL {
		hint := ""
		if ns == NamespaceCache && ttl <= MaxStoreTTL {
			hint = "; records that must last that long belong in the durable store (StoreSet)"
		}
		return fmt.Errorf("%w: %s ttl must be between 0 and %s, got %s%s", ErrInvalidArgument, ns, maxTTL, ttl, hint)
	}
	return nil
}

// hostProxy is the plugin side's Host: it forwards to the host service once
// Configure has told the plugin where it is.
type hostProxy struct {
	mu     sync.RWMutex
	client pluginv1.HostServiceClient
	conn   *grpc.ClientConn
}

var _ Host = (*hostProxy)(nil)

func (h *hostProxy) set(conn *grpc.ClientConn) {
	h.mu.Lock()
	old := h.conn
	h.conn, h.client = conn, pluginv1.NewHostServiceClient(conn)
	h.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}

func (h *hostProxy) get() (pluginv1.HostServiceClient, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: host services are available once the host has configured the plugin", ErrFailedPrecondition)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.client == nil {
		return nil, fmt.Errorf("%w: host services are available once the host has configured the plugin", ErrFailedPrecondition)
	}
	return h.client, nil
}

func (h *hostProxy) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		_ = h.conn.Close()
		h.conn, h.client = nil, nil
	}
}

func (h *hostProxy) CacheGet(ctx context.Context, key string) ([]byte, bool, error) {
	c, err := h.get()
	if err != nil {
		return nil, false, err
	}
	resp, err := c.KvGet(ctx, &pluginv1.KvGetRequest{Key: key})
	if err != nil {
		return nil, false, rpcerr.FromStatus(err)
	}
	return resp.GetValue(), resp.GetFound(), nil
}

func (h *hostProxy) CacheSet(ctx context.Context, key string, value []byte, opts CacheSetOptions) (bool, error) {
	c, err := h.get()
	if err != nil {
		return false, err
	}
	resp, err := c.KvSet(ctx, &pluginv1.KvSetRequest{
		Key: key, Value: value, Ttl: convert.DurationToProto(opts.TTL), OnlyIfAbsent: opts.OnlyIfAbsent,
	})
	if err != nil {
		return false, rpcerr.FromStatus(err)
	}
	return resp.GetStored(), nil
}

func (h *hostProxy) CacheDelete(ctx context.Context, key string) (bool, error) {
	c, err := h.get()
	if err != nil {
		return false, err
	}
	resp, err := c.KvDelete(ctx, &pluginv1.KvDeleteRequest{Key: key})
	if err != nil {
		return false, rpcerr.FromStatus(err)
	}
	return resp.GetDeleted(), nil
}

func (h *hostProxy) KVGet(ctx context.Context, key string) ([]byte, bool, error) {
	return h.CacheGet(ctx, key)
}

func (h *hostProxy) KVSet(ctx context.Context, key string, value []byte, opts KVSetOptions) (bool, error) {
	return h.CacheSet(ctx, key, value, opts)
}

func (h *hostProxy) KVDelete(ctx context.Context, key string) (bool, error) {
	return h.CacheDelete(ctx, key)
}

func (h *hostProxy) StoreGet(ctx context.Context, key string) ([]byte, bool, error) {
	c, err := h.get()
	if err != nil {
		return nil, false, err
	}
	resp, err := c.StoreGet(ctx, &pluginv1.StoreGetRequest{Key: key})
	if err != nil {
		return nil, false, rpcerr.FromStatus(err)
	}
	return resp.GetValue(), resp.GetFound(), nil
}

func (h *hostProxy) StoreSet(ctx context.Context, key string, value []byte, opts StoreSetOptions) (bool, error) {
	c, err := h.get()
	if err != nil {
		return false, err
	}
	resp, err := c.StoreSet(ctx, &pluginv1.StoreSetRequest{
		Key: key, Value: value, Ttl: convert.DurationToProto(opts.TTL), OnlyIfAbsent: opts.OnlyIfAbsent,
	})
	if err != nil {
		return false, rpcerr.FromStatus(err)
	}
	return resp.GetStored(), nil
}

func (h *hostProxy) StoreDelete(ctx context.Context, key string) (bool, error) {
	c, err := h.get()
	if err != nil {
		return false, err
	}
	resp, err := c.StoreDelete(ctx, &pluginv1.StoreDeleteRequest{Key: key})
	if err != nil {
		return false, rpcerr.FromStatus(err)
	}
	return resp.GetDeleted(), nil
}

func (h *hostProxy) StoreList(ctx context.Context, prefix, after string, limit int) ([]StoreEntry, error) {
	c, err := h.get()
	if err != nil {
		return nil, err
	}
	resp, err := c.StoreList(ctx, &pluginv1.StoreListRequest{Prefix: prefix, After: after, Limit: clampListLimit(limit)})
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	out := make([]StoreEntry, 0, len(resp.GetEntries()))
	for _, e := range resp.GetEntries() {
		out = append(out, StoreEntry{Key: e.GetKey(), Value: e.GetValue()})
	}
	return out, nil
}

// clampListLimit applies StoreList's rule: zero, negative or over
// MaxStoreListLimit is MaxStoreListLimit.
func clampListLimit(limit int) int32 {
	if limit <= 0 || limit > MaxStoreListLimit {
		return MaxStoreListLimit
	}
	return int32(limit)
}

func (h *hostProxy) Publish(ctx context.Context, event Event) (string, error) {
	c, err := h.get()
	if err != nil {
		return "", err
	}
	resp, err := c.Publish(ctx, &pluginv1.PublishRequest{Event: eventToProto(event)})
	if err != nil {
		return "", rpcerr.FromStatus(err)
	}
	return resp.GetEventId(), nil
}

// hostServer serves the host service on the host's side, over an sdk.Host
// implementation the host provides for one plugin.
type hostServer struct {
	pluginv1.UnimplementedHostServiceServer
	impl Host
}

func (s *hostServer) KvGet(ctx context.Context, req *pluginv1.KvGetRequest) (*pluginv1.KvGetResponse, error) {
	v, found, err := s.impl.CacheGet(ctx, req.GetKey())
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.KvGetResponse{Found: found, Value: v}, nil
}

func (s *hostServer) KvSet(ctx context.Context, req *pluginv1.KvSetRequest) (*pluginv1.KvSetResponse, error) {
	stored, err := s.impl.CacheSet(ctx, req.GetKey(), req.GetValue(), CacheSetOptions{
		TTL: convert.DurationFromProto(req.GetTtl()), OnlyIfAbsent: req.GetOnlyIfAbsent(),
	})
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.KvSetResponse{Stored: stored}, nil
}

func (s *hostServer) KvDelete(ctx context.Context, req *pluginv1.KvDeleteRequest) (*pluginv1.KvDeleteResponse, error) {
	deleted, err := s.impl.CacheDelete(ctx, req.GetKey())
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.KvDeleteResponse{Deleted: deleted}, nil
}

func (s *hostServer) StoreGet(ctx context.Context, req *pluginv1.StoreGetRequest) (*pluginv1.StoreGetResponse, error) {
	v, found, err := s.impl.StoreGet(ctx, req.GetKey())
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.StoreGetResponse{Found: found, Value: v}, nil
}

func (s *hostServer) StoreSet(ctx context.Context, req *pluginv1.StoreSetRequest) (*pluginv1.StoreSetResponse, error) {
	stored, err := s.impl.StoreSet(ctx, req.GetKey(), req.GetValue(), StoreSetOptions{
		TTL: convert.DurationFromProto(req.GetTtl()), OnlyIfAbsent: req.GetOnlyIfAbsent(),
	})
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.StoreSetResponse{Stored: stored}, nil
}

func (s *hostServer) StoreDelete(ctx context.Context, req *pluginv1.StoreDeleteRequest) (*pluginv1.StoreDeleteResponse, error) {
	deleted, err := s.impl.StoreDelete(ctx, req.GetKey())
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.StoreDeleteResponse{Deleted: deleted}, nil
}

func (s *hostServer) StoreList(ctx context.Context, req *pluginv1.StoreListRequest) (*pluginv1.StoreListResponse, error) {
	entries, err := s.impl.StoreList(ctx, req.GetPrefix(), req.GetAfter(), int(req.GetLimit()))
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	out := make([]*pluginv1.StoreEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, &pluginv1.StoreEntry{Key: e.Key, Value: e.Value})
	}
	return &pluginv1.StoreListResponse{Entries: out}, nil
}

func (s *hostServer) Publish(ctx context.Context, req *pluginv1.PublishRequest) (*pluginv1.PublishResponse, error) {
	id, err := s.impl.Publish(ctx, eventFromProto(req.GetEvent()))
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.PublishResponse{EventId: id}, nil
}

func init() {
	registry.RegisterHostServer = func(s grpc.ServiceRegistrar, host any) {
		pluginv1.RegisterHostServiceServer(s, &hostServer{impl: host.(Host)})
	}
}
