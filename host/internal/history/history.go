// Package history keeps a short, bounded, in-memory history of each
// plugin for the admin UI's sparklines: a fixed ring of samples (Ring),
// taken every plugins.history_interval by the plugin manager, each with the
// plugin's state, health, restarts, its process's resident memory and CPU
// time (ReadProcess), and the latency of the calls the host made to it
// since the sample before (Latency, fed by a gRPC client interceptor on the
// plugin's connection). Series turns a ring's samples into the column
// arrays GET /api/v1/plugins/{name}/history answers, which a chart library
// such as uPlot plots as they are.
//
// Nothing here grows: a ring holds at most its capacity, a latency recorder
// is a fixed set of counters, and recording a call allocates nothing.
package history

import (
	"sync"
	"time"
)

// Window is how far back a history reaches: the ring of a plugin sampled
// every interval holds Window/interval samples (Capacity).
const Window = time.Hour

// DefaultInterval is the sampling interval when none is configured.
const DefaultInterval = 5 * time.Second

// Capacity is the number of samples that cover Window at interval (at least
// one). A non-positive interval counts as DefaultInterval.
func Capacity(interval time.Duration) int {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return max(int(Window/interval), 1)
}

// Sample is one look at a plugin.
type Sample struct {
	// Time is when the sample was taken.
	Time time.Time
	// State is the plugin's state ("running", "restarting", ...).
	State string
	// Health is the last health check's status while the plugin runs
	// ("ok", "degraded", "error"), "unknown" otherwise.
	Health string
	// Restarts counts the plugin's restarts since the host started.
	Restarts int
	// PID is the plugin's process id, 0 when no process runs.
	PID int
	// Process is what /proc says of that process; Process.OK is false when
	// no process runs or it could not be read (not Linux).
	Process Process
	// Latency is the calls the host made to the plugin since the sample
	// before.
	Latency LatencyStats
}

// Ring is a fixed number of samples, the newest replacing the oldest. It is
// safe for concurrent use.
type Ring struct {
	mu   sync.Mutex
	buf  []Sample
	next int  // where the next sample goes
	full bool // buf has wrapped: next is also the oldest
}

// NewRing returns a ring of n samples (at least one).
func NewRing(n int) *Ring {
	return &Ring{buf: make([]Sample, max(n, 1))}
}

// Cap returns how many samples the ring keeps.
func (r *Ring) Cap() int { return len(r.buf) }

// Len returns how many samples the ring holds.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// Add keeps s, in place of the oldest sample when the ring is full.
func (r *Ring) Add(s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = s
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// Samples returns a copy of the samples, oldest first.
func (r *Ring) Samples() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Sample(nil), r.buf[:r.next]...)
	}
	out := make([]Sample, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}
