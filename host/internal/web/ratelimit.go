package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// RateLimiter counts requests against a key, limit per window by GCRA
// (cache.Limiter: in memory, or in Redis through redis_rate so that several
// hosts share the limits). It reports whether the request is within limit,
// how many more may follow at once, and when the next one will pass (when
// denied) or the key is back to its full limit (when allowed).
type RateLimiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) (allowed bool, remaining int, reset time.Time, err error)
}

// limit counts the request against key and sets X-RateLimit-Limit,
// X-RateLimit-Remaining and X-RateLimit-Reset (Unix seconds). Over the
// limit it returns a 429 error and sets Retry-After (seconds). Without a
// limiter, or when it fails, the request passes (the failure is logged):
// an outage of the cache must not take the API down.
func (s *Server) limit(w http.ResponseWriter, r *http.Request, key string, limit int, window time.Duration) error {
	if s.deps.RateLimiter == nil || limit < 1 || window <= 0 {
		return nil
	}
	allowed, remaining, reset, err := s.deps.RateLimiter.Allow(r.Context(), key, limit, window)
	if err != nil {
		s.log.Error("rate limiter failed; letting the request through", "path", r.URL.Path, "error", err)
		return nil
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(int64(math.Ceil(float64(reset.UnixMilli())/1000)), 10))
	if allowed {
		return nil
	}
	wait := int(math.Ceil(time.Until(reset).Seconds()))
	if wait < 1 {
		wait = 1
	}
	h.Set("Retry-After", strconv.Itoa(wait))
	return &apiError{http.StatusTooManyRequests, "rate_limited",
		fmt.Sprintf("too many requests: at most %d per %s; try again in %d seconds", limit, windowText(window), wait), nil}
}

// windowText writes a window for people: "minute", "15 minutes", "hour".
func windowText(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d%u.d == 0 {
			if n := d / u.d; n != 1 {
				return fmt.Sprintf("%d %ss", n, u.name)
			}
			return u.name
		}
	}
	return d.String()
}
