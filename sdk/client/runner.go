package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// procRunner runs a plugin as a child process in its own process group that
// is killed when the host dies (see sysProcAttr).
type procRunner struct {
	name   string
	path   string
	dir    string
	logger hclog.Logger
	// exe is the executable, opened (and verified) by openExecutable; the
	// process runs exactly this file. Closed once the process has started
	// (the process has its own descriptor) or the launch gave up.
	exe     *os.File
	exeOnce sync.Once

	cmd       *exec.Cmd
	socketDir string
	tlsBundle []byte   // the plugin's one-time key and certificate, for fd 3
	tlsPipe   *os.File // the read end, inherited as fd 3
	stdout    io.ReadCloser
	stderr    io.ReadCloser
	pid       int

	done    chan struct{}
	mu      sync.Mutex
	waitErr error
	// killed is set when the host killed the process (so its exit is not
	// the plugin's own doing).
	killed atomic.Bool
	// abandoned is set (under mu) when the launch is given up: a process
	// that starts after it is killed at once.
	abandoned bool
}

var _ runner.Runner = (*procRunner)(nil)

// prepare builds the command from go-plugin's handshake variables and the
// caller's environment. The process runs the open file r.exe: it is
// inherited as a descriptor and executed through it (execPath), never looked
// up by its path again; argv[0] is still the path, for ps and the plugin.
func (r *procRunner) prepare(handshakeEnv, env []string, socketDir string) (*procRunner, error) {
	r.socketDir = socketDir
	cmd := &exec.Cmd{Args: []string{r.path}, Dir: r.dir}
	cmd.Env = append(append([]string(nil), env...), handshakeEnv...)
	cmd.Stdin = nil
	cmd.SysProcAttr = sysProcAttr()
	var err error
	if r.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	r.stdout = &firstLine{ReadCloser: r.stdout}
	if r.tlsBundle != nil {
		// The key travels through a pipe the plugin inherits as fd 3: not
		// the environment, not a file. It fits the pipe's buffer, so the
		// write end can be filled and closed before the plugin starts.
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		_, werr := pw.Write(r.tlsBundle)
		pw.Close()
		if werr != nil {
			pr.Close()
			return nil, fmt.Errorf("hand the plugin its key: %w", werr)
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, pr)
		r.tlsPipe = pr
	}
	// ExtraFiles[i] is descriptor 3+i in the child.
	cmd.ExtraFiles = append(cmd.ExtraFiles, r.exe)
	cmd.Path = r.namedExecPath(execPath(2 + len(cmd.ExtraFiles)))
	if r.stderr, err = cmd.StderrPipe(); err != nil {
		return nil, err
	}
	r.cmd = cmd
	return r, nil
}

func (r *procRunner) Start(context.Context) error {
	r.mu.Lock()
	abandoned := r.abandoned
	r.mu.Unlock()
	err := errLaunchAbandoned
	if !abandoned {
		err = startProcess(r.cmd)
	}
	if r.tlsPipe != nil {
		r.tlsPipe.Close() // the plugin has its own copy now
	}
	r.closeExe() // likewise
	if err != nil {
		close(r.done)
		return fmt.Errorf("start %s: %w", r.path, err)
	}
	r.mu.Lock()
	r.pid = r.cmd.Process.Pid
	abandoned = r.abandoned
	r.mu.Unlock()
	if abandoned {
		r.killGroup()
	}
	r.logger.Debug("plugin process started", "plugin", r.name, "path", r.path, "pid", r.pid)
	return nil
}

func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.mu.Lock()
	r.waitErr = err
	r.mu.Unlock()
	// The plugin's own children share its process group: take them along.
	killProcessGroup(r.pid)
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	return err
}

// exitInfo is how a process ended.
type exitInfo struct{ err error }

func (e *exitInfo) String() string {
	if e.err == nil {
		return "exit status 0"
	}
	return e.err.Error()
}

// exitedSoon waits briefly for the process to end on its own, for error
// messages after a failed handshake; nil means it is still running or the
// host killed it.
func (r *procRunner) exitedSoon() *exitInfo {
	if r.pid == 0 {
		return nil
	}
	select {
	case <-r.done:
		err := r.err()
		var ee *exec.ExitError
		if r.killed.Load() && errors.As(err, &ee) && !ee.Exited() {
			return nil // ended by the host's signal, not on its own
		}
		return &exitInfo{err: err}
	case <-time.After(250 * time.Millisecond):
		return nil
	}
}

func (r *procRunner) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitErr
}

// errLaunchAbandoned is why a process was not started: its launch had
// been given up.
var errLaunchAbandoned = errors.New("the launch was given up before the process started")

// abandon gives the launch up: the process is killed, now if it runs, or as
// soon as it starts; go-plugin's handshake then ends at once instead of
// waiting out the start timeout.
func (r *procRunner) abandon() {
	r.mu.Lock()
	r.abandoned = true
	pid := r.pid
	r.mu.Unlock()
	if pid > 0 {
		r.killed.Store(true)
		killProcessGroup(pid)
	}
}

// killGroup sends SIGKILL to the plugin's process group.
func (r *procRunner) killGroup() {
	if r.pid > 0 {
		r.killed.Store(true)
		killProcessGroup(r.pid)
	}
}

func (r *procRunner) Kill(context.Context) error {
	if r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	r.killGroup()
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// namedExecPath gives the process the plugin's name. The kernel names a
// process (/proc/PID/comm: what top, ps -C, pgrep, killall and the kernel's
// own messages, an OOM kill's among them, show) after the last element of
// the path it executes, so every plugin executed through /proc/self/fd/N
// was called "4". A symbolic link named after the plugin, in the launch's
// private socket directory, pointing at fdPath, names the process after the
// plugin (its first 15 bytes, the kernel's limit) and still executes the
// descriptor the host verified: the kernel follows the link in the child,
// where fdPath is the child's own inherited descriptor. The link goes with
// the socket directory (cleanup). A name that cannot be a file name, or a
// link that cannot be made, leaves fdPath, and the process is called after
// the descriptor as before.
func (r *procRunner) namedExecPath(fdPath string) string {
	if r.socketDir == "" || r.name == "" || r.name == "." || r.name == ".." || strings.ContainsAny(r.name, "/\x00") {
		return fdPath
	}
	link := filepath.Join(r.socketDir, r.name)
	if err := os.Symlink(fdPath, link); err != nil {
		r.logger.Debug("plugin process keeps the descriptor's name", "plugin", r.name, "error", err)
		return fdPath
	}
	return link
}

// cleanup removes the launch's socket directory (go-plugin made it for this
// launch only) and closes the executable if the process never started.
func (r *procRunner) cleanup() {
	r.closeExe()
	if r.socketDir != "" {
		_ = os.RemoveAll(r.socketDir)
	}
}

func (r *procRunner) closeExe() {
	r.exeOnce.Do(func() {
		if r.exe != nil {
			r.exe.Close()
		}
	})
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.name }
func (r *procRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

func (r *procRunner) Diagnose(context.Context) string {
	return "check that " + r.path + " is built for this platform, is executable, and calls sdk.Serve before writing anything to stdout"
}

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// offeredCert reports whether the plugin's handshake line carried a TLS
// certificate (go-plugin's sixth field).
func (r *procRunner) offeredCert() bool {
	fl, ok := r.stdout.(*firstLine)
	if !ok {
		return false
	}
	parts := strings.Split(strings.TrimSpace(fl.line()), "|")
	return len(parts) >= 6 && len(parts[5]) > 50
}

// firstLine remembers the first line read through it (the handshake).
type firstLine struct {
	io.ReadCloser
	mu   sync.Mutex
	buf  []byte
	done bool
}

func (f *firstLine) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	f.mu.Lock()
	if !f.done && n > 0 {
		if i := bytes.IndexByte(p[:n], '\n'); i >= 0 {
			f.buf, f.done = append(f.buf, p[:i]...), true
		} else if len(f.buf) < 64<<10 {
			f.buf = append(f.buf, p[:n]...)
		}
	}
	f.mu.Unlock()
	return n, err
}

func (f *firstLine) line() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.buf)
}
