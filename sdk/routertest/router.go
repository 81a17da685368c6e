package routertest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Options configure a Router. The zero value is a RouterOS 7.18 router with
// user "admin" and an empty password, serving plain (non-TLS) API.
type Options struct {
	// Username is the API user; default "admin".
	Username string
	// Password is the API user's password; default "" (empty).
	Password string
	// LegacyLogin makes the router log in the way RouterOS did before 6.43:
	// "/login" answers !done =ret=<32 hex challenge>, then
	// "/login =name=<user> =response=00<hex md5(0x00 + password + challenge bytes)>"
	// logs in. A plain "/login =name= =password=" does not log in: like a
	// pre-6.43 router, which ignored the password, it answers with a
	// challenge (that is what go-routeros' Login relies on to fall back).
	// When false (6.43 and later), "/login =name= =password=" is the only
	// login, and a "/login" without a password is refused with !trap.
	LegacyLogin bool
	// Version is what /system/resource prints as version; default
	// "7.18.2 (stable)".
	Version string
	// NoEmpty makes the router behave like RouterOS before 7.18: a print
	// with no rows answers just !done (7.18 and later answer !empty, then
	// !done).
	NoEmpty bool
	// LegacyDurations prints time values as RouterOS 6 did ("1d02:03:04",
	// "00:30:00") instead of RouterOS 7's "1d2h3m4s"; default false.
	LegacyDurations bool
	// Latency, when set, holds every command this long before the router
	// applies and answers it, as a slow link or a busy router would
	// (commands on one connection are still handled in turn). Default 0:
	// answers go out at once, faster than any real router; see the package
	// doc about go-routeros' async mode.
	Latency time.Duration
	// TLS, when set, makes the router serve api-ssl (TLS) instead of plain
	// API.
	TLS *tls.Config
	// Logf, when set, receives a line for every connection and command
	// (t.Logf fits). Passwords and login responses are redacted. Optional.
	Logf func(format string, args ...any)
}

// DefaultVersion is the RouterOS version a Router reports unless
// Options.Version is set.
const DefaultVersion = "7.18.2 (stable)"

// Command is one command (sentence) the router received.
type Command struct {
	// Word is the command word, e.g. "/ip/hotspot/user/add".
	Word string
	// Attrs are the attribute words: "=name=bob" is Attrs["name"] = "bob"
	// ("=.proplist=name" is Attrs[".proplist"]). They are kept as sent,
	// passwords included: Commands is for tests, never logged.
	Attrs map[string]string
	// Queries are the query words as sent, in order, e.g. "?name=bob",
	// "?-disabled".
	Queries []string
	// Tag is the command's .tag, "" when untagged.
	Tag string
}

// Fault is what Inject does to one command.
type Fault struct {
	// Delay waits before answering (and before applying the command). The
	// wait ends early, without an answer, when the connection is dropped
	// (Close, Restart, Stop), and with "!trap =category=2
	// =message=interrupted" when a /cancel names the command's tag.
	Delay time.Duration
	// Drop closes the connection without answering (after Delay); the
	// command is not applied.
	Drop bool
	// Trap answers "!trap =message=<Trap>" (then !done); the command is
	// not applied.
	Trap string
	// Fatal answers "!fatal <Fatal>" and closes the connection; the
	// command is not applied.
	Fatal string
	// RestartAfter applies the command, then Restarts the router before
	// answering: the router rebooted mid-command.
	RestartAfter bool
}

type pendingFault struct {
	word  string
	fault Fault
}

// Router is a fake MikroTik router speaking the RouterOS API on a loopback
// TCP port. It is safe for concurrent use. Create one with Start (tests) or
// New and Listen.
type Router struct {
	opts Options

	mu       sync.Mutex
	tables   map[string]*table
	nextID   uint64
	faults   []pendingFault
	commands []Command
	logins   int
	conns    map[*conn]struct{}
	ln       net.Listener
	addr     string // fixed by the first Listen; Resume reuses it
	closed   bool
	started  time.Time // boot time, for /system/resource uptime
	wg       sync.WaitGroup
}

// New returns a router with the default tables (see Rows) that does not
// listen yet: call Listen.
func New(opts Options) *Router {
	if opts.Username == "" {
		opts.Username = "admin"
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	r := &Router{
		opts:    opts,
		tables:  make(map[string]*table),
		conns:   make(map[*conn]struct{}),
		started: time.Now(),
	}
	r.seedDefaults()
	return r
}

// Start returns a router listening on 127.0.0.1 on a free port, closed when
// the test ends.
func Start(t testing.TB, opts Options) *Router {
	t.Helper()
	r := New(opts)
	if err := r.Listen("127.0.0.1:0"); err != nil {
		t.Fatalf("routertest: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// Listen starts serving on addr ("127.0.0.1:0" picks a free port) in the
// background. A router listens on one address for its life: Resume listens
// again on the same one.
func (r *Router) Listen(addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("routertest: listen: router is closed")
	}
	if r.ln != nil {
		return fmt.Errorf("routertest: listen: already listening on %s", r.addr)
	}
	return r.listenLocked(addr)
}

func (r *Router) listenLocked(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("routertest: listen: %w", err)
	}
	r.addr = ln.Addr().String()
	if r.opts.TLS != nil {
		ln = tls.NewListener(ln, r.opts.TLS)
	}
	r.ln = ln
	r.wg.Add(1)
	go r.accept(ln)
	r.logf("routertest: listening on %s (tls=%v)", r.addr, r.opts.TLS != nil)
	return nil
}

func (r *Router) accept(ln net.Listener) {
	defer r.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			r.mu.Lock()
			current := r.ln == ln
			r.mu.Unlock()
			if !current {
				return // Stop or Close
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.logf("routertest: accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		r.mu.Lock()
		if r.closed || r.ln != ln {
			r.mu.Unlock()
			_ = nc.Close()
			continue
		}
		c := newConn(r, nc)
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		r.logf("routertest: connection from %s", nc.RemoteAddr())
		go func() {
			defer r.wg.Done()
			c.serve()
		}()
	}
}

// Addr is the address the router listens on, "127.0.0.1:NNNN" ("" before
// Listen).
func (r *Router) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// Host is the host part of Addr ("127.0.0.1").
func (r *Router) Host() string {
	h, _, _ := net.SplitHostPort(r.Addr())
	return h
}

// Port is the port part of Addr.
func (r *Router) Port() int {
	_, p, _ := net.SplitHostPort(r.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// Close stops listening, drops every connection and waits for the router's
// goroutines to end. It is safe to call more than once.
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ln := r.ln
	r.ln = nil
	r.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	r.dropConns()
	r.wg.Wait()
	return err
}

// Restart simulates a reboot: every connection is dropped at once (also
// those in the middle of a command, which get no answer), uptime starts
// again, and the router keeps its tables, its address and accepts new
// connections.
func (r *Router) Restart() {
	r.logf("routertest: restart")
	r.mu.Lock()
	r.started = time.Now()
	r.mu.Unlock()
	r.dropConns()
}

// Stop makes the router unreachable: the listener is closed (connecting is
// refused) and every connection is dropped. Resume brings it back.
func (r *Router) Stop() {
	r.logf("routertest: stop")
	r.mu.Lock()
	ln := r.ln
	r.ln = nil
	r.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	r.dropConns()
}

// Resume listens again, on the same address, after Stop. It does nothing
// when the router is listening or closed. If the address cannot be bound
// again within a second, Resume panics (a test must not silently run
// against a router that is not there).
func (r *Router) Resume() {
	deadline := time.Now().Add(time.Second)
	for {
		r.mu.Lock()
		if r.closed || r.ln != nil || r.addr == "" {
			r.mu.Unlock()
			return
		}
		err := r.listenLocked(r.addr)
		r.mu.Unlock()
		if err == nil {
			r.logf("routertest: resumed")
			return
		}
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("routertest: resume: %v", err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dropConns closes every open connection now. Connections stops counting
// them before dropConns returns.
func (r *Router) dropConns() {
	r.mu.Lock()
	cs := make([]*conn, 0, len(r.conns))
	for c := range r.conns {
		cs = append(cs, c)
		delete(r.conns, c)
	}
	r.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
}

// Connections is the number of API connections open now.
func (r *Router) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// Logins is the number of successful logins so far.
func (r *Router) Logins() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logins
}

// Commands returns every command received so far (logins included), in
// the order they arrived.
func (r *Router) Commands() []Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Command, len(r.commands))
	for i, c := range r.commands {
		out[i] = c.clone()
	}
	return out
}

// CountCommands is the number of commands received so far whose word is
// word, e.g. "/ip/hotspot/user/add".
func (r *Router) CountCommands(word string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.commands {
		if c.Word == word {
			n++
		}
	}
	return n
}

// Inject queues a fault for the next command whose word is word ("" is
// any command, /login included). Faults queue: each is used once, by the
// first command that matches it, in the order they were injected.
func (r *Router) Inject(word string, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, pendingFault{word: word, fault: f})
}

// takeFaultLocked removes and returns the first queued fault for word.
func (r *Router) takeFaultLocked(word string) (Fault, bool) {
	for i, pf := range r.faults {
		if pf.word == "" || pf.word == word {
			r.faults = append(r.faults[:i:i], r.faults[i+1:]...)
			return pf.fault, true
		}
	}
	return Fault{}, false
}

func (r *Router) logf(format string, args ...any) {
	if r.opts.Logf != nil {
		r.opts.Logf(format, args...)
	}
}

func (c Command) clone() Command {
	out := Command{Word: c.Word, Tag: c.Tag, Attrs: make(map[string]string, len(c.Attrs))}
	for k, v := range c.Attrs {
		out.Attrs[k] = v
	}
	if c.Queries != nil {
		out.Queries = append([]string(nil), c.Queries...)
	}
	return out
}
