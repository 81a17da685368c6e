package plugins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// Leases decide where singleton plugins run (a manifest's "singleton":
// true): package hosts' Leases, over a lease per plugin in the store.
type Leases interface {
	// Claim takes or renews the plugin's lease for this host and returns
	// its holder (this host's id when it holds it now).
	Claim(ctx context.Context, plugin string) (string, error)
	// Holds reports whether this host holds the plugin's lease now.
	Holds(plugin string) bool
}

// ElsewhereError is a call to a singleton plugin that another host runs.
// It wraps the refusal, which wraps sdk.ErrPluginUnavailable. Jobs that
// meet it move to the plugin's own job queue, which only the host that
// runs it works (package jobs).
type ElsewhereError struct {
	Plugin string
	// Host runs the plugin ("" while no live host holds its lease).
	Host string
	Err  error
}

func (e *ElsewhereError) Error() string {
	if e.Host == "" {
		return fmt.Sprintf("plugin %q is a singleton and no live host runs it right now (a host takes it over within seconds); try again shortly", e.Plugin)
	}
	return fmt.Sprintf("plugin %q is a singleton that runs on host %q, not on this one: use that host for this action (its jobs go there through the job queue)", e.Plugin, e.Host)
}

func (e *ElsewhereError) Unwrap() error { return e.Err }

// SingletonPlugin names the plugin the call was for (package jobs finds
// it by this method).
func (e *ElsewhereError) SingletonPlugin() string { return e.Plugin }

// singleton reports whether the plugin's lease decides where it runs:
// its manifest says singleton and the host keeps leases.
func (p *Plugin) singleton() bool {
	man := p.Manifest()
	return man != nil && man.Singleton && p.l.leases != nil
}

// runsOnLocked is the host that runs the singleton plugin, as its status
// shows it. p.mu is held.
func (p *Plugin) runsOnLocked() string {
	switch {
	case p.state == StateElsewhere:
		return p.runsOn
	case p.state.Up() || p.state == StateStarting || p.state == StateRestarting:
		return p.l.hostID
	}
	return ""
}

// elsewhereMessage is why calls to the plugin fail here.
func elsewhereMessage(holder string) string {
	if holder == "" {
		return "a singleton that no live host runs right now"
	}
	return "a singleton that runs on host " + holder
}

// toElsewhereLocked marks the plugin as run by holder and refuses calls
// here. It returns the process to stop ("" holder: none known). p.mu is
// held.
func (p *Plugin) toElsewhereLocked(holder string) {
	p.bumpLocked()
	p.runsOn = holder
	p.expectExit = true
	p.next = time.Time{}
	p.setStateLocked(StateElsewhere, "")
	p.sw.Down(elsewhereMessage(holder), false)
}

// lose stops the plugin here, within the given time (killed then), as
// holder runs it now. A plugin that does not run here on purpose
// (disabled, failed, stopped) stays so.
func (p *Plugin) lose(holder string, within time.Duration) {
	p.mu.Lock()
	switch p.state {
	case StateDisabled, StateFailed, StateStopped:
		p.mu.Unlock()
		return
	case StateElsewhere:
		if p.runsOn != holder {
			p.runsOn = holder
			p.sw.Down(elsewhereMessage(holder), false)
		}
		p.mu.Unlock()
		return
	}
	proc := p.proc
	p.toElsewhereLocked(holder)
	p.mu.Unlock()
	p.log.Info("singleton plugin stops here: another host may run it", "holder", holder)
	p.stopProcessWithin(proc, within)
}

// gain starts the plugin here, in the background: this host took its
// lease. Only a plugin waiting elsewhere starts; one that runs or starts
// already is left alone.
func (p *Plugin) gain() {
	p.mu.Lock()
	if p.state != StateElsewhere || p.ctx.Err() != nil {
		p.mu.Unlock()
		return
	}
	epoch := p.bumpLocked()
	p.failures, p.attempt, p.circuit = nil, 0, circuitClosed
	p.runsOn = ""
	p.sw.Down("starting", true)
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.log.Info("singleton plugin starts here: this host took its lease")
		err := p.launch(p.ctx, epoch)
		switch {
		case err == nil, errors.Is(err, errOvertaken), p.ctx.Err() != nil:
		case errors.Is(err, ErrNotConfigured) && !p.required:
			p.waitForSettings(err.Error())
		default:
			p.refuse("singleton plugin failed to start", err.Error())
		}
	}()
}

// mayLaunchLocked is false for a singleton plugin whose lease this host
// does not hold: it is marked elsewhere instead. p.mu is held.
func (p *Plugin) mayLaunchLocked() bool {
	if !p.singleton() || p.l.leases.Holds(p.name) {
		return true
	}
	p.toElsewhereLocked("")
	return false
}

// startSingleton claims the plugin's lease before its first start: the
// holder starts it, the other hosts mark it elsewhere. A claim that fails
// (the database did not answer) leaves it elsewhere too; the next
// heartbeat's claim starts it if the lease is free.
func (m *Manager) startSingleton(ctx context.Context, p *Plugin) error {
	holder, err := m.deps.Leases.Claim(ctx, p.name)
	if err != nil {
		p.log.Warn("singleton lease not claimed; the next heartbeat tries again", "error", err)
	}
	if err == nil && holder == m.deps.HostID {
		return p.start(ctx)
	}
	p.mu.Lock()
	p.toElsewhereLocked(holder)
	p.mu.Unlock()
	p.log.Info("singleton plugin runs on another host", "holder", holder)
	return nil
}

// Singletons lists the singleton plugins this host would run now: those
// not disabled, stopped, or failed without a further try (package hosts
// releases the leases of the others).
func (m *Manager) Singletons() []string {
	var out []string
	for _, p := range m.Plugins() {
		if !p.singleton() {
			continue
		}
		st := p.Status()
		switch {
		case st.State == StateDisabled, st.State == StateStopped:
		case st.State == StateFailed && st.NextAttempt == nil:
		default:
			out = append(out, p.name)
		}
	}
	return out
}

// Gain starts singleton plugin name here: this host took its lease.
func (m *Manager) Gain(name string) {
	if p, ok := m.Plugin(name); ok && p.singleton() {
		p.gain()
	}
}

// Lose stops singleton plugin name here within the given time (then
// kills it): holder runs it now ("" while no live host holds its lease).
func (m *Manager) Lose(name, holder string, within time.Duration) {
	if p, ok := m.Plugin(name); ok && p.singleton() {
		p.lose(holder, within)
	}
}

// enableSingleton enables a disabled singleton plugin that another host
// runs: it waits elsewhere, and this host starts it if it takes the lease.
func (p *Plugin) enableElsewhere(holder string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != StateDisabled {
		return fmt.Errorf("%w: plugin %q is %s, not disabled", sdk.ErrFailedPrecondition, p.name, p.state)
	}
	p.failures, p.attempt, p.circuit = nil, 0, circuitClosed
	p.notConfigured = ""
	p.toElsewhereLocked(holder)
	p.log.Info("enabled by an operator; another host runs it", "holder", holder)
	return nil
}
