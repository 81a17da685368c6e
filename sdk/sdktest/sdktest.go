// Package sdktest serves a plugin implementation inside a test, over real
// gRPC with mutual TLS on a unix socket, and hands back the same clients the
// host uses. Nothing is faked between the test and the implementation but
// the process boundary.
//
//	func TestGateway(t *testing.T) {
//		h := sdktest.Serve(t, &Gateway{})
//		if _, err := h.Configure(ctx, map[string]any{"server_key": "test"}); err != nil {
//			t.Fatal(err)
//		}
//		resp, err := h.Payment().CreatePayment(ctx, &payment.CreatePaymentRequest{...})
//		...
//	}
//
// The harness offers the plugin a FakeHost (in-memory key-value store and a
// record of published events) unless WithHost gives another sdk.Host.
//
// Besides the harness, the package holds the few helpers a plugin's tests
// need: Logger captures what the plugin logs, Buffer is a bytes.Buffer safe
// for concurrent writers, Clock is a clock the test moves, and WaitFor waits
// for a condition instead of sleeping.
package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/internal/mtls"
	"github.com/mikrobill/mikrobill/sdk/internal/serveopt"
	"github.com/mikrobill/mikrobill/sdk/internal/wire"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// Option changes the harness.
type Option func(*options)

type options struct {
	host   sdk.Host
	logger hclog.Logger
}

// WithHost offers the plugin h instead of a new FakeHost.
func WithHost(h sdk.Host) Option { return func(o *options) { o.host = h } }

// WithLogger sends the plugin's and go-plugin's log lines to l (default:
// the test log, through t.Log).
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// Harness is a plugin served inside a test.
type Harness struct {
	conn *client.Conn
	// Host is the FakeHost offered to the plugin (nil with WithHost).
	Host *FakeHost
}

// serveTimeout bounds how long the in-process plugin may take to serve.
const serveTimeout = 10 * time.Second

// Serve serves impl until the test ends and returns the harness. It fails
// the test if the plugin cannot be served.
func Serve(t testing.TB, impl sdk.Plugin, opts ...Option) *Harness {
	t.Helper()
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	h := &Harness{}
	if o.host == nil {
		h.Host = NewFakeHost()
		o.host = h.Host
	}
	// Registered before the harness's cleanup, so it runs after it:
	// go-plugin's client goroutines may still log when the test is over.
	tw := &testWriter{t: t}
	t.Cleanup(tw.stop)
	if o.logger == nil {
		o.logger = hclog.New(&hclog.LoggerOptions{Name: "sdktest", Output: tw, Level: hclog.Debug})
	}

	serverTLS, clientTLS, err := mtls.PairForTest()
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	served := make(chan error, 1)
	go serveopt.Serve(impl, &serveopt.Config{
		Test:   &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed},
		TLS:    serverTLS,
		Logger: o.logger.Named("plugin"),
		Done:   func(err error) { served <- err },
	})

	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case err := <-served:
		cancel()
		t.Fatalf("sdktest: the plugin did not serve: %v", err)
	case <-time.After(serveTimeout):
		cancel()
		t.Fatalf("sdktest: the plugin did not serve within %s", serveTimeout)
	}
	attached := &inProcess{done: make(chan struct{})}
	rc.ReattachFunc = func() (runner.AttachedRunner, error) { return attached, nil }

	sets := client.VersionedPlugins(o.host)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          sets[wire.ProtocolVersion],
		VersionedPlugins: sets,
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		TLSConfig:        clientTLS,
		GRPCDialOptions:  wire.DialOptions(),
		Logger:           o.logger.Named("client"),
	})
	cp, err := pc.Client()
	if err != nil {
		cancel()
		t.Fatalf("sdktest: connect to the plugin: %v", err)
	}
	h.conn, err = client.Dispense(cp)
	if err != nil {
		cancel()
		t.Fatalf("sdktest: %v", err)
	}
	t.Cleanup(func() {
		// Closing the client stops the plugin's server (go-plugin's
		// controller). Cancel only once it has stopped: cancelling too stops
		// the server a second time at once, a data race inside go-plugin.
		_ = cp.Close()
		select {
		case <-closed:
		case <-time.After(serveTimeout):
			t.Errorf("sdktest: the plugin did not stop within %s", serveTimeout)
		}
		cancel()
		close(attached.done)
		pc.Kill()
	})
	return h
}

// Conn returns the connection to the plugin.
func (h *Harness) Conn() *client.Conn { return h.conn }

// Plugin returns the base client.
func (h *Harness) Plugin() client.Plugin {
	return client.NewPlugin(h.conn.ClientConn(), h.conn.HostBrokerID)
}

// Payment returns the payment client (the plugin must be a payment.Gateway).
func (h *Harness) Payment() payment.Gateway {
	return client.NewPayment(h.conn.ClientConn(), h.conn.HostBrokerID)
}

// Router returns the router client.
func (h *Harness) Router() router.Router {
	return client.NewRouter(h.conn.ClientConn(), h.conn.HostBrokerID)
}

// Notifier returns the notification client.
func (h *Harness) Notifier() notify.Notifier {
	return client.NewNotifier(h.conn.ClientConn(), h.conn.HostBrokerID)
}

// Audit returns the audit sink client.
func (h *Harness) Audit() audit.Sink {
	return client.NewAudit(h.conn.ClientConn(), h.conn.HostBrokerID)
}

// Configure marshals settings to JSON and configures the plugin with them,
// as the host does after launch (environment "test").
func (h *Harness) Configure(ctx context.Context, settings any) (*sdk.ConfigureResponse, error) {
	raw, err := json.Marshal(settings)
	if err != nil {
		return nil, fmt.Errorf("sdktest: marshal settings: %w", err)
	}
	return h.Plugin().Configure(ctx, &sdk.ConfigureRequest{Settings: raw, Environment: "test", HostVersion: "0.0.0-test"})
}

// inProcess stands for the plugin "process", which is the test itself.
type inProcess struct{ done chan struct{} }

func (p *inProcess) Wait(context.Context) error { <-p.done; return nil }
func (p *inProcess) Kill(context.Context) error { return nil }
func (p *inProcess) ID() string                 { return "in-process" }
func (p *inProcess) PluginToHost(n, a string) (string, string, error) {
	return n, a, nil
}
func (p *inProcess) HostToPlugin(n, a string) (string, string, error) {
	return n, a, nil
}

// testWriter sends log output to the test log until the harness stops it:
// t.Log after a test has ended is a data race.
type testWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Helper()
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}
