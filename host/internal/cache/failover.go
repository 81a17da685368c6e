package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultProbeInterval is how often a Failover PINGs Redis when
// FailoverOptions.ProbeInterval is zero.
const DefaultProbeInterval = time.Second

// FailoverOptions configure a Failover.
type FailoverOptions struct {
	// Logger receives a line for each switch (never keys' values, never
	// credentials). Default: discard.
	Logger hclog.Logger
	// Metrics counts switches and marks the backend in use; nil counts
	// nothing. Give the Redis and Memory the same Metrics to count their
	// requests.
	Metrics *Metrics
	// ProbeInterval is how often Redis is PINGed: while degraded, to notice
	// it is back; while not, to notice it has gone even when no requests
	// come. Default DefaultProbeInterval (1s).
	ProbeInterval time.Duration
}

// Failover is the cache (and, through Limiter, the rate limiter) the host
// uses when Redis is configured. It serves from Redis while Redis answers,
// and from memory while it does not, so callers see no errors when Redis
// goes away.
//
// Switching to memory happens on the first operation (or probe) that finds
// Redis unreachable, timed out (the Redis timeout, 250ms by default), or
// refusing to serve (loading, read-only, out of memory, refusing our
// credentials); that operation is then served from memory. Errors about a
// single request (WRONGTYPE, say) and the caller's own cancellation are
// returned as they are, without a switch. Switching back happens on the
// first probe PING that succeeds.
//
// What crosses a switch: nothing.
//   - To memory: memory starts empty. Keys in Redis cannot be read, so gets
//     miss until keys are written again; every rate-limit key starts at its full limit.
//   - Back to Redis: keys written to memory while Redis was away are not
//     copied back, and are dropped (so a later outage cannot serve them
//     stale). Deletes made while away are not replayed either: a key
//     deleted from memory is still in Redis, if it was there and has not
//     expired, when Redis returns. Rate limits continue from Redis's
//     counters.
//   - While in memory each host has its own keys and limits: a key written
//     on one host is not seen by another, a SET with onlyIfAbsent excludes
//     only callers on the same host, and each host allows the full limit.
//
// Health reports "degraded" while in memory; Mode says which backend serves.
type Failover struct {
	redis   *Redis
	mem     *Memory
	rlim    *RedisLimiter
	mlim    *MemoryLimiter
	log     hclog.Logger
	metrics *Metrics

	// mu serialises switches with the operations served from memory (which
	// hold it for reading), so an operation cannot write to memory after the
	// switch back to Redis has cleared it.
	mu       sync.RWMutex
	degraded atomic.Bool
	since    time.Time // when Redis went away; guarded by mu
	reason   string    // the latest error from Redis while away; guarded by mu

	closed    atomic.Bool
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var (
	_ Cache   = (*Failover)(nil)
	_ Limiter = failoverLimiter{}
)

// NewFailover returns a Failover over r and m and starts its probe. It PINGs
// Redis once before returning (bounded by r's timeout): if Redis does not
// answer, the Failover starts degraded, serving from memory, and switches
// to Redis when a probe finds it. The Failover owns r and m from then on:
// Close closes r, and m is cleared at each switch.
func NewFailover(ctx context.Context, r *Redis, m *Memory, opts FailoverOptions) *Failover {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	f := &Failover{
		redis:   r,
		mem:     m,
		rlim:    NewRedisLimiter(r),
		mlim:    NewMemoryLimiter(m.metrics),
		log:     opts.Logger,
		metrics: opts.Metrics,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := r.Ping(ctx); err != nil && ctx.Err() == nil {
		f.toMemory(err)
	} else {
		f.metrics.setBackend(BackendRedis)
		f.log.Info("using redis", "addr", r.Addr())
	}
	go f.probeLoop(opts.ProbeInterval)
	return f
}

// Mode is the backend serving now: BackendRedis ("redis") or BackendMemory
// ("memory").
func (f *Failover) Mode() string {
	if f.degraded.Load() {
		return BackendMemory
	}
	return BackendRedis
}

// Health is "ok" while Redis serves, and "degraded" with the reason while
// memory stands in for it.
func (f *Failover) Health() (status, message string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !f.degraded.Load() {
		return "ok", "redis at " + f.redis.Addr()
	}
	return "degraded", fmt.Sprintf("redis at %s unavailable since %s (%s); serving the cache and rate limits from memory, not shared with other hosts, until it returns",
		f.redis.Addr(), f.since.UTC().Format(time.RFC3339), f.reason)
}

// Close stops the probe and closes the Redis client. Operations after Close
// return ErrClosed.
func (f *Failover) Close() error {
	f.closeOnce.Do(func() {
		f.closed.Store(true)
		close(f.stop)
		<-f.done
		f.closeErr = f.redis.Close()
	})
	return f.closeErr
}

// Get implements Cache.
func (f *Failover) Get(ctx context.Context, key string) ([]byte, bool, error) {
	type got struct {
		v     []byte
		found bool
	}
	g, err := run(ctx, f,
		func() (got, error) { v, found, err := f.redis.Get(ctx, key); return got{v, found}, err },
		func() got { v, found, _ := f.mem.Get(ctx, key); return got{v, found} })
	return g.v, g.found, err
}

// Set implements Cache.
func (f *Failover) Set(ctx context.Context, key string, value []byte, ttl time.Duration, onlyIfAbsent bool) (bool, error) {
	return run(ctx, f,
		func() (bool, error) { return f.redis.Set(ctx, key, value, ttl, onlyIfAbsent) },
		func() bool { stored, _ := f.mem.Set(ctx, key, value, ttl, onlyIfAbsent); return stored })
}

// Delete implements Cache.
func (f *Failover) Delete(ctx context.Context, key string) (bool, error) {
	return run(ctx, f,
		func() (bool, error) { return f.redis.Delete(ctx, key) },
		func() bool { deleted, _ := f.mem.Delete(ctx, key); return deleted })
}

// Limiter returns the rate limiter that goes with the cache: Redis's limits
// while Redis serves, in-memory ones while it does not, switching together
// with the cache.
func (f *Failover) Limiter() Limiter { return failoverLimiter{f} }

type failoverLimiter struct{ f *Failover }

func (l failoverLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, int, time.Time, error) {
	if err := checkLimit(limit, window); err != nil {
		return false, 0, time.Time{}, err
	}
	type verdict struct {
		allowed   bool
		remaining int
		reset     time.Time
	}
	v, err := run(ctx, l.f,
		func() (verdict, error) {
			a, r, t, err := l.f.rlim.Allow(ctx, key, limit, window)
			return verdict{a, r, t}, err
		},
		func() verdict {
			a, r, t, _ := l.f.mlim.Allow(ctx, key, limit, window)
			return verdict{a, r, t}
		})
	return v.allowed, v.remaining, v.reset, err
}

// run performs one operation: on Redis unless degraded; on memory when
// degraded or when Redis has just failed it by being unavailable (which
// switches the Failover to memory).
func run[T any](ctx context.Context, f *Failover, onRedis func() (T, error), onMemory func() T) (T, error) {
	var zero T
	if f.closed.Load() {
		return zero, ErrClosed
	}
	tried := false
	for {
		if !tried && !f.degraded.Load() {
			tried = true
			v, err := onRedis()
			if !unavailable(ctx, err) {
				return v, err
			}
			f.toMemory(err)
		}
		f.mu.RLock()
		if !tried && !f.degraded.Load() {
			// Switched back to Redis since we looked.
			f.mu.RUnlock()
			continue
		}
		v := onMemory()
		f.mu.RUnlock()
		return v, nil
	}
}

// toMemory switches to memory after Redis failed with err.
func (f *Failover) toMemory(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.degraded.Load() {
		f.reason = err.Error()
		return
	}
	if f.closed.Load() {
		return
	}
	f.mem.clear()
	f.mlim.reset()
	f.since, f.reason = time.Now(), err.Error()
	f.degraded.Store(true)
	f.metrics.failover(directionToMemory)
	f.metrics.setBackend(BackendMemory)
	f.log.Warn("redis unavailable; serving the cache and rate limits from memory until it returns (keys and limits are not shared with other hosts meanwhile)",
		"addr", f.redis.Addr(), "error", err)
}

// toRedis switches back to Redis after a probe found it answering.
func (f *Failover) toRedis() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded.Load() {
		return
	}
	// Keys and rate limits kept in memory are dropped, not copied to Redis.
	f.mem.clear()
	f.mlim.reset()
	f.degraded.Store(false)
	outage := time.Since(f.since).Round(time.Millisecond)
	f.since, f.reason = time.Time{}, ""
	f.metrics.failover(directionToRedis)
	f.metrics.setBackend(BackendRedis)
	f.log.Info("redis is back; serving from redis again (keys written to memory meanwhile are dropped, not copied)",
		"addr", f.redis.Addr(), "outage", outage)
}

func (f *Failover) probeLoop(interval time.Duration) {
	defer close(f.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-f.stop:
			cancel() // Close need not wait for a PING in flight
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			f.probe(ctx)
		}
	}
}

// probe PINGs Redis and switches as the answer says.
func (f *Failover) probe(ctx context.Context) {
	err := f.redis.Ping(ctx)
	switch {
	case err == nil && f.degraded.Load():
		f.toRedis()
	case err != nil && unavailable(ctx, err):
		f.toMemory(err)
	}
}
