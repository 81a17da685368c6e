package plugins

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// The supervisor.
//
// A plugin's exit is noticed when it happens (watch). An unexpected exit, a
// plugin killed for not answering its health checks (healthLoop), and a
// restart that does not come up all count as failures (failureLocked).
// After a failure the plugin restarts: the first time at once, then after
// waits that double from the policy's initial backoff up to its cap, with
// jitter. When the failures within the window reach the budget, the plugin
// is failed and its circuit open; after the cool-down one start is tried
// (half-open): if it fails the circuit opens again, if it stays healthy
// for the stable period the circuit closes and the budget is restored.
// While a plugin restarts, calls wait (client.Switch) up to call_wait.

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

// fail marks the plugin failed until an operator acts; calls fail at once.
func (p *Plugin) fail(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bumpLocked()
	p.next = time.Time{}
	p.setStateLocked(StateFailed, why)
	p.sw.Down("failed: "+why, false)
}

// disable marks the plugin disabled; calls fail at once.
func (p *Plugin) disable(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bumpLocked()
	p.next = time.Time{}
	p.setStateLocked(StateDisabled, why)
	p.sw.Down("disabled: "+why, false)
}

// backoff is the wait before restart number attempt+1: none for the first,
// then InitialBackoff doubling up to MaxBackoff, spread by Jitter.
func backoff(attempt int, initial, maxWait time.Duration, jitter float64) time.Duration {
	if attempt <= 0 {
		return 0
	}
	d := initial
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if jitter > 0 {
		d = time.Duration(float64(d) * (1 + jitter*(2*rand.Float64()-1)))
	}
	return min(max(d, 0), maxWait)
}

// watch notices a plugin's exit the moment it happens.
func (m *Manager) watch(p *Plugin, proc *client.Process) {
	defer m.wg.Done()
	select {
	case <-proc.Done():
	case <-m.ctx.Done():
		return // Stop takes care of the process
	}
	m.janitor.Untrack(proc.Pid())
	p.mu.Lock()
	if p.proc != proc {
		p.mu.Unlock()
		return // replaced already
	}
	p.proc = nil
	if p.expectExit || m.isStopping() {
		p.mu.Unlock()
		return // stopped on purpose; whoever stopped it sets the state
	}
	why := p.killReason
	if why == "" {
		why = "the plugin process exited unexpectedly"
		if err := proc.ExitErr(); err != nil {
			why += " (" + err.Error() + ")"
		}
	}
	p.killReason = ""
	m.failureLocked(p, why)
	p.mu.Unlock()
	proc.Kill() // release the connection and the launch's sockets
}

// failureLocked records a failure and schedules what comes next: a restart
// after a backoff, or, with the budget spent, an open circuit and a
// half-open try after the cool-down. p.mu is held.
func (m *Manager) failureLocked(p *Plugin, why string) {
	now := time.Now()
	pol := p.pol.Restart
	kept := p.failures[:0]
	for _, t := range p.failures {
		if now.Sub(t) < pol.Window {
			kept = append(kept, t)
		}
	}
	p.failures = append(kept, now)
	epoch := p.bumpLocked()
	p.log.Error("plugin failed", "error", why, "recent_failures", len(p.failures), "budget", pol.Budget)

	if p.circuit == circuitHalfOpen || len(p.failures) >= pol.Budget {
		p.circuit = circuitOpen
		p.next = now.Add(pol.Cooldown)
		msg := fmt.Sprintf("%s; restart budget spent (%d failures within %s): circuit open until %s, then one more try",
			why, len(p.failures), pol.Window, p.next.Format(time.RFC3339))
		p.setStateLocked(StateFailed, msg)
		p.sw.Down("failed: "+why, false)
		p.timer = time.AfterFunc(pol.Cooldown, func() { m.retry(p, epoch, true) })
		return
	}
	delay := backoff(p.attempt, pol.InitialBackoff, pol.MaxBackoff, pol.Jitter)
	p.attempt++
	p.next = now.Add(delay)
	p.setStateLocked(StateRestarting, why)
	p.sw.Down("restarting after a failure: "+why, true)
	p.timer = time.AfterFunc(delay, func() { m.retry(p, epoch, false) })
}

// retry launches the plugin again for the supervisor (a restart, or the
// half-open try after the cool-down).
func (m *Manager) retry(p *Plugin, epoch int, halfOpen bool) {
	if m.isStopping() {
		return
	}
	p.mu.Lock()
	if p.epoch != epoch {
		p.mu.Unlock()
		return
	}
	p.timer = nil
	p.next = time.Time{}
	if halfOpen {
		p.circuit = circuitHalfOpen
		p.sw.Down("starting again after the cool-down", true)
	}
	p.restarts++
	p.mu.Unlock()
	m.deps.Metrics.PluginRestarts.WithLabelValues(p.name).Inc()
	p.log.Info("restarting plugin", "half_open", halfOpen)

	err := m.launch(m.ctx, p, epoch)
	if err == nil || errors.Is(err, errOvertaken) || m.isStopping() {
		return
	}
	p.mu.Lock()
	if p.epoch == epoch {
		m.failureLocked(p, "restart failed: "+err.Error())
	}
	p.mu.Unlock()
}

// scheduleStable restores the restart budget of a plugin that stays running
// and healthy for the stable period.
func (m *Manager) scheduleStable(p *Plugin, proc *client.Process) {
	time.AfterFunc(p.pol.Restart.StableAfter, func() {
		if m.isStopping() {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.proc != proc {
			return
		}
		if p.state != StateRunning || p.health == nil || p.health.Status == sdk.HealthError {
			go m.scheduleStable(p, proc) // not yet: look again later
			return
		}
		if len(p.failures) > 0 || p.circuit != circuitClosed {
			p.log.Info("plugin stable again: restart budget restored", "after", p.pol.Restart.StableAfter)
		}
		p.failures, p.attempt, p.circuit = nil, 0, circuitClosed
	})
}

// healthLoop checks one process's health on the policy's interval until it
// exits.
func (m *Manager) healthLoop(p *Plugin, proc *client.Process) {
	defer m.wg.Done()
	t := time.NewTicker(p.pol.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-proc.Done():
			return
		case <-t.C:
			m.checkHealth(p, proc)
		}
	}
}

// checkHealth asks one process for its health. A check that gets no answer
// in time counts toward the hang threshold; at the threshold the process is
// killed and the supervisor restarts it. A plugin that answers degraded or
// error is shown as such and left running.
func (m *Manager) checkHealth(p *Plugin, proc *client.Process) {
	ctx, cancel := context.WithTimeout(m.ctx, p.pol.HealthTimeout)
	defer cancel()
	health, err := client.NewPlugin(proc.Conn().ClientConn(), proc.Conn().HostBrokerID).CheckHealth(ctx, &sdk.CheckHealthRequest{})

	p.mu.Lock()
	if p.proc != proc || (p.state != StateRunning && p.state != StateUnhealthy) {
		p.mu.Unlock()
		return
	}
	p.checkedAt = time.Now()
	if err != nil {
		p.healthFails++
		p.health = &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: "health check failed: " + err.Error()}
		if p.healthFails < p.pol.HealthFailures {
			p.setStateLocked(StateUnhealthy, fmt.Sprintf("health check %d of %d failed: %v", p.healthFails, p.pol.HealthFailures, err))
			p.mu.Unlock()
			p.log.Warn("plugin health check failed", "error", err, "in_a_row", p.healthFails)
			return
		}
		p.killReason = fmt.Sprintf("hung: %d health checks in a row got no answer within %s; killed", p.healthFails, p.pol.HealthTimeout)
		p.mu.Unlock()
		p.log.Error("plugin hung; killing it", "failed_checks", p.pol.HealthFailures)
		proc.Kill() // watch sees the exit and restarts it
		return
	}
	p.healthFails = 0
	p.health = health
	switch {
	case health.Status == sdk.HealthError && p.state != StateUnhealthy:
		p.setStateLocked(StateUnhealthy, "the plugin reports an error: "+health.Message)
	case health.Status != sdk.HealthError && p.state == StateUnhealthy:
		p.setStateLocked(StateRunning, "")
		p.log.Info("plugin healthy again")
	}
	p.mu.Unlock()
}

// CheckHealth checks every running plugin now (as the interval would).
func (m *Manager) CheckHealth() {
	for _, p := range m.Plugins() {
		if proc := p.process(); proc != nil {
			m.checkHealth(p, proc)
		}
	}
}

// stopProcess stops a plugin's current process gracefully for an operator
// action: calls in flight drain, then go-plugin's controller shuts it down,
// killed at the stop deadline. The caller has set expectExit.
func (m *Manager) stopProcess(p *Plugin, proc *client.Process) {
	if proc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, p.pol.StopTimeout)
	defer cancel()
	if err := p.sw.Drain(ctx); err != nil {
		p.log.Warn("calls still in flight at the stop deadline", "error", err)
	}
	if err := proc.Stop(ctx); err != nil {
		p.log.Warn("plugin stop", "error", err)
	}
	m.janitor.Untrack(proc.Pid())
	p.mu.Lock()
	if p.proc == proc {
		p.proc = nil
	}
	p.mu.Unlock()
}

func (m *Manager) lookup(name string) (*Plugin, error) {
	if m.isStopping() {
		return nil, fmt.Errorf("%w: the host is shutting down", sdk.ErrFailedPrecondition)
	}
	p, ok := m.Plugin(name)
	if !ok {
		return nil, fmt.Errorf("%w: no plugin %q; GET /health/plugins lists them", sdk.ErrNotFound, name)
	}
	if p.manifest == nil {
		return nil, fmt.Errorf("%w: plugin %q has an invalid manifest and cannot run: %s", sdk.ErrFailedPrecondition, name, p.Status().LastError)
	}
	return p, nil
}

// Restart stops a plugin gracefully and starts it again, now. It also closes
// an open circuit and restores the restart budget: an operator's restart is
// a fresh start.
func (m *Manager) Restart(name string) error {
	p, err := m.lookup(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	switch p.state {
	case StateDisabled:
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is disabled; enable it instead", sdk.ErrFailedPrecondition, name)
	case StateStarting:
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is starting; try again once it runs", sdk.ErrConflict, name)
	}
	epoch := p.bumpLocked()
	proc := p.proc
	p.expectExit = true
	p.failures, p.attempt, p.circuit, p.next = nil, 0, circuitClosed, time.Time{}
	p.restarts++
	p.setStateLocked(StateRestarting, "")
	p.sw.Down("restarting on an operator's request", true)
	p.mu.Unlock()
	m.deps.Metrics.PluginRestarts.WithLabelValues(name).Inc()
	p.log.Info("restart requested by an operator")

	m.stopProcess(p, proc)
	if err := m.launch(m.ctx, p, epoch); err != nil {
		if errors.Is(err, errOvertaken) {
			return fmt.Errorf("%w: another action on plugin %q overtook this restart", sdk.ErrConflict, name)
		}
		p.fail("restart failed: " + err.Error())
		return fmt.Errorf("%w: restart of plugin %q failed: %v", sdk.ErrFailedPrecondition, name, err)
	}
	return nil
}

// Disable stops a plugin and keeps it stopped until it is enabled or the
// host restarts.
func (m *Manager) Disable(name string) error {
	p, err := m.lookup(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.state == StateDisabled {
		p.mu.Unlock()
		return nil
	}
	p.bumpLocked()
	proc := p.proc
	p.expectExit = true
	p.next = time.Time{}
	p.setStateLocked(StateDisabled, "disabled by an operator")
	p.sw.Down("disabled by an operator", false)
	p.mu.Unlock()
	p.log.Info("disabled by an operator")
	m.stopProcess(p, proc)
	return nil
}

// Enable starts a disabled plugin.
func (m *Manager) Enable(name string) error {
	p, err := m.lookup(name)
	if err != nil {
		return err
	}
	if !m.runsHere(p.manifest, m.cfg.Plugin[name]) {
		return fmt.Errorf("%w: plugin %q does not run in environment %s", sdk.ErrFailedPrecondition, name, m.cfg.Environment)
	}
	if why := m.failedDependency(p.manifest); why != "" {
		return fmt.Errorf("%w: plugin %q cannot start: %s", sdk.ErrFailedPrecondition, name, why)
	}
	p.mu.Lock()
	if p.state != StateDisabled {
		st := p.state
		p.mu.Unlock()
		return fmt.Errorf("%w: plugin %q is %s, not disabled", sdk.ErrFailedPrecondition, name, st)
	}
	epoch := p.bumpLocked()
	p.failures, p.attempt, p.circuit = nil, 0, circuitClosed
	p.sw.Down("starting", true)
	p.mu.Unlock()
	p.log.Info("enabled by an operator")
	if err := m.launch(m.ctx, p, epoch); err != nil {
		if errors.Is(err, errOvertaken) {
			return fmt.Errorf("%w: another action on plugin %q overtook this start", sdk.ErrConflict, name)
		}
		p.fail("start failed: " + err.Error())
		return fmt.Errorf("%w: plugin %q failed to start: %v", sdk.ErrFailedPrecondition, name, err)
	}
	return nil
}
