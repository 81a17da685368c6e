// Package plugins runs the host's plugins: it discovers them in the plugin
// directory, checks their manifests and lock entries, resolves their
// dependencies, launches them level by level (concurrently within a level),
// configures them, and supervises them: it notices exits and hangs, restarts
// with backoff within a budget, and stops them in reverse order.
//
// Start with Manager (manager.go): New, Start, Plugins, Ready, Stop. The
// manager admits each plugin it finds, resolves their dependencies and
// starts them level by level; each plugin is one instance (Plugin,
// instance.go) that owns its launch, its supervision (supervise.go), its
// health and its stop. launcher.go starts a process the way every instance
// does; history.go samples every plugin for its last hour's history; verify.go checks a folder against plugins.lock; runtimedir.go keeps
// the sockets' directory. upgrade.go takes plugins in and out of a running
// host (AddPlugin, SwitchPlugin: blue-green with a grace period and an
// automatic switch back, RemovePlugin) for host/internal/pluginstall;
// handshake.go is the installer's one launch of a plugin being checked.
package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/cache"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/resolve"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// Deps are what the manager needs from the rest of the host.
type Deps struct {
	// Logger is the host's root logger; plugin lines go under
	// "plugin.<name>".
	Logger hclog.Logger
	// Metrics receives plugin metrics.
	Metrics *metrics.Metrics
	// Cache backs the plugins' caches (sdk.Host's Cache* calls).
	Cache cache.Cache
	// Store backs the plugins' durable stores (sdk.Host's Store* calls):
	// the host's database. Nil (tests only): those calls fail with
	// sdk.ErrUnavailable.
	Store *store.Store
	// HostVersion is the host's version (semver).
	HostVersion string
	// Capabilities are the host capabilities available to plugins'
	// dependencies ("database", "cache").
	Capabilities map[string]bool
	// SavedSettings reads the settings an operator saved for a plugin
	// through the admin API (nil when none); they apply over the
	// configuration file's, field by field (MergeSettings). Nil: the
	// file's only.
	SavedSettings func(ctx context.Context, name string) (json.RawMessage, error)
	// LastingDisabled returns the plugins an operator disabled until they
	// are enabled again (store.Queries.PluginsDisabled), by name, with who
	// and since when; Start leaves them disabled. Nil: none.
	LastingDisabled func(ctx context.Context) (map[string]string, error)
	// Leases, when set, decide which host runs each singleton plugin
	// (package hosts); HostID is this host's id, as the leases name it.
	// Nil: singleton plugins run here like the others (one host).
	Leases Leases
	HostID string
	// OnEvent, when set, sees every event a plugin publishes, before the
	// plugins that subscribe to it; its error fails the plugin's Publish.
	OnEvent func(ctx context.Context, e sdk.Event) error
	// Ahead, when set, is the plugin directory read while the host
	// opened its database (ReadAhead); Start uses it unless it is stale.
	Ahead *Ahead
}

// Manager runs the plugins.
type Manager struct {
	cfg  *config.Config
	deps Deps
	log  hclog.Logger

	mu       sync.RWMutex
	plugins  map[string]*Plugin
	order    []string // launch order; stop goes backwards
	stopping bool
	l        *launcher // made at Start

	ctx    context.Context // ends at Stop; every instance's context ends with it
	cancel context.CancelFunc
	wg     sync.WaitGroup // event deliveries and the history's sampler

	// ahead holds the saved settings startLevel read for the launches it
	// is about to start, each taken by its plugin's first launch
	// (settingsAhead).
	aheadMu sync.Mutex
	ahead   map[string]json.RawMessage
}

// New returns a manager. Nothing runs until Start.
func New(cfg *config.Config, deps Deps) *Manager {
	if deps.Logger == nil {
		deps.Logger = hclog.NewNullLogger()
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.New()
	}
	if deps.Cache == nil {
		deps.Cache = cache.NewMemory(0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg: cfg, deps: deps, log: deps.Logger.Named("plugins"),
		plugins: map[string]*Plugin{}, ctx: ctx, cancel: cancel,
	}
}

// StartError reports the required plugins that did not start.
type StartError struct {
	// Failed maps each required plugin that failed to why.
	Failed map[string]string
}

func (e *StartError) Error() string {
	names := make([]string, 0, len(e.Failed))
	for n := range e.Failed {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d required plugin(s) failed to start:", len(names))
	for _, n := range names {
		fmt.Fprintf(&b, "\n  %s: %s", n, e.Failed[n])
	}
	b.WriteString("\n(an optional plugin would leave the host running degraded: set `required = false` in its plugin block to make it optional)")
	return b.String()
}

// Start discovers, checks and launches the plugins. It returns a
// *StartError when a required plugin fails; optional ones that fail leave
// the host running, degraded. A plugin that fails at start is not retried
// (an operator can restart it); one that fails later is restarted by the
// supervisor.
func (m *Manager) Start(ctx context.Context) error {
	m.l = &launcher{
		cfg: m.cfg, hostLog: m.deps.Logger, log: m.log, metrics: m.deps.Metrics, hostVersion: m.deps.HostVersion,
		settings: m.settings,
		hostService: func(name string) sdk.Host {
			return &hostService{m: m, plugin: name, cache: m.deps.Cache, store: m.deps.Store}
		},
		leases: m.deps.Leases, hostID: m.deps.HostID,
	}
	if c := m.deps.Ahead.sumCache(); c != nil {
		m.l.sums = c // what the read ahead hashed
	}
	if err := m.l.openRuntime(); err != nil {
		return err
	}
	m.wg.Add(1)
	go m.sampleLoop()
	ahead := m.deps.Ahead.take()
	var found []Found
	var err error
	if ahead != nil {
		found, err = ahead.found, ahead.err
	} else {
		found, err = Discover(m.cfg.Plugins.Dir)
	}
	if err != nil {
		return err
	}
	byName := map[string][]Found{}
	for _, f := range found {
		byName[f.Name] = append(byName[f.Name], f)
	}
	lasting := map[string]string{}
	if m.deps.LastingDisabled != nil {
		if lasting, err = m.deps.LastingDisabled(ctx); err != nil {
			return fmt.Errorf("read the plugins an operator disabled: %w", err)
		}
	}
	names := slices.Sorted(maps.Keys(byName))
	_, lockErr := lockfile.ReadShared(m.cfg.Plugins.Dir)

	unavailable := map[string]string{}
	var candidates []*manifest.Manifest
	m.mu.Lock()
	for _, name := range names {
		p, why := m.admit(byName[name], lockErr, lasting[name], ahead)
		m.plugins[name] = p
		if why != "" {
			unavailable[name] = why
			continue
		}
		candidates = append(candidates, p.Manifest())
	}
	plan := resolve.Resolve(candidates, resolve.Options{Capabilities: m.deps.Capabilities, Unavailable: unavailable})
	for _, s := range plan.Skipped {
		m.plugins[s.Plugin.Name].refuse("plugin cannot load", s.Err.Error())
	}
	m.order = plan.Order()
	m.mu.Unlock()

	for _, level := range plan.Levels {
		m.startLevel(ctx, level)
	}
	return m.startError(names)
}

// admit makes the instance of the plugin found in fs (one folder, unless
// several folders claim its name) and decides whether it may run here. It
// returns why not ("" when it may: then its manifest goes on to the
// resolver); a plugin that may not run is failed or disabled already.
//
// lasting, when set, says who disabled the plugin until it is enabled
// again (Deps.LastingDisabled).
func (m *Manager) admit(fs []Found, lockErr error, lasting string, ahead *Ahead) (*Plugin, string) {
	f := fs[0]
	pc := m.cfg.Plugin[f.Name]
	// A broken manifest that says "required": false leaves the host
	// running; one that cannot be read at all is optional unless the
	// configuration says otherwise (Found.Required).
	required := f.IsRequiredIn(m.cfg.Environment)
	if pc != nil && pc.Required != nil {
		required = *pc.Required
	}
	p := newPlugin(m.ctx, m.l, f, required)
	refuse := func(why string) (*Plugin, string) {
		p.refuse("plugin refused", why)
		return p, why
	}
	disable := func(why string) (*Plugin, string) {
		p.disable(why)
		return p, why
	}
	switch {
	case len(fs) > 1:
		dirs := make([]string, len(fs))
		for i, d := range fs {
			dirs[i] = d.Dir
		}
		return refuse(fmt.Sprintf("several folders hold a plugin named %q (%s); remove all but one", f.Name, strings.Join(dirs, ", ")))
	case f.Err != nil:
		return refuse(f.Err.Error())
	case pc != nil && pc.Disabled:
		return disable("disabled in the configuration")
	case lasting != "" && f.Manifest != nil:
		return disable("disabled by an operator until enabled again (" + lasting + ")")
	case !m.runsHere(f.Manifest, pc):
		return disable(fmt.Sprintf("not loaded in environment %s", m.cfg.Environment))
	}
	if problems := f.Manifest.CheckHost(m.deps.HostVersion, client.ProtocolVersions); len(problems) > 0 {
		return refuse((&manifest.ValidationError{File: f.Manifest.File, Problems: problems}).Error())
	}
	if lockErr != nil {
		return refuse(lockErr.Error())
	}
	// The executable's bytes are read once, by its launch, which checks
	// them on the very file it executes (a changed one is named then, as
	// here). Reading them here as well read every plugin's executable,
	// one after another, before any plugin started: 200 MB for the
	// bundled plugins, what made all of them take 1.49x the slowest one
	// to /ready (docs/BENCHMARKS.md).
	err, checked := ahead.check(f.Dir)
	if !checked {
		_, err = verified(m.cfg, f.Manifest, true)
	}
	if err != nil {
		return refuse(err.Error())
	}
	return p, ""
}

// startLevel starts the plugins of one dependency level concurrently,
// each once the plugins it depends on run.
func (m *Manager) startLevel(ctx context.Context, level []*manifest.Manifest) {
	m.readSettingsAhead(ctx, level)
	defer m.dropSettingsAhead()
	var wg sync.WaitGroup
	for _, man := range level {
		p, _ := m.Plugin(man.Name)
		if why := m.failedDependency(man); why != "" {
			p.refuse("plugin not started", why)
			continue
		}
		wg.Go(func() { // a failed start is the instance's state
			if p.singleton() {
				_ = m.startSingleton(ctx, p)
				return
			}
			_ = p.start(ctx)
		})
	}
	wg.Wait()
}

// startError is a *StartError naming the required plugins among names
// that do not run (nor are disabled on purpose), or nil.
func (m *Manager) startError(names []string) error {
	failed := map[string]string{}
	for _, name := range names {
		p, _ := m.Plugin(name)
		if st := p.Status(); p.Required() && !st.State.Up() && st.State != StateDisabled && st.State != StateElsewhere {
			failed[name] = st.LastError
		}
	}
	if len(failed) > 0 {
		return &StartError{Failed: failed}
	}
	return nil
}

// runsHere applies the environment filter (the configuration's override
// first, then the manifest).
func (m *Manager) runsHere(man *manifest.Manifest, pc *config.PluginConfig) bool {
	if pc != nil && len(pc.Environment) > 0 {
		for _, e := range pc.Environment {
			if e == manifest.EnvAll || e == m.cfg.Environment {
				return true
			}
		}
		return false
	}
	return man.RunsIn(m.cfg.Environment)
}

// failedDependency returns why a plugin cannot start because a plugin it
// depends on is not running, or "".
func (m *Manager) failedDependency(man *manifest.Manifest) string {
	for _, d := range man.Dependencies {
		if d.IsHostCapability() {
			continue
		}
		dep, ok := m.Plugin(d.Name)
		if !ok {
			continue
		}
		if st := dep.Status(); !st.State.Up() {
			return fmt.Sprintf("its dependency %q did not start (%s): %s", d.Name, st.State, st.LastError)
		}
	}
	return ""
}

// Plugins returns the plugins in launch order, then the ones not launched,
// by name.
func (m *Manager) Plugins() []*Plugin {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Plugin, 0, len(m.plugins))
	seen := map[string]bool{}
	for _, n := range m.order {
		if p, ok := m.plugins[n]; ok {
			out = append(out, p)
			seen[n] = true
		}
	}
	var rest []string
	for n := range m.plugins {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		out = append(out, m.plugins[n])
	}
	return out
}

// Plugin returns a plugin by name.
func (m *Manager) Plugin(name string) (*Plugin, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.plugins[name]
	return p, ok
}

// Statuses returns every plugin's status.
func (m *Manager) Statuses() []Status {
	ps := m.Plugins()
	out := make([]Status, len(ps))
	for i, p := range ps {
		out[i] = p.Status()
	}
	return out
}

// Ready reports whether every required plugin runs healthy (a disabled one
// does not count), and, when not, why, one reason per plugin.
func (m *Manager) Ready() (bool, []string) {
	var reasons []string
	for _, p := range m.Plugins() {
		if !p.Required() {
			continue
		}
		st := p.Status()
		switch {
		case st.State == StateDisabled, st.State == StateElsewhere:
			continue
		case st.State == StateUnhealthy || (st.State == StateRunning && !p.Healthy()):
			reasons = append(reasons, fmt.Sprintf("required plugin %q is unhealthy: %s", st.Name, st.Message))
		case st.State != StateRunning:
			why := fmt.Sprintf("required plugin %q is %s", st.Name, st.State)
			if st.NextAttempt != nil {
				why += " (next attempt " + st.NextAttempt.Format(time.RFC3339) + ")"
			}
			if st.LastError != "" {
				why += ": " + st.LastError
			}
			reasons = append(reasons, why)
		}
	}
	return len(reasons) == 0, reasons
}

// PIDs implements metrics.Source.
func (m *Manager) PIDs() map[string]int {
	out := map[string]int{}
	for _, p := range m.Plugins() {
		if proc := p.process(); proc != nil {
			out[p.Name()] = proc.Pid()
		}
	}
	return out
}

// CollectMetrics implements metrics.Source.
func (m *Manager) CollectMetrics(ctx context.Context, name string) ([]byte, error) {
	p, ok := m.Plugin(name)
	if !ok {
		return nil, fmt.Errorf("no plugin %q", name)
	}
	resp, err := p.Base().CollectMetrics(ctx, &sdk.CollectMetricsRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Text, nil
}

// CheckHealth checks every running plugin now (as the interval would).
func (m *Manager) CheckHealth() {
	for _, p := range m.Plugins() {
		p.checkHealthNow()
	}
}

// lookup returns the plugin an operator acts on, or why there is none to
// act on.
func (m *Manager) lookup(name string) (*Plugin, error) {
	m.mu.RLock()
	stopping := m.stopping
	m.mu.RUnlock()
	if stopping {
		return nil, fmt.Errorf("%w: the host is shutting down", sdk.ErrFailedPrecondition)
	}
	p, ok := m.Plugin(name)
	if !ok {
		return nil, fmt.Errorf("%w: no plugin %q; GET /health/plugins lists them", sdk.ErrNotFound, name)
	}
	if p.Manifest() == nil {
		return nil, fmt.Errorf("%w: plugin %q has an invalid manifest and cannot run: %s", sdk.ErrFailedPrecondition, name, p.Status().LastError)
	}
	return p, nil
}

// control returns the plugin an operator restarts, disables or enables:
// not one in the grace period of a switch (upgrade.go).
func (m *Manager) control(name string) (*Plugin, error) {
	p, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	if p.switching() {
		return nil, fmt.Errorf("%w: plugin %q is switching versions (in the grace period); try again once the switch is done", sdk.ErrConflict, name)
	}
	return p, nil
}

// Restart stops a plugin gracefully and starts it again, now. It also closes
// an open circuit and restores the restart budget: an operator's restart is
// a fresh start.
func (m *Manager) Restart(name string) error {
	p, err := m.control(name)
	if err != nil {
		return err
	}
	return p.restart()
}

// Disable stops a plugin and keeps it stopped until it is enabled or the
// host restarts.
func (m *Manager) Disable(name string) error {
	p, err := m.control(name)
	if err != nil {
		return err
	}
	p.disable("disabled by an operator")
	return nil
}

// Enable starts a disabled plugin.
func (m *Manager) Enable(name string) error {
	p, err := m.control(name)
	if err != nil {
		return err
	}
	if !m.runsHere(p.Manifest(), m.cfg.Plugin[name]) {
		return fmt.Errorf("%w: plugin %q does not run in environment %s", sdk.ErrFailedPrecondition, name, m.cfg.Environment)
	}
	if why := m.failedDependency(p.Manifest()); why != "" {
		return fmt.Errorf("%w: plugin %q cannot start: %s", sdk.ErrFailedPrecondition, name, why)
	}
	if p.singleton() && p.State() == StateDisabled {
		// The lease decides where it runs: here when this host takes it.
		holder, err := m.deps.Leases.Claim(m.ctx, name)
		if err != nil {
			return fmt.Errorf("%w: plugin %q is a singleton and its lease could not be claimed: %v; try again", sdk.ErrUnavailable, name, err)
		}
		if holder != m.deps.HostID {
			return p.enableElsewhere(holder)
		}
	}
	return p.enable()
}

// Stop stops the plugins, those not in the launch order (enabled by an
// operator) first, then the others in reverse launch order: for each, new
// calls are refused, calls in flight are drained, go-plugin's controller
// shuts the plugin down, and it is killed at its stop deadline. Everything
// ends within ctx. The runtime directory is removed and the janitor
// dismissed.
func (m *Manager) Stop(ctx context.Context) {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	m.cancel()
	ps := m.Plugins()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop(ctx, "the host is shutting down")
	}
	m.wg.Wait()
	if m.l != nil {
		m.l.close()
	}
}
