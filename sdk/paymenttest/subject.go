package paymenttest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// InProcess serves impl inside the test through sdktest (real gRPC, mutual
// TLS) and returns its clients.
//
// An in-process Subject lets Run also see the plugin's side of a call: the
// cancel check then fails a plugin that keeps waiting on its gateway's API
// after the host's deadline has passed, which a Subject from Executable
// cannot observe. Run both.
func InProcess(t testing.TB, impl payment.Gateway) Subject {
	t.Helper()
	if impl == nil {
		t.Fatal("paymenttest.InProcess: impl is nil; pass your gateway, for example &Gateway{}")
	}
	logs := &sdktest.Buffer{}
	tw := &testWriter{t: t, copy: logs}
	t.Cleanup(tw.stop)
	logger := hclog.New(&hclog.LoggerOptions{Name: "paymenttest", Output: tw, Level: hclog.Trace, JSONFormat: true})
	h := sdktest.Serve(t, impl, sdktest.WithLogger(logger))
	s := Subject{Plugin: h.Plugin(), Gateway: h.Payment(), inProcess: true, host: h.Host, logs: logs}
	// The secret settings, when the test runs beside plugin.json (a
	// plugin's conformance_test.go does).
	if m, err := client.ReadManifest("."); err == nil {
		s.secretKeys = m.SecretSettings()
	}
	return s
}

// readManifest reads what the kit needs of plugin.json with the SDK's
// reader (client.ReadManifest, the launch part the host reads too; the
// host's validation of the rest is stricter: run `mikrobill plugin
// validate` for that), and checks it is a payment gateway's.
func readManifest(dir string) (*client.Manifest, error) {
	m, err := client.ReadManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w; Executable needs the folder holding plugin.json and the built executable", err)
	}
	if err != nil {
		return nil, err
	}
	if m.Kind != sdk.KindPayment {
		return nil, fmt.Errorf("%s: kind is %q; a payment gateway's manifest says \"kind\": %q", m.File, m.Kind, sdk.KindPayment)
	}
	return m, nil
}

// stopTimeout bounds a graceful stop at the end of the test; then the
// process group is killed.
const stopTimeout = 10 * time.Second

// Executable launches the built plugin in dir (plugin.json and the
// executable it names) the way the host does (sdk/client.Start: go-plugin
// handshake, mutual TLS, scrubbed environment with MIKROBILL_PLUGIN_DATA_DIR
// set to a temporary directory, an in-memory host service: sdktest's
// FakeHost, with the host's durable store, cache and limits), and stops it
// when the test ends.
//
// The test fails if the plugin does not exit within 10 s of being asked to
// stop (it is killed then), as the host would kill it at shutdown.
func Executable(t testing.TB, dir string) Subject {
	t.Helper()
	m, err := readManifest(dir)
	if err != nil {
		t.Fatalf("paymenttest.Executable: %v", err)
	}
	rel, err := m.ExecutableFor(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatalf("paymenttest.Executable: %v", err)
	}
	path := filepath.Join(dir, rel)
	if fi, err := os.Stat(path); err != nil {
		t.Fatalf("paymenttest.Executable: plugin.json names the executable %q: %v; build it there first (go build -o %s .)", rel, err, path)
	} else if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("paymenttest.Executable: %s is not an executable file", path)
	}

	// Registered first, so it runs last: go-plugin may log until the
	// process is stopped, and t.Log after the test is a data race.
	logs := &sdktest.Buffer{}
	tw := &testWriter{t: t, copy: logs}
	t.Cleanup(tw.stop)
	logger := hclog.New(&hclog.LoggerOptions{Name: "paymenttest", Output: tw, Level: hclog.Trace, JSONFormat: true})

	dataDir := t.TempDir()
	l := &launcher{
		cfg: client.Config{
			Name:      m.Name,
			Path:      path,
			Env:       client.PluginEnv(dataDir),
			SocketDir: shortTempDir(t),
			Logger:    logger,
			LogLevel:  "trace",
			Host:      sdktest.NewFakeHost(),
		},
	}
	if err := l.start(); err != nil {
		t.Fatalf("paymenttest.Executable: the host could not start %s: %v", path, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		select {
		case <-l.proc.Done():
			t.Errorf("paymenttest: the plugin process exited on its own during the test (%v); a plugin must keep serving until the host stops it", l.proc.ExitErr())
			l.proc.Kill()
			return
		default:
		}
		if err := l.proc.Stop(ctx); err != nil {
			// Stop has killed the process group already.
			t.Errorf("paymenttest: %v: the plugin did not exit within %s of being asked to stop; return from Shutdown (and from every call) promptly when the host stops the plugin", err, stopTimeout)
		}
	})
	plug, gw := l.clients()
	return Subject{
		Plugin:       plug,
		Gateway:      gw,
		Name:         m.Name,
		Version:      m.Version,
		manifestFile: m.File,
		dataDir:      dataDir,
		host:         l.cfg.Host.(*sdktest.FakeHost),
		logs:         logs,
		secretKeys:   m.SecretSettings(),
		restart:      l.restart,
	}
}

// launcher starts the plugin process, and starts it again for the
// restart check, with the same configuration: the same host service
// (whose durable store survives), data directory and socket directory.
type launcher struct {
	cfg  client.Config
	proc *client.Process
}

func (l *launcher) start() error {
	proc, err := client.Start(context.Background(), l.cfg)
	if err != nil {
		return err
	}
	l.proc = proc
	return nil
}

func (l *launcher) clients() (client.Plugin, payment.Gateway) {
	conn := l.proc.Conn()
	return client.NewPlugin(conn.ClientConn(), conn.HostBrokerID), client.NewPayment(conn.ClientConn(), conn.HostBrokerID)
}

// restart stops the process as the host does at shutdown and starts it
// again.
func (l *launcher) restart(t testing.TB) (client.Plugin, payment.Gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := l.proc.Stop(ctx); err != nil {
		t.Errorf("paymenttest: %v: the plugin did not exit within %s of being asked to stop; return from Shutdown (and from every call) promptly when the host stops the plugin", err, stopTimeout)
	}
	if err := l.start(); err != nil {
		t.Fatalf("paymenttest: the host could not start the plugin again after stopping it: %v", err)
	}
	return l.clients()
}

// maxSocketDirLen keeps the launch's unix socket paths under the 108-byte
// limit of socket addresses: go-plugin adds about 40 bytes below the
// directory (the host's RuntimeDir keeps the same margin).
const maxSocketDirLen = 56

// shortTempDir makes a private (0700) directory with a short path for the
// launch's sockets and removes it when the test ends. t.TempDir's paths are
// too long for socket addresses.
func shortTempDir(t testing.TB) string {
	t.Helper()
	parent := os.TempDir()
	if len(filepath.Join(parent, "mbpt-0123456789")) > maxSocketDirLen {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "mbpt-")
	if err != nil {
		t.Fatalf("paymenttest: create a socket directory: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatalf("paymenttest: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Logf("paymenttest: remove %s: %v", dir, err)
		}
	})
	return dir
}

// testWriter sends log output to the test log until stopped: t.Log after a
// test has ended is a data race.
type testWriter struct {
	t testing.TB
	// copy, when set, keeps every line, also after stop.
	copy    *sdktest.Buffer
	mu      sync.Mutex
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if w.copy != nil {
		_, _ = w.copy.Write(p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}
