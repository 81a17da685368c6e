//go:build chaos

package cli

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestChaosDatabaseAndRedisUnderLoad: two hosts on the test's own
// PostgreSQL and the test's own Redis take 300 paid webhooks from 8
// senders while PostgreSQL is restarted twice ("fast", which ends every
// session, then "immediate", a crash) and then Redis is stopped for 15
// seconds and started again. Webhooks answered 503 while the database is
// away are resent by the gateway. Nothing is lost or doubled (see
// chaos_test.go).
func TestChaosDatabaseAndRedisUnderLoad(t *testing.T) {
	redis := startChaosRedis(t)
	r := newChaosRig(t, 75*time.Second, "REDIS_URL="+redis.url())
	r.setUp(30 * 24 * time.Hour)
	r.addHost()
	invs := r.invoices(300)

	var restarts atomic.Int32
	redisDown := time.Duration(0)
	stop := make(chan struct{})
	var breaker sync.WaitGroup
	breaker.Go(func() {
		wait := func(d time.Duration) bool {
			select {
			case <-stop:
				return false
			case <-time.After(d):
				return true
			}
		}
		for _, mode := range []string{"fast", "immediate"} {
			if !wait(2 * time.Second) {
				return
			}
			r.pg.Restart(mode)
			restarts.Add(1)
		}
		if !wait(time.Second) {
			return
		}
		redis.stop()
		began := time.Now()
		time.Sleep(15 * time.Second) // the whole 15 s, whatever the load does
		redis.start()
		redisDown = time.Since(began)
	})
	began := time.Now()
	res := r.load(invs, 8, 700*time.Millisecond)
	close(stop)
	breaker.Wait()
	t.Logf("load: %s; PostgreSQL restarted %d times; Redis down for %s", time.Since(began).Round(100*time.Millisecond), restarts.Load(), redisDown.Round(100*time.Millisecond))
	if restarts.Load() < 2 || redisDown < 15*time.Second {
		t.Errorf("the faults did not all happen during the load: %d restarts, Redis down %s", restarts.Load(), redisDown)
	}
	res.check(t)
	st := r.openStore()
	checkCreditedOnce(t, st, invs)
	r.settle(st)
	r.checkProvisionedAndNotified(invs)
}

// chaosRedis is a redis-server of the test's own, without persistence, on
// a port the OS gave; stopped and started again on that port.
type chaosRedis struct {
	t    *testing.T
	port int
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startChaosRedis(t *testing.T) *chaosRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not on PATH: install Redis (apt-get install redis-server); this scenario runs a server of its own")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &chaosRedis{t: t, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *chaosRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// start runs the server and waits until it accepts connections.
func (s *chaosRedis) start() {
	log, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		s.t.Error(err)
		return
	}
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--save", "", "--appendonly", "no", "--dir", s.dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Errorf("start redis-server: %v", err)
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port)); err == nil {
			c.Close()
			return
		}
	}
	s.t.Errorf("redis-server on port %d does not accept connections", s.port)
}

// stop ends the server (SIGKILL, by its pid) and waits until it is gone.
func (s *chaosRedis) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	<-done
}
