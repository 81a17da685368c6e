package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mikrobill/mikrobill/sdk"
)

// Command outcomes, the outcome label of mikrobill_router_commands_total.
const (
	outcomeOK       = "ok"       // !done
	outcomeTrap     = "trap"     // the router refused the command (!trap)
	outcomeTimeout  = "timeout"  // no answer within command_timeout_seconds
	outcomeError    = "error"    // the connection broke (or !fatal)
	outcomeCanceled = "canceled" // the caller gave up first
)

// durationBuckets are the upper bounds of the command duration histogram,
// in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// stats holds the plugin's counters for CollectMetrics, as client_golang
// collectors. It is safe for concurrent use.
type stats struct {
	durations  *prometheus.HistogramVec // location, command
	commands   *prometheus.CounterVec   // location, command, outcome
	reconnects *prometheus.CounterVec   // location
}

func newStats() *stats {
	return &stats{
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mikrobill_router_command_duration_seconds",
			Help:    "Time from sending a RouterOS API command to its last reply.",
			Buckets: durationBuckets,
		}, []string{"location", "command"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mikrobill_router_commands_total",
			Help: "RouterOS API commands sent, by outcome (ok, trap, timeout, error, canceled).",
		}, []string{"location", "command", "outcome"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mikrobill_router_reconnects_total",
			Help: "Connections made to a router after an earlier one was lost.",
		}, []string{"location"}),
	}
}

// command records one API command.
func (s *stats) command(loc, word, outcome string, d time.Duration) {
	s.commands.WithLabelValues(loc, word, outcome).Inc()
	s.durations.WithLabelValues(loc, word).Observe(d.Seconds())
}

// reconnect records a new connection to a router that had one before.
func (s *stats) reconnect(loc string) {
	s.reconnects.WithLabelValues(loc).Inc()
}

// gauges are the per-location values that come from the poller.
type gauges struct {
	loc      string
	up       bool
	sessions map[string]int // kind -> active sessions, when known
}

// text renders the metrics in the Prometheus text format: the counters,
// and gauges of the poller's last look at each location.
func (s *stats) text(locs []gauges) ([]byte, error) {
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mikrobill_router_up",
		Help: "Whether the router answered and accepted the login at its last check (1) or not (0).",
	}, []string{"location"})
	sessions := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mikrobill_router_active_sessions",
		Help: "Active hotspot and PPP sessions at the router's last check.",
	}, []string{"location", "kind"})
	for _, g := range locs {
		v := 0.0
		if g.up {
			v = 1
		}
		up.WithLabelValues(g.loc).Set(v)
		for _, kind := range []string{"hotspot", "ppp"} {
			if n, ok := g.sessions[kind]; ok {
				sessions.WithLabelValues(g.loc, kind).Set(float64(n))
			}
		}
		s.reconnects.WithLabelValues(g.loc) // 0 until the first reconnect
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.durations, s.commands, s.reconnects, up, sessions)
	return sdk.MetricsText(reg)
}
