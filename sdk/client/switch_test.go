package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mikrobill/mikrobill/sdk"
)

// fakeProcess is a Process whose connection goes nowhere.
func fakeProcess(t *testing.T) (*Process, chan struct{}) {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///nowhere", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	done := make(chan struct{})
	return &Process{conn: &Conn{cc: cc, hostBroker: 7}, run: &procRunner{done: done}}, done
}

func TestSwitch(t *testing.T) {
	ctx := context.Background()
	t.Run("no process yet fails at once", func(t *testing.T) {
		s := NewSwitch("p", time.Hour)
		if _, err := s.acquire(ctx); !errors.Is(err, sdk.ErrPluginUnavailable) || !strings.Contains(err.Error(), "not started") {
			t.Errorf("acquire = %v", err)
		}
	})
	t.Run("up gives the connection and the broker", func(t *testing.T) {
		s := NewSwitch("p", time.Hour)
		p, _ := fakeProcess(t)
		s.Up(p)
		l, err := s.acquire(ctx)
		if err != nil || l.conn != p.conn.cc || s.HostBroker() != 7 {
			t.Fatalf("acquire = %v, %v; broker %d", l, err, s.HostBroker())
		}
		s.release(l)
	})
	t.Run("restarting waits for the next process", func(t *testing.T) {
		s := NewSwitch("p", 5*time.Second)
		s.Down("restarting", true)
		p, _ := fakeProcess(t)
		go func() {
			time.Sleep(50 * time.Millisecond)
			s.Up(p)
		}()
		begin := time.Now()
		l, err := s.acquire(ctx)
		if err != nil || l.conn != p.conn.cc {
			t.Fatalf("acquire = %v, %v", l, err)
		}
		s.release(l)
		if took := time.Since(begin); took < 40*time.Millisecond {
			t.Errorf("acquire returned after %s, before the process was up", took)
		}
	})
	t.Run("restarting gives up after the wait", func(t *testing.T) {
		s := NewSwitch("p", 50*time.Millisecond)
		s.Down("restarting after a crash", true)
		_, err := s.acquire(ctx)
		if !errors.Is(err, sdk.ErrPluginUnavailable) || !strings.Contains(err.Error(), "did not come back within 50ms") {
			t.Errorf("acquire = %v", err)
		}
	})
	t.Run("the caller's context ends the wait", func(t *testing.T) {
		s := NewSwitch("p", time.Hour)
		s.Down("restarting", true)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		_, err := s.acquire(cctx)
		if !errors.Is(err, sdk.ErrPluginUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("acquire = %v", err)
		}
	})
	t.Run("a process that exited is never handed out", func(t *testing.T) {
		s := NewSwitch("p", 100*time.Millisecond)
		p, done := fakeProcess(t)
		s.Up(p)
		close(done) // exited; the supervisor has not noticed yet
		_, err := s.acquire(ctx)
		if !errors.Is(err, sdk.ErrPluginUnavailable) || !strings.Contains(err.Error(), "exiting") {
			t.Errorf("acquire = %v", err)
		}
	})
	t.Run("drain waits for calls in flight", func(t *testing.T) {
		s := NewSwitch("p", time.Hour)
		p, _ := fakeProcess(t)
		s.Up(p)
		l, err := s.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		if err := s.Drain(dctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Drain with a call in flight = %v", err)
		}
		s.release(l)
		if err := s.Drain(ctx); err != nil {
			t.Errorf("Drain with nothing in flight = %v", err)
		}
	})
	t.Run("replace sends new calls to the new process and drains the old one's", func(t *testing.T) {
		s := NewSwitch("p", time.Hour)
		old, _ := fakeProcess(t)
		s.Up(old)
		onOld, err := s.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		next, _ := fakeProcess(t)
		drain := s.Replace(next)
		onNew, err := s.acquire(ctx)
		if err != nil || onNew.conn != next.conn.cc {
			t.Fatalf("a call after Replace went to %v (%v), want the new process", onNew, err)
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		if err := drain(dctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("drain with the old process's call in flight = %v", err)
		}
		s.release(onOld)
		// The new process's call does not hold up the old one's drain.
		if err := drain(ctx); err != nil {
			t.Errorf("drain with only the new process's call in flight = %v", err)
		}
		s.release(onNew)
	})
}
