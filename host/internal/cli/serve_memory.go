package cli

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/hashicorp/go-hclog"
)

// startupSettled is how long after it starts serving the host lets its
// start-up finish (the plugins' first health checks and samples, the job
// queue's first polls, the first heartbeats) before its first release.
const startupSettled = 10 * time.Second

// idleTrimInterval is how often an idle host gives back what the work of
// the last interval left resident, and idleAllocLimit how little the host
// allocates in an interval to count as idle. An idle host (the job queue's
// polls, the heartbeats, the plugins' health checks, a scrape of /metrics
// now and then) allocates about 1 MB in 30 s; a webhook or a page of the
// admin UI tens to hundreds of KB, so a host answering a few requests a
// minute still counts as idle, and one under load does not, and keeps its
// pages and its heap. 30 s is the period of the longest idle work that
// runs often (the audit trail's drain): what a longer interval would add
// to the resident memory before each release is the runtime's forced
// collection every two minutes, which the release's own collection
// replaces.
const (
	idleTrimInterval = 30 * time.Second
	idleAllocLimit   = 8 << 20
)

// releaseMemory gives back what an idle host does not use, so that its
// resident memory is what its idle work keeps using (docs/BENCHMARKS.md,
// "Idle host memory"):
//
//   - the heap left as garbage: a collection, and the freed pages returned
//     to the system (debug.FreeOSMemory) instead of kept until the
//     runtime's scavenger gets to them, which keeps up to the collector's
//     goal;
//   - the pages of the host's own executable that are mapped
//     (releaseExecutablePages): after the start-up, the package
//     initialisers, the migrations and the plugins' launch code (15 to
//     20 MiB of code and read-only data); later, the code of the work done
//     since the last release. They are clean copies of the file, so nothing
//     is lost: a page used again is mapped again from the page cache.
//
// It releases once startupSettled after serving starts, then every
// idleTrimInterval in which the host allocated less than idleAllocLimit
// (what the idle work touches comes back within the interval; the
// releases' collections and page faults did not add to the idle host's CPU
// time, BenchmarkIdleHostMemory's idle-cpu-ms). It returns when ctx ends.
func releaseMemory(ctx context.Context, log hclog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(startupSettled):
	}
	pages := true // false once releasing the executable's pages failed: said once
	release := func(level hclog.Level, when string) {
		debug.FreeOSMemory()
		if !pages {
			return
		}
		n, err := releaseExecutablePages()
		if err != nil {
			pages = false
			log.Warn("the executable's pages are not released; the host works as before, with more resident memory", "error", err)
			return
		}
		log.Log(level, "memory released", "when", when, "executable_bytes_unmapped", n)
	}
	release(hclog.Debug, "start-up")
	t := time.NewTicker(idleTrimInterval)
	defer t.Stop()
	whenIdle(ctx, t.C, allocatedBytes, idleAllocLimit, func() { release(hclog.Trace, "idle") })
}

// whenIdle calls release at each tick before which fewer than limit bytes
// were allocated since the tick before, until ctx ends.
func whenIdle(ctx context.Context, tick <-chan time.Time, allocated func() uint64, limit uint64, release func()) {
	q := quietIntervals{limit: limit, last: allocated()}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		if q.quiet(allocated()) {
			release()
			// The release's own collection allocates a little; start the
			// next interval after it.
			q.last = allocated()
		}
	}
}

// quietIntervals tells, from a cumulative allocation counter read at the
// end of each interval, whether fewer than limit bytes were allocated in
// it.
type quietIntervals struct {
	limit, last uint64
}

func (q *quietIntervals) quiet(now uint64) bool {
	n := now - q.last
	q.last = now
	return n < q.limit
}

// allocatedBytes is how many bytes the process has allocated on the heap
// since it started (runtime/metrics, without stopping the world).
func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
