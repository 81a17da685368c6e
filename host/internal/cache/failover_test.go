package cache

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// switchTimeout bounds how long a test waits for a Failover to notice Redis
// leave or return; with a 50ms probe it takes well under a second.
const switchTimeout = 5 * time.Second

// openTest opens a Backend on url with a fast probe, a fresh registry and a
// captured log.
func openTest(t *testing.T, url, prefix string, probe time.Duration) (*Backend, *prometheus.Registry, *sdktest.Buffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	log, logs := sdktest.Logger(t)
	b, err := Open(context.Background(), url, OpenOptions{Prefix: prefix, ProbeInterval: probe, Logger: log, Registerer: reg})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b, reg, logs
}

func wantMode(t *testing.T, b *Backend, mode, status string) {
	t.Helper()
	if got := b.Mode(); got != mode {
		t.Fatalf("Mode = %q; want %q", got, mode)
	}
	if got, msg := b.Health(); got != status {
		t.Fatalf("Health = %q (%s); want %q", got, msg, status)
	}
}

func TestFailoverCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startRedis(t, 0)
	prefix := uniquePrefix(t)
	direct := directClient(t, s.url(), prefix)
	b, reg, logs := openTest(t, s.url(), prefix, 50*time.Millisecond)
	c := b.Cache

	// Redis serves.
	wantMode(t, b, "redis", "ok")
	checkMetrics(t, reg, map[string]float64{backendGauge("redis"): 1, backendGauge("memory"): 0})
	mustSet(t, c, "k1", "secret-value-1", 0, false, true)
	wantDirect(t, direct, prefix+"k1", "secret-value-1")
	mustGet(t, c, "k1", "secret-value-1")

	// Redis dies: callers see no errors; memory serves, starting empty.
	s.kill()
	mustMiss(t, c, "k1") // Redis's keys are out of reach
	mustSet(t, c, "k2", "secret-value-2", 0, false, true)
	mustSet(t, c, "k2", "other", 0, true, false) // NX works in memory too
	mustGet(t, c, "k2", "secret-value-2")
	mustSet(t, c, "k3", "v3", 0, false, true)
	if deleted, err := c.Delete(ctx, "k3"); err != nil || !deleted {
		t.Fatalf("Delete(k3) from memory = %v, %v; want true, nil", deleted, err)
	}
	wantMode(t, b, "memory", "degraded")
	if _, msg := b.Health(); !strings.Contains(msg, "redis at "+s.addr()+" unavailable since") {
		t.Fatalf("degraded Health message %q does not say which Redis is away since when", msg)
	} else {
		t.Logf("degraded: %s", msg)
	}
	checkMetrics(t, reg, map[string]float64{
		failovers("to_memory"): 1, failovers("to_redis"): 0,
		backendGauge("redis"): 0, backendGauge("memory"): 1,
	})

	// A new, empty Redis comes up on the same port: the probe switches back.
	s.start()
	sdktest.WaitFor(t, switchTimeout, "the switch back to redis", func() bool { return b.Mode() == "redis" })
	wantMode(t, b, "redis", "ok")
	mustSet(t, c, "k4", "v4", time.Minute, false, true)
	wantDirect(t, direct, prefix+"k4", "v4")
	wantPTTL(t, direct, prefix+"k4", 59000, 60000)
	// What was written to memory was neither copied to Redis nor kept.
	wantDirect(t, direct, prefix+"k2", "")
	mustMiss(t, c, "k2")
	checkMetrics(t, reg, map[string]float64{
		failovers("to_memory"): 1, failovers("to_redis"): 1,
		backendGauge("redis"): 1, backendGauge("memory"): 0,
	})

	// A second outage starts from an empty memory again: nothing from the
	// first one comes back stale.
	s.kill()
	sdktest.WaitFor(t, switchTimeout, "the second switch to memory", func() bool { return b.Mode() == "memory" })
	mustMiss(t, c, "k2")
	mustMiss(t, c, "k4")
	checkMetrics(t, reg, map[string]float64{failovers("to_memory"): 2, failovers("to_redis"): 1})

	out := logs.String()
	for _, want := range []string{"redis unavailable", "redis is back", `"addr":"` + s.addr() + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-value") {
		t.Errorf("log shows a cached value:\n%s", out)
	}
}

func TestFailoverLimiter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startRedis(t, 0)
	prefix := uniquePrefix(t)
	direct := directClient(t, s.url(), prefix)
	b, reg, _ := openTest(t, s.url(), prefix, 50*time.Millisecond)
	// A second host on the same Redis and prefix.
	b2, _, _ := openTest(t, s.url(), prefix, 50*time.Millisecond)

	// 2 a minute: one more every 30s; reset is when the key is full again
	// (allowed) or when the next request may pass (denied).
	allow := func(b *Backend, want bool, wantRemaining int, wantReset time.Duration) {
		t.Helper()
		allowed, remaining, reset, err := b.Limiter.Allow(ctx, "ip:10.0.0.1", 2, time.Minute)
		if err != nil || allowed != want || remaining != wantRemaining {
			t.Fatalf("Allow = %v, %d, %v; want %v, %d, nil", allowed, remaining, err, want, wantRemaining)
		}
		if d := time.Until(reset); d <= wantReset-2*time.Second || d > wantReset {
			t.Fatalf("reset in %s; want about %s", d, wantReset)
		}
	}
	rateKey := "rate:" + prefix + "ratelimit:ip:10.0.0.1"

	// Both hosts count against one limit in Redis.
	allow(b, true, 1, 30*time.Second)
	allow(b2, true, 0, time.Minute)
	allow(b, false, 0, 30*time.Second)
	wantPTTL(t, direct, rateKey, 58000, 60000)

	// Redis dies; with no traffic the probe notices. Limits go on from
	// memory, a full limit per host.
	s.kill()
	sdktest.WaitFor(t, switchTimeout, "the switch to memory", func() bool { return b.Mode() == "memory" })
	wantMode(t, b, "memory", "degraded")
	allow(b, true, 1, 30*time.Second)
	allow(b, true, 0, time.Minute)
	allow(b, false, 0, 30*time.Second)
	checkMetrics(t, reg, map[string]float64{
		requests("allow", "allowed"): 3, // 1 on Redis, 2 in memory
		requests("allow", "denied"):  2,
		failovers("to_memory"):       1,
	})

	// Redis is back (empty): limits count in Redis again.
	s.start()
	sdktest.WaitFor(t, switchTimeout, "the switch back to redis", func() bool { return b.Mode() == "redis" })
	wantMode(t, b, "redis", "ok")
	wantDirect(t, direct, rateKey, "")
	allow(b, true, 1, 30*time.Second)
	wantPTTL(t, direct, rateKey, 28000, 30000)
	sdktest.WaitFor(t, switchTimeout, "the second host's switch back", func() bool { return b2.Mode() == "redis" })
	allow(b2, true, 0, time.Minute)
	allow(b, false, 0, 30*time.Second)
	wantPTTL(t, direct, rateKey, 58000, 60000)
}

// TestFailoverOnOperation: with no probe to help, the first operation that
// finds Redis gone switches, once however many find it at the same time, and
// every one of them is served from memory without an error.
func TestFailoverOnOperation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startRedis(t, 0)
	b, reg, _ := openTest(t, s.url(), uniquePrefix(t), time.Hour)
	mustSet(t, b.Cache, "warm", "up", 0, false, true) // a pooled connection, now to die
	s.kill()

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			key := "k" + strconv.Itoa(i)
			if stored, err := b.Cache.Set(ctx, key, []byte("v"), 0, false); err != nil || !stored {
				t.Errorf("Set(%s) = %v, %v; want true, nil", key, stored, err)
			}
			if _, _, _, err := b.Limiter.Allow(ctx, key, 1, time.Minute); err != nil {
				t.Errorf("Allow(%s): %v", key, err)
			}
		})
	}
	wg.Wait()
	wantMode(t, b, "memory", "degraded")
	for i := range 20 {
		mustGet(t, b.Cache, "k"+strconv.Itoa(i), "v")
	}
	checkMetrics(t, reg, map[string]float64{failovers("to_memory"): 1, failovers("to_redis"): 0})
}

func TestOpenWithRedisDown(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	prefix := uniquePrefix(t)
	b, reg, logs := openTest(t, url, prefix, 50*time.Millisecond)

	wantMode(t, b, "memory", "degraded")
	if _, msg := b.Health(); !strings.Contains(msg, "connection refused") {
		t.Errorf("Health message %q does not give the reason", msg)
	}
	mustSet(t, b.Cache, "k", "v", 0, false, true)
	mustGet(t, b.Cache, "k", "v")
	checkMetrics(t, reg, map[string]float64{failovers("to_memory"): 1, backendGauge("memory"): 1})
	if !strings.Contains(logs.String(), "redis unavailable") {
		t.Errorf("starting without Redis was not logged:\n%s", logs.String())
	}

	s := startRedis(t, port)
	direct := directClient(t, s.url(), prefix)
	sdktest.WaitFor(t, switchTimeout, "the switch to redis", func() bool { return b.Mode() == "redis" })
	wantMode(t, b, "redis", "ok")
	mustSet(t, b.Cache, "k", "w", 0, false, true)
	wantDirect(t, direct, prefix+"k", "w")
	checkMetrics(t, reg, map[string]float64{failovers("to_redis"): 1, backendGauge("redis"): 1, backendGauge("memory"): 0})
}

// TestFailoverNoSwitch: the caller giving up, or an error about one key, is
// returned as is and does not send the host to memory.
func TestFailoverNoSwitch(t *testing.T) {
	t.Parallel()
	s := startRedis(t, 0)
	prefix := uniquePrefix(t)
	direct := directClient(t, s.url(), prefix)
	b, reg, _ := openTest(t, s.url(), prefix, time.Hour)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := b.Cache.Get(canceled, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: error %v; want context.Canceled", err)
	}
	if _, _, _, err := b.Limiter.Allow(canceled, "k", 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Allow with a canceled context: error %v; want context.Canceled", err)
	}

	if err := direct.LPush(context.Background(), prefix+"list", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Cache.Get(context.Background(), "list"); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Get of a list: error %v; want WRONGTYPE", err)
	}
	wantMode(t, b, "redis", "ok")
	checkMetrics(t, reg, map[string]float64{failovers("to_memory"): 0})
}

// TestFailoverAuth: a wrong password leaves the host degraded, saying why,
// and never shows the password; the right one serves from Redis.
func TestFailoverAuth(t *testing.T) {
	t.Parallel()
	s := startRedis(t, 0, "--requirepass", "right-pw-1234")
	prefix := uniquePrefix(t)

	bad, _, logs := openTest(t, "redis://:wrong-pw-5678@"+s.addr()+"/0", prefix, time.Hour)
	wantMode(t, bad, "memory", "degraded")
	_, msg := bad.Health()
	if !strings.Contains(msg, "WRONGPASS") {
		t.Errorf("Health message %q does not give the reason", msg)
	}
	if out := logs.String() + msg; strings.Contains(out, "wrong-pw-5678") {
		t.Errorf("the password shows in logs or health:\n%s", out)
	}
	mustSet(t, bad.Cache, "k", "v", 0, false, true) // served from memory

	url := "redis://:right-pw-1234@" + s.addr() + "/0"
	direct := directClient(t, url, prefix)
	good, _, logs := openTest(t, url, prefix, time.Hour)
	wantMode(t, good, "redis", "ok")
	mustSet(t, good.Cache, "k", "w", 0, false, true)
	wantDirect(t, direct, prefix+"k", "w")
	if strings.Contains(logs.String(), "right-pw-1234") {
		t.Errorf("the password shows in the log:\n%s", logs.String())
	}
}

func TestFailoverClose(t *testing.T) {
	t.Parallel()
	s := startRedis(t, 0)
	b, _, _ := openTest(t, s.url(), uniquePrefix(t), 10*time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := b.Cache.Get(context.Background(), "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: error %v; want ErrClosed", err)
	}
	if _, _, _, err := b.Limiter.Allow(context.Background(), "k", 1, time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("Allow after Close: error %v; want ErrClosed", err)
	}
	wantMode(t, b, "redis", "ok") // Close is not an outage
}

func TestOpenMemory(t *testing.T) {
	ctx := context.Background()
	b, reg, _ := openTest(t, "", "", 0)
	if _, ok := b.Cache.(*Memory); !ok {
		t.Fatalf("Open without a URL gave a %T cache; want *Memory", b.Cache)
	}
	if _, ok := b.Limiter.(*MemoryLimiter); !ok {
		t.Fatalf("Open without a URL gave a %T limiter; want *MemoryLimiter", b.Limiter)
	}
	wantMode(t, b, "memory", "ok")
	mustSet(t, b.Cache, "k", "v", 0, false, true)
	mustGet(t, b.Cache, "k", "v")
	if allowed, remaining, _, err := b.Limiter.Allow(ctx, "k", 2, time.Second); err != nil || !allowed || remaining != 1 {
		t.Fatalf("Allow = %v, %d, %v; want true, 1, nil", allowed, remaining, err)
	}
	checkMetrics(t, reg, map[string]float64{
		backendGauge("memory"): 1, backendGauge("redis"): 0,
		requests("get", "hit"): 1, requests("set", "ok"): 1, requests("allow", "allowed"): 1,
	})
}

func TestOpenInvalidURL(t *testing.T) {
	for _, url := range []string{
		"http://127.0.0.1:6379",
		"127.0.0.1:6379",
		"redis://:hunter2@127.0.0.1:notaport/0",
		"redis://user:hunter2@[::1/0",
		"redis://:hunter2@127.0.0.1:6379/notadb",
	} {
		_, err := Open(context.Background(), url, OpenOptions{})
		if err == nil {
			t.Errorf("Open(%q): no error", url)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): the error shows the password: %v", url, err)
		}
		if !strings.Contains(err.Error(), "invalid redis URL") {
			t.Errorf("Open(%q): error %q does not say the URL is invalid", url, err)
		}
	}
}

func TestRouteRedisLogs(t *testing.T) {
	log, logs := sdktest.Logger(t)
	redisLogger{log}.Printf(context.Background(), "redis: failed to dial after %d attempts", 1)
	if out := logs.String(); !strings.Contains(out, `"@level":"debug"`) || !strings.Contains(out, `"@message":"failed to dial after 1 attempts"`) {
		t.Fatalf("go-redis line logged as %s", out)
	}
}
