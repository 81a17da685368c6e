// Package plugins runs the host's plugins: it discovers them in the plugin
// directory, checks their manifests and lock entries, resolves their
// dependencies, launches them level by level (concurrently within a level),
// configures them, and supervises them: it notices exits and hangs, restarts
// with backoff within a budget, and stops them in reverse order.
//
// Start with Manager: New, Start, Plugins, Ready, Stop; the supervisor is in
// supervise.go.
package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

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
	// OnEvent, when set, sees every event a plugin publishes, before the
	// plugins that subscribe to it; its error fails the plugin's Publish.
	OnEvent func(ctx context.Context, e sdk.Event) error
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

	runtimeDir string // this host instance's socket directory
	janitor    *client.Janitor

	ctx    context.Context // ends at Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
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
	dir, err := prepareRuntimeDir(m.cfg.RuntimeDir())
	if err != nil {
		return err
	}
	m.runtimeDir = dir
	m.log.Debug("runtime directory for sockets", "dir", dir)
	if j, err := client.StartJanitor(dir); err != nil {
		m.log.Warn("no janitor: plugins' children and sockets may outlive a host that is killed", "error", err)
	} else {
		m.janitor = j
	}
	found, err := Discover(m.cfg.Plugins.Dir)
	if err != nil {
		return err
	}
	_, lockErr := lockfile.Read(m.cfg.Plugins.Dir)

	unavailable := map[string]string{}
	var candidates []*manifest.Manifest
	byName := map[string][]Found{}
	for _, f := range found {
		byName[f.Name] = append(byName[f.Name], f)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)

	m.mu.Lock()
	for _, name := range names {
		fs := byName[name]
		f := fs[0]
		pc := m.cfg.Plugin[name]
		// A broken manifest that says "required": false leaves the host
		// running; one that cannot be read at all is optional unless the
		// configuration says otherwise (Found.Required).
		required := f.Required
		if pc != nil && pc.Required != nil {
			required = *pc.Required
		}
		p := newPlugin(name, f.Dir, f.Manifest, required, m.cfg.PolicyFor(name), m.log.With("plugin", name))
		p.onState = m.stateChanged
		m.plugins[name] = p
		// Every plugin's restart counter is on /metrics from the start, at
		// 0, so rate() and alerts see its first restart.
		m.deps.Metrics.PluginRestarts.WithLabelValues(name)

		refuse := func(why string) {
			p.fail(why)
			unavailable[name] = why
			p.log.Error("plugin refused", "error", why)
		}
		switch {
		case len(fs) > 1:
			dirs := make([]string, len(fs))
			for i, d := range fs {
				dirs[i] = d.Dir
			}
			refuse(fmt.Sprintf("several folders hold a plugin named %q (%s); remove all but one", name, strings.Join(dirs, ", ")))
			continue
		case f.Err != nil:
			refuse(f.Err.Error())
			continue
		case pc != nil && pc.Disabled:
			p.disable("disabled in the configuration")
			unavailable[name] = "disabled in the configuration"
			continue
		}
		if !m.runsHere(f.Manifest, pc) {
			why := fmt.Sprintf("not loaded in environment %s", m.cfg.Environment)
			p.disable(why)
			unavailable[name] = why
			continue
		}
		if problems := f.Manifest.CheckHost(m.deps.HostVersion, client.ProtocolVersions); len(problems) > 0 {
			refuse((&manifest.ValidationError{File: f.Manifest.File, Problems: problems}).Error())
			continue
		}
		if lockErr != nil {
			refuse(lockErr.Error())
			continue
		}
		if _, err := m.verified(f.Manifest, false); err != nil {
			refuse(err.Error())
			continue
		}
		candidates = append(candidates, f.Manifest)
	}

	plan := resolve.Resolve(candidates, resolve.Options{Capabilities: m.deps.Capabilities, Unavailable: unavailable})
	for _, s := range plan.Skipped {
		p := m.plugins[s.Plugin.Name]
		p.fail(s.Err.Error())
		p.log.Error("plugin cannot load", "error", s.Err)
	}
	m.order = plan.Order()
	m.mu.Unlock()

	for _, level := range plan.Levels {
		var wg sync.WaitGroup
		for _, man := range level {
			p, _ := m.Plugin(man.Name)
			if why := m.failedDependency(man); why != "" {
				p.fail(why)
				p.log.Error("plugin not started", "error", why)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := m.launch(ctx, p, p.bump()); err != nil {
					p.fail(err.Error())
					p.log.Error("plugin failed to start", "error", err)
				}
			}()
		}
		wg.Wait()
	}

	failed := map[string]string{}
	for _, name := range names {
		p, _ := m.Plugin(name)
		if st := p.State(); p.required && st != StateRunning && st != StateUnhealthy && st != StateDisabled {
			failed[name] = p.Status().LastError
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
		if st := dep.State(); st != StateRunning && st != StateUnhealthy {
			return fmt.Sprintf("its dependency %q did not start (%s): %s", d.Name, st, dep.Status().LastError)
		}
	}
	return ""
}

// verified checks a plugin's whole folder against plugins.lock and returns
// the executable's locked checksum, which client.Start checks on the very
// file it executes. It runs at start and right before every launch; the
// lock file is read each time, so an operator who installs a new version,
// locks it and restarts the plugin gets the new version. When launching,
// the executable's bytes are left to client.Start (one read of them per
// launch); otherwise they are read too, so a changed executable is named
// among the changed files.
func (m *Manager) verified(man *manifest.Manifest, launching bool) ([]byte, error) {
	rel, err := man.ExecutableFor(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	if err := m.checkLayout(man); err != nil {
		return nil, err
	}
	lock, err := lockfile.Read(m.cfg.Plugins.Dir)
	if err != nil {
		return nil, err
	}
	entry, err := lock.Check(man.Name, rel)
	if err != nil {
		return nil, err
	}
	changes, err := m.folderChanges(entry, man.Dir, launching)
	if err != nil {
		return nil, fmt.Errorf("refused before running it: %w", err)
	}
	if len(changes) > 0 {
		return nil, fmt.Errorf("refused before running it: its folder %s changed since it was locked: %s; "+
			"if you installed a new version on purpose, review it and run `mikrobill plugin lock %s`",
			man.Dir, lockfile.Summary(changes), man.Name)
	}
	return entry.Sum()
}

// folderChanges compares a plugin's folder with its lock entry.
func (m *Manager) folderChanges(entry lockfile.Entry, dir string, launching bool) ([]lockfile.Change, error) {
	if launching {
		return entry.ChangesBeforeLaunch(dir, LockSkip(m.cfg)...)
	}
	files, err := lockfile.Scan(dir, LockSkip(m.cfg)...)
	if err != nil {
		return nil, err
	}
	return entry.Compare(files), nil
}

// LockSkip are the directories plugins.lock leaves out of a plugin folder:
// the host's data directory (with the plugins' data directories) and its
// runtime directory, should an operator's layout put either inside one.
// `mikrobill plugin lock` and the host use the same.
func LockSkip(cfg *config.Config) []string {
	return []string{cfg.DataDir, cfg.RuntimeDir()}
}

// checkLayout refuses a plugin whose data directory is its folder or holds
// it (data_dir such that <data_dir>/plugins is the plugin directory): the
// plugin writes there, and plugins.lock pins the folder.
func (m *Manager) checkLayout(man *manifest.Manifest) error {
	data, err := filepath.Abs(m.cfg.PluginDataDir(man.Name))
	if err != nil {
		return err
	}
	folder, err := filepath.Abs(man.Dir)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(data, folder); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("its data directory %s is its plugin folder or holds it; the plugin writes into its data directory and "+
			"plugins.lock pins its folder: set data_dir (MIKROBILL_DATA_DIR) so that <data_dir>/plugins is not the plugin directory", data)
	}
	return nil
}

func checksumRefusal(name string, err error) error {
	return fmt.Errorf("refused before running it: %v; if you installed a new version on purpose, review it and run `mikrobill plugin lock %s`", err, name)
}

// launch starts one plugin, checks it is the plugin its manifest describes,
// configures it, checks its health, and puts it behind its switch. The
// supervisor watches it from then on. epoch is the plugin's epoch when the
// launch was decided; if an operator action or another launch bumps it
// meanwhile, this launch gives way.
func (m *Manager) launch(ctx context.Context, p *Plugin, epoch int) error {
	man := p.manifest
	begin := time.Now()
	p.mu.Lock()
	if p.epoch != epoch {
		p.mu.Unlock()
		return errOvertaken
	}
	p.setStateLocked(StateStarting, "")
	p.mu.Unlock()

	settings, err := m.settings(ctx, man.Name)
	if err != nil {
		return err
	}
	if err := man.ValidateSettings(settings); err != nil {
		return fmt.Errorf("its settings (the configuration file's and those saved in the admin UI) do not match its config_schema: %v; save its settings (admin UI, or PUT /api/v1/plugin-settings/%s) and it starts", err, man.Name)
	}
	// The folder is checked against the lock right before the launch; the
	// launcher checks the executable's bytes again on the file it runs.
	sum, err := m.verified(man, true)
	if err != nil {
		return err
	}
	dataDir, err := privateDir(m.cfg.PluginDataDir(man.Name))
	if err != nil {
		return err
	}
	rel, _ := man.ExecutableFor(runtime.GOOS, runtime.GOARCH)

	logLevel := m.deps.Logger.GetLevel()
	if m.cfg.DebugPlugin(man.Name) {
		logLevel = hclog.Debug
	}
	pluginLog := m.deps.Logger.Named("plugin")
	pluginLog.SetLevel(logLevel)

	proc, err := client.Start(ctx, client.Config{
		Name:         man.Name,
		Path:         filepath.Join(man.Dir, rel),
		SHA256:       sum,
		Env:          client.PluginEnv(dataDir),
		SocketDir:    m.runtimeDir,
		StartTimeout: p.pol.StartTimeout,
		Logger:       pluginLog,
		LogLevel:     logLevel.String(),
		Host:         &hostService{m: m, plugin: man.Name, cache: m.deps.Cache, store: m.deps.Store},
		DialOptions:  []grpc.DialOption{grpc.WithChainUnaryInterceptor(m.deps.Metrics.UnaryClientInterceptor(man.Name))},
	})
	if errors.Is(err, client.ErrChecksumMismatch) {
		return checksumRefusal(man.Name, err)
	}
	if err != nil {
		return err
	}
	m.janitor.Track(proc.Pid())
	fail := func(err error) error {
		proc.Kill()
		m.janitor.Untrack(proc.Pid())
		return err
	}
	desc := proc.Describe()
	if err := man.CheckDescribe(desc); err != nil {
		return fail(err)
	}

	base := client.NewPlugin(proc.Conn().ClientConn(), proc.Conn().HostBrokerID)
	cctx, cancel := context.WithTimeout(ctx, p.pol.StartTimeout)
	defer cancel()
	resp, err := base.Configure(cctx, &sdk.ConfigureRequest{
		Settings: settings, Environment: m.cfg.Environment, HostVersion: m.deps.HostVersion, DataDir: dataDir,
	})
	if err != nil {
		return fail(fmt.Errorf("Configure: %w", err))
	}
	for _, w := range resp.Warnings {
		p.log.Warn("plugin configuration warning", "warning", w)
	}
	hctx, hcancel := context.WithTimeout(ctx, p.pol.HealthTimeout)
	defer hcancel()
	health, err := base.CheckHealth(hctx, &sdk.CheckHealthRequest{})
	if err != nil {
		return fail(fmt.Errorf("first health check: %w", err))
	}

	p.mu.Lock()
	if p.epoch != epoch || m.isStopping() {
		// An operator action or the host's shutdown overtook this launch.
		p.mu.Unlock()
		return fail(errOvertaken)
	}
	p.proc, p.desc, p.health, p.checkedAt = proc, desc, health, time.Now()
	p.loadTime = time.Since(begin)
	p.healthFails, p.killReason, p.expectExit = 0, "", false
	state := StateRunning
	if health.Status == sdk.HealthError {
		state = StateUnhealthy
	}
	p.setStateLocked(state, "")
	p.sw.Up(proc)
	p.mu.Unlock()
	m.deps.Metrics.PluginUp.WithLabelValues(man.Name).Set(1)
	m.deps.Metrics.PluginLoad.WithLabelValues(man.Name).Set(p.loadTime.Seconds())
	p.log.Info("plugin running", "version", desc.Version, "pid", proc.Pid(), "load_ms", p.loadTime.Milliseconds(), "health", health.Status)

	m.wg.Add(2)
	go m.watch(p, proc)
	go m.healthLoop(p, proc)
	m.scheduleStable(p, proc)
	return nil
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
func (m *Manager) Ready() (bool, []string) {
	var reasons []string
	for _, p := range m.Plugins() {
		if !p.required {
			continue
		}
		st := p.Status()
		switch {
		case st.State == StateDisabled:
			continue
		case st.State == StateUnhealthy || (st.State == StateRunning && !p.Healthy()):
			reasons = append(reasons, fmt.Sprintf("required plugin %q is unhealthy: %s", p.name, st.Message))
		case st.State != StateRunning:
			why := fmt.Sprintf("required plugin %q is %s", p.name, st.State)
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
			out[p.name] = proc.Pid()
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

// stateChanged keeps the state metrics current.
func (m *Manager) stateChanged(p *Plugin, cur State) {
	for _, s := range States {
		v := 0.0
		if s == cur {
			v = 1
		}
		m.deps.Metrics.PluginState.WithLabelValues(p.name, string(s)).Set(v)
	}
	if cur != StateRunning && cur != StateUnhealthy {
		m.deps.Metrics.PluginUp.WithLabelValues(p.name).Set(0)
	}
}

func (m *Manager) isStopping() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.stopping
}

// Stop stops the plugins in reverse launch order: for each, new calls are
// refused, calls in flight are drained, go-plugin's controller shuts the
// plugin down, and it is killed at its stop deadline. Everything ends within
// ctx. The runtime directory is removed and the janitor dismissed.
func (m *Manager) Stop(ctx context.Context) {
	m.mu.Lock()
	m.stopping = true
	order := append([]string(nil), m.order...)
	m.mu.Unlock()
	m.cancel()
	for i := len(order) - 1; i >= 0; i-- {
		p, ok := m.Plugin(order[i])
		if !ok {
			continue
		}
		p.mu.Lock()
		p.cancelTimerLocked()
		proc := p.proc
		wasUp := p.state == StateRunning || p.state == StateUnhealthy
		p.expectExit = true
		p.mu.Unlock()
		p.sw.Down("stopped: the host is shutting down", false)
		if proc != nil && wasUp {
			sctx, cancel := context.WithTimeout(ctx, p.pol.StopTimeout)
			if err := p.sw.Drain(sctx); err != nil {
				p.log.Warn("calls still in flight at the stop deadline", "error", err)
			}
			if err := proc.Stop(sctx); err != nil {
				p.log.Warn("plugin stop", "error", err)
			} else {
				p.log.Info("plugin stopped")
			}
			cancel()
			m.janitor.Untrack(proc.Pid())
		}
		p.mu.Lock()
		if p.state != StateDisabled && p.state != StateFailed {
			p.setStateLocked(StateStopped, "")
		}
		p.mu.Unlock()
	}
	m.wg.Wait()
	if m.runtimeDir != "" {
		_ = os.RemoveAll(m.runtimeDir)
	}
	m.janitor.Close()
}

// privateDir creates dir with mode 0700 (and fixes the mode of an existing
// one) and returns its absolute path.
func privateDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create the plugin's data directory: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return "", fmt.Errorf("make the plugin's data directory private: %w", err)
	}
	return abs, nil
}

// prepareRuntimeDir makes this host instance's socket directory, a
// directory named after the host's pid inside base, and removes what hosts
// that are no longer running left there. Every directory must end up a real
// directory of ours with mode 0700, not something another user prepared
// (base may live in the shared temporary directory).
func prepareRuntimeDir(base string) (string, error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", fmt.Errorf("create the runtime directory %s: %w", base, err)
	}
	if err := checkPrivate(base); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		return "", fmt.Errorf("read the runtime directory %s: %w", base, err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid != os.Getpid() && processAlive(pid) {
			continue // another host on the same data directory
		}
		if err := os.RemoveAll(filepath.Join(base, e.Name())); err != nil {
			return "", fmt.Errorf("clean the runtime directory %s: %w", base, err)
		}
	}
	dir := filepath.Join(base, strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("create the runtime directory %s: %w", dir, err)
	}
	return dir, checkPrivate(dir)
}

func checkPrivate(dir string) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check the runtime directory %s: %w", dir, err)
	}
	if !info.IsDir() || info.Mode().Perm() != 0o700 || !ownedByUs(info) {
		return fmt.Errorf("the runtime directory %s is not a private directory of this user (mode 0700); remove it and start again", dir)
	}
	return nil
}
