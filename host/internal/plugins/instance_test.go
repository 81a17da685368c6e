package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/sdk"
)

// errNoSettings makes every launch of a unit-test instance fail before a
// process starts.
var errNoSettings = errors.New("no settings in this test")

// newInstance is an instance of plugin "unit" whose launches fail at once
// (its settings cannot be read), for the instance's state changes without
// a process; it is stopped when the test ends.
func newInstance(t *testing.T, restart config.RestartConfig) *Plugin {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.Plugins.Restart = restart
	l := &launcher{
		cfg: cfg, hostLog: hclog.NewNullLogger(), log: hclog.NewNullLogger(), metrics: metrics.New(),
		settings: func(context.Context, *manifest.Manifest) (json.RawMessage, error) { return nil, errNoSettings },
	}
	man := &manifest.Manifest{Name: "unit", Version: "1.0.0", Kind: sdk.KindGeneric, Dir: t.TempDir()}
	p := newPlugin(context.Background(), l, Found{Name: "unit", Dir: man.Dir, Manifest: man}, true)
	t.Cleanup(func() { p.stop(context.Background(), "the test ended") })
	return p
}

// call is a call to the instance's base client, which its switch answers.
func call(p *Plugin) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.Base().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	return err
}

// stateGauge reads the instance's state metric for s.
func stateGauge(p *Plugin, s State) float64 {
	return testutil.ToFloat64(p.l.metrics.PluginState.WithLabelValues(p.name, string(s)))
}

func TestStateUp(t *testing.T) {
	for _, s := range States {
		if want := s == StateRunning || s == StateUnhealthy; s.Up() != want {
			t.Errorf("%s.Up() = %v, want %v", s, s.Up(), want)
		}
	}
}

// The instance's own state changes, without a process: what its status,
// its switch and its metrics say after each.
func TestInstanceStateChanges(t *testing.T) {
	p := newInstance(t, config.DefaultConfig().Plugins.Restart)
	if st := p.Status(); st.State != StateStarting || st.Error != "" || st.Circuit != circuitClosed {
		t.Fatalf("new instance: %+v", st)
	}

	if err := p.launch(context.Background(), p.bump()+1); !errors.Is(err, errOvertaken) {
		t.Errorf("a launch decided in another epoch: %v, want errOvertaken", err)
	}

	p.disable("disabled in the configuration")
	if st := p.Status(); st.State != StateDisabled || st.Error != "" || st.LastError != "disabled in the configuration" {
		t.Errorf("after disable: %+v", st)
	}
	if err := call(p); !errors.Is(err, sdk.ErrPluginUnavailable) || !strings.Contains(err.Error(), `plugin "unit" is disabled in the configuration`) {
		t.Errorf("a call to a disabled plugin: %v", err)
	}
	if stateGauge(p, StateDisabled) != 1 || stateGauge(p, StateStarting) != 0 || testutil.ToFloat64(p.l.metrics.PluginUp.WithLabelValues("unit")) != 0 {
		t.Errorf("metrics after disable: disabled %v, starting %v", stateGauge(p, StateDisabled), stateGauge(p, StateStarting))
	}
	if err := p.restart(); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("restart of a disabled plugin: %v, want ErrFailedPrecondition", err)
	}

	// enable launches; this launch fails, so the plugin is failed.
	err := p.enable()
	if !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), errNoSettings.Error()) {
		t.Errorf("enable whose launch fails: %v", err)
	}
	st := p.Status()
	if st.State != StateFailed || st.Error != "start failed: "+errNoSettings.Error() || st.LastError != st.Error || st.NextAttempt != nil {
		t.Errorf("after a failed enable: %+v", st)
	}
	var ue *UnavailableError
	if err := call(p); !errors.As(err, &ue) || !ue.RetryAt.IsZero() || !strings.Contains(err.Error(), "failed: start failed") {
		t.Errorf("a call to a failed plugin: %v, want an UnavailableError without a next attempt", err)
	}
	if err := p.enable(); !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), "is failed, not disabled") {
		t.Errorf("enable of a failed plugin: %v", err)
	}

	// restart starts afresh; its launch fails too.
	if err := p.restart(); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("restart whose launch fails: %v", err)
	}
	if st := p.Status(); st.State != StateFailed || st.Restarts != 1 || !strings.HasPrefix(st.Error, "restart failed: ") {
		t.Errorf("after a failed restart: %+v", st)
	}
	if v := testutil.ToFloat64(p.l.metrics.PluginRestarts.WithLabelValues("unit")); v != 1 {
		t.Errorf("restarts counter %v, want 1", v)
	}

	// stop leaves a failed plugin failed, and ends its context.
	p.stop(context.Background(), "the test is done")
	if st := p.Status(); st.State != StateFailed || p.ctx.Err() == nil {
		t.Errorf("after stop: %s, context %v; want failed, ended", st.State, p.ctx.Err())
	}
}

// A plugin that never ran ends stopped, and its switch says why.
func TestInstanceStopBeforeItRan(t *testing.T) {
	p := newInstance(t, config.DefaultConfig().Plugins.Restart)
	p.stop(context.Background(), "the test stops it")
	if st := p.Status(); st.State != StateStopped || st.Error != "" {
		t.Errorf("after stop: %+v", st)
	}
	if err := call(p); !errors.Is(err, sdk.ErrPluginUnavailable) || !strings.Contains(err.Error(), "stopped: the test stops it") {
		t.Errorf("a call after stop: %v", err)
	}
	if err := p.launch(context.Background(), p.bump()); !errors.Is(err, errOvertaken) || p.State() != StateStopped {
		t.Errorf("a launch after stop: %v, state %s; want errOvertaken, still stopped", err, p.State())
	}
}

// A failure restarts the plugin at once; a restart that fails counts too;
// with the budget spent the circuit opens until the cool-down, and a
// stopped instance never tries again.
func TestInstanceFailureOpensTheCircuit(t *testing.T) {
	p := newInstance(t, config.RestartConfig{
		InitialBackoff: time.Hour, MaxBackoff: time.Hour, Budget: 2, Window: time.Hour, Cooldown: time.Hour, StableAfter: time.Hour,
	})
	p.mu.Lock()
	var changed <-chan struct{} = p.changed
	p.failureLocked("the plugin process exited unexpectedly")
	st := p.state
	p.mu.Unlock()
	if st != StateRestarting {
		t.Fatalf("after a failure: %s, want restarting", st)
	}
	// The first restart is at once (no backoff); it fails, which spends
	// the budget of 2.
	deadline := time.After(30 * time.Second)
	for p.State() != StateFailed {
		select {
		case <-changed:
			changed = p.Changed()
		case <-deadline:
			t.Fatalf("the failed restart did not open the circuit: %+v", p.Status())
		}
	}
	s := p.Status()
	if s.Circuit != circuitOpen || s.RecentFailures != 2 || s.Restarts != 1 || s.NextAttempt == nil ||
		!strings.Contains(s.Error, "restart failed: "+errNoSettings.Error()) || !strings.Contains(s.Error, "restart budget spent (2 failures within 1h0m0s)") {
		t.Fatalf("after the budget is spent: %+v", s)
	}
	if until := time.Until(*s.NextAttempt); until < 50*time.Minute || until > time.Hour {
		t.Errorf("next attempt in %s, want the cool-down (1h)", until)
	}
	var ue *UnavailableError
	if err := call(p); !errors.As(err, &ue) || !ue.RetryAt.Equal(*s.NextAttempt) {
		t.Errorf("a call while the circuit is open: %v, want RetryAt %s", err, s.NextAttempt)
	}

	p.stop(context.Background(), "the test is done")
	p.mu.Lock()
	pending, epoch := p.timer, p.epoch
	p.mu.Unlock()
	if pending != nil {
		t.Error("stop left the half-open try scheduled")
	}
	p.retry(epoch, true) // as the cool-down's timer would
	if s := p.Status(); s.Restarts != 1 || s.State != StateFailed || s.Circuit != circuitOpen {
		t.Errorf("a stopped instance tried again: %+v", s)
	}
}
