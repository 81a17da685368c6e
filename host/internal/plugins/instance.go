package plugins

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/history"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// Plugin is one managed plugin: the instance that owns the plugin's
// processes, its lock, its context, its goroutines and every change of its
// state. Its methods launch it (launch), watch each process and restart it
// after a failure (supervise.go), check its health, stop it, and carry out
// an operator's restart, disable and enable. The manager makes one per
// discovered plugin, admits it and starts it at its dependency level; it
// reads an instance only through its methods. An instance is made, started
// and stopped on its own, so one can be added or replaced while the others
// run.
type Plugin struct {
	name string
	dir  string
	// manifest is the running version's (nil when plugin.json could not
	// be read); an upgrade replaces it as it switches.
	manifest atomic.Pointer[manifest.Manifest]
	required bool
	pol      config.Policy
	log      hclog.Logger
	sw       *client.Switch
	l        *launcher

	// The history (history.go): the last hour's samples, and the latency
	// of the calls made to the plugin since the last sample, recorded by
	// an interceptor on each of its processes' connections.
	hist *history.Ring
	lat  *history.Latency

	// ctx ends when the instance is stopped (or the host stops): its
	// loops and timers end, and a launch in flight gives way.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the watch and health loops of its processes

	mu        sync.RWMutex
	state     State
	since     time.Time
	proc      *client.Process
	desc      *sdk.DescribeResponse
	health    *sdk.CheckHealthResponse
	checkedAt time.Time
	restarts  int
	lastErr   string    // the latest error, kept as history
	lastErrAt time.Time // when lastErr happened
	curErr    string    // what is wrong now; "" while running
	runsOn    string    // the host that runs this singleton, while elsewhere
	// notConfigured says what settings an optional plugin waits for
	// (ErrNotConfigured); it is disabled meanwhile.
	notConfigured string
	loadTime      time.Duration
	changed       chan struct{} // closed on every state change

	// Supervision, under mu.
	failures    []time.Time // within the restart window
	attempt     int         // restarts since the plugin was last stable
	circuit     string
	next        time.Time
	timer       *time.Timer // pending restart or half-open try
	healthFails int         // health checks failed in a row
	killReason  string      // why the supervisor killed the current process
	expectExit  bool        // the current process is being stopped on purpose
	epoch       int         // bumped on every launch and operator action

	// A switch (upgrade.go), under mu: the new version's process on trial
	// through the grace period, the previous version's process kept
	// running meanwhile, and the last switch for the status.
	trial      *client.Process
	standby    *client.Process
	switchover *Switchover
}

// newPlugin makes the instance of a plugin found in the plugin directory
// (f.Manifest is nil when its plugin.json could not be read). Nothing runs
// until start; its context ends with parent.
func newPlugin(parent context.Context, l *launcher, f Found, required bool) *Plugin {
	ctx, cancel := context.WithCancel(parent)
	pol := l.cfg.PolicyFor(f.Name)
	p := &Plugin{
		name: f.Name, dir: f.Dir, required: required, pol: pol,
		log: l.log.With("plugin", f.Name), sw: client.NewSwitch(f.Name, pol.CallWait), l: l,
		ctx: ctx, cancel: cancel,
		hist: history.NewRing(history.Capacity(l.cfg.Plugins.HistoryInterval)), lat: new(history.Latency),
		state: StateStarting, since: time.Now(), changed: make(chan struct{}), circuit: circuitClosed,
	}
	p.manifest.Store(f.Manifest)
	// Every plugin's restart counter is on /metrics from the start, at 0,
	// so rate() and alerts see its first restart.
	l.metrics.PluginRestarts.WithLabelValues(f.Name)
	return p
}

// setStateLocked changes the state, wakes whoever waits for a change and
// keeps the state metrics current. why, when not empty, is the error that
// caused the change: it becomes the current error and the last one. p.mu
// is held.
func (p *Plugin) setStateLocked(s State, why string) {
	now := time.Now()
	if p.state != s {
		p.since = now
	}
	p.state = s
	if why != "" {
		p.lastErr, p.lastErrAt = why, now
	}
	switch s {
	case StateRunning, StateStopped, StateDisabled, StateElsewhere:
		// Running again, or not running on purpose: nothing is wrong now.
		// The last error stays, with its time, as history.
		p.curErr = ""
	case StateStarting:
		// A start after a failure keeps the failure until it runs.
	default:
		if why != "" {
			p.curErr = why
		}
	}
	close(p.changed)
	p.changed = make(chan struct{})
	for _, st := range States {
		v := 0.0
		if st == s {
			v = 1
		}
		p.l.metrics.PluginState.WithLabelValues(p.name, string(st)).Set(v)
	}
	if !s.Up() {
		p.l.metrics.PluginUp.WithLabelValues(p.name).Set(0)
	}
}

// errOvertaken is returned by a launch that an operator action or the
// host's shutdown made moot.
var errOvertaken = errors.New("launch overtaken by another action")

// bump starts a new epoch: pending timers and launches of older epochs give
// way.
func (p *Plugin) bump() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bumpLocked()
}

func (p *Plugin) bumpLocked() int {
	p.epoch++
	p.cancelTimerLocked()
	return p.epoch
}

func (p *Plugin) cancelTimerLocked() {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// start launches the plugin for the first time. A plugin that fails here
// is failed until an operator acts; it is not retried.
//
// An optional plugin without settings that needs some (ErrNotConfigured, a
// payment gateway just installed) is not a failure: it waits, disabled,
// for its settings, logged at info, and saving them starts it.
func (p *Plugin) start(ctx context.Context) error {
	if err := p.launch(ctx, p.bump()); err != nil {
		if errors.Is(err, ErrNotConfigured) && !p.required {
			p.waitForSettings(err.Error())
			return nil
		}
		p.refuse("plugin failed to start", err.Error())
		return err
	}
	return nil
}

// waitForSettings marks the plugin not configured: disabled until its
// settings are saved (Manager.Enable).
func (p *Plugin) waitForSettings(why string) {
	p.mu.Lock()
	p.bumpLocked()
	p.next = time.Time{}
	p.notConfigured = why
	p.setStateLocked(StateDisabled, "")
	p.sw.Down("not configured: "+why, false)
	p.mu.Unlock()
	p.log.Info("plugin not configured; it starts once its settings are saved", "missing", why)
}

// launch starts a process of the plugin (launcher.launch) and puts it
// behind the plugin's switch; watch and healthLoop follow it from then on.
// epoch is the plugin's epoch when the launch was decided; if an operator
// action, another launch or the instance's stop comes meanwhile, this
// launch gives way (errOvertaken).
func (p *Plugin) launch(ctx context.Context, epoch int) error {
	begin := time.Now()
	p.mu.Lock()
	if p.epoch != epoch || p.ctx.Err() != nil || !p.mayLaunchLocked() {
		p.mu.Unlock()
		return errOvertaken
	}
	p.setStateLocked(StateStarting, "")
	p.wg.Add(1) // under mu, after the ctx check: stop waits for the launch
	p.mu.Unlock()

	r, err := p.launchProcess(ctx, p.Manifest())
	if err != nil {
		return err
	}

	p.mu.Lock()
	if p.epoch != epoch || p.ctx.Err() != nil {
		p.mu.Unlock()
		p.l.kill(r.proc)
		return errOvertaken
	}
	p.proc, p.desc, p.health, p.checkedAt = r.proc, r.desc, r.health, time.Now()
	p.loadTime = time.Since(begin)
	p.healthFails, p.killReason, p.expectExit = 0, "", false
	state := StateRunning
	if r.health.Status == sdk.HealthError {
		state = StateUnhealthy
	}
	p.setStateLocked(state, "")
	p.sw.Up(r.proc)
	loadTime := p.loadTime
	p.wg.Add(2) // under mu, after the ctx check: stop waits for these
	p.mu.Unlock()
	p.l.metrics.PluginUp.WithLabelValues(p.name).Set(1)
	p.l.metrics.PluginLoad.WithLabelValues(p.name).Set(loadTime.Seconds())
	p.log.Info("plugin running", "version", r.desc.Version, "pid", r.proc.Pid(), "load_ms", loadTime.Milliseconds(), "health", r.health.Status)

	go p.watch(r.proc)
	go p.healthLoop(r.proc)
	p.scheduleStable(r.proc)
	return nil
}

// launchProcess runs launcher.launch for a launch that p.wg counts: the
// caller has called p.wg.Add(1) under p.mu after seeing p.ctx alive. The
// launch also ends with p.ctx, so an instance's stop waits for it, briefly:
// a process still in its handshake is killed, not waited out, and none
// starts after the stop (its data folder may be removed next).
func (p *Plugin) launchProcess(ctx context.Context, man *manifest.Manifest) (*launched, error) {
	defer p.wg.Done()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(p.ctx, func() { cancel(errors.New("the plugin is being stopped")) })
	defer stop()
	return p.l.launch(ctx, man, p.pol, p.log, p.lat)
}

// fail marks the plugin failed until an operator acts; calls fail at once.
func (p *Plugin) fail(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bumpLocked()
	p.next = time.Time{}
	p.setStateLocked(StateFailed, why)
	p.sw.Down("failed: "+why, false)
}

// refuse fails the plugin and logs msg with why.
func (p *Plugin) refuse(msg, why string) {
	p.fail(why)
	p.log.Error(msg, "error", why)
}

// disable stops the plugin, if it runs, and keeps it stopped until it is
// enabled or the host restarts; calls fail at once. why reads after
// "plugin <name> is ": "disabled in the configuration".
func (p *Plugin) disable(why string) {
	p.mu.Lock()
	if p.state == StateDisabled {
		p.notConfigured = "" // an operator's disable replaces the wait
		p.mu.Unlock()
		return
	}
	p.bumpLocked()
	proc := p.proc
	p.expectExit = true
	p.next = time.Time{}
	p.setStateLocked(StateDisabled, why)
	p.sw.Down(why, false)
	p.mu.Unlock()
	p.log.Info(why)
	p.stopProcess(proc)
}

// enable starts a disabled plugin, with its restart budget restored.
func (p *Plugin) enable() error {
	p.mu.Lock()
	if p.state != StateDisabled {
		st := p.state
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is %s, not disabled", sdk.ErrFailedPrecondition, p.name, st)
	}
	epoch := p.bumpLocked()
	p.failures, p.attempt, p.circuit = nil, 0, circuitClosed
	p.notConfigured = ""
	p.sw.Down("starting", true)
	p.mu.Unlock()
	p.log.Info("enabled by an operator")
	if err := p.launch(p.ctx, epoch); err != nil {
		if errors.Is(err, errOvertaken) {
			return fmt.Errorf("%w: another action on plugin %q overtook this start", sdk.ErrConflict, p.name)
		}
		if errors.Is(err, ErrNotConfigured) && !p.required {
			p.waitForSettings(err.Error())
			return fmt.Errorf("%w: plugin %q cannot start yet: %v", sdk.ErrFailedPrecondition, p.name, err)
		}
		p.fail("start failed: " + err.Error())
		return fmt.Errorf("%w: plugin %q failed to start: %v", sdk.ErrFailedPrecondition, p.name, err)
	}
	return nil
}

// restart stops the plugin gracefully and starts it again, now. It also
// closes an open circuit and restores the restart budget: an operator's
// restart is a fresh start.
func (p *Plugin) restart() error {
	p.mu.Lock()
	switch p.state {
	case StateDisabled:
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is disabled; enable it instead", sdk.ErrFailedPrecondition, p.name)
	case StateElsewhere:
		holder := p.runsOn
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is %s; restart it there", sdk.ErrFailedPrecondition, p.name, elsewhereMessage(holder))
	case StateStarting:
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is starting; try again once it runs", sdk.ErrConflict, p.name)
	}
	epoch := p.bumpLocked()
	proc := p.proc
	p.expectExit = true
	p.failures, p.attempt, p.circuit, p.next = nil, 0, circuitClosed, time.Time{}
	p.restarts++
	p.setStateLocked(StateRestarting, "")
	p.sw.Down("restarting on an operator's request", true)
	p.mu.Unlock()
	p.l.metrics.PluginRestarts.WithLabelValues(p.name).Inc()
	p.log.Info("restart requested by an operator")

	p.stopProcess(proc)
	if err := p.launch(p.ctx, epoch); err != nil {
		if errors.Is(err, errOvertaken) {
			return fmt.Errorf("%w: another action on plugin %q overtook this restart", sdk.ErrConflict, p.name)
		}
		p.fail("restart failed: " + err.Error())
		return fmt.Errorf("%w: restart of plugin %q failed: %v", sdk.ErrFailedPrecondition, p.name, err)
	}
	return nil
}

// stopProcess stops one of the plugin's processes gracefully for an
// operator action: calls in flight drain, then go-plugin's controller shuts
// it down, killed at the stop deadline. The caller has set expectExit. A
// nil proc is nothing to stop.
func (p *Plugin) stopProcess(proc *client.Process) {
	p.stopProcessWithin(proc, p.pol.StopTimeout)
}

// stopProcessWithin is stopProcess with its own deadline.
func (p *Plugin) stopProcessWithin(proc *client.Process, within time.Duration) {
	if proc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, within)
	defer cancel()
	if err := p.sw.Drain(ctx); err != nil {
		p.log.Warn("calls still in flight at the stop deadline", "error", err)
	}
	if err := proc.Stop(ctx); err != nil {
		p.log.Warn("plugin stop", "error", err)
	}
	p.l.janitor.Untrack(proc.Pid())
	p.mu.Lock()
	if p.proc == proc {
		p.proc = nil
	}
	p.mu.Unlock()
}

// stop stops the instance for good, within ctx: its loops and timers end,
// new calls are refused (why says why: "the host is shutting down"), calls
// in flight drain, go-plugin's controller shuts the process down, and it is
// killed at the plugin's stop deadline. A plugin that was running ends
// stopped; a failed or disabled one stays so.
func (p *Plugin) stop(ctx context.Context, why string) {
	p.cancel()
	p.mu.Lock()
	p.cancelTimerLocked()
	proc := p.proc
	wasUp := p.state.Up()
	p.expectExit = true
	standby := p.standby
	p.trial, p.standby = nil, nil
	p.mu.Unlock()
	p.sw.Down("stopped: "+why, false)
	if standby != nil {
		p.stopStandby(standby)
	}
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
		p.l.janitor.Untrack(proc.Pid())
	}
	p.mu.Lock()
	if p.state != StateDisabled && p.state != StateFailed {
		p.setStateLocked(StateStopped, "")
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// reconfigure hands the running plugin new settings and returns its
// warnings; a plugin that is not running gets them when it next starts.
func (p *Plugin) reconfigure(ctx context.Context, req *sdk.ConfigureRequest) ([]string, error) {
	if p.process() == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.pol.StartTimeout)
	defer cancel()
	resp, err := p.Base().Configure(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSettingsRefused, err)
	}
	p.log.Info("plugin reconfigured", "warnings", len(resp.Warnings))
	for _, w := range resp.Warnings {
		p.log.Warn("plugin configuration warning", "warning", w)
	}
	return resp.Warnings, nil
}

// deliver hands the plugin one event, bounded by eventTimeout; a failure
// is logged.
func (p *Plugin) deliver(ctx context.Context, e sdk.Event) {
	ctx, cancel := context.WithTimeout(ctx, eventTimeout)
	defer cancel()
	if _, err := p.Base().HandleEvent(ctx, &sdk.HandleEventRequest{Event: e}); err != nil {
		p.log.Warn("event delivery failed", "event", e.ID, "type", e.Type, "error", err)
	}
}

// wants reports whether the plugin runs and takes e: its manifest's
// "events" match e's type, and it did not publish e itself.
func (p *Plugin) wants(e sdk.Event) bool {
	man := p.Manifest()
	return p.name != e.Source && man != nil && subscribes(man.Events, e.Type) && p.process() != nil
}
