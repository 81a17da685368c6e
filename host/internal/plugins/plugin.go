package plugins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// State is where a plugin stands.
type State string

// Plugin states.
const (
	// StateStarting: being launched.
	StateStarting State = "starting"
	// StateRunning: launched, configured, answering.
	StateRunning State = "running"
	// StateUnhealthy: running but failing health checks.
	StateUnhealthy State = "unhealthy"
	// StateRestarting: waiting to be launched again (see Status.NextAttempt).
	StateRestarting State = "restarting"
	// StateFailed: not running and not coming back without an operator
	// (refused, failed to start, or out of restarts); LastError says why.
	StateFailed State = "failed"
	// StateStopped: stopped by the host's shutdown.
	StateStopped State = "stopped"
	// StateDisabled: not loaded on purpose (configuration, environment, or
	// an operator's action).
	StateDisabled State = "disabled"
	// StateElsewhere: a singleton plugin that another host runs (its lease
	// is that host's; Status.RunsOn names it, "" while no live host holds
	// it). This host starts it when it takes the lease. Not a failure: it
	// does not count against /ready.
	StateElsewhere State = "elsewhere"
)

// States lists every state, for metrics.
var States = []State{StateStarting, StateRunning, StateUnhealthy, StateRestarting, StateFailed, StateStopped, StateDisabled, StateElsewhere}

// Up reports whether a plugin in this state has a process that answers
// calls: running, or running but unhealthy.
func (s State) Up() bool { return s == StateRunning || s == StateUnhealthy }

// Restartable says whether an operator's restart may be asked of a plugin
// in this state (restart refuses a disabled plugin and one that runs on
// another host), for showing the button only where it works.
func (s State) Restartable() bool { return s != StateDisabled && s != StateElsewhere }

// Status is what the host reports of one plugin (/health/plugins, the CLI).
type Status struct {
	Name         string         `json:"name"`
	Version      string         `json:"version"`
	Kind         string         `json:"kind"`
	State        State          `json:"state"`
	Health       string         `json:"health"`
	Message      string         `json:"message"`
	Details      map[string]any `json:"details,omitempty"`
	Required     bool           `json:"required"`
	Restarts     int            `json:"restarts"`
	PID          int            `json:"pid"`
	LoadMS       int64          `json:"load_ms"`
	LastError    string         `json:"last_error"`
	Capabilities []string       `json:"capabilities,omitempty"`
	Dir          string         `json:"dir"`
	CheckedAt    *time.Time     `json:"checked_at,omitempty"`
	// NextAttempt is when the supervisor will start the plugin again: while
	// restarting, and while failed with an open circuit (the half-open try).
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	// Circuit is "closed" (restarts allowed), "open" (restart budget
	// exhausted; waiting for the cool-down) or "half-open" (on trial after
	// the cool-down).
	Circuit string `json:"circuit"`
	// RecentFailures counts the failures within the restart window.
	RecentFailures int `json:"recent_failures"`
	// Since is when the plugin entered its current state.
	Since time.Time `json:"since"`
	// Error is what is wrong now: why the plugin is unhealthy, restarting
	// or failed. It clears when the plugin runs again; LastError keeps the
	// latest error as history, with its time in LastErrorAt.
	Error       string     `json:"error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// NotConfigured: an optional plugin waits for its settings (state
	// disabled; Message says what is missing). Saving its settings starts
	// it. It does not make the host degraded.
	NotConfigured bool `json:"not_configured,omitempty"`
	// Switch is the plugin's last upgrade or rollback on this host: from
	// and to which version, and how it went (a switch back says why).
	Switch *Switchover `json:"switch,omitempty"`
	// Singleton: the manifest says the plugin runs on one host at a time.
	Singleton bool `json:"singleton,omitempty"`
	// RunsOn is, for a singleton plugin, the host that runs it: this
	// host's id while it runs or starts here, another's while the state is
	// elsewhere ("" while no live host holds its lease).
	RunsOn string `json:"runs_on,omitempty"`
}

// Circuit states.
const (
	circuitClosed   = "closed"
	circuitOpen     = "open"
	circuitHalfOpen = "half-open"
)

// Health values in Status.Health besides the sdk.HealthStatus ones.
const healthUnknown = "unknown"

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

// Manifest returns the plugin's manifest (nil when it could not be read).
func (p *Plugin) Manifest() *manifest.Manifest { return p.manifest.Load() }

// Kind returns the manifest's kind ("" when unknown).
func (p *Plugin) Kind() string {
	man := p.Manifest()
	if man == nil {
		return ""
	}
	return man.Kind
}

// Required reports whether the host needs this plugin to be ready.
func (p *Plugin) Required() bool { return p.required }

// State returns the current state.
func (p *Plugin) State() State {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state
}

// Changed returns a channel closed at the next state change.
func (p *Plugin) Changed() <-chan struct{} {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.changed
}

// Status returns a snapshot for reporting.
func (p *Plugin) Status() Status {
	p.mu.RLock()
	defer p.mu.RUnlock()
	st := Status{
		Name: p.name, State: p.state, Required: p.required, Restarts: p.restarts,
		Error: p.curErr, LastError: p.lastErr, LoadMS: p.loadTime.Milliseconds(), Dir: p.dir, Health: healthUnknown,
		Circuit: p.circuit, RecentFailures: len(p.failures), Since: p.since,
	}
	if !p.lastErrAt.IsZero() {
		t := p.lastErrAt
		st.LastErrorAt = &t
	}
	if man := p.Manifest(); man != nil {
		st.Version, st.Kind, st.Singleton = man.Version, man.Kind, man.Singleton
	}
	if st.Singleton {
		st.RunsOn = p.runsOnLocked()
	}
	if p.desc != nil {
		st.Capabilities = p.desc.Capabilities
	}
	if p.proc != nil && p.state.Up() {
		st.PID = p.proc.Pid()
	}
	// The last health check describes a process that runs; a plugin that
	// is starting, restarting, failed or disabled has no health to show.
	if p.health != nil && p.state.Up() {
		st.Health, st.Message, st.Details = string(p.health.Status), p.health.Message, p.health.Details
		t := p.checkedAt
		st.CheckedAt = &t
	}
	if next := p.nextAttemptLocked(); !next.IsZero() {
		st.NextAttempt = &next
	}
	if p.notConfigured != "" && p.state == StateDisabled {
		st.NotConfigured, st.Message = true, p.notConfigured
	}
	if p.switchover != nil {
		sw := *p.switchover
		st.Switch = &sw
	}
	return st
}

// NotConfigured reports whether the plugin waits for its settings.
func (p *Plugin) NotConfigured() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.notConfigured != "" && p.state == StateDisabled
}

// nextAttemptLocked is when the supervisor starts the plugin next: while
// it restarts, or is failed with an open circuit (the half-open try). Zero
// when no attempt is scheduled. p.mu is held.
func (p *Plugin) nextAttemptLocked() time.Time {
	if p.state != StateRestarting && p.state != StateFailed {
		return time.Time{}
	}
	return p.next
}

// Healthy reports whether the plugin is running and its last health check
// said ok or degraded.
func (p *Plugin) Healthy() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.healthyLocked()
}

func (p *Plugin) healthyLocked() bool {
	return p.state == StateRunning && p.health != nil && p.health.Status != sdk.HealthError
}

// process returns the running process, if any.
func (p *Plugin) process() *client.Process {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.state.Up() {
		return nil
	}
	return p.proc
}

// Base returns the base client. It works across restarts: every call goes to
// the process running at that moment, waits while the plugin restarts, and
// fails with sdk.ErrPluginUnavailable (as an *UnavailableError) when it does
// not come back in time.
func (p *Plugin) Base() client.Plugin {
	return client.NewPlugin(supervisedConn{p}, p.sw.HostBroker)
}

func (p *Plugin) kindClient(kind string) (any, error) {
	if p.Kind() != kind {
		return nil, fmt.Errorf("plugin %q is a %s plugin, not %s", p.name, p.Kind(), kind)
	}
	return client.NewKind(kind, supervisedConn{p}, p.sw.HostBroker)
}

// UnavailableError is a call refused because the plugin is not running. It
// wraps the refusal, which wraps sdk.ErrPluginUnavailable, and says when
// the supervisor starts the plugin next, so an HTTP answer can tell the
// client when to try again (Retry-After).
type UnavailableError struct {
	// Err is the refusal.
	Err error
	// RetryAt is the supervisor's next attempt to start the plugin: after
	// a backoff, or at the end of an open circuit's cool-down. Zero when no
	// attempt is scheduled (the plugin is starting now, or waits for an
	// operator).
	RetryAt time.Time
}

func (e *UnavailableError) Error() string {
	if e.RetryAt.IsZero() {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v; the next attempt to start it is at %s", e.Err, e.RetryAt.UTC().Format(time.RFC3339))
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// supervisedConn is the plugin's switch, whose refusals it completes with
// the supervisor's next attempt (UnavailableError). It sits below the SDK's
// client adapters, which pass errors that are not gRPC statuses through as
// they are.
type supervisedConn struct{ p *Plugin }

func (c supervisedConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return c.p.unavailable(c.p.sw.Invoke(ctx, method, args, reply, opts...))
}

func (c supervisedConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := c.p.sw.NewStream(ctx, desc, method, opts...)
	return cs, c.p.unavailable(err)
}

// unavailable adds the next attempt to the switch's refusal of a call, or,
// for a singleton plugin another host runs, names that host.
func (p *Plugin) unavailable(err error) error {
	if err == nil || !errors.Is(err, sdk.ErrPluginUnavailable) {
		return err
	}
	p.mu.RLock()
	next := p.nextAttemptLocked()
	elsewhere, host := p.state == StateElsewhere, p.runsOn
	p.mu.RUnlock()
	if elsewhere {
		return &ElsewhereError{Plugin: p.name, Host: host, Err: err}
	}
	return &UnavailableError{Err: err, RetryAt: next}
}

// Payment returns the payment client of a payment plugin.
func (p *Plugin) Payment() (payment.Gateway, error) {
	c, err := p.kindClient(sdk.KindPayment)
	if err != nil {
		return nil, err
	}
	return c.(payment.Gateway), nil
}

// Router returns the router client of a router plugin.
func (p *Plugin) Router() (router.Router, error) {
	c, err := p.kindClient(sdk.KindRouter)
	if err != nil {
		return nil, err
	}
	return c.(router.Router), nil
}

// Notifier returns the notification client of a notify plugin.
func (p *Plugin) Notifier() (notify.Notifier, error) {
	c, err := p.kindClient(sdk.KindNotify)
	if err != nil {
		return nil, err
	}
	return c.(notify.Notifier), nil
}

// Audit returns the audit client of an audit plugin.
func (p *Plugin) Audit() (audit.Sink, error) {
	c, err := p.kindClient(sdk.KindAudit)
	if err != nil {
		return nil, err
	}
	return c.(audit.Sink), nil
}
