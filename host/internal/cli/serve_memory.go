package cli

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"
)

// startupSettled is how long after it starts serving the host lets its
// start-up finish (the plugins' first health checks and samples, the job
// queue's first polls, the first heartbeats) before releaseStartupMemory.
const startupSettled = 10 * time.Second

// releaseStartupMemory gives back, once, what only the start-up used, so
// an idle host's resident memory is what it keeps using
// (docs/BENCHMARKS.md, "Idle host memory"):
//
//   - the heap the start-up left as garbage: a collection, and the freed
//     pages returned to the system (debug.FreeOSMemory) instead of kept
//     until the runtime's scavenger gets to them;
//   - the pages of the host's own executable that the start-up touched
//     (the package initialisers, the migrations, the plugins' launch code:
//     15 to 20 MiB of code and read-only data), unmapped from this process
//     (releaseExecutablePages). They are clean copies of the file, so
//     nothing is lost: a page used again is mapped again from the page
//     cache, as it was at start.
//
// It waits startupSettled first and returns early when ctx ends.
func releaseStartupMemory(ctx context.Context, log hclog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(startupSettled):
	}
	debug.FreeOSMemory()
	n, err := releaseExecutablePages()
	if err != nil {
		log.Warn("the executable's start-up pages were not released; the host works as before, with more resident memory", "error", err)
		return
	}
	log.Debug("start-up memory released", "executable_bytes_unmapped", n)
}
