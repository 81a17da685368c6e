package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter is a fixed-window rate limiter, as the HTTP layer uses it.
//
// A key's window opens at the first request counted against it and lasts
// window; at most limit requests are allowed in it, and the count starts
// afresh when it ends. (Fixed windows let a client burst up to twice the
// limit across a window boundary; in exchange a check is one round trip and
// one counter per key, and the reset time to send back is exact.) Denied
// requests count too, so a client that keeps hammering stays denied until
// the window ends, not past it.
type Limiter interface {
	// Allow counts one request against key and reports whether it is within
	// limit requests per window, how many more the window allows, and when
	// the window ends (for Retry-After and RateLimit-Reset headers). limit
	// must be at least 1 and window at least a millisecond. A key must be
	// used with one limit and window; the HTTP layer puts the route or class
	// of route in it.
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

// verdict turns a window's count into Allow's answers.
func verdict(count int64, limit int) (allowed bool, remaining int) {
	if count > int64(limit) {
		return false, 0
	}
	return true, limit - int(count)
}

// MemoryLimiter is a Limiter in this process's memory, safe for concurrent
// use. Limits are per host: with several hosts each allows limit.
type MemoryLimiter struct {
	mu      sync.Mutex
	windows map[string]*memWindow
	sweepAt int // sweep ended windows when the map grows to this size
	now     func() time.Time
	metrics *Metrics
}

type memWindow struct {
	count int64
	end   time.Time
}

// minSweep is the map size under which ended windows are left alone (they
// are replaced when their key is next used).
const minSweep = 1024

// NewMemoryLimiter returns an in-memory limiter counting its verdicts on m,
// which may be nil. Ended windows are swept as the map grows, so its size
// stays near the number of keys active in one window.
func NewMemoryLimiter(m *Metrics) *MemoryLimiter {
	return &MemoryLimiter{windows: map[string]*memWindow{}, sweepAt: minSweep, now: time.Now, metrics: m}
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, key string, limit int, window time.Duration) (bool, int, time.Time, error) {
	if err := checkLimit(limit, window); err != nil {
		l.metrics.request(opAllow, resultError)
		return false, 0, time.Time{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.windows[key]
	if !ok || !now.Before(w.end) {
		if !ok && len(l.windows) >= l.sweepAt {
			l.sweep(now)
		}
		w = &memWindow{end: now.Add(window)}
		l.windows[key] = w
	}
	w.count++
	allowed, remaining := verdict(w.count, limit)
	l.count(allowed)
	return allowed, remaining, w.end, nil
}

// sweep drops ended windows and sets when to sweep next, so sweeping costs
// amortised O(1) per Allow.
func (l *MemoryLimiter) sweep(now time.Time) {
	for k, w := range l.windows {
		if !now.Before(w.end) {
			delete(l.windows, k)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.windows))
}

func (l *MemoryLimiter) count(allowed bool) {
	if allowed {
		l.metrics.request(opAllow, resultAllowed)
	} else {
		l.metrics.request(opAllow, resultDenied)
	}
}

// reset forgets every window.
func (l *MemoryLimiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.windows)
	l.sweepAt = minSweep
}

// RedisLimiter is a Limiter in Redis, so every host using the server (and
// key prefix) shares the limits.
type RedisLimiter struct {
	r *Redis
}

// NewRedisLimiter returns a limiter on r's server, keys and timeout: a key
// is stored as r's prefix + "ratelimit:" + key.
func NewRedisLimiter(r *Redis) *RedisLimiter {
	return &RedisLimiter{r: r}
}

// allowScript counts a request in one atomic step: INCR, and PEXPIRE when
// the INCR opened the window (or, defensively, when the counter has no
// expiry at all, which would otherwise block the key for good). It returns
// the count and the window's remaining milliseconds.
var allowScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// Allow implements Limiter.
func (l *RedisLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, int, time.Time, error) {
	r := l.r
	if err := checkLimit(limit, window); err != nil {
		r.metrics.request(opAllow, resultError)
		return false, 0, time.Time{}, err
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	res, err := allowScript.Run(ctx, r.client, []string{r.prefix + "ratelimit:" + key}, window.Milliseconds()).Int64Slice()
	if err == nil && len(res) != 2 {
		err = errors.New("unexpected reply from the rate limit script")
	}
	if err != nil {
		r.metrics.request(opAllow, resultError)
		return false, 0, time.Time{}, fmt.Errorf("redis rate limit: %w", err)
	}
	allowed, remaining := verdict(res[0], limit)
	reset := time.Now().Add(time.Duration(res[1]) * time.Millisecond)
	if allowed {
		r.metrics.request(opAllow, resultAllowed)
	} else {
		r.metrics.request(opAllow, resultDenied)
	}
	return allowed, remaining, reset, nil
}
