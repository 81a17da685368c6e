package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/mtls"
	"github.com/mikrobill/mikrobill/sdk/internal/wire"
)

// Errors of Start. Start wraps them with the plugin's name and details.
var (
	// ErrChecksumMismatch: the executable is not the one the lock file
	// names. It was not executed.
	ErrChecksumMismatch = errors.New("executable does not match its checksum")
	// ErrHandshake: the process started but did not complete the mikrobill
	// handshake (it crashed, timed out, printed something else on stdout, or
	// speaks another protocol).
	ErrHandshake = errors.New("plugin handshake failed")
)

// DefaultStartTimeout bounds a launch, from exec to a served Describe.
const DefaultStartTimeout = 10 * time.Second

// Config describes one launch of a plugin executable.
type Config struct {
	// Name is the plugin's name; its log lines appear under
	// Logger.Named(Name).
	Name string
	// Path is the executable.
	Path string
	// SHA256, when set, must equal the executable's SHA-256; a mismatch is
	// ErrChecksumMismatch and nothing runs. The executable is opened once,
	// hashed from that open file, and that open file is what runs: a file
	// put at Path after the check is never executed (see openExecutable).
	SHA256 []byte
	// Sums, when set with SHA256, remembers the executables this host has
	// hashed (SumCache): an executable whose open file has the identity
	// it had when it hashed to SHA256 is not read again. Nil hashes it at
	// every launch.
	Sums SumCache
	// Dir is the working directory; empty means the executable's folder.
	Dir string
	// Env is the plugin's entire environment apart from the handshake
	// variables Start adds. The host passes a scrubbed list (PATH, TZ, HOME,
	// MIKROBILL_PLUGIN_DATA_DIR): secrets travel through Configure only.
	Env []string
	// SocketDir is a private directory (mode 0700) under which go-plugin
	// makes the launch's unix sockets; empty means the system's temporary
	// directory.
	SocketDir string
	// StartTimeout bounds the launch up to a served Describe
	// (default DefaultStartTimeout).
	StartTimeout time.Duration
	// Logger receives the plugin's forwarded log lines and the launcher's.
	Logger hclog.Logger
	// LogLevel is the level the plugin should log at (default "info").
	LogLevel string
	// Host is offered to the plugin over the go-plugin broker; nil offers
	// nothing.
	Host sdk.Host
	// InsecureNoTLS turns mutual TLS off. It exists to measure what TLS
	// costs; never use it otherwise.
	InsecureNoTLS bool
	// DialOptions are added to the gRPC dial options (metrics interceptors).
	DialOptions []grpc.DialOption
}

// Process is one running plugin process.
type Process struct {
	name     string
	pc       *plugin.Client
	conn     *Conn
	run      *procRunner
	describe *sdk.DescribeResponse
	loadTime time.Duration
}

// Start launches a plugin and returns once it serves: the handshake is done,
// mutual TLS is up and Describe answered. On failure nothing is left
// running. The launch ends with ctx as well as with cfg.StartTimeout: when
// ctx ends first, a process still in its handshake is killed and Start
// returns at once with an error that matches ctx.Err() and says its cause;
// with ctx already ended no process starts. Once Start has returned the
// process, ctx no longer matters to it.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if cfg.Name == "" || cfg.Path == "" {
		return nil, errors.New("client.Start needs a plugin name and an executable path")
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	// The process runs in its own folder: a relative path would be looked
	// up from there.
	if abs, err := filepath.Abs(cfg.Path); err == nil {
		cfg.Path = abs
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Dir(cfg.Path)
	}
	begin := time.Now()

	var tlsCfg *tls.Config
	var bundle []byte
	env := append([]string(nil), cfg.Env...)
	if !cfg.InsecureNoTLS {
		pair, err := mtls.NewLaunchPair()
		if err != nil {
			return nil, fmt.Errorf("prepare mutual TLS: %w", err)
		}
		tlsCfg, bundle = pair.Host, pair.PluginBundle
		env = append(env, wire.EnvClientCert+"="+string(pair.HostCertPEM), wire.EnvTLSFD+"=3")
	}

	exe, err := openExecutable(cfg.Path, cfg.SHA256, cfg.Sums)
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{max: 4096}
	run := &procRunner{name: cfg.Name, path: cfg.Path, exe: exe, dir: cfg.Dir, logger: cfg.Logger, done: make(chan struct{}), tlsBundle: bundle}
	if cfg.LogLevel != "" {
		env = append(env, wire.EnvLogLevel+"="+cfg.LogLevel)
	}

	gpLog := &launchLogger{Logger: cfg.Logger}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: VersionedPlugins(cfg.Host),
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error) {
			return run.prepare(cmd.Env, env, socketDir)
		},
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           gpLog,
		StartTimeout:     cfg.StartTimeout,
		TLSConfig:        tlsCfg,
		GRPCDialOptions:  append(wire.DialOptions(), cfg.DialOptions...),
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: cfg.SocketDir},
		Stderr:           tail,
		SyncStdout:       &lineLogger{log: cfg.Logger.Named(cfg.Name), what: "plugin wrote to stdout after the handshake"},
		SyncStderr:       &lineLogger{log: cfg.Logger.Named(cfg.Name), what: "plugin wrote to stderr"},
	})

	fail := func(err error) (*Process, error) {
		// go-plugin's Kill waits for its goroutines and removes the socket
		// directory; its warning that a plugin which never served "failed to
		// exit gracefully" would only mislead.
		gpLog.quiet.Store(true)
		pc.Kill()
		run.cleanup()
		return nil, err
	}
	// go-plugin's handshake knows only its start timeout: when ctx ends
	// first, the process is killed, which ends the handshake at once.
	stopAbandon := context.AfterFunc(ctx, run.abandon)
	defer stopAbandon()
	given := func() error { return &givenUpError{name: cfg.Name, cause: context.Cause(ctx), ctxErr: ctx.Err()} }
	if ctx.Err() != nil {
		run.abandon()
		return fail(given())
	}
	cp, err := pc.Client()
	if err != nil {
		if ctx.Err() != nil {
			return fail(given())
		}
		return fail(handshakeError(err, run.exitedSoon(), tail.String()))
	}
	if tlsCfg != nil && !run.offeredCert() {
		return fail(fmt.Errorf("%w: the plugin offered no TLS certificate: its handshake line has no sixth field. A Go plugin gets one from sdk.Serve; a plugin in another language must read its key and certificate from the descriptor MIKROBILL_PLUGIN_TLS_FD names, serve mutual TLS with them and put the certificate (DER, base64 without padding) in the sixth field (docs/plugin-protocol.md)", ErrHandshake))
	}
	conn, err := Dispense(cp)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrHandshake, err))
	}
	p := &Process{name: cfg.Name, pc: pc, conn: conn, run: run}

	dctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout-time.Since(begin))
	defer cancel()
	desc, err := NewPlugin(conn.ClientConn(), conn.HostBrokerID).Describe(dctx, &sdk.DescribeRequest{})
	if err != nil {
		if ctx.Err() != nil {
			return fail(given())
		}
		if exit := run.exitedSoon(); exit != nil {
			return fail(handshakeError(err, exit, tail.String()))
		}
		return fail(fmt.Errorf("%w: Describe: %v (the plugin must serve mikrobill.plugin.v1.PluginService over the mutual TLS of the handshake; docs/plugin-protocol.md)", ErrHandshake, err))
	}
	if !stopAbandon() && ctx.Err() != nil {
		return fail(given()) // ctx ended just now: the process is being killed
	}
	p.describe = desc
	p.loadTime = time.Since(begin)
	return p, nil
}

// givenUpError is a launch given up because its context ended: it says the
// context's cause and matches both the cause and ctx.Err() (errors.Is with
// context.Canceled or context.DeadlineExceeded).
type givenUpError struct {
	name          string
	cause, ctxErr error
}

func (e *givenUpError) Error() string {
	return "the launch of plugin " + e.name + " was given up before it was ready: " + e.cause.Error()
}

func (e *givenUpError) Unwrap() []error { return []error{e.cause, e.ctxErr} }

// Conn returns the connection to the plugin.
func (p *Process) Conn() *Conn { return p.conn }

// Pid returns the plugin's process id.
func (p *Process) Pid() int { return p.run.pid }

// Describe returns what the plugin said about itself at start.
func (p *Process) Describe() *sdk.DescribeResponse { return p.describe }

// LoadTime is how long the launch took, from Start to a served Describe.
func (p *Process) LoadTime() time.Duration { return p.loadTime }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.run.done }

// ExitErr returns how the process exited, once Done is closed.
func (p *Process) ExitErr() error { return p.run.err() }

// Stop stops the plugin gracefully: go-plugin's controller shuts the
// plugin's server down, the plugin runs its Shutdown, and the process exits.
// When ctx ends first, the process group is killed. Stop cleans up the
// connection and the launch's socket directory either way.
func (p *Process) Stop(ctx context.Context) error {
	p.closeClient() // asks the plugin to shut down
	var err error
	select {
	case <-p.run.done:
	case <-ctx.Done():
		err = fmt.Errorf("plugin %q did not stop in time; killed", p.name)
		p.run.killGroup()
		<-p.run.done
	}
	p.awaitExited()
	p.run.cleanup()
	return err
}

// awaitExited waits (briefly) until go-plugin has noticed the exit: its
// goroutine logs the exit and then marks the client exited, so after this
// nothing of the launch writes to the logger any more.
func (p *Process) awaitExited() {
	deadline := time.Now().Add(2 * time.Second)
	for !p.pc.Exited() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// Kill kills the plugin's process group at once and cleans up.
func (p *Process) Kill() {
	p.run.killGroup()
	<-p.run.done
	p.closeClient()
	p.awaitExited()
	p.run.cleanup()
}

// closeClient closes the gRPC connection and broker; on a live plugin it
// also asks it to shut down (go-plugin's controller). go-plugin's own Kill
// is not used: it waits a fixed two seconds and logs warnings for plugins
// that have already exited.
func (p *Process) closeClient() {
	if cp, err := p.pc.Client(); err == nil {
		_ = cp.Close()
	}
}

// openExecutable opens a plugin's executable for one launch and, when want
// is set, checks its SHA-256 read from the open file. The launch then
// executes this open file, not the path (procRunner.prepare), so what was
// hashed is what runs: a file renamed, swapped or linked in at the path
// after the check is never executed.
//
// Why an open file rather than a private copy of the verified bytes: the
// plugin keeps its real location. The kernel names the file behind
// /proc/self/fd/N by its path, so a Go plugin's os.Executable, and a Node.js
// or Python entry script that resolves its own path (require('./lib'),
// imports beside the script), still find the files of their folder; a copy
// in the runtime directory would break them, could land on a noexec /tmp,
// and would cost the executable's size per running plugin. A shebang script
// works too: the kernel hands its interpreter the path it executed (the
// link to "/proc/self/fd/N" that names the process, namedExecPath) as the
// script's path, and the interpreter opens it again, which works because
// fd N is inherited and stays open for the life of the process. What this
// does not cover is the same file being rewritten in place between the
// hash and the exec, which needs write permission on the executable itself
// (not only on its folder); keep plugin files writable by their owner only.
//
// The file is opened non-blocking and must be a regular file: a named pipe
// at the path never blocks the host.
func openExecutable(path string, want []byte, sums SumCache) (*os.File, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	if want == nil {
		return f, nil
	}
	id, identified := identify(fi)
	if identified && sums != nil && sums.Known(path, id, want) {
		return f, nil
	}
	got, err := readSHA256(f, path, nil)
	if err == nil {
		err = compareSHA256(path, got, want)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if identified && sums != nil {
		sums.Hashed(path, id, got)
	}
	return f, nil
}

// openRegular opens a plugin's executable non-blocking (a named pipe at
// the path never blocks the host) and checks that it is a regular file.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open the plugin's executable: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open the plugin's executable: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file (mode %s); a plugin's executable must be one", path, fi.Mode())
	}
	return f, fi, nil
}

// HashAhead hashes the executable at path as a launch with the same
// SHA256 and Sums would (Config), from one open file, and tells sums the
// sum under that file's identity, so that the launch finds it and reads
// nothing. It does nothing when sums knows the file already, or when no
// identity is taken (outside Linux). stop, checked before each megabyte,
// abandons the hash. It reports whether it hashed. The sum is told
// whether or not it is want: the cache vouches for nothing, and the launch
// refuses a sum that differs.
func HashAhead(path string, want []byte, sums SumCache, stop func() bool) bool {
	f, fi, err := openRegular(path)
	if err != nil {
		return false
	}
	defer f.Close()
	id, ok := identify(fi)
	if !ok || sums.Known(path, id, want) {
		return false
	}
	got, err := readSHA256(f, path, stop)
	if err != nil {
		return false
	}
	sums.Hashed(path, id, got)
	return true
}

// VerifySHA256 checks a file's SHA-256 by its path. It only reports: a
// launch checks the file it executes itself (Config.SHA256).
func VerifySHA256(path string, want []byte) error {
	got, err := FileSHA256(path)
	if err != nil {
		return err
	}
	return compareSHA256(path, got, want)
}

func compareSHA256(path string, got, want []byte) error {
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("%w: %s has sha256 %s, the lock file says %s", ErrChecksumMismatch, path, hex.EncodeToString(got), hex.EncodeToString(want))
	}
	return nil
}

// FileSHA256 returns a file's SHA-256.
func FileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readSHA256(f, path, nil)
}

// errStopped is readSHA256's error when its stop said so.
var errStopped = errors.New("hash stopped")

// readSHA256 hashes what is left to read of r; stop, when not nil, is
// checked before each megabyte and ends the hash with errStopped.
func readSHA256(r io.Reader, path string, stop func() bool) ([]byte, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if stop != nil && stop() {
			return nil, errStopped
		}
		n, err := io.ReadFull(r, buf)
		h.Write(buf[:n])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return h.Sum(nil), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// handshakeError turns go-plugin's start errors into ones an operator can
// act on, with how the process exited (nil when it is still running) and its
// last output.
func handshakeError(err error, exit *exitInfo, output string) error {
	msg := err.Error()
	var why string
	switch {
	case exit != nil && !strings.Contains(msg, "incompatible"):
		why = "it exited (" + exit.String() + ") before the handshake"
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		first := strings.TrimPrefix(strings.SplitN(msg, "\n", 2)[0], "Unrecognized remote plugin message: ")
		if first == "" {
			why = "it closed stdout without a handshake line"
		} else {
			why = fmt.Sprintf("it printed %q on stdout instead of the handshake; a plugin must write nothing to stdout (log to stderr) and call sdk.Serve, or, in another language, print only the handshake line 1|1|unix|SOCKET|grpc|CERTIFICATE (docs/plugin-protocol.md)", first)
		}
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		why = "it did not complete the handshake within the start timeout; it may be stuck before calling sdk.Serve (in another language: before printing the handshake line; check it sees MIKROBILL_PLUGIN_MAGIC_COOKIE and PLUGIN_PROTOCOL_VERSIONS), or the machine is overloaded (raise plugins.start_timeout if it just needs longer)"
	case strings.Contains(msg, "plugin exited before we could connect"), strings.Contains(msg, "plugin exited"):
		why = "it exited before the handshake"
	case strings.Contains(msg, "incompatible API version"), strings.Contains(msg, "incompatible core API version"):
		why = msg + "; rebuild the plugin with a mikrobill SDK that speaks a protocol version this host supports (in another language: the handshake line's first field must be 1 and its second one of the versions in PLUGIN_PROTOCOL_VERSIONS)"
	case strings.Contains(msg, "unsupported plugin protocol"):
		why = "it speaks go-plugin's net/rpc protocol; mikrobill plugins speak gRPC: sdk.Serve in Go; in another language the handshake line's fifth field is \"grpc\" (docs/plugin-protocol.md)"
	default:
		why = msg
	}
	if out := strings.TrimSpace(output); out != "" {
		return fmt.Errorf("%w: %s; its last output:\n%s", ErrHandshake, why, out)
	}
	return fmt.Errorf("%w: %s", ErrHandshake, why)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lineLogger logs whole lines written to it.
type lineLogger struct {
	mu   sync.Mutex
	log  hclog.Logger
	what string
	buf  bytes.Buffer
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			break
		}
		l.log.Warn(l.what, "line", strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

// launchLogger is the logger go-plugin's client gets. Once quiet, it drops
// go-plugin's warnings about killing a plugin, which follow every failed
// start and only repeat what the start error already says.
type launchLogger struct {
	hclog.Logger
	quiet atomic.Bool
}

func (l *launchLogger) Warn(msg string, args ...any) {
	if l.quiet.Load() && (msg == "plugin failed to exit gracefully" || msg == "error closing client during Kill") {
		return
	}
	l.Logger.Warn(msg, args...)
}
