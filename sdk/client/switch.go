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
	conn     *grpc.ClientConn
	done     <-chan struct{} // closed when the process exits
	broker   uint32
	inflight atomic.Int64 // this process's calls between acquire and their end
}

func newLiveConn(p *Process) *liveConn {
	return &liveConn{conn: p.Conn().ClientConn(), done: p.Done(), broker: p.Conn().HostBrokerID()}
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
	s.live.Store(newLiveConn(p))
	s.reason, s.waiting = "", false
	s.signal()
}

// Replace puts p behind the switch in place of the process there now, in
// one step: no call is refused or waits, calls from now on go to p, and
// calls in flight finish on the process they started on. It returns a
// drain that waits until the replaced process has no call in flight (nil
// error at once when there was none): the blue-green switch of an upgrade
// waits on it before stopping the old process.
func (s *Switch) Replace(p *Process) (drain func(ctx context.Context) error) {
	s.mu.Lock()
	old := s.live.Swap(newLiveConn(p))
	s.reason, s.waiting = "", false
	s.signal()
	s.mu.Unlock()
	return func(ctx context.Context) error {
		if old == nil {
			return nil
		}
		return waitIdle(ctx, &old.inflight)
	}
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
func (s *Switch) Drain(ctx context.Context) error { return waitIdle(ctx, &s.inflight) }

// waitIdle waits until n is 0 or ctx ends.
func waitIdle(ctx context.Context, n *atomic.Int64) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for n.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// release ends a call counted by acquire.
func (s *Switch) release(l *liveConn) {
	l.inflight.Add(-1)
	s.inflight.Add(-1)
}

// hold counts a call in flight on l.
func (s *Switch) hold(l *liveConn) {
	s.inflight.Add(1)
	l.inflight.Add(1)
}

// acquire returns the current connection, waiting while the plugin
// restarts, and counts the call in flight (on the switch and on the
// process: release ends it).
func (s *Switch) acquire(ctx context.Context) (*liveConn, error) {
	// Fast path: a live process. The call is counted before the check, so
	// a Replace that swaps the process after the check sees it in flight.
	if l := s.live.Load(); l != nil && !isClosed(l.done) {
		s.hold(l)
		if s.live.Load() == l {
			return l, nil
		}
		s.release(l) // taken out meanwhile: go the slow way
	}
	var timer <-chan time.Time
	for {
		s.mu.Lock()
		l, waiting, reason, changed := s.live.Load(), s.waiting, s.reason, s.changed
		if l != nil && !isClosed(l.done) {
			s.hold(l)
			s.mu.Unlock()
			return l, nil
		}
		s.mu.Unlock()
		if l != nil {
			// The process has just exited and its supervisor has not
			// taken it out yet: wait for what the supervisor decides.
			waiting, reason = true, "exiting"
		}
		if !waiting {
			return nil, fmt.Errorf("%w: plugin %q is %s", sdk.ErrPluginUnavailable, s.name, reason)
		}
		if timer == nil {
			t := time.NewTimer(s.wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-changed:
		case <-timer:
			return nil, fmt.Errorf("%w: plugin %q is %s and did not come back within %s", sdk.ErrPluginUnavailable, s.name, reason, s.wait)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for plugin %q: %w", sdk.ErrPluginUnavailable, s.name, ctx.Err())
		}
	}
}

// Invoke implements grpc.ClientConnInterface.
func (s *Switch) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	l, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer s.release(l)
	return s.exitedDuring(ctx, l.done, l.conn.Invoke(ctx, method, args, reply, opts...))
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
	l, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer s.release(l)
	return l.conn.NewStream(ctx, desc, method, opts...)
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
