//go:build chaos

package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestChaosPaymentPluginKilledUnderLoad: one host takes 300 paid webhooks
// from 8 senders while its payment-template plugin, found as a child
// process of the host, is SIGKILLed 30 times at random moments (in the
// webhook's call, in the confirmation's, between them); the host restarts
// it each time. Nothing is lost or doubled (see chaos_test.go).
func TestChaosPaymentPluginKilledUnderLoad(t *testing.T) {
	r := newChaosRig(t, 65*time.Second)
	h := r.setUp(30 * 24 * time.Hour)
	invs := r.invoices(300)

	var kills atomic.Int32
	stop := make(chan struct{})
	var killer sync.WaitGroup
	killer.Go(func() {
		last := 0
		for kills.Load() < 30 {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(20+rand.IntN(150)) * time.Millisecond):
			}
			pid := r.pluginChild(h, "payment-template")
			if pid == 0 || pid == last {
				continue // being restarted: wait for the new process
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				last = pid
				kills.Add(1)
			}
		}
	})
	began := time.Now()
	res := r.load(invs, 8, 250*time.Millisecond)
	close(stop)
	killer.Wait()
	t.Logf("load: %s; payment-template SIGKILLed %d times", time.Since(began).Round(100*time.Millisecond), kills.Load())
	if kills.Load() < 20 {
		t.Errorf("only %d kills happened during the load; want tens", kills.Load())
	}
	res.check(t)
	st := r.openStore()
	checkCreditedOnce(t, st, invs)
	r.settle(st)
	r.checkProvisionedAndNotified(invs)
}

// pluginChild is the pid of plugin's process as host h reports it
// (/health/plugins), provided that process is a child of h's process; 0
// when the plugin is not running or the pid is not h's child.
func (r *chaosRig) pluginChild(h *chaosHost, plugin string) int {
	addr := h.up()
	if addr == "" {
		return 0
	}
	hh := &host{t: r.t, addr: addr}
	pid := hh.pluginPID(plugin)
	if pid == 0 {
		return 0
	}
	h.mu.Lock()
	hostPID := h.cmd.Process.Pid
	h.mu.Unlock()
	if ppid, err := parentPID(pid); err != nil || ppid != hostPID {
		return 0
	}
	return pid
}

// parentPID reads a process's parent from /proc/<pid>/stat.
func parentPID(pid int) (int, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, raw)
	}
	return strconv.Atoi(f[1])
}
