package hosts_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// fakeRunner is a host's singleton plugins: it records what runs, and
// the times each started and stopped.
type fakeRunner struct {
	mu      sync.Mutex
	wanted  []string
	running map[string]bool
	holder  map[string]string
	events  []string // "gain p" / "lose p"
	lastEnd map[string]time.Time
	stall   chan struct{} // while open, Singletons blocks: the host stalls
}

func newRunner(plugins ...string) *fakeRunner {
	return &fakeRunner{wanted: plugins, running: map[string]bool{}, holder: map[string]string{}, lastEnd: map[string]time.Time{}}
}

func (f *fakeRunner) Singletons() []string {
	f.mu.Lock()
	stall := f.stall
	f.mu.Unlock()
	if stall != nil {
		<-stall
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.wanted)
}

func (f *fakeRunner) holderOf(p string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holder[p]
}

func (f *fakeRunner) Gain(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running[p] {
		f.running[p] = true
		f.events = append(f.events, "gain "+p)
	}
}

func (f *fakeRunner) Lose(p, holder string, _ time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holder[p] = holder
	if f.running[p] {
		f.running[p] = false
		f.lastEnd[p] = time.Now()
		f.events = append(f.events, "lose "+p)
	}
}

func (f *fakeRunner) runs(p string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[p]
}

func (f *fakeRunner) stoppedAt(p string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastEnd[p]
}

// leaseStores are the stores the lease tests run on: SQLite (one file,
// two Leases on it, as two hosts would be if they could share it) and,
// when it is set up, PostgreSQL.
func leaseStores(t *testing.T) map[string]func(t *testing.T) (a, b *store.Store) {
	return map[string]func(t *testing.T) (a, b *store.Store){
		"sqlite": func(t *testing.T) (a, b *store.Store) {
			st := storetest.SQLite(t)
			return st, st
		},
		"postgres": func(t *testing.T) (a, b *store.Store) {
			u := pgURL(t)
			return openStore(t, u), storetest.PostgresAt(t, u)
		},
	}
}

// TestLeaseOneHolder: hosts claiming the same lease at the same moment,
// over and over, never both hold it; the holder keeps it by renewing.
func TestLeaseOneHolder(t *testing.T) {
	t.Parallel()
	for name, open := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stA, stB := open(t)
			ctx := context.Background()
			cfg := hosts.Config{Heartbeat: time.Second}
			ls := []*hosts.Leases{hosts.NewLeases(stA, withID(cfg, "host-a")), hosts.NewLeases(stB, withID(cfg, "host-b")),
				hosts.NewLeases(stB, withID(cfg, "host-c"))}
			var first string
			for round := range 30 {
				plugin := "whatsapp"
				if round%2 == 1 {
					plugin = fmt.Sprintf("router-%d", round) // a new lease: the race for the first claim
				}
				got := make([]string, len(ls))
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i, l := range ls {
					wg.Go(func() {
						<-start
						h, err := l.Claim(ctx, plugin)
						if err != nil {
							t.Error(err)
						}
						got[i] = h
					})
				}
				close(start)
				wg.Wait()
				winners := 0
				for i, h := range got {
					if h == fmt.Sprintf("host-%c", 'a'+i) {
						winners++
					}
					if h != got[0] {
						t.Fatalf("round %d (%s): the hosts saw different holders: %v", round, plugin, got)
					}
				}
				if winners != 1 {
					t.Fatalf("round %d (%s): %d hosts hold the lease: %v", round, plugin, winners, got)
				}
				holds := 0
				for _, l := range ls {
					if l.Holds(plugin) {
						holds++
					}
				}
				if holds != 1 {
					t.Fatalf("round %d (%s): Holds true on %d hosts", round, plugin, holds)
				}
				if plugin == "whatsapp" {
					if first == "" {
						first = got[0]
					} else if got[0] != first {
						t.Fatalf("round %d: the live holder %s lost the lease to %s", round, first, got[0])
					}
				}
			}
		})
	}
}

// TestLeaseTakeover: a holder that stops renewing keeps the lease until
// it is gone (GoneAfter), then the next claim of another host takes it;
// the old holder's fence stopped its plugin before.
func TestLeaseTakeover(t *testing.T) {
	t.Parallel()
	for name, open := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stA, stB := open(t)
			ctx := context.Background()
			cfg := hosts.Config{Heartbeat: 100 * time.Millisecond}
			a, b := hosts.NewLeases(stA, withID(cfg, "host-a")), hosts.NewLeases(stB, withID(cfg, "host-b"))
			ra := newRunner("whatsapp")
			a.Start(ra)
			waitFor(t, 5*time.Second, "host-a runs the plugin", func() bool { return ra.runs("whatsapp") })
			rb := newRunner("whatsapp")
			b.Start(rb)
			t.Cleanup(func() { _ = b.Stop(ctx) })
			time.Sleep(3 * a.GoneAfter()) // host-b claims many times meanwhile
			if rb.runs("whatsapp") || !ra.runs("whatsapp") {
				t.Fatal("host-b took the lease of a live holder")
			}
			if h := rb.holderOf("whatsapp"); h != "host-a" {
				t.Errorf("host-b sees the plugin run on %q, want host-a", h)
			}

			// host-a stalls: its claims stop (its fence does not).
			stalled := make(chan struct{})
			ra.mu.Lock()
			ra.stall = stalled
			ra.mu.Unlock()
			time.Sleep(cfg.Heartbeat) // a claim in flight ends
			stall := time.Now()
			waitFor(t, 5*time.Second, "host-b takes over", func() bool { return rb.runs("whatsapp") })
			took := time.Now()
			if took.Sub(stall) < a.GoneAfter()-2*cfg.Heartbeat {
				t.Errorf("host-b took the lease %s after host-a's last claim, before it was gone (%s)", took.Sub(stall), a.GoneAfter())
			}
			if end := ra.stoppedAt("whatsapp"); end.IsZero() || !end.Before(took) {
				t.Errorf("host-a stopped its plugin at %v, host-b started it at %v: they overlapped", end, took)
			}
			close(stalled)
			_ = a.Stop(ctx)
		})
	}
}

// TestLeaseFenceWhenTheDatabaseIsLost: a holder whose connection to
// PostgreSQL is cut (it lives, but cannot renew) stops its plugin before
// the other host may take it.
func TestLeaseFenceWhenTheDatabaseIsLost(t *testing.T) {
	t.Parallel()
	u := pgURL(t)
	proxy := newProxy(t, u)
	stA, stB := openStore(t, proxy.url), storetest.PostgresAt(t, u)
	ctx := context.Background()
	cfg := hosts.Config{Heartbeat: 200 * time.Millisecond}
	a, b := hosts.NewLeases(stA, withID(cfg, "host-a")), hosts.NewLeases(stB, withID(cfg, "host-b"))
	ra, rb := newRunner("whatsapp"), newRunner("whatsapp")
	a.Start(ra)
	waitFor(t, 5*time.Second, "host-a runs the plugin", func() bool { return ra.runs("whatsapp") })
	b.Start(rb)
	t.Cleanup(func() { _ = b.Stop(ctx) })
	time.Sleep(2 * cfg.Heartbeat)

	proxy.cut()
	waitFor(t, 10*time.Second, "host-b takes over", func() bool { return rb.runs("whatsapp") })
	took := time.Now()
	end := ra.stoppedAt("whatsapp")
	if end.IsZero() || !end.Before(took) {
		t.Fatalf("host-a stopped its plugin at %v, host-b started it at %v: they overlapped", end, took)
	}
	t.Logf("host-a stopped %s before host-b started", took.Sub(end).Round(time.Millisecond))
	proxy.heal()
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = a.Stop(stopCtx)
}

// TestLapsedLeaseReleased: a lease whose fence lapsed before the next
// round (a round delayed by a slow database or a loaded machine) still
// names this host in the store. The round releases it once the runner no
// longer wants the plugin, and Stop releases it, instead of leaving it
// until it expires.
func TestLapsedLeaseReleased(t *testing.T) {
	t.Parallel()
	for name, open := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, _ := open(t)
			ctx := context.Background()
			// lapsed starts leases for runner r whose rounds wait until
			// stalled is closed, claims whatsapp and waits for the fence
			// to lapse.
			lapsed := func(id string, r *fakeRunner, stalled chan struct{}) *hosts.Leases {
				r.stall = stalled
				l := hosts.NewLeases(st, withID(hosts.Config{Heartbeat: 50 * time.Millisecond}, id))
				l.Start(r)
				waitFor(t, 5*time.Second, id+" claims", func() bool {
					h, err := l.Claim(ctx, "whatsapp")
					return err == nil && h == id
				})
				waitFor(t, 5*time.Second, id+"'s fence lapses", func() bool { return !l.Holds("whatsapp") })
				return l
			}
			released := func(l *hosts.Leases, what string) {
				waitFor(t, 5*time.Second, what, func() bool {
					leases, err := l.List(ctx)
					return err == nil && len(leases) == 0
				})
			}

			// The runner wants nothing: the delayed round releases it.
			stalled := make(chan struct{})
			l := lapsed("host-a", newRunner(), stalled)
			close(stalled)
			released(l, "the lapsed lease released by the round")
			if err := l.Stop(ctx); err != nil {
				t.Fatal(err)
			}

			// The runner wants it, and the host stops while its round
			// waits: Stop releases it.
			stalled = make(chan struct{})
			l = lapsed("host-b", newRunner("whatsapp"), stalled)
			done := make(chan error, 1)
			go func() { done <- l.Stop(ctx) }()
			time.Sleep(100 * time.Millisecond) // Stop has cancelled the rounds: the waiting one claims nothing more
			close(stalled)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			released(l, "the lapsed lease released by Stop")
		})
	}
}

// TestLeaseReleaseOnStop: a host that stops cleanly stops its plugin and
// then releases the lease, and another host takes it at its next claim,
// not after GoneAfter.
func TestLeaseReleaseOnStop(t *testing.T) {
	t.Parallel()
	for name, open := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stA, stB := open(t)
			ctx := context.Background()
			slow := hosts.Config{Heartbeat: time.Hour} // b claims only when told
			// host-a's claims give up after a heartbeat: one long enough
			// that a loaded machine renews in time.
			a := hosts.NewLeases(stA, withID(hosts.Config{Heartbeat: 500 * time.Millisecond}, "host-a"))
			b := hosts.NewLeases(stB, withID(slow, "host-b"))
			ra := newRunner("whatsapp")
			a.Start(ra)
			waitFor(t, 5*time.Second, "host-a runs the plugin", func() bool { return ra.runs("whatsapp") })
			if h, err := b.Claim(ctx, "whatsapp"); err != nil || h != "host-a" {
				t.Fatalf("host-b's claim while host-a runs: %q, %v", h, err)
			}
			if err := a.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if ra.runs("whatsapp") {
				t.Fatal("host-a's plugin runs after Stop")
			}
			if h, err := b.Claim(ctx, "whatsapp"); err != nil || h != "host-b" {
				t.Fatalf("host-b's claim after host-a stopped: %q, %v; want host-b at once", h, err)
			}
			leases, err := b.List(ctx)
			if err != nil || len(leases) != 1 || leases[0].HostID != "host-b" || !leases[0].Live {
				t.Fatalf("leases = %+v, %v", leases, err)
			}
			// A plugin the runner no longer runs (disabled, failed) is
			// released at the next round.
			rb := newRunner()
			b2 := hosts.NewLeases(stB, withID(hosts.Config{Heartbeat: 50 * time.Millisecond}, "host-b"))
			b2.Start(rb)
			t.Cleanup(func() { _ = b2.Stop(ctx) })
			// A claim gives up after one heartbeat (50 ms here), which a
			// loaded machine may take to hand out a connection: try again.
			waitFor(t, 5*time.Second, "host-b's new leases take the lease", func() bool {
				h, err := b2.Claim(ctx, "whatsapp")
				return err == nil && h == "host-b"
			})
			waitFor(t, 5*time.Second, "the lease released", func() bool {
				leases, err := b.List(ctx)
				return err == nil && len(leases) == 0
			})
		})
	}
}
