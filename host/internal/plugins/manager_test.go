package plugins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

func TestLaunchOrderFollowsDependencies(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "pc", Deps: []any{"pb"}})
	f.Add(tp{Name: "pb", Deps: []any{map[string]any{"name": "pa", "version": ">=1.0.0"}, "database"}})
	f.Add(tp{Name: "pa"})
	f.Add(tp{Name: "pz", Priority: 10})
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for _, name := range []string{"pa", "pb", "pc", "pz"} {
		if st := status(t, m, name); st.State != StateRunning || st.PID == 0 || st.Health != "ok" {
			t.Errorf("%s: state %s, pid %d, health %s; want running with a pid and health ok (last error: %s)", name, st.State, st.PID, st.Health, st.LastError)
		}
	}
	got := f.started()
	pos := func(n string) int { return slices.Index(got, n) }
	if !(pos("pa") < pos("pb") && pos("pb") < pos("pc")) || pos("pz") < 0 {
		t.Errorf("processes started in order %v; want pa before pb before pc, and pz", got)
	}
	// Launch order: level 0 by priority (pz 10 before pa 100), then pb, then pc.
	var names []string
	for _, p := range m.Plugins() {
		names = append(names, p.Name())
	}
	if want := []string{"pz", "pa", "pb", "pc"}; !slices.Equal(names, want) {
		t.Errorf("plugins in launch order %v, want %v", names, want)
	}
	if ok, why := m.Ready(); !ok {
		t.Errorf("Ready() = false: %v", why)
	}
}

func TestDescribeMismatchRefused(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "liar", Mode: "mismatch", Behaviour: map[string]any{"describe_version": "9.9.9"}})
	m, err := f.start()
	var se *StartError
	if !errors.As(err, &se) || !strings.Contains(se.Failed["liar"], "Describe and") {
		t.Fatalf("Start error = %v; want a StartError for liar saying its Describe and plugin.json disagree", err)
	}
	st := status(t, m, "liar")
	// The message is client.Manifest.CheckDescribe's (sdk/client tests it).
	for _, want := range []string{`version: Describe says "9.9.9", but plugin.json says "1.0.0"`, "liar/plugin.json disagree", "rebuild the plugin or correct plugin.json"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("last_error %q does not contain %q", st.LastError, want)
		}
	}
	if st.State != StateFailed {
		t.Errorf("state %s, want failed", st.State)
	}
}

func TestTamperedExecutableRefusedBeforeItRuns(t *testing.T) {
	f := newFixture(t)
	dir := f.Add(tp{Name: "tampered", Required: boolPtr(false)})
	f.Add(tp{Name: "honest"})
	// Change the executable after it was locked.
	exe := filepath.Join(dir, "mikrobill-plugin-tampered")
	fh, err := os.OpenFile(exe, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write([]byte("evil"))
	fh.Close()

	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v (an optional refused plugin must not stop the host)", err)
	}
	st := status(t, m, "tampered")
	if st.State != StateFailed || !strings.Contains(st.LastError, "changed since it was locked: modified mikrobill-plugin-tampered (content)") || !strings.Contains(st.LastError, "mikrobill plugin lock tampered") {
		t.Errorf("tampered: state %s, last_error %q; want failed, naming the changed file and the command to run", st.State, st.LastError)
	}
	if slices.Contains(f.started(), "tampered") {
		t.Error("the tampered executable was executed")
	}
	if !slices.Contains(f.started(), "honest") {
		t.Error("the honest plugin did not start")
	}
}

func TestPluginMissingFromLockIsRefused(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "unlocked", NoLock: true})
	m, err := f.start()
	var se *StartError
	if !errors.As(err, &se) {
		t.Fatalf("Start error = %v, want a StartError", err)
	}
	st := status(t, m, "unlocked")
	if !strings.Contains(st.LastError, "not in plugins.lock") || !strings.Contains(st.LastError, "mikrobill plugin lock unlocked") {
		t.Errorf("last_error %q; want it to say the plugin is not locked and what to run", st.LastError)
	}
	if len(f.started()) != 0 {
		t.Errorf("unlocked plugin was executed: %v", f.started())
	}
}

func TestRequiredPluginFailureNamesPluginAndCause(t *testing.T) {
	tests := []struct {
		name  string
		p     tp
		cause []string
	}{
		{"crash at start", tp{Name: "crasher", Mode: "crash"}, []string{"exited (exit status 3) before the handshake", "panic: boom at start"}},
		{"stdout before serving", tp{Name: "chatty", Mode: "stdout"}, []string{"printed", "hello from a chatty plugin", "write nothing to stdout"}},
		{"bad handshake", tp{Name: "alien", Mode: "badhandshake"}, []string{"incompatible API version", "99"}},
		{"slow start", tp{Name: "sloth", Mode: "slow", Behaviour: map[string]any{"slow_ms": 20000}}, []string{"within the start timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.Plugins.StartTimeout = 2 * time.Second
			f.Add(tt.p)
			begin := time.Now()
			m, err := f.start()
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("Start error = %v, want a StartError", err)
			}
			msg := se.Error()
			for _, want := range append([]string{tt.p.Name}, tt.cause...) {
				if !strings.Contains(msg, want) {
					t.Errorf("StartError %q does not contain %q", msg, want)
				}
			}
			if st := status(t, m, tt.p.Name); st.State != StateFailed || st.PID != 0 {
				t.Errorf("state %s pid %d, want failed with no pid", st.State, st.PID)
			}
			if time.Since(begin) > 8*time.Second {
				t.Errorf("a failing start took %s; the start timeout is 2s", time.Since(begin))
			}
		})
	}
}

func TestOptionalFailureLeavesHostDegraded(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "core"})
	f.Add(tp{Name: "extra", Mode: "crash", Required: boolPtr(false)})
	f.Add(tp{Name: "leaning", Deps: []any{"extra"}, Required: boolPtr(false)})
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v; optional failures must not stop the host", err)
	}
	if ok, why := m.Ready(); !ok {
		t.Errorf("Ready() = false (%v); an optional failure must leave the host ready", why)
	}
	if st := status(t, m, "extra"); st.State != StateFailed || st.Required {
		t.Errorf("extra: %+v; want failed, optional", st)
	}
	st := status(t, m, "leaning")
	if st.State != StateFailed || !strings.Contains(st.LastError, `dependency "extra" did not start`) {
		t.Errorf("leaning: state %s, last_error %q; want failed because extra did not start", st.State, st.LastError)
	}
}

func TestDependencyCycleNamesItsMembers(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "alpha", Deps: []any{"beta"}})
	f.Add(tp{Name: "beta", Deps: []any{"gamma"}})
	f.Add(tp{Name: "gamma", Deps: []any{"alpha"}})
	m, err := f.start()
	var se *StartError
	if !errors.As(err, &se) {
		t.Fatalf("Start error = %v, want a StartError", err)
	}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		st := status(t, m, name)
		if !strings.Contains(st.LastError, "dependency cycle: alpha -> beta -> gamma -> alpha") {
			t.Errorf("%s: last_error %q; want the cycle with its members", name, st.LastError)
		}
	}
	if len(f.started()) != 0 {
		t.Errorf("plugins in a cycle were executed: %v", f.started())
	}
	if !strings.Contains(se.Error(), "dependency cycle: alpha -> beta -> gamma -> alpha") {
		t.Errorf("StartError %q does not name the cycle", se.Error())
	}
}

func TestEnvironmentFilter(t *testing.T) {
	f := newFixture(t)
	f.cfg.Environment = "production"
	f.Add(tp{Name: "devtools", Env: "development"})
	f.Add(tp{Name: "everywhere"})
	f.Add(tp{Name: "prodonly", Env: []string{"staging", "production"}})
	f.Add(tp{Name: "needsdev", Deps: []any{"devtools"}, Required: boolPtr(false)})
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := status(t, m, "devtools"); st.State != StateDisabled || !strings.Contains(st.LastError, "not loaded in environment production") {
		t.Errorf("devtools: state %s, last_error %q; want disabled for this environment", st.State, st.LastError)
	}
	for _, n := range []string{"everywhere", "prodonly"} {
		if st := status(t, m, n); st.State != StateRunning {
			t.Errorf("%s: state %s, want running", n, st.State)
		}
	}
	if st := status(t, m, "needsdev"); st.State != StateFailed || !strings.Contains(st.LastError, "will not load: not loaded in environment production") {
		t.Errorf("needsdev: state %s, last_error %q", st.State, st.LastError)
	}
	if slices.Contains(f.started(), "devtools") {
		t.Error("a development plugin ran in production")
	}
}

func TestHealthStatesAndReadiness(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "tired", Behaviour: map[string]any{"health": "degraded"}})
	f.Add(tp{Name: "sick", Behaviour: map[string]any{"health": "error"}, Required: boolPtr(false)})
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := status(t, m, "tired"); st.State != StateRunning || st.Health != "degraded" || st.Message != "half of it works" {
		t.Errorf("tired: %+v; want running and degraded", st)
	}
	if ok, why := m.Ready(); !ok {
		t.Errorf("a degraded required plugin and a sick optional one must leave the host ready: %v", why)
	}
	f2 := newFixture(t)
	f2.Add(tp{Name: "sick", Behaviour: map[string]any{"health": "error"}})
	m2, err := f2.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if ok, why := m2.Ready(); ok || len(why) != 1 || !strings.Contains(why[0], `required plugin "sick" is unhealthy: nothing works`) {
		t.Errorf("Ready() = %v, %v; want not ready because sick is unhealthy", ok, why)
	}
}

func TestPaymentManualRunsAndAnswers(t *testing.T) {
	f := newFixture(t)
	f.AddBundled("payment-manual")
	f.store = storetest.SQLite(t) // its payments live in the durable plugin store
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p, _ := m.Plugin("payment-manual")
	st := p.Status()
	if st.State != StateRunning || st.Kind != "payment" || !slices.Contains(st.Capabilities, "refund") {
		t.Fatalf("payment-manual: %+v", st)
	}
	info, err := os.Stat(f.cfg.PluginDataDir("payment-manual"))
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("plugin data dir: %v, mode %v; want 0700", err, info.Mode().Perm())
	}
}

func TestSettingsValidatedAgainstSchemaBeforeConfigure(t *testing.T) {
	f := newFixture(t)
	f.AddBundled("payment-manual")
	f.cfg.Plugin["payment-manual"] = &config.PluginConfig{Settings: []byte(`{"expiry_hours": 0, "colour": "blue"}`)}
	m, err := f.start()
	var se *StartError
	if !errors.As(err, &se) {
		t.Fatalf("Start error = %v, want a StartError", err)
	}
	st := status(t, m, "payment-manual")
	for _, want := range []string{"do not match its config_schema", "/expiry_hours", "colour"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("last_error %q does not contain %q", st.LastError, want)
		}
	}

	// Valid settings reach the plugin's Configure.
	f2 := newFixture(t)
	f2.AddBundled("payment-manual")
	f2.store = storetest.SQLite(t)
	f2.cfg.Plugin["payment-manual"] = &config.PluginConfig{Settings: []byte(`{"expiry_hours": 2, "currencies": ["IDR", "USD"]}`)}
	m2, err := f2.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p, _ := m2.Plugin("payment-manual")
	gw, err := p.Payment()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
		OrderID: "INV-1", Amount: payment.Money{Amount: 500, Currency: "USD"}, IdempotencyKey: "k1",
	})
	if err != nil {
		t.Fatalf("CreatePayment in USD (allowed by the settings): %v", err)
	}
	if got := resp.Payment.ExpiresAt.Sub(resp.Payment.CreatedAt); got != 2*time.Hour {
		t.Errorf("expiry %s after creation, want 2h from expiry_hours", got)
	}
	if _, err := p.Router(); err == nil {
		t.Error("Router() on a payment plugin did not fail")
	}
}
