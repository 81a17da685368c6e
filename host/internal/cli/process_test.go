package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// realHost is the mikrobill binary running as a process of its own.
type realHost struct {
	cmd     *exec.Cmd
	runDir  string
	addr    string
	dataDir string
	tmpDir  string
	logs    *sdktest.Buffer
	exited  chan error
}

var (
	servingRE = regexp.MustCompile(`serving: address=http://(\S+)`)
	runDirRE  = regexp.MustCompile(`runtime directory for sockets: dir=(\S+)`)
)

// startRealHost starts the mikrobill binary; opts adjust the command
// (working directory, environment) before it starts.
func startRealHost(t *testing.T, pluginDir string, opts ...func(*exec.Cmd)) *realHost {
	t.Helper()
	bin := testenv.Build(t, "host/cmd/mikrobill")
	root := t.TempDir()
	h := &realHost{dataDir: filepath.Join(root, "data"), tmpDir: filepath.Join(root, "tmp"), logs: &sdktest.Buffer{}, exited: make(chan error, 1)}
	if err := os.MkdirAll(h.tmpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--plugin-dir", pluginDir, "--data-dir", h.dataDir, "--log-level", "debug")
	h.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + h.tmpDir, "JWT_SECRET=not-for-plugins"}
	for _, o := range opts {
		o(h.cmd)
	}
	stderr, err := h.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			h.logs.Write([]byte(line + "\n"))
			if m := runDirRE.FindStringSubmatch(line); m != nil {
				h.runDir = m[1]
			}
			if m := servingRE.FindStringSubmatch(line); m != nil {
				addrc <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { h.exited <- h.cmd.Wait() }()
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("host log:\n%s", h.logs.String())
		}
	})
	select {
	case h.addr = <-addrc:
	case err := <-h.exited:
		t.Fatalf("mikrobill exited before serving: %v\n%s", err, h.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("mikrobill did not serve within 30s\n%s", h.logs.String())
	}
	return h
}

func (h *realHost) pids(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + h.addr + "/health/plugins")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body pluginsBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range body.Plugins {
		if p.PID == 0 {
			t.Fatalf("plugin %s is %s without a pid: %s", p.Name, p.State, p.LastError)
		}
		out[p.Name] = p.PID
	}
	return out
}

// sockets lists the unix socket files under dir.
func sockets(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSocket != 0 {
			out = append(out, path)
		}
		return nil
	})
	return out
}

func TestHostKilledLeavesNoPluginAndNoSocket(t *testing.T) {
	d := testenv.NewPluginDir(t)
	childFile := filepath.Join(t.TempDir(), "child.pid")
	d.Add(testenv.Plugin{Name: "parent", Behaviour: map[string]any{"spawn_child": true, "child_pid_file": childFile}})
	d.Add(testenv.Plugin{Name: "plain", Kind: "payment"})
	h := startRealHost(t, d.Dir)
	pids := h.pids(t)
	raw, err := os.ReadFile(childFile)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(string(raw))
	if h.runDir == "" {
		t.Fatal("the host did not log its runtime directory")
	}
	if n := len(sockets(h.runDir)); n == 0 {
		t.Fatal("no sockets in the runtime directory while serving: the test would prove nothing")
	}

	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	all := append([]int{child}, pids["parent"], pids["plain"])
	sdktest.WaitFor(t, 10*time.Second, "no plugin process survives", func() bool {
		for _, pid := range all {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	sdktest.WaitFor(t, 10*time.Second, "no socket file is left and the runtime directory is gone", func() bool {
		_, err := os.Stat(h.runDir)
		return os.IsNotExist(err) && len(sockets(h.dataDir)) == 0 && len(sockets(h.tmpDir)) == 0
	})
}

func TestSIGTERMStopsPluginsInReverseDependencyOrder(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "base-layer"})
	d.Add(testenv.Plugin{Name: "middle-layer", Deps: []any{"base-layer"}})
	d.Add(testenv.Plugin{Name: "top-layer", Deps: []any{"middle-layer"}})
	h := startRealHost(t, d.Dir)
	pids := h.pids(t)
	if got := d.Logged("start"); !slices.Equal(got, []string{"base-layer", "middle-layer", "top-layer"}) {
		t.Fatalf("start order %v", got)
	}
	begin := time.Now()
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-h.exited:
		if err != nil {
			t.Fatalf("mikrobill exited with %v after SIGTERM, want status 0\n%s", err, h.logs.String())
		}
	case <-time.After(35 * time.Second):
		t.Fatal("mikrobill did not exit within its 30s shutdown deadline")
	}
	t.Logf("stopped in %s", time.Since(begin))
	if got := d.Logged("stop"); !slices.Equal(got, []string{"top-layer", "middle-layer", "base-layer"}) {
		t.Errorf("plugins stopped in order %v, want the reverse of their dependencies", got)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs", name, pid)
		}
	}
	if s := append(sockets(h.runDir), sockets(h.tmpDir)...); len(s) > 0 {
		t.Errorf("sockets left after a graceful stop: %v", s)
	}
	if _, err := os.Stat(h.runDir); !os.IsNotExist(err) {
		t.Errorf("the runtime directory %s is still there: %v", h.runDir, err)
	}
}

func TestPluginActionsThroughTheCLI(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "worker", Kind: "payment"})
	d.AddBundled("payment-stripe") // waits for its keys: not configured
	h := startHost(t, d.Dir)
	addr := "http://" + h.addr
	env := []string{"MIKROBILL_DATA_DIR=" + h.dataDir}
	token := func(user, role string) string {
		t.Helper()
		if err, _, stderr := runIn(t, env, "correct horse battery\n", "user", "create", "--username", user, "--role", role, "--password-stdin"); err != nil {
			t.Fatalf("user create %s: %v %s", user, err, stderr)
		}
		err, stdout, stderr := runIn(t, env, "", "user", "token", "--username", user, "--name", "test")
		if err != nil || !strings.HasPrefix(stdout, "mbt_") || !strings.Contains(stderr, "shown only this once") {
			t.Fatalf("user token %s: %v\n%s\n%s", user, err, stdout, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	admin, operator, viewer := token("ana", "admin"), token("otto", "operator"), token("vera", "viewer")

	// Without a token, or with one whose role is too small, the host says no.
	if code, _, stderr := run(t, "plugin", "restart", "worker", "--address", addr); code != 1 || !strings.Contains(stderr, "wants an API token (HTTP 401)") || !strings.Contains(stderr, "mikrobill user token") {
		t.Errorf("restart without a token: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "plugin", "restart", "worker", "--address", addr, "--token", "mbt_revokedorneverwas0000000000000000000000"); code != 1 || !strings.Contains(stderr, "the token was refused") {
		t.Errorf("restart with an unknown token: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "plugin", "restart", "worker", "--address", addr, "--token", viewer); code != 1 || !strings.Contains(stderr, "needs the operator role") || !strings.Contains(stderr, "HTTP 403") {
		t.Errorf("restart as a viewer: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "plugin", "disable", "worker", "--address", addr, "--token", operator); code != 1 || !strings.Contains(stderr, "needs the admin role") {
		t.Errorf("disable as an operator: exit %d %s", code, stderr)
	}

	code, stdout, stderr := runEnv(t, []string{"MIKROBILL_TOKEN=" + operator}, "plugin", "restart", "worker", "--address", addr)
	if code != 0 || !strings.Contains(stdout, "worker: running (pid") || !strings.Contains(stdout, "restarts 1") {
		t.Fatalf("plugin restart: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "plugin", "status", "--address", addr)
	if code != 0 || !regexp.MustCompile(`worker\s+1\.0\.0\s+running\s+ok\s+1\s+\d+\s+closed`).MatchString(stdout) {
		t.Errorf("plugin status: exit %d\n%s", code, stdout)
	}
	// A plugin waiting for its settings says so, not "disabled" (which
	// an operator does).
	if !regexp.MustCompile(`(?m)^payment-stripe\s+\S+\s+not configured\s`).MatchString(stdout) {
		t.Errorf("plugin status: payment-stripe without its keys is not shown as not configured:\n%s", stdout)
	}
	// With a token, every host's view: this one, alive and the leader
	// (one host on SQLite), and its plugins as they are now (the
	// answering host's own; a restart just done may still say starting).
	hostView := regexp.MustCompile(`(?m)^\S+ \(this one\)\s+alive\s+leader\s`)
	pluginView := regexp.MustCompile(`(?m)^Plugins \(as they are now\):\n^PLUGIN\s+\S+\n^payment-stripe\s+not configured\n^worker\s+running`)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		code, stdout, stderr = run(t, "plugin", "status", "--address", addr, "--token", viewer)
		if code == 0 && hostView.MatchString(stdout) && pluginView.MatchString(stdout) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("plugin status with a token: exit %d\n%s\n%s", code, stdout, stderr)
			break
		}
	}
	if code, stdout, _ := run(t, "plugin", "disable", "worker", "--address", addr, "--token", admin); code != 0 || !strings.Contains(stdout, "worker: disabled") {
		t.Errorf("plugin disable: exit %d %s", code, stdout)
	}
	if c, body := h.get("/ready"); c != http.StatusOK {
		t.Errorf("/ready with a disabled plugin: %d %s", c, body)
	}
	if code, _, stderr := run(t, "plugin", "restart", "worker", "--address", addr, "--token", admin); code != 1 || !strings.Contains(stderr, "is disabled; enable it instead") || !strings.Contains(stderr, "HTTP 422") {
		t.Errorf("restart of a disabled plugin: exit %d %s", code, stderr)
	}
	if code, stdout, _ := run(t, "plugin", "enable", "worker", "--address", addr, "--token", admin); code != 0 || !strings.Contains(stdout, "worker: running") {
		t.Errorf("plugin enable: exit %d %s", code, stdout)
	}
	if code, _, stderr := run(t, "plugin", "restart", "ghost", "--address", addr, "--token", admin); code != 1 || !strings.Contains(stderr, `no plugin "ghost"`) {
		t.Errorf("restart of an unknown plugin: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "plugin", "status", "--address", "http://127.0.0.1:1"); code != 1 || !strings.Contains(stderr, "is `mikrobill serve` running?") {
		t.Errorf("status without a host: exit %d %s", code, stderr)
	}

	// Each action is in the audit log with who did it, refusals included.
	want := []string{"plugin.restart success user:otto", "plugin.disable success user:ana", "plugin.restart failure user:ana", "plugin.enable success user:ana"}
	sdktest.WaitFor(t, 30*time.Second, "the plugin actions in the audit log", func() bool {
		req, _ := http.NewRequest(http.MethodGet, addr+"/api/v1/audit?limit=100", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Items []struct {
				Action     string `json:"action"`
				Outcome    string `json:"outcome"`
				Actor      string `json:"actor"`
				ResourceID string `json:"resource_id"`
			} `json:"items"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		var got []string
		for _, e := range body.Items {
			if e.ResourceID == "worker" {
				got = append(got, e.Action+" "+e.Outcome+" "+e.Actor)
			}
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		return slices.Equal(got, w)
	})

	// The API refuses cross-site requests from browsers.
	req, _ := http.NewRequest(http.MethodPost, addr+"/api/v1/plugins/worker/restart", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", resp.StatusCode)
	}
}
