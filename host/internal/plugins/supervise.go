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

// The supervisor: methods of the instance (Plugin) that watch its
// processes.
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

// watch notices the exit of one of the plugin's processes the moment it
// happens.
func (p *Plugin) watch(proc *client.Process) {
	defer p.wg.Done()
	select {
	case <-proc.Done():
	case <-p.ctx.Done():
		return // stop takes care of the process
	}
	p.l.janitor.Untrack(proc.Pid())
	p.mu.Lock()
	if p.proc != proc || p.trial == proc {
		p.mu.Unlock()
		return // replaced already, or on trial in a switch (trialRun decides)
	}
	p.proc = nil
	if p.expectExit || p.ctx.Err() != nil {
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
	p.failureLocked(why)
	p.mu.Unlock()
	proc.Kill() // release the connection and the launch's sockets
}

// failureLocked records a failure and schedules what comes next: a restart
// after a backoff, or, with the budget spent, an open circuit and a
// half-open try after the cool-down. p.mu is held.
func (p *Plugin) failureLocked(why string) {
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
		p.timer = time.AfterFunc(pol.Cooldown, func() { p.retry(epoch, true) })
		return
	}
	delay := backoff(p.attempt, pol.InitialBackoff, pol.MaxBackoff, pol.Jitter)
	p.attempt++
	p.next = now.Add(delay)
	p.setStateLocked(StateRestarting, why)
	p.sw.Down("restarting after a failure: "+why, true)
	p.timer = time.AfterFunc(delay, func() { p.retry(epoch, false) })
}

// retry launches the plugin again for the supervisor (a restart, or the
// half-open try after the cool-down).
func (p *Plugin) retry(epoch int, halfOpen bool) {
	if p.ctx.Err() != nil {
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
	p.l.metrics.PluginRestarts.WithLabelValues(p.name).Inc()
	p.log.Info("restarting plugin", "half_open", halfOpen)

	err := p.launch(p.ctx, epoch)
	if err == nil || errors.Is(err, errOvertaken) || p.ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	if p.epoch == epoch {
		p.failureLocked("restart failed: " + err.Error())
	}
	p.mu.Unlock()
}

// scheduleStable restores the restart budget of a plugin that stays running
// and healthy for the stable period.
func (p *Plugin) scheduleStable(proc *client.Process) {
	time.AfterFunc(p.pol.Restart.StableAfter, func() {
		if p.ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.proc != proc {
			return
		}
		if !p.healthyLocked() {
			go p.scheduleStable(proc) // not yet: look again later
			return
		}
		if len(p.failures) > 0 || p.circuit != circuitClosed {
			p.log.Info("plugin stable again: restart budget restored", "after", p.pol.Restart.StableAfter)
		}
		p.failures, p.attempt, p.circuit = nil, 0, circuitClosed
	})
}

// healthLoop checks one process's health on the policy's interval until it
// exits or the instance stops.
func (p *Plugin) healthLoop(proc *client.Process) {
	defer p.wg.Done()
	t := time.NewTicker(p.pol.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-proc.Done():
			return
		case <-t.C:
			p.checkHealth(proc)
		}
	}
}

// checkHealthNow checks the running process's health now, as the interval
// would; a plugin that does not run has none to check.
func (p *Plugin) checkHealthNow() {
	if proc := p.process(); proc != nil {
		p.checkHealth(proc)
	}
}

// checkHealth asks one process for its health. A check that gets no answer
// in time counts toward the hang threshold; at the threshold the process is
// killed and the supervisor restarts it. A plugin that answers degraded or
// error is shown as such and left running.
func (p *Plugin) checkHealth(proc *client.Process) {
	ctx, cancel := context.WithTimeout(p.ctx, p.pol.HealthTimeout)
	defer cancel()
	health, err := client.NewPlugin(proc.Conn().ClientConn(), proc.Conn().HostBrokerID).CheckHealth(ctx, &sdk.CheckHealthRequest{})

	p.mu.Lock()
	// A check of a process whose kill is decided counts for nothing (the
	// interval's next check before the exit is seen, or one asked for
	// while another was in flight): the process is killed once, and the
	// kill's reason keeps the count it was decided at.
	if p.proc != proc || !p.state.Up() || p.killReason != "" {
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
