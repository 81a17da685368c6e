package main

import (
	"context"
	"crypto/md5" //nolint:gosec // RouterOS's pre-6.43 login is defined with MD5
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-routeros/routeros/v3"
	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// location is one configured router and its one API connection. The
// connection is used by one operation at a time (sem), in go-routeros' sync
// mode; it is made on first use and again after it breaks, with exponential
// backoff between failed attempts.
type location struct {
	cfg  locationSettings
	tls  *tls.Config // nil without TLS
	p    *Plugin
	log  hclog.Logger
	sem  chan struct{} // held for a whole operation
	addr string

	// Guarded by sem.
	client    *routeros.Client
	connected bool // a connection has been made before (for reconnects_total)
	backoff   time.Duration
	nextDial  time.Time
	dialErr   error

	mu     sync.Mutex // guards what follows: read by health and metrics without sem
	conn   net.Conn   // the live connection, to unblock it on close
	closed bool
	st     status
}

// status is what is known of a router, for health, ListLocations and the
// metrics.
type status struct {
	checked   time.Time // last poll; zero when never polled
	reachable bool      // the API port answered (and TLS succeeded)
	loginOK   bool
	err       string // why it is down
	version   string
	uptime    time.Duration
	cpuLoad   int
	sessions  map[string]int // kind -> active sessions at the last poll
}

func (s status) up() bool { return s.reachable && s.loginOK && s.err == "" }

func newLocation(p *Plugin, cfg locationSettings) (*location, error) {
	l := &location{
		cfg:  cfg,
		p:    p,
		log:  p.logger().Named("router").With("location", cfg.ID),
		sem:  make(chan struct{}, 1),
		addr: cfg.hostPort(),
	}
	if cfg.TLS {
		t, err := cfg.tlsConfig()
		if err != nil {
			return nil, fmt.Errorf("%w: location %q: %v", sdk.ErrInvalidArgument, cfg.ID, err)
		}
		l.tls = t
	}
	return l, nil
}

func (l *location) status() status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *location) setStatus(f func(*status)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.st)
}

// unreachableError is a router that cannot be used right now. It matches
// router.ErrRouterUnreachable (and sdk.ErrUnavailable).
type unreachableError struct {
	loc, addr string
	reason    string
	// broken: the connection worked and broke. An operation that re-reads
	// the router's state first is safe to run again on a new connection.
	broken bool
	err    error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("%v: location %q (%s): %s", router.ErrRouterUnreachable, e.loc, e.addr, e.reason)
}

func (e *unreachableError) Unwrap() []error {
	if e.err == nil {
		return []error{router.ErrRouterUnreachable}
	}
	return []error{router.ErrRouterUnreachable, e.err}
}

func (l *location) unreachable(broken bool, err error, format string, args ...any) error {
	return &unreachableError{loc: l.cfg.ID, addr: l.addr, reason: fmt.Sprintf(format, args...), broken: broken, err: err}
}

// trapError is a command the router refused (!trap). It matches the sdk
// sentinel its message suggests.
type trapError struct {
	loc, word, msg, category string
	sentinel                 error
	hint                     string
}

func (e *trapError) Error() string {
	s := fmt.Sprintf("%v: router %q refused %s: %s", e.sentinel, e.loc, e.word, e.msg)
	if e.hint != "" {
		s += "; " + e.hint
	}
	return s
}

func (e *trapError) Unwrap() error { return e.sentinel }

// newTrap classifies the router's message.
func newTrap(loc, word, msg, category string) *trapError {
	t := &trapError{loc: loc, word: word, msg: msg, category: category, sentinel: sdk.ErrInvalidArgument}
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "no such item"):
		t.sentinel = sdk.ErrConflict
		t.hint = "the entry changed on the router meanwhile; retry"
	case strings.Contains(m, "already have"), strings.Contains(m, "already exists"):
		t.sentinel = sdk.ErrConflict
		t.hint = "the entry was created on the router meanwhile; retry"
	case strings.Contains(m, "does not match any value"):
		t.sentinel = sdk.ErrFailedPrecondition
		t.hint = "a name it refers to (a profile, a pool, a hotspot server) does not exist on the router; create it first"
	case strings.Contains(m, "permission"):
		t.sentinel = sdk.ErrFailedPrecondition
		t.hint = "give the router user the plugin logs in as a group with the api, read and write policies"
	case strings.Contains(m, "no such command"):
		t.sentinel = sdk.ErrFailedPrecondition
		t.hint = "this RouterOS lacks the menu; is the package (hotspot, ppp) installed and the RouterOS version supported?"
	case strings.Contains(m, "in use"):
		t.sentinel = sdk.ErrFailedPrecondition
	}
	return t
}

// isNoSuchItem reports a trap saying the entry is gone.
func isNoSuchItem(err error) bool {
	var t *trapError
	return errors.As(err, &t) && strings.Contains(strings.ToLower(t.msg), "no such item")
}

// errClosed is an operation on a location that was removed or changed by
// Configure while it waited.
func (l *location) errClosed() error {
	return l.unreachable(false, nil, "the location was removed or its settings changed; retry")
}

// do runs op with the location's connection, connecting first if needed.
// op must be idempotent, re-reading the router's state before it writes:
// when the connection breaks under it, it runs once more on a new
// connection. All operations of this plugin are written that way.
func (l *location) do(ctx context.Context, op func(s *session) error) error {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for router %q: %w", l.cfg.ID, ctx.Err())
	}
	defer func() { <-l.sem }()
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return l.errClosed()
		}
		if err := l.connect(ctx); err != nil {
			return err
		}
		err := op(&session{l: l, ctx: ctx})
		var ue *unreachableError
		if err == nil || attempt > 0 || ctx.Err() != nil || !errors.As(err, &ue) || !ue.broken {
			return err
		}
		l.log.Debug("connection lost; running the operation again on a new connection", "error", err)
	}
}

// connect makes the connection when there is none, unless the last attempt
// failed less than the backoff ago.
func (l *location) connect(ctx context.Context) error {
	if l.client != nil {
		return nil
	}
	if now := time.Now(); now.Before(l.nextDial) {
		return l.unreachable(false, l.dialErr, "%v (next attempt in %s)", l.dialErr, l.nextDial.Sub(now).Round(time.Millisecond))
	}
	cmdTimeout, dialTimeout := l.p.timeouts()
	client, conn, err := l.dial(ctx, dialTimeout, cmdTimeout)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up: not the router's fault.
			return fmt.Errorf("connect to router %q: %w", l.cfg.ID, ctx.Err())
		}
		base, maxBackoff := l.p.backoffs()
		l.backoff = min(max(l.backoff*2, base), maxBackoff)
		l.nextDial = time.Now().Add(l.backoff)
		l.dialErr = err
		l.log.Warn("cannot connect to the router", "address", l.addr, "error", err, "retry_in", l.backoff.String()) // a Duration reaches the host's log as nanoseconds
		var le *loginError
		l.setStatus(func(s *status) {
			s.reachable = errors.As(err, &le)
			s.loginOK = false
			s.err = err.Error()
		})
		return l.unreachable(false, err, "%v", err)
	}
	l.client = client
	l.backoff, l.nextDial, l.dialErr = 0, time.Time{}, nil
	l.mu.Lock()
	l.conn = conn
	l.st.reachable, l.st.loginOK, l.st.err = true, true, ""
	l.mu.Unlock()
	if l.connected {
		l.p.stats.reconnect(l.cfg.ID)
		l.log.Info("reconnected to the router", "address", l.addr)
	} else {
		l.log.Debug("connected to the router", "address", l.addr)
	}
	l.connected = true
	return nil
}

// loginError is a router that answered but refused the login.
type loginError struct{ err error }

func (e *loginError) Error() string { return e.err.Error() }
func (e *loginError) Unwrap() error { return e.err }

// dial connects and logs in. It never uses routeros.Dial*, whose client
// logs to stdout before a handler can be set.
func (l *location) dial(ctx context.Context, dialTimeout, cmdTimeout time.Duration) (*routeros.Client, net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(dctx, "tcp", l.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; check that the router is on and its %s service is enabled on port %d", err, l.service(), l.cfg.Port)
	}
	if l.tls != nil {
		tc := tls.Client(conn, l.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	// go-routeros reads through the guard, which refuses a reply word of
	// gigabytes before it is allocated.
	client, err := routeros.NewClient(guardWire(conn, maxReplyWord))
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	// Before the first command: the default handler writes to stdout.
	client.SetLogHandler(newRouterosLog(l.log))
	s := &session{l: l, ctx: ctx, client: client, conn: conn}
	if err := s.login(cmdTimeout); err != nil {
		_ = client.Close()
		return nil, nil, err
	}
	return client, conn, nil
}

func (l *location) service() string {
	if l.tls != nil {
		return "api-ssl"
	}
	return "api"
}

// drop closes the connection; the next operation makes a new one.
func (l *location) drop() {
	if l.client != nil {
		_ = l.client.Close()
		l.client = nil
	}
	l.mu.Lock()
	l.conn = nil
	l.mu.Unlock()
}

// close stops the location for good: the connection is closed at once,
// which fails a command in flight.
func (l *location) close() {
	l.mu.Lock()
	l.closed = true
	if l.conn != nil {
		_ = l.conn.SetDeadline(time.Unix(1, 0))
	}
	l.mu.Unlock()
	go func() {
		l.sem <- struct{}{}
		l.drop()
		<-l.sem
	}()
}

// session is the connection as one operation uses it.
type session struct {
	l   *location
	ctx context.Context
	// client and conn are set during login only; otherwise the location's.
	client *routeros.Client
	conn   net.Conn
}

// login logs in with the 6.43+ method (=name= =password=) and, when the
// router asks for it, the challenge of older RouterOS: the router answers
// the first /login with =ret=, or refuses it and answers a bare /login with
// one.
func (s *session) login(timeout time.Duration) error {
	user, password := s.l.cfg.Username, s.l.cfg.Password
	refused := func(err error) error {
		var t *trapError
		if errors.As(err, &t) {
			return &loginError{fmt.Errorf("login as %q refused: %s; check the username and password of location %q and that the user's group has the api policy", user, t.msg, s.l.cfg.ID)}
		}
		var ue *unreachableError
		if errors.As(err, &ue) {
			return fmt.Errorf("login: %s", ue.reason)
		}
		return fmt.Errorf("login: %w", err)
	}
	_, done, err := s.runTimeout(timeout, "/login", "=name="+user, "=password="+password)
	if err != nil {
		var t *trapError
		if !errors.As(err, &t) {
			return refused(err)
		}
		// Perhaps RouterOS before 6.43, which wants the challenge.
		_, done2, err2 := s.runTimeout(timeout, "/login")
		if err2 != nil || done2["ret"] == "" {
			return refused(err)
		}
		done = done2
	}
	challenge, ok := done["ret"]
	if !ok {
		return nil
	}
	b, err := hex.DecodeString(challenge)
	if err != nil {
		return fmt.Errorf("login: the router's challenge %q is not hex", challenge)
	}
	h := md5.New() //nolint:gosec
	h.Write([]byte{0})
	h.Write([]byte(password))
	h.Write(b)
	response := "00" + hex.EncodeToString(h.Sum(nil))
	if _, _, err := s.runTimeout(timeout, "/login", "=name="+user, "=response="+response); err != nil {
		return refused(err)
	}
	return nil
}

// run sends one command and returns the attributes of its !re replies. A
// trap is a *trapError and leaves the connection usable; any other failure
// closes the connection and is an *unreachableError (or the caller's
// context error).
func (s *session) run(word string, args ...string) ([]map[string]string, error) {
	cmdTimeout, _ := s.l.p.timeouts()
	rows, _, err := s.runTimeout(cmdTimeout, word, args...)
	return rows, err
}

// runTimeout is run with a timeout, and the attributes of !done too.
func (s *session) runTimeout(timeout time.Duration, word string, args ...string) ([]map[string]string, map[string]string, error) {
	l := s.l
	client, conn := s.client, s.conn
	if client == nil {
		client = l.client
		l.mu.Lock()
		conn = l.conn
		l.mu.Unlock()
	}
	if client == nil || conn == nil {
		return nil, nil, l.unreachable(true, nil, "not connected")
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	// go-routeros' sync mode does not watch the context: the connection's
	// deadline bounds the command, and the context ending moves it to now.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })

	start := time.Now()
	reply, err := client.RunArgsContext(ctx, append([]string{word}, args...))
	elapsed := time.Since(start)
	stopped := stop()

	var de *routeros.DeviceError
	outcome := outcomeOK
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	switch {
	case err == nil:
	case errors.As(err, &de) && de.Sentence.Word == "!trap":
		outcome = outcomeTrap
		err = newTrap(l.cfg.ID, word, de.Sentence.Map["message"], de.Sentence.Map["category"])
	case closed:
		outcome = outcomeCanceled
		err = l.errClosed()
	case s.ctx.Err() != nil:
		outcome = outcomeCanceled
		err = fmt.Errorf("%s on router %q: %w", word, l.cfg.ID, s.ctx.Err())
	case ctx.Err() != nil || isTimeout(err):
		outcome = outcomeTimeout
		err = l.unreachable(false, context.DeadlineExceeded, "no answer to %s within %s", word, timeout)
	case errors.As(err, &de):
		outcome = outcomeError
		err = l.unreachable(true, nil, "the router ended the session (!fatal %s) during %s", de.Sentence.Map["message"], word)
	default:
		outcome = outcomeError
		err = l.unreachable(true, err, "connection lost during %s: %v", word, err)
	}
	l.p.stats.command(l.cfg.ID, word, outcome, elapsed)
	l.log.Trace("command", "command", word, "outcome", outcome, "duration", elapsed)

	switch {
	case outcome == outcomeOK || outcome == outcomeTrap:
		if !stopped {
			// The deadline is being moved to now: the next command would
			// fail. Start again with a new connection.
			l.drop()
		} else {
			_ = conn.SetDeadline(time.Time{})
		}
	case s.client != nil:
		// During login: dial closes it.
	default:
		l.drop()
		if outcome == outcomeTimeout {
			l.setStatus(func(st *status) { st.err = err.Error() })
		}
	}
	if err != nil {
		return nil, nil, err
	}
	rows := make([]map[string]string, 0, len(reply.Re))
	for _, re := range reply.Re {
		rows = append(rows, re.Map)
	}
	var done map[string]string
	if reply.Done != nil {
		done = reply.Done.Map
	}
	return rows, done, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
