package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// gone reports whether a process has exited (and been reaped or is a zombie).
func gone(pid int) bool {
	raw, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(raw))
	return len(f) > 2 && f[2] == "Z"
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func createPayment(gw payment.Gateway, order string) error {
	_, err := gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
		OrderID: order, Amount: payment.Money{Amount: 1000, Currency: "IDR"}, IdempotencyKey: order,
	})
	return err
}

func TestKilledPluginIsRestartedAndCallsWaitForIt(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "phoenix", Kind: "payment"})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("phoenix")
	gw, err := p.Payment()
	if err != nil {
		t.Fatal(err)
	}
	if err := createPayment(gw, "before"); err != nil {
		t.Fatalf("call before the kill: %v", err)
	}
	first := p.Status().PID

	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sdktest.WaitFor(t, 5*time.Second, "the host noticed the exit", func() bool { return p.Status().PID != first })
	// The same client, made before the crash, works: the call waits for the
	// restart instead of reaching the dead process.
	if err := createPayment(gw, "after"); err != nil {
		t.Fatalf("call right after the kill: %v", err)
	}
	st := p.Status()
	if st.State != StateRunning || st.Restarts != 1 || st.PID == first || st.PID == 0 {
		t.Errorf("after kill -9: state %s, restarts %d, pid %d (was %d); want running, 1 restart, a new pid", st.State, st.Restarts, st.PID, first)
	}
	if !strings.Contains(st.LastError, "exited unexpectedly") || st.RecentFailures != 1 || st.Circuit != "closed" {
		t.Errorf("after kill -9: last_error %q, recent failures %d, circuit %s", st.LastError, st.RecentFailures, st.Circuit)
	}
	if got := f.started(); len(got) != 2 {
		t.Errorf("processes started: %v, want two", got)
	}
}

func TestCrashLoopEndsInFailedWithOpenCircuit(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.Restart = config.RestartConfig{
		InitialBackoff: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, Jitter: 0.2,
		Budget: 3, Window: time.Minute, Cooldown: 400 * time.Millisecond, StableAfter: time.Minute,
	}
	f.cfg.Plugins.CallWait = 300 * time.Millisecond
	f.Add(tp{Name: "looper", Kind: "payment", Behaviour: map[string]any{"exit_after_ms": 100}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("looper")
	sdktest.WaitFor(t, 10*time.Second, "looper is failed", func() bool { return p.State() == StateFailed })
	st := p.Status()
	if st.Circuit != "open" || st.RecentFailures != 3 || st.NextAttempt == nil || st.Restarts != 2 {
		t.Errorf("after the budget: %+v; want circuit open, 3 recent failures, 2 restarts, a next attempt", st)
	}
	if st.Health != "unknown" || st.Message != "" || st.CheckedAt != nil {
		t.Errorf("a failed plugin shows health %q %q checked at %v; want unknown: the last check was of a process that is gone", st.Health, st.Message, st.CheckedAt)
	}
	if !strings.Contains(st.LastError, "restart budget spent (3 failures within 1m0s)") {
		t.Errorf("last_error %q does not explain the open circuit", st.LastError)
	}
	if ok, why := m.Ready(); ok || len(why) != 1 || !strings.Contains(why[0], `required plugin "looper" is failed`) {
		t.Errorf("Ready() = %v %v; a required plugin in a crash loop must make the host not ready", ok, why)
	}
	// With the circuit open, calls fail at once rather than wait.
	gw, _ := p.Payment()
	begin := time.Now()
	if err := createPayment(gw, "x"); !errors.Is(err, sdk.ErrPluginUnavailable) {
		t.Errorf("call to a failed plugin: %v, want ErrPluginUnavailable", err)
	}
	if took := time.Since(begin); took > 200*time.Millisecond {
		t.Errorf("a call to a failed plugin waited %s", took)
	}

	// After the cool-down: one half-open try, which crashes again and opens
	// the circuit again.
	sdktest.WaitFor(t, 5*time.Second, "the half-open try happened", func() bool { return p.Status().Restarts == 3 })
	sdktest.WaitFor(t, 5*time.Second, "the circuit is open again", func() bool {
		st := p.Status()
		return st.State == StateFailed && st.Circuit == "open"
	})
	if n := len(f.started()); n != 4 {
		t.Errorf("%d starts, want 4 (the first, 2 restarts, 1 half-open try)", n)
	}
}

func TestStablePluginGetsItsBudgetBack(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.Restart.StableAfter = 300 * time.Millisecond
	f.cfg.Plugins.Restart.InitialBackoff = 10 * time.Millisecond
	f.Add(tp{Name: "steady"})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("steady")
	pid := p.Status().PID
	syscall.Kill(pid, syscall.SIGKILL)
	sdktest.WaitFor(t, 5*time.Second, "steady restarted", func() bool { st := p.Status(); return st.State == StateRunning && st.PID != pid })
	if n := p.Status().RecentFailures; n != 1 {
		t.Fatalf("recent failures %d right after the restart, want 1", n)
	}
	sdktest.WaitFor(t, 5*time.Second, "the budget is restored", func() bool { return p.Status().RecentFailures == 0 })
}

func TestHungPluginIsKilledAndRestarted(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.HealthInterval = 50 * time.Millisecond
	f.cfg.Plugins.HealthTimeout = 100 * time.Millisecond
	f.cfg.Plugins.HealthFailures = 2
	f.Add(tp{Name: "sleeper", Behaviour: map[string]any{"hang_health_after": 3}})
	f.Add(tp{Name: "tired", Behaviour: map[string]any{"health": "degraded"}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("sleeper")
	first := p.Status().PID
	sdktest.WaitFor(t, 10*time.Second, "sleeper was killed and restarted", func() bool {
		st := p.Status()
		return st.Restarts >= 1 && st.State == StateRunning && st.PID != first
	})
	if st := p.Status(); !strings.Contains(st.LastError, "hung: 2 health checks in a row got no answer within 100ms") {
		t.Errorf("last_error %q does not say it hung", st.LastError)
	}
	if !gone(first) {
		t.Error("the hung process still runs")
	}
	// A plugin that says it is degraded is shown, never restarted.
	tired, _ := m.Plugin("tired")
	if st := tired.Status(); st.Restarts != 0 || st.State != StateRunning || st.Health != "degraded" {
		t.Errorf("tired: %+v; want running, degraded, never restarted", st)
	}
}

func TestStuckRestartIsKilledAndCounts(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.Restart.InitialBackoff = 10 * time.Millisecond
	f.cfg.Plugin["stuck"] = &config.PluginConfig{StartTimeout: 1500 * time.Millisecond}
	f.Add(tp{Name: "stuck", Behaviour: map[string]any{"slow_from_start": 2, "slow_ms": 60000}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("stuck")
	syscall.Kill(p.Status().PID, syscall.SIGKILL)
	sdktest.WaitFor(t, 10*time.Second, "the stuck restart counted as a failure", func() bool { return p.Status().RecentFailures >= 2 })
	st := p.Status()
	if !strings.Contains(st.LastError, "restart failed") || !strings.Contains(st.LastError, "start timeout") {
		t.Errorf("last_error %q; want the stuck restart's timeout", st.LastError)
	}
	if st.State != StateRestarting && st.State != StateStarting {
		t.Errorf("state %s, want restarting again", st.State)
	}
}

// TestStopEndsARestartInItsHandshake: the host stops while a restart waits
// for a plugin that has not answered its handshake. The stop ends that
// launch (the process is killed, not waited out to its start timeout), and
// once Stop returns no process of the plugin runs or starts, so its data
// folder can go. Before, the stop did not wait for a launch under way: the
// process ran on until its start timeout, and a CI run failed removing the
// test's folder while a restart's process wrote in it.
func TestStopEndsARestartInItsHandshake(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.Restart.InitialBackoff = 10 * time.Millisecond
	f.cfg.Plugin["stuck"] = &config.PluginConfig{StartTimeout: time.Minute}
	pidFile := filepath.Join(t.TempDir(), "pid")
	f.Add(tp{Name: "stuck", Behaviour: map[string]any{"slow_from_start": 2, "slow_ms": 120000, "pid_file": pidFile}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("stuck")
	first := p.Status().PID
	syscall.Kill(first, syscall.SIGKILL)
	var second int
	sdktest.WaitFor(t, 20*time.Second, "the restart's process started", func() bool {
		raw, _ := os.ReadFile(pidFile)
		second, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		return second != 0 && second != first
	})
	if st := p.Status(); st.State != StateStarting {
		t.Fatalf("state %s, want starting (the restart waits for the handshake)", st.State)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m.Stop(ctx)
	if ctx.Err() != nil {
		t.Fatal("Stop took the whole of its deadline")
	}
	if !gone(second) {
		t.Errorf("the restart's process %d still runs after Stop returned", second)
	}
	if st := p.Status(); st.State != StateStopped {
		t.Errorf("state %s after Stop, want stopped", st.State)
	}
	if got := f.started(); len(got) != 2 {
		t.Errorf("the plugin started %d times, want 2 (none after the stop)", len(got))
	}
}

func TestCallWaitIsBounded(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.Restart.InitialBackoff = 10 * time.Millisecond
	f.cfg.Plugin["slowpoke"] = &config.PluginConfig{CallWait: 300 * time.Millisecond, StartTimeout: 5 * time.Second}
	f.Add(tp{Name: "slowpoke", Kind: "payment", Behaviour: map[string]any{"slow_from_start": 2, "slow_ms": 1500}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("slowpoke")
	gw, _ := p.Payment()
	pid := p.Status().PID
	syscall.Kill(pid, syscall.SIGKILL)
	sdktest.WaitFor(t, 5*time.Second, "the host noticed the exit", func() bool { return p.Status().PID != pid })
	begin := time.Now()
	err = createPayment(gw, "impatient")
	took := time.Since(begin)
	if !errors.Is(err, sdk.ErrPluginUnavailable) || !strings.Contains(err.Error(), "did not come back within 300ms") {
		t.Errorf("call during a slow restart: %v; want ErrPluginUnavailable after the call wait", err)
	}
	if took < 250*time.Millisecond || took > 1200*time.Millisecond {
		t.Errorf("the call waited %s; call_wait is 300ms", took)
	}
	sdktest.WaitFor(t, 10*time.Second, "slowpoke is back", func() bool { st := p.Status(); return st.State == StateRunning && st.PID != pid })
	if err := createPayment(gw, "patient"); err != nil {
		t.Errorf("call after the restart: %v", err)
	}
}

func TestOperatorActions(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "worker", Kind: "payment"})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("worker")
	gw, _ := p.Payment()
	first := p.Status().PID

	if err := m.Restart("worker"); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	st := p.Status()
	if st.State != StateRunning || st.PID == first || st.Restarts != 1 || !gone(first) {
		t.Errorf("after Restart: %+v (old pid %d)", st, first)
	}
	if got := f.Logged("stop"); len(got) != 1 || got[0] != "worker" {
		t.Errorf("the restart did not stop the old process gracefully (its Shutdown ran %v)", got)
	}
	if err := m.Disable("worker"); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if st := p.Status(); st.State != StateDisabled || st.PID != 0 {
		t.Errorf("after Disable: %+v", st)
	}
	if err := createPayment(gw, "nope"); !errors.Is(err, sdk.ErrPluginUnavailable) || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("call to a disabled plugin: %v", err)
	}
	if err := m.Restart("worker"); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("Restart of a disabled plugin: %v, want ErrFailedPrecondition", err)
	}
	if err := m.Enable("worker"); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	if err := createPayment(gw, "again"); err != nil {
		t.Errorf("call after Enable: %v", err)
	}
	if err := m.Enable("worker"); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("Enable of a running plugin: %v", err)
	}
	if err := m.Restart("ghost"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Restart of an unknown plugin: %v", err)
	}
}

func TestPluginSeesNoHostSecrets(t *testing.T) {
	t.Setenv("JWT_SECRET", "the-host-secret")
	t.Setenv("DB_PASSWORD", "hunter2")
	t.Setenv("TZ", "Asia/Jakarta")
	f := newFixture(t)
	envFile := f.Dir + "/../env.txt"
	f.Add(tp{Name: "nosy", Behaviour: map[string]any{"env_file": envFile}})
	if _, err := f.start(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	var env, names []string
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	allowed := map[string]bool{
		"PATH": true, "HOME": true, "TZ": true, "MIKROBILL_PLUGIN_DATA_DIR": true, "MIKROBILL_PLUGIN_LOG_LEVEL": true,
		"MIKROBILL_PLUGIN_MAGIC_COOKIE": true, "PLUGIN_MIN_PORT": true, "PLUGIN_MAX_PORT": true,
		"PLUGIN_PROTOCOL_VERSIONS": true, "PLUGIN_UNIX_SOCKET_DIR": true, "PLUGIN_CLIENT_CERT": true,
		"MIKROBILL_PLUGIN_TLS_FD": true,
	}
	for _, n := range names {
		if !allowed[n] {
			t.Errorf("the plugin sees %s", n)
		}
	}
	for _, secret := range []string{"the-host-secret", "hunter2", "PRIVATE KEY"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the plugin's environment contains %q", secret)
		}
	}
	if !slices.Contains(env, "TZ=Asia/Jakarta") || !slices.Contains(names, "MIKROBILL_PLUGIN_DATA_DIR") {
		t.Errorf("the plugin's environment lacks TZ or its data dir:\n%s", raw)
	}
}

func TestStopDrainsCallsInFlight(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "busy", Kind: "payment", Behaviour: map[string]any{"call_delay_ms": 400}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("busy")
	gw, _ := p.Payment()
	result := make(chan error, 1)
	go func() { result <- createPayment(gw, "in-flight") }()
	time.Sleep(100 * time.Millisecond) // the call is in the plugin now
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.Stop(ctx)
	if err := <-result; err != nil {
		t.Errorf("the call in flight during the stop failed: %v", err)
	}
	if took := time.Since(begin); took < 200*time.Millisecond {
		t.Errorf("Stop returned after %s, before the call in flight could finish", took)
	}
	if st := p.Status(); st.State != StateStopped {
		t.Errorf("state after Stop: %s", st.State)
	}
	if err := createPayment(gw, "after"); !errors.Is(err, sdk.ErrPluginUnavailable) {
		t.Errorf("a call after Stop: %v, want ErrPluginUnavailable", err)
	}
}

// A plugin the configuration disables is not in the launch order; an
// operator who enables it gets a process that Stop must stop too.
func TestStopStopsAPluginEnabledByAnOperator(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "base", Kind: "payment"})
	f.Add(tp{Name: "extra", Kind: "payment"})
	f.cfg.Plugin = map[string]*config.PluginConfig{"extra": {Disabled: true}}
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Enable("extra"); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	p, _ := m.Plugin("extra")
	pid := p.Status().PID
	if pid == 0 {
		t.Fatalf("extra after Enable: %+v", p.Status())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m.Stop(ctx)
	if st := p.Status(); st.State != StateStopped || !gone(pid) {
		t.Errorf("after Stop: extra is %s and its process %d is gone: %v; want stopped and gone", st.State, pid, gone(pid))
	}
	if got := f.Logged("stop"); !slices.Contains(got, "extra") {
		t.Errorf("Stop did not stop extra gracefully (Shutdown ran for %v)", got)
	}
}

// TestUnansweredChecksAtOnceKillOnce: checks in flight together that all go
// unanswered kill the process once, and its last error keeps the count the
// kill was decided at (a check that ended after the kill counted a third).
func TestUnansweredChecksAtOnceKillOnce(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.HealthInterval = time.Hour // only the checks below
	f.cfg.Plugins.HealthTimeout = 200 * time.Millisecond
	f.cfg.Plugins.HealthFailures = 2
	f.cfg.Plugins.Restart.InitialBackoff = 10 * time.Millisecond
	f.Add(tp{Name: "sleeper", Behaviour: map[string]any{"hang_health_after": 1}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Plugin("sleeper")
	first := p.Status().PID
	m.CheckHealth() // the first that goes unanswered
	if st := p.Status(); st.State != StateUnhealthy {
		t.Fatalf("after one unanswered check: %+v; want unhealthy", st)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(m.CheckHealth)
	}
	wg.Wait()
	sdktest.WaitFor(t, 10*time.Second, "sleeper was killed and restarted", func() bool {
		st := p.Status()
		return st.Restarts >= 1 && st.State == StateRunning && st.PID != first
	})
	if st := p.Status(); !strings.Contains(st.LastError, "hung: 2 health checks in a row") {
		t.Errorf("last_error %q; want the count the kill was decided at (2)", st.LastError)
	}
	if n := strings.Count(f.logs.String(), "plugin hung; killing it"); n != 1 {
		t.Errorf("the hung process was killed %d times, want once", n)
	}
}
