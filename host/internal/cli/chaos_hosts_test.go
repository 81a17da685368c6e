//go:build chaos

package cli

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestChaosHostKilledUnderLoad: three hosts on one PostgreSQL take 400
// paid webhooks from 8 senders while, again and again, one of them
// (chosen at random, the leader included) is SIGKILLed by its pid and
// started again on its data directory. Nothing is lost or doubled (see
// chaos_test.go).
func TestChaosHostKilledUnderLoad(t *testing.T) {
	r := newChaosRig(t, 75*time.Second)
	r.setUp(30 * 24 * time.Hour)
	r.addHost()
	r.addHost()
	invs := r.invoices(400)

	var kills atomic.Int32
	stop := make(chan struct{})
	var killer sync.WaitGroup
	killer.Go(func() {
		for kills.Load() < 5 {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1000+rand.IntN(1500)) * time.Millisecond):
			}
			r.mu.Lock()
			h := r.hosts[rand.IntN(len(r.hosts))]
			r.mu.Unlock()
			r.kill(h)
			kills.Add(1)
			time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
			r.start(h)
		}
	})
	began := time.Now()
	res := r.load(invs, 8, 400*time.Millisecond)
	close(stop)
	killer.Wait()
	t.Logf("load: %s; hosts killed and restarted %d times", time.Since(began).Round(100*time.Millisecond), kills.Load())
	if kills.Load() < 3 {
		t.Errorf("only %d kills happened during the load; the scenario did not break enough", kills.Load())
	}
	res.check(t)
	st := r.openStore()
	checkCreditedOnce(t, st, invs)
	r.settle(st)
	r.checkProvisionedAndNotified(invs)
}
