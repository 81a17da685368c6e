package plugins

// Taking plugins in and out of a running host: the manager admits a plugin
// just installed (AddPlugin), switches a running one to the version now in
// its folder (SwitchPlugin: blue-green, with a grace period and an
// automatic switch back), and forgets a removed one (RemovePlugin). It
// implements pluginstall.Host; the installer calls it once the plugin
// directory and plugins.lock hold the change.
//
// The switch keeps the plugin's identity: the instance (Plugin) and its
// client.Switch stay, so every client made over it (billing's payment
// clients, the webhooks, the plugin's routes, the event deliveries) reaches
// the new process from the moment of the switch; only the process behind
// the switch changes (client.Switch.Replace), so no call is refused or
// waits. The instance owns both processes while they overlap.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// Switchover is a plugin's last upgrade or rollback on this host
// (Status.Switch).
type Switchover struct {
	From string `json:"from"`
	To   string `json:"to"`
	// State: "starting" (the new version is launching beside the old),
	// "trial" (calls go to the new version; the old one waits, running,
	// through the grace period), "done", "switched-back" (the new version
	// failed in the grace period; calls went back), "failed" (the new
	// version did not start; the old one kept serving).
	State string `json:"state"`
	// Reason says why it switched back or failed.
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Switchover states.
const (
	SwitchStarting     = "starting"
	SwitchTrial        = "trial"
	SwitchDone         = "done"
	SwitchSwitchedBack = "switched-back"
	SwitchFailed       = "failed"
)

// ErrSwitchedBack: an upgrade's new version did not start, or failed in
// its grace period, and the plugin serves with its previous version.
var ErrSwitchedBack = errors.New("switched back to the previous version")

func (p *Plugin) setSwitchLocked(from, to, state, reason string) {
	p.switchover = &Switchover{From: from, To: to, State: state, Reason: reason, At: time.Now()}
	if reason != "" {
		p.lastErr, p.lastErrAt = reason, time.Now()
	}
}

// upgrade switches the running plugin to man's version: it launches the
// new version beside the running one (the same launch as every start: the
// lock, the checksum, Describe, Configure, a first health check); once it
// is healthy, calls go to it in one step while calls in flight finish on
// the old process. The old process stays up through grace; if the new one
// exits or turns unhealthy meanwhile, calls go back to the old one and the
// error says why (ErrSwitchedBack). Otherwise the old one is stopped
// gracefully.
func (p *Plugin) upgrade(ctx context.Context, man *manifest.Manifest, grace time.Duration) error {
	oldMan := p.Manifest()
	p.mu.Lock()
	if p.trial != nil {
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is in the grace period of another switch; try again after it", sdk.ErrConflict, p.name)
	}
	oldProc, oldDesc, oldHealth, epoch := p.proc, p.desc, p.health, p.epoch
	if oldProc == nil || !p.state.Up() || p.ctx.Err() != nil {
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is not running", sdk.ErrFailedPrecondition, p.name)
	}
	p.setSwitchLocked(oldMan.Version, man.Version, SwitchStarting, "")
	p.wg.Add(1) // under mu, after the ctx check: stop waits for the launch
	p.mu.Unlock()
	p.log.Info("switch: starting the new version beside the running one", "from", oldMan.Version, "to", man.Version)

	r, err := p.launchProcess(ctx, man)
	if err == nil && r.health.Status == sdk.HealthError {
		p.l.kill(r.proc)
		err = fmt.Errorf("its first health check says: %s", r.health.Message)
	}
	if err != nil {
		why := fmt.Sprintf("version %s did not start (%v); version %s keeps serving", man.Version, err, oldMan.Version)
		p.mu.Lock()
		p.setSwitchLocked(oldMan.Version, man.Version, SwitchFailed, why)
		p.mu.Unlock()
		p.log.Error("switch failed", "error", why)
		return fmt.Errorf("%w: %s", ErrSwitchedBack, why)
	}

	p.mu.Lock()
	if p.epoch != epoch || p.proc != oldProc || p.ctx.Err() != nil {
		p.mu.Unlock()
		p.l.kill(r.proc)
		return fmt.Errorf("%w: another action on plugin %q overtook the switch to %s", sdk.ErrConflict, p.name, man.Version)
	}
	p.manifest.Store(man)
	p.proc, p.desc, p.health, p.checkedAt = r.proc, r.desc, r.health, time.Now()
	p.trial, p.standby = r.proc, oldProc
	p.healthFails, p.killReason = 0, ""
	p.setStateLocked(StateRunning, "")
	drainOld := p.sw.Replace(r.proc)
	p.setSwitchLocked(oldMan.Version, man.Version, SwitchTrial, "")
	p.wg.Add(2)
	p.mu.Unlock()
	go p.watch(r.proc)
	go p.healthLoop(r.proc)
	p.log.Info("switch: calls go to the new version; the old one waits through the grace period", "version", man.Version, "pid", r.proc.Pid(), "grace", grace)
	p.drain(drainOld)

	why := p.trialRun(r.proc, grace)
	p.mu.Lock()
	if p.trial != r.proc { // the instance stopped meanwhile
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q stopped during the switch's grace period", sdk.ErrConflict, p.name)
	}
	p.trial, p.standby = nil, nil
	if why == "" {
		p.setSwitchLocked(oldMan.Version, man.Version, SwitchDone, "")
		p.mu.Unlock()
		p.stopStandby(oldProc)
		p.scheduleStable(r.proc)
		p.log.Info("switch done: the previous version is stopped", "version", man.Version)
		return nil
	}
	// Back: the old process has run all along; its watch and health loop
	// take it up again as the plugin's process.
	p.bumpLocked()
	p.manifest.Store(oldMan)
	p.proc, p.desc, p.health, p.checkedAt = oldProc, oldDesc, oldHealth, time.Now()
	p.setStateLocked(StateRunning, "")
	drainNew := p.sw.Replace(oldProc)
	msg := fmt.Sprintf("version %s %s; switched back to version %s", man.Version, why, oldMan.Version)
	p.setSwitchLocked(oldMan.Version, man.Version, SwitchSwitchedBack, msg)
	p.mu.Unlock()
	p.log.Error("switch undone: calls went back to the previous version", "error", msg)
	p.drain(drainNew)
	p.stopStandby(r.proc)
	return fmt.Errorf("%w: %s", ErrSwitchedBack, msg)
}

// trialRun watches a new process through the grace period and returns
// why it failed ("" when it did not): it exited, or it turned unhealthy.
// Its health is checked several times within the period.
func (p *Plugin) trialRun(proc *client.Process, grace time.Duration) string {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	every := min(max(grace/10, 50*time.Millisecond), p.pol.HealthInterval)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-proc.Done():
			why := "exited within the grace period"
			if err := proc.ExitErr(); err != nil {
				why += " (" + err.Error() + ")"
			}
			return why
		case <-p.ctx.Done():
			return ""
		case <-deadline.C:
			return ""
		case <-tick.C:
			p.checkHealth(proc)
			p.mu.RLock()
			unhealthy, msg := p.proc == proc && p.state == StateUnhealthy, p.curErr
			p.mu.RUnlock()
			if unhealthy {
				return "turned unhealthy within the grace period: " + msg
			}
		}
	}
}

// switching reports whether a switch's grace period runs.
func (p *Plugin) switching() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.trial != nil
}

// drain waits, up to the stop deadline, for the calls in flight on a
// process taken out of the switch.
func (p *Plugin) drain(drain func(context.Context) error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.pol.StopTimeout)
	defer cancel()
	if err := drain(ctx); err != nil {
		p.log.Warn("calls still in flight on the replaced process at the stop deadline", "error", err)
	}
}

// stopStandby stops a process no longer behind the switch, gracefully,
// killed at the stop deadline.
func (p *Plugin) stopStandby(proc *client.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), p.pol.StopTimeout)
	defer cancel()
	if err := proc.Stop(ctx); err != nil {
		p.log.Warn("stop of the replaced process", "error", err)
	}
	p.l.janitor.Untrack(proc.Pid())
}

// replaceStopped takes man as the version of a plugin that does not run:
// it starts with it next time; a failed one is started now.
func (p *Plugin) replaceStopped(man *manifest.Manifest) error {
	old := p.Manifest()
	p.manifest.Store(man)
	p.mu.Lock()
	p.setSwitchLocked(old.Version, man.Version, SwitchDone, "")
	failed := p.state == StateFailed
	p.mu.Unlock()
	if failed {
		return p.restart()
	}
	return nil
}

// AddPlugin starts a plugin just installed in the plugin directory (its
// folder locked in plugins.lock): admitted as at Start, then started once
// the plugins it depends on run. A plugin that does not start is dropped
// again and the error says why; one that waits for its settings, or is
// disabled by configuration, stays (its status says so).
func (m *Manager) AddPlugin(ctx context.Context, name string) error {
	if _, err := m.lookup(name); err == nil || !errors.Is(err, sdk.ErrNotFound) {
		if err == nil {
			return fmt.Errorf("%w: plugin %q is loaded already", sdk.ErrConflict, name)
		}
		return err
	}
	found, err := Discover(m.cfg.Plugins.Dir)
	if err != nil {
		return err
	}
	found = slices.DeleteFunc(found, func(f Found) bool { return f.Name != name })
	if len(found) == 0 {
		return fmt.Errorf("%w: no folder in %s holds plugin %q", sdk.ErrNotFound, m.cfg.Plugins.Dir, name)
	}
	lasting := map[string]string{}
	if m.deps.LastingDisabled != nil {
		if lasting, err = m.deps.LastingDisabled(ctx); err != nil {
			return fmt.Errorf("read the plugins an operator disabled: %w", err)
		}
	}
	_, lockErr := lockfile.ReadShared(m.cfg.Plugins.Dir)
	m.mu.Lock()
	if _, ok := m.plugins[name]; ok || m.stopping {
		m.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is loaded already, or the host is stopping", sdk.ErrConflict, name)
	}
	p, why := m.admit(found, lockErr, lasting[name], nil)
	m.plugins[name] = p
	m.order = append(m.order, name)
	m.mu.Unlock()
	if why == "" {
		why = m.missingDependency(p.Manifest())
	}
	if why == "" {
		if err := p.start(ctx); err != nil {
			why = err.Error()
		}
	} else if p.State() == StateDisabled {
		return nil
	}
	if why != "" {
		m.drop(ctx, p, "it did not start")
		return fmt.Errorf("%w: plugin %q: %s", sdk.ErrFailedPrecondition, name, why)
	}
	m.log.Info("plugin added", "plugin", name, "version", p.Manifest().Version)
	return nil
}

// missingDependency says which plugin man depends on is not loaded or not
// running here, or "".
func (m *Manager) missingDependency(man *manifest.Manifest) string {
	for _, d := range man.Dependencies {
		if d.IsHostCapability() {
			if !m.deps.Capabilities[d.Name] {
				return fmt.Sprintf("it needs the host capability %q, which this host does not offer", d.Name)
			}
			continue
		}
		if _, ok := m.Plugin(d.Name); !ok {
			return fmt.Sprintf("it depends on plugin %q, which this host does not run; install %s first", d.Name, d.Name)
		}
	}
	return m.failedDependency(man)
}

// SwitchPlugin switches a plugin to the version now in its folder (an
// upgrade or a rollback placed it and locked it): blue-green for a running
// plugin (Plugin.upgrade, with plugins.upgrade_grace); a plugin that does
// not run takes the new version for its next start (a failed one starts
// now). It returns after the grace period; ErrSwitchedBack says why calls
// went back to the previous version.
func (m *Manager) SwitchPlugin(ctx context.Context, name string) error {
	p, err := m.lookup(name)
	if err != nil {
		return err
	}
	man, err := manifest.Load(p.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", sdk.ErrFailedPrecondition, err)
	}
	if man.Name != name {
		return fmt.Errorf("%w: the folder %s now holds plugin %q, not %q", sdk.ErrFailedPrecondition, p.dir, man.Name, name)
	}
	if problems := man.CheckHost(m.deps.HostVersion, client.ProtocolVersions); len(problems) > 0 {
		return fmt.Errorf("%w: %w", sdk.ErrFailedPrecondition, &manifest.ValidationError{File: man.File, Problems: problems})
	}
	if _, err := verified(m.cfg, man, false); err != nil {
		return fmt.Errorf("%w: %w", sdk.ErrFailedPrecondition, err)
	}
	if why := m.missingDependency(man); why != "" {
		return fmt.Errorf("%w: plugin %q %s: %s", sdk.ErrFailedPrecondition, name, man.Version, why)
	}
	if !p.State().Up() {
		return p.replaceStopped(man)
	}
	return p.upgrade(ctx, man, m.cfg.Plugins.UpgradeGrace)
}

// RemovePlugin stops a plugin for good and forgets it. Nothing happens for
// a plugin this host does not know.
func (m *Manager) RemovePlugin(ctx context.Context, name string) error {
	p, ok := m.Plugin(name)
	if !ok {
		return nil
	}
	m.drop(ctx, p, "removed by an operator")
	m.log.Info("plugin removed", "plugin", name)
	return nil
}

// drop stops an instance and takes it out of the manager.
func (m *Manager) drop(ctx context.Context, p *Plugin, why string) {
	p.stop(ctx, why)
	m.mu.Lock()
	delete(m.plugins, p.name)
	m.order = slices.DeleteFunc(m.order, func(n string) bool { return n == p.name })
	m.mu.Unlock()
	m.deps.Metrics.PluginUp.DeleteLabelValues(p.name)
}
