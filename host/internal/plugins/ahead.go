package plugins

import (
	"cmp"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// Ahead is the plugin directory read while the host opens its database,
// before Manager.Start needs it: every manifest (Discover), every folder's
// check against plugins.lock, and then, until Start takes the read, the
// executables' SHA-256 that their launches would compute.
//
// All of it scales with the number of plugins and needs nothing from the
// database, while what the host does before Start (opening and migrating
// the store, the cache) keeps one core busy and leaves the other idle.
// Read at Start instead, the manifests and the checks held back every
// launch: with the bundled plugins a start on two cores was ready 7 to 12
// ms later, a third of what a start with all of them took more than one
// with the slowest alone (docs/BENCHMARKS.md, "/ready"). The read takes
// one core: one manifest at a time, so that the store's open keeps the
// other (read with a worker per core, the store opened as much later as
// the read saved).
//
// What is read ahead is what Start would have read: each admission still
// takes the check's result as it would have come from its own, and every
// launch checks the folder against the lock again right before the
// process starts. A directory changed in between (serve's recovery of an
// interrupted install, or an action another host finished) is read again:
// the caller says so with Stale.
//
// The executables' sums go where their launches look for them, the host's
// SumCache (sumCache, in the data directory), keyed by the identity of
// the open file that was read, as a launch's own are (client.HashAhead): a launch opens its
// executable again and hashes it itself unless that file has the same
// identity (an executable replaced or rewritten since has another; see
// client.SumCache). A host started again finds them all there and hashes
// nothing; a first start hashes, on the idle core, what it can before
// Start, the executables of the plugins whose settings in the
// configuration file already fit their config_schema (those launch unless
// an operator's saved settings or lasting disable say otherwise), then
// those hashed at an earlier start that changed since (hashExecutables).
type Ahead struct {
	cfg  *config.Config
	done chan struct{} // closed when the manifests and the checks are read

	// Set before done is closed:
	found  []Found
	err    error
	checks map[string]error  // verified's error by folder (Found.Dir), for the folders with a manifest
	locked map[string][]byte // the executable's locked SHA-256 by folder, for the folders that passed

	sums    *sumCache // nil without a data directory
	stop    atomic.Bool
	hashed  chan struct{} // closed when the hashing is over
	learned int           // executables hashed ahead (read once hashed is closed)

	mu    sync.Mutex
	stale bool
}

// ReadAhead starts reading cfg's plugin directory in the background; log
// takes the executables' sums file's warnings.
func ReadAhead(cfg *config.Config, log hclog.Logger) *Ahead {
	a := &Ahead{cfg: cfg, done: make(chan struct{}), hashed: make(chan struct{})}
	if cfg.DataDir != "" {
		a.sums = openSumCache(cfg.DataDir, cfg.Plugins.Dir, log)
	}
	go a.read()
	return a
}

func (a *Ahead) read() {
	defer close(a.hashed)
	a.found, a.err = discover(a.cfg.Plugins.Dir, 1)
	if a.err == nil {
		a.checks = make(map[string]error, len(a.found))
		a.locked = make(map[string][]byte, len(a.found))
		for _, f := range a.found {
			if f.Manifest != nil {
				sum, err := verified(a.cfg, f.Manifest, true)
				a.checks[f.Dir] = err
				if err == nil {
					a.locked[f.Dir] = sum
				}
			}
		}
	}
	close(a.done)
	if a.err == nil && a.sums != nil {
		a.hashExecutables()
	}
}

// hashExecutables hashes, one after another, the executables of the
// folders that passed their check and whose sums the cache does not hold,
// until Start takes the read: first those whose settings in the
// configuration file fit their config_schema, then those a launch (or an
// earlier read ahead) hashed before, each group the largest first. Any
// other plugin (a gateway nobody configured, say) runs no process at this
// start unless settings saved in the database make it fit, and then its
// launch hashes it as before: hashed ahead at every start, such
// executables took the idle core from the store's open for nothing (three
// unconfigured gateways, 42 MB, cost a start with every bundled plugin 10
// to 17 ms; docs/BENCHMARKS.md, "/ready").
func (a *Ahead) hashExecutables() {
	var first, then []Found
	size := map[string]int64{}
	path := map[string]string{}
	for _, f := range a.found {
		if a.locked[f.Dir] == nil || !a.mayRun(f) {
			continue
		}
		rel, err := f.Manifest.ExecutableFor(runtime.GOOS, runtime.GOARCH)
		if err != nil {
			continue // its launch says why
		}
		p := filepath.Join(f.Dir, rel)
		switch {
		case a.fitsAsConfigured(f):
			first = append(first, f)
		case a.sums.hashedBefore(p):
			then = append(then, f)
		default:
			continue
		}
		path[f.Dir] = p
		if fi, err := os.Stat(p); err == nil {
			size[f.Dir] = fi.Size()
		}
	}
	// The largest first: its launch would hash longest.
	bySize := func(x, y Found) int { return cmp.Compare(size[y.Dir], size[x.Dir]) }
	slices.SortStableFunc(first, bySize)
	slices.SortStableFunc(then, bySize)
	for _, f := range slices.Concat(first, then) {
		if a.stop.Load() {
			return
		}
		if client.HashAhead(path[f.Dir], a.locked[f.Dir], a.sums, a.stop.Load) {
			a.learned++
		}
	}
}

// mayRun leaves out the plugins the configuration disables or keeps out of
// this environment: admission disables them without a launch.
func (a *Ahead) mayRun(f Found) bool {
	pc := a.cfg.Plugin[f.Name]
	if pc != nil && pc.Disabled {
		return false
	}
	if pc != nil && len(pc.Environment) > 0 {
		return true // the configuration's override; admission decides
	}
	return f.Manifest.RunsIn(a.cfg.Environment)
}

// fitsAsConfigured says whether the plugin's settings in the configuration
// file alone fit its config_schema: without saved settings it launches.
func (a *Ahead) fitsAsConfigured(f Found) bool {
	s, err := MergeSettings(a.cfg.PluginSettings(f.Name), nil)
	return err == nil && f.Manifest.ValidateSettings(s) == nil
}

// Stale says the plugin directory changed after the read began: Start
// reads it again.
func (a *Ahead) Stale() {
	a.mu.Lock()
	a.stale = true
	a.mu.Unlock()
}

// take waits for the manifests and the checks, stops the hashing, and
// returns the read; nil when it is stale
// (or a is nil), and then the caller reads the directory itself. The sums
// are good either way (they are keyed by the files' identities).
func (a *Ahead) take() *Ahead {
	if a == nil {
		return nil
	}
	<-a.done
	a.stop.Store(true)
	<-a.hashed
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stale {
		return nil
	}
	return a
}

// sumCache returns the cache the read filled, for the launches; nil when
// there is none (a is nil, or no data directory).
func (a *Ahead) sumCache() *sumCache {
	if a == nil {
		return nil
	}
	return a.sums
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
