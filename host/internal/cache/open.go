package cache

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix Open uses when OpenOptions.Prefix is empty.
const DefaultPrefix = "mikrobill:"

// OpenOptions configure Open. Every field is optional.
type OpenOptions struct {
	// Prefix is prepended to every Redis key. Hosts that share keys and
	// limits must use the same prefix. Default DefaultPrefix ("mikrobill:").
	Prefix string
	// Timeout bounds each Redis operation. Default DefaultTimeout (250ms).
	Timeout time.Duration
	// ProbeInterval is how often Redis is PINGed to notice it leaving and
	// coming back. Default DefaultProbeInterval (1s).
	ProbeInterval time.Duration
	// MemoryEntries bounds the in-memory cache (the cache itself without
	// Redis, the fallback with it). Default DefaultMemoryEntries.
	MemoryEntries int
	// Logger receives start-up and switch messages; Open names it "cache".
	// Default: discard.
	Logger hclog.Logger
	// Registerer receives the metrics (see Metrics). Default: none.
	Registerer prometheus.Registerer
}

// Backend is the host's cache and rate limiter as Open built them, with
// their health: either in memory, or Redis with an in-memory failover.
type Backend struct {
	// Cache backs the plugins' key-value store.
	Cache Cache
	// Limiter backs the HTTP layer's rate limits.
	Limiter Limiter

	failover *Failover // nil without Redis
}

// Open builds the cache and rate limiter for redisURL. An empty URL gives
// them in memory (Memory and MemoryLimiter): the host runs alone, and Health
// is always ok. A redis:// or rediss:// URL gives a Failover over Redis: it
// starts even when Redis is down (Health degraded, serving from memory,
// probing) and moves to Redis when Redis answers. Open fails only on an
// invalid URL or options; ctx bounds the first PING.
func Open(ctx context.Context, redisURL string, opts OpenOptions) (*Backend, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	log := opts.Logger.Named("cache")
	metrics, err := NewMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	mem := NewMemoryWithMetrics(opts.MemoryEntries, metrics)
	if strings.TrimSpace(redisURL) == "" {
		metrics.setBackend(BackendMemory)
		log.Info("using the in-memory cache and rate limits (no Redis configured; they are not shared with other hosts)")
		return &Backend{Cache: mem, Limiter: NewMemoryLimiter(metrics)}, nil
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	r, err := NewRedis(Options{URL: redisURL, Prefix: opts.Prefix, Timeout: opts.Timeout, Metrics: metrics})
	if err != nil {
		return nil, err
	}
	f := NewFailover(ctx, r, mem, FailoverOptions{Logger: log, Metrics: metrics, ProbeInterval: opts.ProbeInterval})
	return &Backend{Cache: f, Limiter: f.Limiter(), failover: f}, nil
}

// Mode is the backend serving now: "redis" or "memory".
func (b *Backend) Mode() string {
	if b.failover == nil {
		return BackendMemory
	}
	return b.failover.Mode()
}

// Health is "ok" or, while Redis is configured but away, "degraded", with a
// message for the health endpoints.
func (b *Backend) Health() (status, message string) {
	if b.failover == nil {
		return "ok", "in memory (no Redis configured)"
	}
	return b.failover.Health()
}

// Close stops probing Redis and closes its connections. Close it after
// everything that uses the cache has stopped (the plugins, the HTTP server).
func (b *Backend) Close() error {
	if b.failover == nil {
		return nil
	}
	if err := b.failover.Close(); err != nil {
		return fmt.Errorf("close redis: %w", err)
	}
	return nil
}

// RouteRedisLogs sends go-redis's own log lines (failed dials and the like,
// which go to stderr in log package format by default) to l at debug
// level. go-redis has one logger per process, so this is process-wide: the
// CLI calls it once at start-up, if at all. The Failover logs what an
// operator needs (each switch, with the error) on its own logger.
func RouteRedisLogs(l hclog.Logger) {
	redis.SetLogger(redisLogger{l})
}

type redisLogger struct{ l hclog.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.l.Debug(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}
