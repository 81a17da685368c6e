package plugins

import (
	"sync"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

// Ahead is the plugin directory read while the host opens its database,
// before Manager.Start needs it: every manifest (Discover) and every
// folder's check against plugins.lock (without the executables' bytes,
// which each launch reads on the file it executes).
//
// Both scale with the number of plugins and need nothing from the
// database, while what the host does before Start (opening and migrating
// the store, the cache) keeps one core busy and leaves the other idle.
// Read at Start instead, they held back every launch: with the bundled
// plugins a start on two cores was ready 7 to 12 ms later, a third of
// what a start with all of them took more than one with the slowest
// alone (docs/BENCHMARKS.md, "/ready"). The read takes one core: with one
// worker a manifest at a time, so that the store's open keeps the other
// (read with a worker per core, the store opened as much later as the
// read saved).
//
// What is read ahead is what Start would have read: each admission still
// takes the check's result as it would have come from its own, and every
// launch checks the folder against the lock again right before the
// process starts. A directory changed in between (serve's recovery of an
// interrupted install, or an action another host finished) is read again:
// the caller says so with Stale.
type Ahead struct {
	cfg  *config.Config
	done chan struct{}

	// Set before done is closed:
	found  []Found
	err    error
	checks map[string]error // verified's error by folder (Found.Dir), for the folders with a manifest

	mu    sync.Mutex
	stale bool
}

// ReadAhead starts reading cfg's plugin directory in the background.
func ReadAhead(cfg *config.Config) *Ahead {
	a := &Ahead{cfg: cfg, done: make(chan struct{})}
	go a.read()
	return a
}

func (a *Ahead) read() {
	defer close(a.done)
	a.found, a.err = discover(a.cfg.Plugins.Dir, 1)
	if a.err != nil {
		return
	}
	a.checks = make(map[string]error, len(a.found))
	for _, f := range a.found {
		if f.Manifest != nil {
			_, a.checks[f.Dir] = verified(a.cfg, f.Manifest, true)
		}
	}
}

// Stale says the plugin directory changed after the read began: Start
// reads it again.
func (a *Ahead) Stale() {
	a.mu.Lock()
	a.stale = true
	a.mu.Unlock()
}

// take waits for the read and returns it; nil when it is stale (or a is
// nil), and then the caller reads the directory itself.
func (a *Ahead) take() *Ahead {
	if a == nil {
		return nil
	}
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stale {
		return nil
	}
	return a
}

// check returns the folder's check against the lock read ahead; false when
// it was not read (a is nil, or the folder had no manifest then).
func (a *Ahead) check(dir string) (error, bool) {
	if a == nil {
		return nil, false
	}
	err, ok := a.checks[dir]
	return err, ok
}
