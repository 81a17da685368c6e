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
type Host interface {
	// KVGet reads a key of the plugin's own namespace. A missing or expired
	// key is found=false, not an error.
	KVGet(ctx context.Context, key string) (value []byte, found bool, err error)
	// KVSet writes a key. With OnlyIfAbsent it stores only when the key does
	// not exist (a lock, or a guard against replayed webhooks) and reports
	// whether it stored.
	KVSet(ctx context.Context, key string, value []byte, opts KVSetOptions) (stored bool, err error)
	// KVDelete removes a key and reports whether it existed.
	KVDelete(ctx context.Context, key string) (deleted bool, err error)
	// Publish hands an event to the host for its subscribers. The host sets
	// Source, and ID and Time when they are empty; it returns the ID.
	Publish(ctx context.Context, event Event) (id string, err error)
}

// KVSetOptions are the options of Host.KVSet.
type KVSetOptions struct {
	// TTL after which the key expires; zero keeps it until deleted or evicted.
	TTL time.Duration
	// OnlyIfAbsent stores only when the key does not exist.
	OnlyIfAbsent bool
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

func (h *hostProxy) KVGet(ctx context.Context, key string) ([]byte, bool, error) {
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

func (h *hostProxy) KVSet(ctx context.Context, key string, value []byte, opts KVSetOptions) (bool, error) {
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

func (h *hostProxy) KVDelete(ctx context.Context, key string) (bool, error) {
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
	v, found, err := s.impl.KVGet(ctx, req.GetKey())
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.KvGetResponse{Found: found, Value: v}, nil
}

func (s *hostServer) KvSet(ctx context.Context, req *pluginv1.KvSetRequest) (*pluginv1.KvSetResponse, error) {
	stored, err := s.impl.KVSet(ctx, req.GetKey(), req.GetValue(), KVSetOptions{
		TTL: convert.DurationFromProto(req.GetTtl()), OnlyIfAbsent: req.GetOnlyIfAbsent(),
	})
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.KvSetResponse{Stored: stored}, nil
}

func (s *hostServer) KvDelete(ctx context.Context, req *pluginv1.KvDeleteRequest) (*pluginv1.KvDeleteResponse, error) {
	deleted, err := s.impl.KVDelete(ctx, req.GetKey())
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pluginv1.KvDeleteResponse{Deleted: deleted}, nil
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
