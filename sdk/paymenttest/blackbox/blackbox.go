// Package blackbox runs the part of the payment conformance kit that needs
// no fake of the gateway against any plugin executable, Go or not: start it
// as the host does, Describe against plugin.json, settings refused and
// accepted, health, garbage, unsigned and oversized notifications refused,
// deadlines honoured while the gateway's API hangs, and a graceful stop.
// `mikrobill plugin test` prints its report; package paymenttest's Run is
// the whole kit, for a plugin's own tests with a fake of its gateway.
//
// Start with Run; each Result says what was expected, what happened and
// what to do.
package blackbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Limits the checks hold a plugin to, from the host's defaults.
const (
	// HostBodyLimit is the host's default request body limit (10 MiB): the
	// largest notification it forwards.
	HostBodyLimit = 10 << 20
	// HealthWithin is how fast CheckHealth must answer: half the host's
	// default health timeout (2 s).
	HealthWithin = time.Second
	// CallDeadline is the deadline of the calls of the deadlines check.
	CallDeadline = 300 * time.Millisecond
	// CallWithin is how soon a call under CallDeadline must have ended.
	CallWithin = 3 * time.Second
	// StopWithin is how long the plugin has to exit when asked to stop.
	StopWithin = 10 * time.Second
)

// Options are what Run needs besides the plugin folder.
type Options struct {
	// Settings are valid settings (JSON object); nil skips the checks
	// that need a configured plugin, saying so.
	Settings json.RawMessage
	// InvalidSettings must be refused with an invalid-argument error;
	// nil: {"mikrobill_plugin_test_unknown_setting": true} (an unknown
	// key, which the host's settings never hold).
	InvalidSettings json.RawMessage
	// HangSetting names the setting that holds the gateway's API address
	// (say "base_url"); the deadlines check points it at a server on
	// 127.0.0.1 that accepts requests and never answers. Empty skips it.
	HangSetting string
	// Logger receives the plugin's log lines; nil discards them.
	Logger hclog.Logger
	// StartTimeout bounds the launch (default client.DefaultStartTimeout).
	StartTimeout time.Duration
}

// Status is a check's outcome.
type Status string

// Outcomes.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one check's outcome.
type Result struct {
	// Name is the check's name, for example "unsigned_notification".
	Name string
	// Expect is what the check expects of the plugin.
	Expect string
	Status Status
	// Got is what happened (Fail) or why it did not run (Skip).
	Got string
	// Fix is what to do about a failure.
	Fix string
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// run is one Run: the process, its clients and the results so far.
type run struct {
	opts    Options
	proc    *client.Process
	plugin  client.Plugin
	gateway payment.Gateway
	results []Result
	dataDir string
	// configured: Configure accepted Options.Settings.
	configured bool
}

func (r *run) add(name, expect string, status Status, got, fix string) {
	r.results = append(r.results, Result{Name: name, Expect: expect, Status: status, Got: got, Fix: fix})
}

// Run checks the plugin in dir (the folder holding plugin.json and the
// executable). It returns the results in order; an error only when the
// checks could not run at all (no plugin.json). Checks after a failed
// launch are skipped.
func Run(ctx context.Context, dir string, opts Options) ([]Result, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	m, err := client.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	r := &run{opts: opts}
	if m.Kind != sdk.KindPayment {
		return nil, fmt.Errorf("%s: kind is %q; plugin test checks payment plugins (\"kind\": %q)", m.File, m.Kind, sdk.KindPayment)
	}
	tmp, err := os.MkdirTemp("", "mbpt-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	r.dataDir = filepath.Join(tmp, "data")
	if err := os.Mkdir(r.dataDir, 0o700); err != nil {
		return nil, err
	}
	if !r.launch(ctx, dir, m, tmp) {
		return r.results, nil
	}
	defer r.proc.Kill() // after a graceful stop, a no-op
	r.describe(ctx, m)
	r.settings(ctx)
	r.health(ctx)
	r.notifications(ctx)
	r.deadlines(ctx)
	r.stop()
	return r.results, nil
}

const launchExpect = "the plugin starts as the host starts it: handshake line on stdout, mutual TLS, Describe served"

func (r *run) launch(ctx context.Context, dir string, m *client.Manifest, tmp string) bool {
	rel, err := m.ExecutableFor(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		r.add("launch", launchExpect, Fail, err.Error(), "ship an executable for this platform in plugin.json")
		return false
	}
	path := filepath.Join(dir, rel)
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		r.add("launch", launchExpect, Fail, fmt.Sprintf("%s is not an executable file (%v)", path, err), "build the executable plugin.json names into the folder and make it executable (chmod +x)")
		return false
	}
	sockets := filepath.Join(tmp, "s")
	if err := os.Mkdir(sockets, 0o700); err != nil {
		r.add("launch", launchExpect, Fail, err.Error(), "")
		return false
	}
	proc, err := client.Start(ctx, client.Config{
		Name: m.Name, Path: path, Env: client.PluginEnv(r.dataDir), SocketDir: sockets,
		Logger: r.opts.Logger, LogLevel: "debug", Host: sdktest.NewFakeHost(), StartTimeout: r.opts.StartTimeout,
	})
	if err != nil {
		r.add("launch", launchExpect, Fail, err.Error(), "see docs/plugin-protocol.md: the environment, the handshake line and mutual TLS")
		return false
	}
	r.proc = proc
	conn := proc.Conn()
	r.plugin, r.gateway = client.NewPlugin(conn.ClientConn(), conn.HostBrokerID), client.NewPayment(conn.ClientConn(), conn.HostBrokerID)
	r.add("launch", launchExpect, Pass, "", "")
	return true
}

func (r *run) describe(ctx context.Context, m *client.Manifest) {
	const expect = "Describe answers plugin.json's name and version, and kind \"payment\""
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := r.plugin.Describe(cctx, &sdk.DescribeRequest{HostVersion: "0.0.0-plugin-test"})
	if err != nil {
		r.add("describe", expect, Fail, err.Error(), "serve mikrobill.plugin.v1.PluginService/Describe")
		return
	}
	if err := m.CheckDescribe(d); err != nil {
		r.add("describe", expect, Fail, err.Error(), "answer exactly plugin.json's name and version")
		return
	}
	if d.Kind != sdk.KindPayment {
		r.add("describe", expect, Fail, fmt.Sprintf("kind %q", d.Kind), "answer kind \"payment\" and serve mikrobill.payment.v1.PaymentService")
		return
	}
	r.add("describe", expect, Pass, "", "")
}

func (r *run) configure(ctx context.Context, settings json.RawMessage) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := r.plugin.Configure(cctx, &sdk.ConfigureRequest{Settings: settings, Environment: "test", HostVersion: "0.0.0-plugin-test", DataDir: r.dataDir})
	return err
}

func (r *run) settings(ctx context.Context) {
	invalid := r.opts.InvalidSettings
	if invalid == nil {
		invalid = json.RawMessage(`{"mikrobill_plugin_test_unknown_setting": true}`)
	}
	const expectRefused = "settings the plugin cannot work with are refused with an invalid-argument error (gRPC InvalidArgument, ErrorInfo reason INVALID_ARGUMENT)"
	switch err := r.configure(ctx, invalid); {
	case err == nil:
		r.add("settings_refused", expectRefused, Fail, "Configure accepted "+string(invalid), "refuse unknown keys and values the plugin cannot use, naming the key: the host shows the operator the message")
	case !errors.Is(err, sdk.ErrInvalidArgument):
		r.add("settings_refused", expectRefused, Fail, "Configure answered "+err.Error(), "answer status InvalidArgument with a google.rpc.ErrorInfo {domain \"mikrobill.dev/plugin\", reason \"INVALID_ARGUMENT\"} (docs/plugin-protocol.md, Errors)")
	default:
		r.add("settings_refused", expectRefused, Pass, "", "")
	}
	const expectAccepted = "valid settings (--settings) are accepted"
	if r.opts.Settings == nil {
		r.add("settings_accepted", expectAccepted, Skip, "no --settings given", "pass valid settings that point the plugin at a test API (--settings FILE or JSON)")
		return
	}
	if err := r.configure(ctx, r.opts.Settings); err != nil {
		r.add("settings_accepted", expectAccepted, Fail, "Configure answered "+err.Error(), "accept the settings plugin.json's config_schema allows")
		return
	}
	r.configured = true
	r.add("settings_accepted", expectAccepted, Pass, "", "")
}

func (r *run) checkHealth(ctx context.Context) (*sdk.CheckHealthResponse, time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	h, err := r.plugin.CheckHealth(cctx, &sdk.CheckHealthRequest{})
	return h, time.Since(start), err
}

func (r *run) health(ctx context.Context) {
	expect := fmt.Sprintf("CheckHealth answers within %s with a status (ok, degraded or error)", HealthWithin)
	h, took, err := r.checkHealth(ctx)
	switch {
	case err != nil:
		r.add("health", expect, Fail, "CheckHealth answered "+err.Error(), "answer CheckHealth from memory, also before Configure (status degraded, \"not configured\")")
	case took > HealthWithin:
		r.add("health", expect, Fail, fmt.Sprintf("it took %s", took.Round(time.Millisecond)), "answer from memory; never call the gateway from CheckHealth: the host kills a plugin that misses several 2 s health checks")
	case h.Status == "":
		r.add("health", expect, Fail, "no status", "answer HEALTH_STATUS_OK, _DEGRADED or _ERROR")
	default:
		r.add("health", expect, Pass, "", "")
	}
}

func (r *run) notifications(ctx context.Context) {
	const fix = "verify the signature over the raw body before anything else and refuse a missing or wrong one with status Unauthenticated, reason PAYMENT_INVALID_SIGNATURE (or a body that is no notification with InvalidArgument, PAYMENT_MALFORMED_PAYLOAD)"
	note := func(body []byte) sdk.HTTPRequest {
		return sdk.HTTPRequest{Method: http.MethodPost, Path: "/webhooks/plugin", RemoteAddr: "127.0.0.1:5555", Host: "billing.example.com",
			Header: http.Header{"Content-Type": {"application/json"}}, Body: body, ReceivedAt: time.Now()}
	}
	big := make([]byte, 0, HostBodyLimit)
	big = append(big, `{"padding":"`...)
	big = append(big, strings.Repeat("x", HostBodyLimit-len(`{"padding":""}`))...)
	big = append(big, `"}`...)
	for _, c := range []struct {
		name, expect string
		body         []byte
		fix          string
	}{
		{"garbage_notification", "a body that is no notification is refused", []byte("this is not a notification\x00\xff"), fix},
		{"unsigned_notification", "a notification that says paid and carries no signature is refused as unsigned",
			[]byte(`{"id":"evt_plugin_test","event_id":"evt_plugin_test","type":"payment.paid","status":"paid","order_id":"plugin-test","payment_id":"plugin-test","amount":150000,"currency":"IDR","data":{"id":"plugin-test","status":"paid","amount":150000,"currency":"IDR"}}`), fix},
		{"oversized_notification", "an unsigned body as large as the host forwards (10 MiB) is refused, not a transport error", big,
			fix + "; and accept gRPC messages of at least 64 MiB (grpc-js: grpc.max_receive_message_length; most gRPC libraries default to 4 MiB)"},
	} {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := r.gateway.HandleWebhook(cctx, &payment.WebhookRequest{Request: note(c.body)})
		cancel()
		switch {
		case err == nil:
			got := "it was accepted"
			if resp.Event != nil {
				got = fmt.Sprintf("it was accepted and reported payment %q %s", resp.Event.PaymentID, resp.Event.Status)
			}
			r.add(c.name, c.expect, Fail, got, c.fix)
		case errors.Is(err, payment.ErrInvalidSignature), errors.Is(err, payment.ErrMalformedPayload):
			r.add(c.name, c.expect, Pass, "", "")
		case !r.configured && errors.Is(err, sdk.ErrFailedPrecondition):
			r.add(c.name, c.expect, Skip, "the plugin is not configured and refused it as such ("+err.Error()+")", "pass --settings, so that the plugin checks the notification itself")
		default:
			r.add(c.name, c.expect, Fail, "HandleWebhook answered "+err.Error(), c.fix)
		}
	}
}

// hangServer accepts connections on 127.0.0.1 and never answers, until
// closed: a gateway API that hangs.
func hangServer() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	return "http://" + ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}, nil
}

func (r *run) deadlines(ctx context.Context) {
	expect := fmt.Sprintf("with the gateway's API hanging, CreatePayment and GetPayment under a %s deadline end with deadline exceeded within %s, and CheckHealth still answers within %s", CallDeadline, CallWithin, HealthWithin)
	switch {
	case r.opts.Settings == nil:
		r.add("deadlines", expect, Skip, "no --settings given", "pass --settings and --hang-setting")
		return
	case r.opts.HangSetting == "":
		r.add("deadlines", expect, Skip, "no --hang-setting given", "pass --hang-setting with the name of the setting that holds the gateway's API address (say base_url)")
		return
	}
	var settings map[string]any
	if err := json.Unmarshal(r.opts.Settings, &settings); err != nil {
		r.add("deadlines", expect, Fail, "--settings is not a JSON object: "+err.Error(), "")
		return
	}
	url, stop, err := hangServer()
	if err != nil {
		r.add("deadlines", expect, Fail, err.Error(), "")
		return
	}
	defer stop()
	settings[r.opts.HangSetting] = url
	raw, _ := json.Marshal(settings)
	if err := r.configure(ctx, raw); err != nil {
		r.add("deadlines", expect, Fail, fmt.Sprintf("Configure refused the settings with %s = %s: %v", r.opts.HangSetting, url, err), "accept an http:// address on 127.0.0.1 for tests")
		return
	}
	defer func() { _ = r.configure(ctx, r.opts.Settings) }()
	calls := []struct {
		name string
		do   func(context.Context) error
	}{
		{"CreatePayment", func(c context.Context) error {
			_, err := r.gateway.CreatePayment(c, &payment.CreatePaymentRequest{OrderID: "plugin-test-1", Amount: payment.Money{Amount: 150000, Currency: "IDR"},
				Description: "mikrobill plugin test", IdempotencyKey: "plugin-test-key-1", CallbackURL: "https://billing.example.com/webhooks/plugin"})
			return err
		}},
		{"GetPayment", func(c context.Context) error {
			_, err := r.gateway.GetPayment(c, &payment.GetPaymentRequest{ID: "plugin-test-1"})
			return err
		}},
	}
	var problems []string
	for _, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, CallDeadline)
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- call.do(cctx) }()
		select {
		case err := <-done:
			if err == nil {
				problems = append(problems, call.name+" succeeded although the gateway's API never answered")
			} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, sdk.ErrDeadlineExceeded) && !errors.Is(err, payment.ErrUnsupportedCurrency) {
				problems = append(problems, fmt.Sprintf("%s answered %v, not deadline exceeded", call.name, err))
			}
		case <-time.After(CallWithin):
			problems = append(problems, fmt.Sprintf("%s had not returned %s after its %s deadline", call.name, CallWithin, CallDeadline))
		}
		cancel()
		if _, took, err := r.checkHealth(ctx); err != nil || took > HealthWithin {
			problems = append(problems, fmt.Sprintf("CheckHealth, after %s hung (%s ago), took %s (%v)", call.name, time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond), err))
		}
	}
	if len(problems) > 0 {
		r.add("deadlines", expect, Fail, strings.Join(problems, "; "), "pass the call's deadline to every request to the gateway (cancel it when the gRPC call's deadline passes or the host cancels), and answer CheckHealth from memory")
		return
	}
	r.add("deadlines", expect, Pass, "", "")
}

func (r *run) stop() {
	expect := fmt.Sprintf("asked to stop (plugin.GRPCController/Shutdown), the plugin exits within %s", StopWithin)
	ctx, cancel := context.WithTimeout(context.Background(), StopWithin)
	defer cancel()
	if err := r.proc.Stop(ctx); err != nil {
		r.add("shutdown", expect, Fail, err.Error(), "serve plugin.GRPCController/Shutdown: answer it, stop serving and exit (docs/plugin-protocol.md)")
		return
	}
	r.add("shutdown", expect, Pass, "", "")
}
