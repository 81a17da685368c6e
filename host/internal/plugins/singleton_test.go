package plugins

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// fakeLeases hands each lease to whoever the test says holds it (the
// first claimer when nobody does).
type fakeLeases struct {
	mu     sync.Mutex
	self   string
	holder map[string]string
}

func (f *fakeLeases) Claim(_ context.Context, p string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder[p] == "" {
		f.holder[p] = f.self
	}
	return f.holder[p], nil
}

func (f *fakeLeases) Holds(p string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holder[p] == f.self
}

func (f *fakeLeases) set(p, h string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holder[p] = h
}

// TestSingletonRunsWhereItsLeaseIs: a required singleton plugin whose
// lease another host holds is not started, not a failure and not counted
// against readiness; calls name the host that runs it; it starts when
// this host gains the lease and stops when it loses it; a disabled one is
// not claimed, and enabling it claims its lease again.
func TestSingletonRunsWhereItsLeaseIs(t *testing.T) {
	f := newFixture(t)
	leases := &fakeLeases{self: "host-a", holder: map[string]string{"wa": "host-b"}}
	f.leases, f.hostID = leases, "host-a"
	f.Add(tp{Name: "wa", Manifest: map[string]any{"singleton": true}})
	f.Add(tp{Name: "other"})
	m, err := f.start()
	if err != nil {
		t.Fatalf("start with a required singleton another host runs: %v", err)
	}
	st := status(t, m, "wa")
	if st.State != StateElsewhere || st.RunsOn != "host-b" || !st.Singleton || st.PID != 0 || st.Error != "" {
		t.Fatalf("wa: %+v; want elsewhere, on host-b, no process", st)
	}
	if slices.Contains(f.started(), "wa") {
		t.Fatal("wa was started although host-b holds its lease")
	}
	if ok, why := m.Ready(); !ok {
		t.Errorf("not ready with the singleton on another host: %v", why)
	}
	p, _ := m.Plugin("wa")
	_, err = p.Base().CheckHealth(context.Background(), &sdk.CheckHealthRequest{})
	var elsewhere *ElsewhereError
	if !errors.As(err, &elsewhere) || elsewhere.Host != "host-b" || !errors.Is(err, sdk.ErrPluginUnavailable) || !strings.Contains(err.Error(), `runs on host "host-b"`) {
		t.Errorf("a call on host-a: %v; want an ElsewhereError naming host-b", err)
	}
	if err := m.Restart("wa"); err == nil || !strings.Contains(err.Error(), "runs on host host-b; restart it there") {
		t.Errorf("restart on host-a: %v", err)
	}
	if got := m.Singletons(); !slices.Equal(got, []string{"wa"}) {
		t.Errorf("Singletons() = %v, want [wa]", got)
	}

	// host-a takes the lease: it starts wa.
	leases.set("wa", "host-a")
	m.Gain("wa")
	sdktest.WaitFor(t, 10*time.Second, "wa runs on host-a", func() bool { return status(t, m, "wa").State == StateRunning })
	if st := status(t, m, "wa"); st.RunsOn != "host-a" || st.PID == 0 {
		t.Fatalf("wa after Gain: %+v", st)
	}
	pid := status(t, m, "wa").PID

	// host-a loses it: wa stops here at once.
	leases.set("wa", "host-c")
	m.Lose("wa", "host-c", 2*time.Second)
	if st := status(t, m, "wa"); st.State != StateElsewhere || st.RunsOn != "host-c" || st.PID != 0 {
		t.Fatalf("wa after Lose: %+v", st)
	}
	sdktest.WaitFor(t, 5*time.Second, "wa's process gone", func() bool { return !processAlive(pid) })

	// Disabled, it is not claimed; enabled, it waits for its lease.
	if err := m.Disable("wa"); err != nil {
		t.Fatal(err)
	}
	if got := m.Singletons(); len(got) != 0 {
		t.Errorf("Singletons() with wa disabled = %v", got)
	}
	if err := m.Enable("wa"); err != nil {
		t.Fatal(err)
	}
	if st := status(t, m, "wa"); st.State != StateElsewhere || st.RunsOn != "host-c" {
		t.Errorf("wa enabled while host-c holds its lease: %+v", st)
	}
	starts := 0
	for _, name := range f.started() {
		if name == "wa" {
			starts++
		}
	}
	if starts != 1 {
		t.Errorf("wa started %d times, want once (when host-a held its lease): %v", starts, f.started())
	}
}
