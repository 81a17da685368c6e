package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// host is a `mikrobill serve` running inside the test.
type host struct {
	t       *testing.T
	addr    string
	dataDir string
	// env is the extra environment serve was started with (DATABASE_URL, ...);
	// the CLI commands a test runs against this host get it too.
	env    []string
	stderr *sdktest.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startHost runs `serve` in-process on a free port with the given plugin
// directory and waits until it serves.
func startHost(t *testing.T, pluginDir string, extraEnv ...string) *host {
	t.Helper()
	return startHostIn(t, pluginDir, filepath.Join(t.TempDir(), "data"), extraEnv...)
}

// startHostIn is startHost on a given data directory (a host started again
// on the same store).
func startHostIn(t *testing.T, pluginDir, dataDir string, extraEnv ...string) *host {
	t.Helper()
	stderr := &sdktest.Buffer{}
	addrc := make(chan string, 1)
	g := &globals{
		stdout: io.Discard, stderr: stderr,
		environ: append([]string{"PATH=" + os.Getenv("PATH")}, extraEnv...),
		serving: func(a string) { addrc <- a },
	}
	cmd := newRoot(g)
	cmd.SetArgs([]string{"serve", "--listen", "127.0.0.1:0", "--plugin-dir", pluginDir,
		"--data-dir", dataDir, "--log-level", "debug"})
	ctx, cancel := context.WithCancel(context.Background())
	h := &host{t: t, dataDir: dataDir, env: extraEnv, stderr: stderr, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- cmd.ExecuteContext(ctx) }()
	select {
	case h.addr = <-addrc:
	case err := <-h.done:
		t.Fatalf("serve ended before serving: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start within 30s\n%s", stderr.String())
	}
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("serve returned %v at shutdown", err)
		}
		if t.Failed() {
			t.Logf("host log:\n%s", stderr.String())
		}
	})
	return h
}

// stop asks serve to shut down, as SIGTERM does, and returns its result.
func (h *host) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		return err
	case <-time.After(40 * time.Second):
		return context.DeadlineExceeded
	}
}

func (h *host) get(path string) (int, []byte) {
	h.t.Helper()
	resp, err := http.Get("http://" + h.addr + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func (h *host) getJSON(path string, v any) int {
	h.t.Helper()
	code, body := h.get(path)
	if err := json.Unmarshal(body, v); err != nil {
		h.t.Fatalf("GET %s: not JSON (%v): %s", path, err, body)
	}
	return code
}

type pluginsBody struct {
	Plugins []struct {
		Name      string `json:"name"`
		Version   string `json:"version"`
		Kind      string `json:"kind"`
		State     string `json:"state"`
		Health    string `json:"health"`
		Message   string `json:"message"`
		Required  bool   `json:"required"`
		Restarts  int    `json:"restarts"`
		PID       int    `json:"pid"`
		LoadMS    int64  `json:"load_ms"`
		LastError string `json:"last_error"`
	} `json:"plugins"`
}

func TestServeWithPaymentManual(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	d.Add(testenv.Plugin{Name: "widgets", Required: new(bool)})
	h := startHost(t, d.Dir)

	if code, body := h.get("/live"); code != http.StatusOK {
		t.Errorf("/live: %d %s", code, body)
	}
	var ready struct {
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
	}
	if code := h.getJSON("/ready", &ready); code != http.StatusOK || ready.Status != "ready" {
		t.Errorf("/ready: %d %+v", code, ready)
	}
	var health struct {
		Status        string `json:"status"`
		Version       string `json:"version"`
		UptimeSeconds *int64 `json:"uptime_seconds"`
	}
	if code := h.getJSON("/health", &health); code != http.StatusOK || health.Status != "healthy" || health.Version == "" || health.UptimeSeconds == nil {
		t.Errorf("/health: %d %+v", code, health)
	}
	var ps pluginsBody
	h.getJSON("/health/plugins", &ps)
	var names []string
	for _, p := range ps.Plugins {
		names = append(names, p.Name)
		if p.State != "running" || p.Health != "ok" || p.PID == 0 || p.LoadMS <= 0 || p.Version == "" || p.Kind == "" || p.LastError != "" {
			t.Errorf("/health/plugins %s: %+v; want running, healthy, with pid, load time, version and kind", p.Name, p)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"payment-manual", "widgets"}) {
		t.Errorf("/health/plugins lists %v", names)
	}
	var detailed struct {
		Status     string                    `json:"status"`
		Components map[string]map[string]any `json:"components"`
		Plugins    []map[string]any          `json:"plugins"`
	}
	if code := h.getJSON("/health/detailed", &detailed); code != http.StatusOK || detailed.Components["store"]["status"] != "healthy" || len(detailed.Plugins) != 2 {
		t.Errorf("/health/detailed: %d %+v", code, detailed)
	}

	// /metrics, parsed as Prometheus text.
	code, body := h.get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	has := func(name string, labels map[string]string) {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Errorf("/metrics has no %s", name)
			return
		}
		for _, m := range f.Metric {
			if matches(m, labels) {
				return
			}
		}
		t.Errorf("/metrics %s has no sample with labels %v", name, labels)
	}
	has("mikrobill_plugin_up", map[string]string{"plugin": "payment-manual"})
	has("mikrobill_plugin_load_seconds", map[string]string{"plugin": "widgets"})
	has("mikrobill_plugin_rpc_duration_seconds", map[string]string{"plugin": "payment-manual", "method": "Configure", "code": "OK"})
	has("mikrobill_plugin_resident_memory_bytes", map[string]string{"plugin": "payment-manual"})
	has("mikrobill_plugin_cpu_seconds_total", map[string]string{"plugin": "widgets"})
	has("mikrobill_http_request_duration_seconds", map[string]string{"route": "/health/plugins", "code": "200"})
	has("go_goroutines", nil)
	has("process_resident_memory_bytes", nil)
	has("testplugin_widgets_total", map[string]string{"plugin": "widgets"})
	if up := fams["mikrobill_plugin_up"]; up != nil {
		for _, m := range up.Metric {
			if m.GetGauge().GetValue() != 1 {
				t.Errorf("mikrobill_plugin_up %v = %v, want 1", m.Label, m.GetGauge().GetValue())
			}
		}
	}

	// Graceful stop: serve returns nil and the plugins are gone.
	pids := map[string]int{}
	for _, p := range ps.Plugins {
		pids[p.Name] = p.PID
	}
	if err := h.stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("plugin %s (pid %d) still runs after the host stopped", name, pid)
		}
	}
	if got := d.Logged("stop"); !slices.Contains(got, "widgets") {
		t.Errorf("widgets did not shut down gracefully (its Shutdown did not run): %v", got)
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.Label {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// alive reports whether a process runs (a zombie does not count).
func alive(pid int) bool {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(raw))
	return len(fields) > 2 && fields[2] != "Z"
}

func TestServeOptionalFailureIsDegraded(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "core"})
	d.Add(testenv.Plugin{Name: "flaky", Mode: "crash", Required: new(bool)})
	h := startHost(t, d.Dir)
	if code, body := h.get("/ready"); code != http.StatusOK {
		t.Errorf("/ready: %d %s; an optional failure must leave the host ready", code, body)
	}
	var health struct{ Status string }
	if code := h.getJSON("/health", &health); code != http.StatusOK || health.Status != "degraded" {
		t.Errorf("/health: %d %q, want 200 degraded", code, health.Status)
	}
	var ps pluginsBody
	h.getJSON("/health/plugins", &ps)
	for _, p := range ps.Plugins {
		if p.Name == "flaky" && (p.State != "failed" || p.Required || !strings.Contains(p.LastError, "boom at start")) {
			t.Errorf("flaky: %+v; want failed, optional, with the cause", p)
		}
	}
}

func TestServeRefusesWhenRequiredPluginFails(t *testing.T) {
	tests := []struct {
		name    string
		plugins []testenv.Plugin
		want    []string
	}{
		{"crash", []testenv.Plugin{{Name: "core", Mode: "crash"}}, []string{"refusing to start", "core", "exited (exit status 3)", "panic: boom at start"}},
		{"cycle", []testenv.Plugin{{Name: "left", Deps: []any{"right"}}, {Name: "right", Deps: []any{"left"}}}, []string{"refusing to start", "dependency cycle: left -> right -> left"}},
		{"missing dependency", []testenv.Plugin{{Name: "lonely", Deps: []any{"ghost"}}}, []string{`it depends on "ghost", which is not installed`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testenv.NewPluginDir(t)
			for _, p := range tt.plugins {
				d.Add(p)
			}
			var stdout, stderr bytes.Buffer
			code := Execute([]string{"serve", "--listen", "127.0.0.1:0", "--plugin-dir", d.Dir, "--data-dir", t.TempDir()}, &stdout, &stderr, []string{"PATH=" + os.Getenv("PATH")})
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr.String())
				}
			}
			if started := d.Logged("start"); len(started) > 0 && tt.name != "crash" {
				t.Errorf("plugins ran: %v", started)
			}
		})
	}
}

// TestServeWithRelativePluginDir: --plugin-dir relative to the working
// directory works (plugins run from their own folders).
func TestServeWithRelativePluginDir(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	t.Chdir(filepath.Dir(d.Dir))
	h := startHost(t, filepath.Base(d.Dir))
	var ps pluginsBody
	h.getJSON("/health/plugins", &ps)
	if len(ps.Plugins) != 1 || ps.Plugins[0].State != "running" {
		t.Errorf("plugins with a relative --plugin-dir: %+v", ps.Plugins)
	}
}
