package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// replace puts a new version of a plugin in its folder the way the
// installer does (a folder made aside, renamed into place) and locks it.
func (f *fixture) replace(p tp) {
	f.t.Helper()
	aside := testenv.NewPluginDir(f.t)
	p.NoLock = true
	dir := aside.Add(p)
	// The new version logs its starts and stops to the fixture's file.
	raw, err := os.ReadFile(filepath.Join(dir, "testplugin.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	raw = []byte(strings.Replace(string(raw), aside.Events, f.Events, 1))
	if err := os.WriteFile(filepath.Join(dir, "testplugin.json"), raw, 0o644); err != nil {
		f.t.Fatal(err)
	}
	active := filepath.Join(f.Dir, p.Name)
	if err := os.Rename(active, filepath.Join(f.t.TempDir(), "old")); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(dir, active); err != nil {
		f.t.Fatal(err)
	}
	f.Lock(p.Name)
}

// callLoop calls CreatePayment on the plugin's client continuously from
// several goroutines until stop is called, and returns how many calls
// were made and the errors.
func callLoop(t testing.TB, m *Manager, name string) (stop func() (calls int64, errs []error)) {
	p, ok := m.Plugin(name)
	if !ok {
		t.Fatalf("no plugin %q", name)
	}
	gw, err := p.Payment() // made once, as billing holds its clients
	if err != nil {
		t.Fatal(err)
	}
	var (
		n    atomic.Int64
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				_, err := gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
					OrderID: fmt.Sprintf("INV-%d-%d", w, i), Amount: payment.Money{Amount: 500, Currency: "USD"}, IdempotencyKey: fmt.Sprintf("k-%d-%d", w, i)})
				n.Add(1)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	return func() (int64, []error) {
		cancel()
		wg.Wait()
		return n.Load(), errs
	}
}

func TestAddPluginToRunningHost(t *testing.T) {
	f := newFixture(t)
	f.Add(tp{Name: "pa"})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	f.Add(tp{Name: "pb", Deps: []any{"pa"}})
	if err := m.AddPlugin(context.Background(), "pb"); err != nil {
		t.Fatalf("AddPlugin: %v", err)
	}
	if st := status(t, m, "pb"); st.State != StateRunning || st.PID == 0 {
		t.Errorf("pb: %s, pid %d; want running", st.State, st.PID)
	}
	if err := m.AddPlugin(context.Background(), "pb"); err == nil {
		t.Error("adding pb twice: no error")
	}
	f.Add(tp{Name: "pc", Deps: []any{"absent"}})
	if err := m.AddPlugin(context.Background(), "pc"); err == nil || !strings.Contains(err.Error(), `depends on plugin "absent"`) {
		t.Errorf("AddPlugin with a missing dependency: %v", err)
	}
	if _, ok := m.Plugin("pc"); ok {
		t.Error("a plugin that did not start stays in the manager")
	}
	if err := m.RemovePlugin(context.Background(), "pb"); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Plugin("pb"); ok || len(m.Plugins()) != 1 {
		t.Errorf("pb still there after RemovePlugin (%d plugins)", len(m.Plugins()))
	}
	if got := f.Logged("stop"); len(got) != 1 || got[0] != "pb" {
		t.Errorf("stopped %v, want [pb]", got)
	}
}

func TestUpgradeSwitchesWithoutRefusingACall(t *testing.T) {
	f := newFixture(t)
	f.cfg.Plugins.UpgradeGrace = 300 * time.Millisecond
	f.Add(tp{Name: "pay", Kind: "payment", Behaviour: map[string]any{"call_delay_ms": 5}})
	m, err := f.start()
	if err != nil {
		t.Fatal(err)
	}
	oldPID := status(t, m, "pay").PID
	stop := callLoop(t, m, "pay")
	time.Sleep(100 * time.Millisecond)
	f.replace(tp{Name: "pay", Kind: "payment", Version: "2.0.0", Behaviour: map[string]any{"call_delay_ms": 5}})
	if err := m.SwitchPlugin(context.Background(), "pay"); err != nil {
		t.Fatalf("SwitchPlugin: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	calls, errs := stop()
	if len(errs) > 0 {
		t.Errorf("%d of %d calls failed during the switch; first: %v", len(errs), calls, errs[0])
	}
	st := status(t, m, "pay")
	if st.Version != "2.0.0" || st.PID == oldPID || st.State != StateRunning || st.Switch == nil || st.Switch.State != SwitchDone {
		t.Errorf("after the switch: version %s, pid %d (old %d), state %s, switch %+v", st.Version, st.PID, oldPID, st.State, st.Switch)
	}
	if got := f.Logged("stop"); len(got) != 1 {
		t.Errorf("stops logged %v; want the old process stopped gracefully once", got)
	}
	t.Logf("%d calls during the switch, none refused", calls)
}

func TestUpgradeSwitchesBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		next tp
		want []string
	}{
		{"fails to start", tp{Mode: "crash"}, []string{"version 2.0.0 did not start", "version 1.0.0 keeps serving"}},
		{"exits in the grace period", tp{Behaviour: map[string]any{"exit_after_ms": 100}}, []string{"exited within the grace period", "switched back to version 1.0.0"}},
		{"turns unhealthy in the grace period", tp{Behaviour: map[string]any{"hang_health_after": 1}}, []string{"turned unhealthy within the grace period", "switched back to version 1.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.Plugins.UpgradeGrace = 2 * time.Second
			f.cfg.Plugins.HealthTimeout = 200 * time.Millisecond
			f.Add(tp{Name: "pay", Kind: "payment"})
			m, err := f.start()
			if err != nil {
				t.Fatal(err)
			}
			stop := callLoop(t, m, "pay")
			next := tc.next
			next.Name, next.Kind, next.Version = "pay", "payment", "2.0.0"
			f.replace(next)
			err = m.SwitchPlugin(context.Background(), "pay")
			calls, errs := stop()
			if !errors.Is(err, ErrSwitchedBack) {
				t.Fatalf("SwitchPlugin: %v; want ErrSwitchedBack", err)
			}
			st := status(t, m, "pay")
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) || st.Switch == nil || !strings.Contains(st.Switch.Reason, w) || !strings.Contains(st.LastError, w) {
					t.Errorf("error %q / status switch %+v / last error %q: want %q in each", err, st.Switch, st.LastError, w)
				}
			}
			if st.Version != "1.0.0" || st.State != StateRunning {
				t.Errorf("after switching back: version %s, state %s; want 1.0.0 running", st.Version, st.State)
			}
			// A call in flight on the new process when it exits may fail;
			// none may be refused for want of a process.
			for _, e := range errs {
				var ue *UnavailableError
				if errors.As(e, &ue) {
					t.Errorf("a call was refused during the switch: %v", e)
				}
			}
			if p, _ := m.Plugin("pay"); p.Healthy() == false {
				t.Errorf("old version not healthy after switching back: %+v", p.Status())
			}
			t.Logf("%d calls, %d failed", calls, len(errs))
		})
	}
}
