package main

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
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

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	count  uint64
}

// stats holds the plugin's counters for CollectMetrics. It is safe for
// concurrent use.
type stats struct {
	mu         sync.Mutex
	durations  map[[2]string]*histogram // {location, command}
	commands   map[[3]string]uint64     // {location, command, outcome}
	reconnects map[string]uint64        // location
}

func newStats() *stats {
	return &stats{
		durations:  map[[2]string]*histogram{},
		commands:   map[[3]string]uint64{},
		reconnects: map[string]uint64{},
	}
}

// command records one API command.
func (s *stats) command(loc, word, outcome string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands[[3]string{loc, word, outcome}]++
	k := [2]string{loc, word}
	h := s.durations[k]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(durationBuckets))}
		s.durations[k] = h
	}
	sec := d.Seconds()
	h.sum += sec
	h.count++
	if i, _ := slices.BinarySearch(durationBuckets, sec); i < len(durationBuckets) {
		h.counts[i]++
	}
}

// reconnect records a new connection to a router that had one before.
func (s *stats) reconnect(loc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reconnects[loc]++
}

// gauges are the per-location values that come from the poller.
type gauges struct {
	loc      string
	up       bool
	sessions map[string]int // kind -> active sessions, when known
}

// text renders the metrics in the Prometheus text format.
func (s *stats) text(locs []gauges) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer

	b.WriteString("# HELP mikrobill_router_up Whether the router answered and accepted the login at its last check (1) or not (0).\n")
	b.WriteString("# TYPE mikrobill_router_up gauge\n")
	for _, g := range locs {
		up := 0
		if g.up {
			up = 1
		}
		fmt.Fprintf(&b, "mikrobill_router_up{location=%s} %d\n", label(g.loc), up)
	}

	b.WriteString("# HELP mikrobill_router_command_duration_seconds Time from sending a RouterOS API command to its last reply.\n")
	b.WriteString("# TYPE mikrobill_router_command_duration_seconds histogram\n")
	dkeys := sortedKeys(s.durations, func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
	for _, k := range dkeys {
		h := s.durations[k]
		ls := fmt.Sprintf("location=%s,command=%s", label(k[0]), label(k[1]))
		var cum uint64
		for i, le := range durationBuckets {
			cum += h.counts[i]
			fmt.Fprintf(&b, "mikrobill_router_command_duration_seconds_bucket{%s,le=%q} %d\n", ls, strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		fmt.Fprintf(&b, "mikrobill_router_command_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", ls, h.count)
		fmt.Fprintf(&b, "mikrobill_router_command_duration_seconds_sum{%s} %s\n", ls, strconv.FormatFloat(h.sum, 'g', -1, 64))
		fmt.Fprintf(&b, "mikrobill_router_command_duration_seconds_count{%s} %d\n", ls, h.count)
	}

	b.WriteString("# HELP mikrobill_router_commands_total RouterOS API commands sent, by outcome (ok, trap, timeout, error, canceled).\n")
	b.WriteString("# TYPE mikrobill_router_commands_total counter\n")
	ckeys := sortedKeys(s.commands, func(a, b [3]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]), strings.Compare(a[2], b[2]))
	})
	for _, k := range ckeys {
		fmt.Fprintf(&b, "mikrobill_router_commands_total{location=%s,command=%s,outcome=%s} %d\n", label(k[0]), label(k[1]), label(k[2]), s.commands[k])
	}

	b.WriteString("# HELP mikrobill_router_active_sessions Active hotspot and PPP sessions at the router's last check.\n")
	b.WriteString("# TYPE mikrobill_router_active_sessions gauge\n")
	for _, g := range locs {
		for _, kind := range []string{"hotspot", "ppp"} {
			if n, ok := g.sessions[kind]; ok {
				fmt.Fprintf(&b, "mikrobill_router_active_sessions{location=%s,kind=%s} %d\n", label(g.loc), label(kind), n)
			}
		}
	}

	b.WriteString("# HELP mikrobill_router_reconnects_total Connections made to a router after an earlier one was lost.\n")
	b.WriteString("# TYPE mikrobill_router_reconnects_total counter\n")
	for _, g := range locs {
		fmt.Fprintf(&b, "mikrobill_router_reconnects_total{location=%s} %d\n", label(g.loc), s.reconnects[g.loc])
	}
	return b.Bytes()
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

// label quotes a Prometheus label value.
func label(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
}
