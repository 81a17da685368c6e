package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mikrobill/mikrobill/sdk"
)

// Switch is a gRPC connection to "whichever process of this plugin runs
// now". Clients made over it once (NewPlugin, NewPayment, ...) keep working
// across restarts: each call goes to the current process, waits a bounded
// time while the plugin restarts, and fails with sdk.ErrPluginUnavailable
// when it does not come back in time or is down for good. A call never
// reaches a process that has exited: the supervisor takes the connection
// out (Down) the moment it notices the exit.
//
// Switch also counts calls in flight, so a graceful stop can wait for them.
type Switch struct {
	name string
	wait time.Duration

	// live is the current process, read without locking on every call.
	live atomic.Pointer[liveConn]

	mu       sync.Mutex
	reason   string        // why there is no connection
	waiting  bool          // a process is expected back (restarting)
	changed  chan struct{} // closed when live or waiting change
	inflight atomic.Int64  // calls between acquire and their end
}

// liveConn is the process behind the switch.
type liveConn struct {
	conn   *grpc.ClientConn
	done   <-chan struct{} // closed when the process exits
	broker uint32
}

var _ grpc.ClientConnInterface = (*Switch)(nil)

// NewSwitch returns a Switch with no process behind it. wait bounds how long
// a call waits for a restarting plugin.
func NewSwitch(name string, wait time.Duration) *Switch {
	return &Switch{name: name, wait: wait, reason: "not started", changed: make(chan struct{})}
}

// Up puts a running process behind the switch and wakes the calls that
// wait for it.
func (s *Switch) Up(p *Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live.Store(&liveConn{conn: p.Conn().ClientConn(), done: p.Done(), broker: p.Conn().HostBrokerID()})
	s.reason, s.waiting = "", false
	s.signal()
}

// Down takes the connection out. With restarting, calls wait (up to the
// switch's wait) for the next Up; without, they fail at once. reason says
// why, for the error message.
func (s *Switch) Down(reason string, restarting bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live.Store(nil)
	s.reason, s.waiting = reason, restarting
	s.signal()
}

func (s *Switch) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// HostBroker returns the host service's broker id of the current process.
func (s *Switch) HostBroker() uint32 {
	if l := s.live.Load(); l != nil {
		return l.broker
	}
	return 0
}

// Drain waits until no call is in flight or ctx ends. Call it after Down,
// so no new call starts meanwhile.
func (s *Switch) Drain(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for s.inflight.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// release ends a call counted by acquire.
func (s *Switch) release() { s.inflight.Add(-1) }

// acquire returns the current connection and its process's done channel,
// waiting while the plugin restarts, and counts the call in flight.
func (s *Switch) acquire(ctx context.Context) (*grpc.ClientConn, <-chan struct{}, error) {
	// Fast path: a live process.
	if l := s.live.Load(); l != nil && !isClosed(l.done) {
		s.inflight.Add(1)
		if s.live.Load() == l {
			return l.conn, l.done, nil
		}
		s.release() // taken out meanwhile: go the slow way
	}
	var timer <-chan time.Time
	for {
		s.mu.Lock()
		l, waiting, reason, changed := s.live.Load(), s.waiting, s.reason, s.changed
		if l != nil && !isClosed(l.done) {
			s.inflight.Add(1)
			s.mu.Unlock()
			return l.conn, l.done, nil
		}
		s.mu.Unlock()
		if l != nil {
			// The process has just exited and its supervisor has not
			// taken it out yet: wait for what the supervisor decides.
			waiting, reason = true, "exiting"
		}
		if !waiting {
			return nil, nil, fmt.Errorf("%w: plugin %q is %s", sdk.ErrPluginUnavailable, s.name, reason)
		}
		if timer == nil {
			t := time.NewTimer(s.wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-changed:
		case <-timer:
			return nil, nil, fmt.Errorf("%w: plugin %q is %s and did not come back within %s", sdk.ErrPluginUnavailable, s.name, reason, s.wait)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: waiting for plugin %q: %w", sdk.ErrPluginUnavailable, s.name, ctx.Err())
		}
	}
}

// Invoke implements grpc.ClientConnInterface.
func (s *Switch) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	conn, done, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer s.release()
	return s.exitedDuring(ctx, done, conn.Invoke(ctx, method, args, reply, opts...))
}

// exitedDuring reports a call cut short because the plugin process died
// under it as plugin unavailable (a bare Unavailable status), not as the
// "connection is closing" cancellation gRPC reports.
func (s *Switch) exitedDuring(ctx context.Context, done <-chan struct{}, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	st, ok := status.FromError(err)
	if !ok || (st.Code() != codes.Canceled && st.Code() != codes.Unavailable) || len(st.Details()) > 0 {
		return err
	}
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
		return err
	}
	return status.Errorf(codes.Unavailable, "plugin %q exited during the call (%s)", s.name, st.Message())
}

// NewStream implements grpc.ClientConnInterface. The stream counts as in
// flight until it is set up; long-lived streams do not hold up a drain.
func (s *Switch) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	conn, _, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer s.release()
	return conn.NewStream(ctx, desc, method, opts...)
}

func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
