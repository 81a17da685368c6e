package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestRedis(t *testing.T) {
	t.Run("own server", func(t *testing.T) {
		t.Parallel()
		s := startRedis(t, 0)
		testRedis(t, s.url())
	})
	t.Run("shared server", func(t *testing.T) {
		url := os.Getenv(envRedisURL)
		if url == "" {
			t.Skipf("%s is not set: set it (CI uses redis://127.0.0.1:6379/0) to run these tests against a shared server too", envRedisURL)
		}
		t.Parallel()
		testRedis(t, url)
	})
}

// testRedis runs the Redis cache and limiter against the server at url,
// under a key prefix of the test's own.
func testRedis(t *testing.T, url string) {
	ctx := context.Background()
	prefix := uniquePrefix(t)
	direct := directClient(t, url, prefix)
	reg := prometheus.NewRegistry()
	mt, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRedis(Options{URL: url, Prefix: prefix, Metrics: mt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("the Redis server under test does not answer (check %s, if set): %v", envRedisURL, err)
	}

	t.Run("cache", func(t *testing.T) { testRedisCache(t, r, direct, reg) })
	t.Run("prefix", func(t *testing.T) {
		other, err := NewRedis(Options{URL: url, Prefix: prefix + "other:"})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		mustSet(t, r, "p", "mine", 0, false, true)
		if v, found, err := other.Get(ctx, "p"); err != nil || found {
			t.Fatalf("other prefix: Get(p) = %q, %v, %v; want a miss", v, found, err)
		}
		mustSet(t, other, "p", "theirs", 0, false, true)
		mustGet(t, r, "p", "mine")
		mustGet(t, other, "p", "theirs")
		wantDirect(t, direct, prefix+"other:p", "theirs")
	})
	t.Run("limiter", func(t *testing.T) { testRedisLimiter(t, url, r, direct) })
	t.Run("request error", func(t *testing.T) {
		if err := direct.LPush(ctx, prefix+"list", "x").Err(); err != nil {
			t.Fatal(err)
		}
		_, _, err := r.Get(ctx, "list")
		if !redis.HasErrorPrefix(err, "WRONGTYPE") {
			t.Fatalf("Get of a list: error %v; want WRONGTYPE", err)
		}
		if unavailable(ctx, err) {
			t.Fatalf("unavailable(%v) = true; an error about one key must not switch a Failover to memory", err)
		}
	})
}

func testRedisCache(t *testing.T, r *Redis, direct *redis.Client, reg prometheus.Gatherer) {
	ctx := context.Background()
	p := r.Prefix()

	if v, found, err := r.Get(ctx, "a"); err != nil || found || v != nil {
		t.Fatalf("Get(a) on an empty prefix = %q, %v, %v; want nil, false, nil", v, found, err)
	}
	mustSet(t, r, "a", "1", 0, false, true)
	wantDirect(t, direct, p+"a", "1")
	wantPTTL(t, direct, p+"a", -1, -1)

	mustSet(t, r, "a", "2", time.Minute, true, false) // NX on an existing key
	wantDirect(t, direct, p+"a", "1")
	wantPTTL(t, direct, p+"a", -1, -1) // NX that did not store leaves the key alone
	mustGet(t, r, "a", "1")

	mustSet(t, r, "b", "x", 1500*time.Millisecond, true, true) // SET NX PX
	wantDirect(t, direct, p+"b", "x")
	wantPTTL(t, direct, p+"b", 1000, 1500)

	mustSet(t, r, "a", "3", 2*time.Second, false, true) // SET PX replaces
	wantDirect(t, direct, p+"a", "3")
	wantPTTL(t, direct, p+"a", 1500, 2000)
	mustSet(t, r, "a", "4", 0, false, true) // no ttl: keep until deleted, as Memory does
	wantPTTL(t, direct, p+"a", -1, -1)

	mustSet(t, r, "sub-ms", "y", time.Microsecond, false, true) // rounded up to 1ms, then gone
	sdktest.WaitFor(t, 2*time.Second, "expiry of a 1µs key", func() bool {
		return direct.Exists(ctx, p+"sub-ms").Val() == 0
	})
	mustMiss(t, r, "sub-ms")

	bin := []byte{0, 255, '\r', '\n', 'z'}
	if stored, err := r.Set(ctx, "bin", bin, 0, false); err != nil || !stored {
		t.Fatalf("Set(bin) = %v, %v", stored, err)
	}
	if v, found, err := r.Get(ctx, "bin"); err != nil || !found || !bytes.Equal(v, bin) {
		t.Fatalf("Get(bin) = %q, %v, %v; want %q", v, found, err, bin)
	}

	if deleted, err := r.Delete(ctx, "a"); err != nil || !deleted {
		t.Fatalf("Delete(a) = %v, %v; want true", deleted, err)
	}
	if deleted, err := r.Delete(ctx, "a"); err != nil || deleted {
		t.Fatalf("second Delete(a) = %v, %v; want false", deleted, err)
	}
	if n := direct.Exists(ctx, p+"a").Val(); n != 0 {
		t.Fatalf("EXISTS after Delete = %d", n)
	}
	if _, found, _ := r.Get(ctx, "a"); found {
		t.Fatal("deleted key found")
	}

	checkMetrics(t, reg, map[string]float64{
		requests("get", "hit"):      2, // a, bin
		requests("get", "miss"):     3, // a at the start, sub-ms, a at the end
		requests("get", "error"):    0,
		requests("set", "ok"):       7,
		requests("set", "error"):    0,
		requests("delete", "ok"):    2,
		requests("delete", "error"): 0,
	})
}

func mustSet(t *testing.T, c Cache, key, value string, ttl time.Duration, onlyIfAbsent, wantStored bool) {
	t.Helper()
	stored, err := c.Set(context.Background(), key, []byte(value), ttl, onlyIfAbsent)
	if err != nil || stored != wantStored {
		t.Fatalf("Set(%q, %q, %s, onlyIfAbsent=%v) = %v, %v; want %v, nil", key, value, ttl, onlyIfAbsent, stored, err, wantStored)
	}
}

func mustGet(t *testing.T, c Cache, key, want string) {
	t.Helper()
	v, found, err := c.Get(context.Background(), key)
	if err != nil || !found || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v, %v; want %q, true, nil", key, v, found, err, want)
	}
}

func mustMiss(t *testing.T, c Cache, key string) {
	t.Helper()
	v, found, err := c.Get(context.Background(), key)
	if err != nil || found {
		t.Fatalf("Get(%q) = %q, %v, %v; want a miss", key, v, found, err)
	}
}

// wantDirect checks a key's value in Redis, bypassing the cache; want ""
// means the key must not exist.
func wantDirect(t *testing.T, direct *redis.Client, key, want string) {
	t.Helper()
	v, err := direct.Get(context.Background(), key).Result()
	if want == "" {
		if !errors.Is(err, redis.Nil) {
			t.Fatalf("redis GET %s = %q, %v; want no such key", key, v, err)
		}
		return
	}
	if err != nil || v != want {
		t.Fatalf("redis GET %s = %q, %v; want %q", key, v, err, want)
	}
}

// wantPTTL checks a key's PTTL is within [lo, hi] milliseconds (-1: no
// expiry).
func wantPTTL(t *testing.T, direct *redis.Client, key string, lo, hi int64) {
	t.Helper()
	d, err := direct.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	ms := d.Milliseconds()
	if d < 0 {
		ms = int64(d / time.Nanosecond) // go-redis keeps -1 and -2 as they are
	}
	if ms < lo || ms > hi {
		t.Fatalf("PTTL %s = %dms; want %d..%d", key, ms, lo, hi)
	}
}

func testRedisLimiter(t *testing.T, url string, r *Redis, direct *redis.Client) {
	ctx := context.Background()
	l := NewRedisLimiter(r)
	key := "rate:" + r.Prefix() + "ratelimit:"

	// 3 per 10s: a burst of 3, then one every 3.33s; the memory limiter
	// answers the same.
	mem := NewMemoryLimiter(nil)
	const interval = 10 * time.Second / 3
	start := time.Now()
	for i, want := range []struct {
		allowed   bool
		remaining int
		reset     time.Duration // after start
	}{{true, 2, interval}, {true, 1, 2 * interval}, {true, 0, 3 * interval}, {false, 0, interval}, {false, 0, interval}} {
		allowed, remaining, reset, err := l.Allow(ctx, "ip:1", 3, 10*time.Second)
		if err != nil || allowed != want.allowed || remaining != want.remaining {
			t.Fatalf("request %d: Allow = %v, %d, %v; want %v, %d, nil", i+1, allowed, remaining, err, want.allowed, want.remaining)
		}
		if lo, hi := start.Add(want.reset-time.Second), time.Now().Add(want.reset+time.Millisecond); reset.Before(lo) || reset.After(hi) {
			t.Fatalf("request %d: reset %s after the start; want about %s", i+1, reset.Sub(start), want.reset)
		}
		mAllowed, mRemaining, _, _ := mem.Allow(ctx, "ip:1", 3, 10*time.Second)
		if mAllowed != allowed || mRemaining != remaining {
			t.Fatalf("request %d: memory says %v, %d; redis %v, %d", i+1, mAllowed, mRemaining, allowed, remaining)
		}
	}
	wantPTTL(t, direct, key+"ip:1", 8000, 10000)

	// Another key has its own limit.
	if allowed, remaining, _, err := l.Allow(ctx, "ip:2", 3, 10*time.Second); err != nil || !allowed || remaining != 2 {
		t.Fatalf("other key: Allow = %v, %d, %v; want true, 2, nil", allowed, remaining, err)
	}

	// A denied client is let in again when the rate allows one more. (One
	// a second: on a loaded CI machine two round trips took over 100ms,
	// and the second request was rightly let in.)
	_, _, _, _ = l.Allow(ctx, "short", 1, time.Second)
	allowed, _, retry, _ := l.Allow(ctx, "short", 1, time.Second)
	if allowed {
		t.Fatal("second request with a limit of 1 allowed")
	}
	time.Sleep(time.Until(retry) + 20*time.Millisecond)
	if allowed, remaining, _, err := l.Allow(ctx, "short", 1, time.Second); err != nil || !allowed || remaining != 0 {
		t.Fatalf("after the retry time: Allow = %v, %d, %v; want true, 0, nil", allowed, remaining, err)
	}

	// Two hosts (two clients, two limiters) on one prefix share the limit.
	// What is tested here is the counting, not latency: the clients get a
	// generous deadline, so 50 connections dialled at once on a loaded
	// machine are not cut off by the 250ms default.
	var hosts []*RedisLimiter
	for range 2 {
		h, err := NewRedis(Options{URL: url, Prefix: r.Prefix(), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		hosts = append(hosts, NewRedisLimiter(h))
	}
	for i, want := range []bool{true, true, true, true, false, false} {
		allowed, _, _, err := hosts[i%2].Allow(ctx, "shared", 4, time.Minute)
		if err != nil || allowed != want {
			t.Fatalf("request %d on host %d: Allow = %v, %v; want %v (4 a minute across both hosts)", i+1, i%2+1, allowed, err, want)
		}
	}

	// Counting is atomic: of 50 concurrent requests from two hosts exactly
	// the limit pass.
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for i := range 50 {
		wg.Go(func() {
			allowed, _, _, err := hosts[i%2].Allow(ctx, "burst", 20, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if allowed {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if passed != 20 {
		t.Fatalf("%d of 50 concurrent requests passed a limit of 20", passed)
	}

	if _, _, _, err := l.Allow(ctx, "x", 0, time.Second); err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Fatalf("Allow with limit 0: error %v; want one about the limit", err)
	}
}
