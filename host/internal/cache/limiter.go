package cache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// Limiter is a GCRA rate limiter (the generic cell rate algorithm: a token
// bucket kept as one timestamp per key), as the HTTP layer uses it.
//
// A key may take limit requests at once and regains one every
// window/limit, so a steady client gets limit requests per window and an
// idle one may burst up to limit again. Denied requests do not count: a
// client that keeps retrying gets the next request that the rate allows,
// no later. (The fixed windows this replaced let a client through at twice
// the limit across a window boundary and kept a hammering client out until
// the window ended.) The Redis limiter is github.com/go-redis/redis_rate;
// the memory one computes the same thing in this process.
type Limiter interface {
	// Allow counts one request against key and reports whether it is within
	// limit requests per window, how many more may follow at once, and a
	// time for the Retry-After and RateLimit-Reset headers: when denied,
	// when the next request will be allowed; when allowed, when the key is
	// back to its full limit. limit must be at least 1 and window at least a
	// millisecond. A key must be used with one limit and window; the HTTP
	// layer puts the route or class of route in it.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (allowed bool, remaining int, reset time.Time, err error)
}

var (
	_ Limiter = (*MemoryLimiter)(nil)
	_ Limiter = (*RedisLimiter)(nil)
)

func checkLimit(limit int, window time.Duration) error {
	if limit < 1 || window < time.Millisecond {
		return fmt.Errorf("rate limit of %d per %s: the limit must be at least 1 and the window at least 1ms", limit, window)
	}
	return nil
}

// MemoryLimiter is a Limiter in this process's memory, safe for concurrent
// use. Limits are per host: with several hosts each allows limit.
type MemoryLimiter struct {
	mu      sync.Mutex
	tats    map[string]time.Time // a key's theoretical arrival time
	sweepAt int                  // sweep idle keys when the map grows to this size
	now     func() time.Time
	metrics *Metrics
}

// minSweep is the map size under which idle keys are left alone.
const minSweep = 1024

// NewMemoryLimiter returns an in-memory limiter counting its verdicts on m,
// which may be nil. Keys back at their full limit are swept as the map
// grows, so its size stays near the number of keys active in one window.
func NewMemoryLimiter(m *Metrics) *MemoryLimiter {
	return &MemoryLimiter{tats: map[string]time.Time{}, sweepAt: minSweep, now: time.Now, metrics: m}
}

// Allow implements Limiter. It is redis_rate's GCRA script (AllowN with a
// cost of 1 and a burst of limit), step for step.
func (l *MemoryLimiter) Allow(_ context.Context, key string, limit int, window time.Duration) (bool, int, time.Time, error) {
	if err := checkLimit(limit, window); err != nil {
		l.metrics.request(opAllow, resultError)
		return false, 0, time.Time{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	interval := window / time.Duration(limit)
	tat, ok := l.tats[key]
	if !ok && len(l.tats) >= l.sweepAt {
		l.sweep(now)
	}
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	allowAt := next.Add(-interval * time.Duration(limit))
	if now.Before(allowAt) {
		l.metrics.request(opAllow, resultDenied)
		return false, 0, allowAt, nil
	}
	l.tats[key] = next
	l.metrics.request(opAllow, resultAllowed)
	return true, int(now.Sub(allowAt) / interval), next, nil
}

// sweep drops keys back at their full limit and sets when to sweep next,
// so sweeping costs amortised O(1) per Allow.
func (l *MemoryLimiter) sweep(now time.Time) {
	for k, tat := range l.tats {
		if !now.Before(tat) {
			delete(l.tats, k)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.tats))
}

// reset forgets every key.
func (l *MemoryLimiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.tats)
	l.sweepAt = minSweep
}

// RedisLimiter is a Limiter in Redis (github.com/go-redis/redis_rate: GCRA
// in one Lua script, one round trip), so every host using the server and
// key prefix shares the limits.
type RedisLimiter struct {
	r   *Redis
	gcr *redis_rate.Limiter
}

// NewRedisLimiter returns a limiter on r's server, keys and timeout. A key
// is stored as "rate:" (redis_rate's own prefix) + r's prefix +
// "ratelimit:" + key, holding the key's theoretical arrival time and
// expiring when the key is back at its full limit.
func NewRedisLimiter(r *Redis) *RedisLimiter {
	return &RedisLimiter{r: r, gcr: redis_rate.NewLimiter(r.client)}
}

// Allow implements Limiter.
func (l *RedisLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, int, time.Time, error) {
	r := l.r
	if err := checkLimit(limit, window); err != nil {
		r.metrics.request(opAllow, resultError)
		return false, 0, time.Time{}, err
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	res, err := l.gcr.Allow(ctx, r.prefix+"ratelimit:"+key, redis_rate.Limit{Rate: limit, Burst: limit, Period: window})
	if err != nil {
		r.metrics.request(opAllow, resultError)
		return false, 0, time.Time{}, fmt.Errorf("redis rate limit: %w", err)
	}
	if res.Allowed == 0 {
		r.metrics.request(opAllow, resultDenied)
		return false, 0, time.Now().Add(res.RetryAfter), nil
	}
	r.metrics.request(opAllow, resultAllowed)
	return true, res.Remaining, time.Now().Add(res.ResetAfter), nil
}
