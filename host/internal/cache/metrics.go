package cache

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the cache's metrics.
const (
	opGet    = "get"
	opSet    = "set"
	opDelete = "delete"
	opAllow  = "allow"

	resultHit     = "hit"
	resultMiss    = "miss"
	resultOK      = "ok"
	resultError   = "error"
	resultAllowed = "allowed"
	resultDenied  = "denied"

	// BackendRedis and BackendMemory are what Mode returns and the values
	// of the backend label of mikrobill_cache_backend.
	BackendRedis  = "redis"
	BackendMemory = "memory"

	directionToMemory = "to_memory"
	directionToRedis  = "to_redis"
)

// Metrics are the cache's Prometheus instruments. A nil *Metrics is valid
// and counts nothing, so Memory, Redis and the limiters take one optionally.
//
//   - mikrobill_cache_requests_total{op, result}: op is get, set, delete or
//     allow (the rate limiter); result is hit or miss for get, ok or error
//     for set and delete, allowed or denied for allow, and error for any
//     operation that failed. Each backend counts its own requests, so an
//     operation a Failover sends to Redis and, Redis having failed, then
//     serves from memory counts once as a Redis error and once with its
//     memory result.
//   - mikrobill_cache_backend{backend}: 1 for the backend in use (redis or
//     memory), 0 for the other.
//   - mikrobill_cache_failovers_total{direction}: switches of a Failover,
//     direction to_memory (Redis went away) or to_redis (it came back).
type Metrics struct {
	requests  *prometheus.CounterVec
	backend   *prometheus.GaugeVec
	failovers *prometheus.CounterVec

	// counters holds requests' series, resolved once: read-only after
	// NewMetrics, so counting takes no lock.
	counters map[[2]string]prometheus.Counter
}

// NewMetrics makes the cache's instruments and registers them on reg. A nil
// reg gives nil Metrics (count nothing). When reg already holds them (a
// second NewMetrics on one registry) the registered ones are reused.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mikrobill_cache_requests_total",
			Help: "Cache and rate limiter requests by operation (get, set, delete, allow) and result (hit, miss, ok, allowed, denied, error).",
		}, []string{"op", "result"}),
		backend: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mikrobill_cache_backend",
			Help: "1 for the cache backend in use (redis or memory), 0 for the other.",
		}, []string{"backend"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mikrobill_cache_failovers_total",
			Help: "Switches between Redis and the in-memory fallback, by direction (to_memory, to_redis).",
		}, []string{"direction"}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.backend, err = register(reg, m.backend); err != nil {
		return nil, err
	}
	if m.failovers, err = register(reg, m.failovers); err != nil {
		return nil, err
	}
	// Make every series exist from the start, so dashboards and alerts see
	// zeros rather than nothing.
	m.counters = map[[2]string]prometheus.Counter{}
	for op, results := range map[string][]string{
		opGet:    {resultHit, resultMiss, resultError},
		opSet:    {resultOK, resultError},
		opDelete: {resultOK, resultError},
		opAllow:  {resultAllowed, resultDenied, resultError},
	} {
		for _, r := range results {
			m.counters[[2]string{op, r}] = m.requests.WithLabelValues(op, r)
		}
	}
	m.backend.WithLabelValues(BackendRedis)
	m.backend.WithLabelValues(BackendMemory)
	m.failovers.WithLabelValues(directionToMemory)
	m.failovers.WithLabelValues(directionToRedis)
	return m, nil
}

// register registers c on reg, or returns the collector reg already holds.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register cache metrics: %w", err)
}

func (m *Metrics) request(op, result string) {
	if m == nil {
		return
	}
	if c, ok := m.counters[[2]string{op, result}]; ok {
		c.Inc()
		return
	}
	m.requests.WithLabelValues(op, result).Inc()
}

// setBackend marks backend as the one in use.
func (m *Metrics) setBackend(backend string) {
	if m == nil {
		return
	}
	for _, b := range []string{BackendRedis, BackendMemory} {
		v := 0.0
		if b == backend {
			v = 1
		}
		m.backend.WithLabelValues(b).Set(v)
	}
}

func (m *Metrics) failover(direction string) {
	if m == nil {
		return
	}
	m.failovers.WithLabelValues(direction).Inc()
}
