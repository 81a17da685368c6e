package cache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout bounds each Redis operation when Options.Timeout is zero.
// It is short on purpose: a Failover treats a timeout as Redis being away
// and serves from memory, so a hung Redis costs a request at most this long.
const DefaultTimeout = 250 * time.Millisecond

// Options configure a Redis cache.
type Options struct {
	// URL locates the server: redis://[[user]:password@]host[:port][/db]
	// (default port 6379, db 0), rediss:// for TLS, or unix:///path.
	// go-redis's query parameters (dial_timeout, pool_size, ...) are
	// accepted. Required. It may hold a password, so it is never logged nor
	// put in an error.
	URL string
	// Prefix is prepended to every key, so several deployments (or tests)
	// can share one server; hosts that must share keys and limits use the
	// same prefix. Default: none.
	Prefix string
	// Timeout bounds each operation (connecting included). Default
	// DefaultTimeout (250ms).
	Timeout time.Duration
	// Metrics counts requests; nil counts nothing.
	Metrics *Metrics
}

// Redis is a Cache over a Redis server, safe for concurrent use. It does not
// connect until the first operation, so NewRedis succeeds while the server
// is down; each operation then fails with the connection error. A Failover
// turns those failures into serving from memory.
type Redis struct {
	client  *redis.Client
	addr    string
	prefix  string
	timeout time.Duration
	metrics *Metrics
}

var _ Cache = (*Redis)(nil)

// NewRedis returns a Redis cache for opts. It fails only on an invalid URL.
func NewRedis(opts Options) (*Redis, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		// url.Parse's errors quote the URL, password and all: keep only the
		// reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid redis URL (want redis://[user:password@]host:port/db or rediss://...): %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	// Each operation carries a deadline of opts.Timeout; have go-redis honour
	// it for dialing, reading and writing.
	ro.ContextTimeoutEnabled = true
	// One dial attempt per operation: go-redis's default of five, 100ms
	// apart, would outlast the timeout and report "context deadline
	// exceeded" instead of the dial's own error (connection refused, no
	// such host), which is what Health should tell the operator. A
	// Failover's probe does the retrying.
	if ro.DialerRetries == 0 {
		ro.DialerRetries = 1
	}
	return &Redis{
		client:  redis.NewClient(ro),
		addr:    ro.Addr,
		prefix:  opts.Prefix,
		timeout: opts.Timeout,
		metrics: opts.Metrics,
	}, nil
}

// Addr is the server's address (host:port, or a socket path), without
// credentials; fit for logs.
func (r *Redis) Addr() string { return r.addr }

// Prefix is the key prefix.
func (r *Redis) Prefix() string { return r.prefix }

// op bounds one operation by the timeout.
func (r *Redis) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// Get implements Cache.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	v, err := r.client.Get(ctx, r.prefix+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		r.metrics.request(opGet, resultMiss)
		return nil, false, nil
	case err != nil:
		r.metrics.request(opGet, resultError)
		return nil, false, fmt.Errorf("redis get: %w", err)
	}
	r.metrics.request(opGet, resultHit)
	return v, true, nil
}

// Set implements Cache with SET, adding PX for a ttl and NX for
// onlyIfAbsent. A ttl under a millisecond is rounded up to one.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration, onlyIfAbsent bool) (bool, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	args := make([]any, 0, 6)
	args = append(args, "set", r.prefix+key, value)
	if ttl > 0 {
		args = append(args, "px", strconv.FormatInt(max(ttl.Milliseconds(), 1), 10))
	}
	if onlyIfAbsent {
		args = append(args, "nx")
	}
	err := r.client.Do(ctx, args...).Err()
	switch {
	case errors.Is(err, redis.Nil): // NX and the key exists
		r.metrics.request(opSet, resultOK)
		return false, nil
	case err != nil:
		r.metrics.request(opSet, resultError)
		return false, fmt.Errorf("redis set: %w", err)
	}
	r.metrics.request(opSet, resultOK)
	return true, nil
}

// Delete implements Cache with DEL.
func (r *Redis) Delete(ctx context.Context, key string) (bool, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	n, err := r.client.Del(ctx, r.prefix+key).Result()
	if err != nil {
		r.metrics.request(opDelete, resultError)
		return false, fmt.Errorf("redis delete: %w", err)
	}
	r.metrics.request(opDelete, resultOK)
	return n > 0, nil
}

// Ping checks that the server answers, within the timeout.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := r.op(ctx)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close closes the connections. Operations after Close fail.
func (r *Redis) Close() error {
	return r.client.Close()
}

// unavailable reports whether err, returned by an operation on Redis under
// the caller's ctx, means Redis cannot serve (unreachable, timed out,
// loading, read-only, out of memory, refusing our credentials) rather than
// the caller giving up (ctx canceled or past its own deadline) or an error
// about this one request (say, WRONGTYPE for a key someone else wrote).
func unavailable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var re redis.Error
	if !errors.As(err, &re) {
		// Network errors, timeouts, a closed or exhausted pool.
		return true
	}
	return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsMaxClientsError(err) ||
		redis.IsOOMError(err) || redis.IsAuthError(err) || redis.IsPermissionError(err) ||
		redis.HasErrorPrefix(err, "BUSY")
}
