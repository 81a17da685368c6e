package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
	"github.com/mikrobill/mikrobill/sdk/paymenttest/toypay"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// The Node.js example plugin (examples/node-gateway), assembled once per
// test binary: its files, a copy of proto/ and its node_modules from npm ci.
var nodeGatewayOnce struct {
	sync.Once
	dir string
	err error
}

// repoDir is the repository's root, from this package's folder.
func repoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// nodeGateway installs examples/node-gateway into dst/node-gateway, ready
// to run, and returns the folder. Without node and npm the test is skipped,
// saying so, unless CI is set: CI must run it (.ci/run installs them).
func nodeGateway(t *testing.T, dst string) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not on PATH and CI is set: the Node.js example plugin must run in CI (.ci/run installs nodejs and npm)", tool)
			}
			t.Skipf("%s is not on PATH: install Node.js 18 or later and npm to run the Node.js example plugin's tests", tool)
		}
	}
	o := &nodeGatewayOnce
	o.Do(func() {
		o.dir, o.err = assembleNodeGateway(repoDir())
	})
	if o.err != nil {
		t.Fatalf("assemble examples/node-gateway: %v", o.err)
	}
	dir := filepath.Join(dst, "node-gateway")
	if err := copyFolder(o.dir, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assembleNodeGateway copies the example into a new folder (without what
// .gitignore leaves out), copies proto/ in and runs npm ci, bounded to 5
// minutes.
func assembleNodeGateway(repo string) (string, error) {
	dir, err := os.MkdirTemp("", "mb-node-gateway-")
	if err != nil {
		return "", err
	}
	src := filepath.Join(repo, "examples", "node-gateway")
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && (rel == "node_modules" || rel == "proto") {
			return filepath.SkipDir
		}
		return copyEntry(path, filepath.Join(dir, rel), d)
	})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"},
		{"node", "scripts/copy-proto.js", filepath.Join(repo, "proto")},
	} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir, nil
}

// copyFolder copies src to dst with modes and symbolic links (node_modules
// has both).
func copyFolder(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		return copyEntry(path, filepath.Join(dst, rel), d)
	})
}

func copyEntry(src, dst string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	switch {
	case d.IsDir():
		return os.MkdirAll(dst, 0o755)
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	default:
		raw, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, raw, info.Mode().Perm())
	}
}

// runCLI runs the mikrobill command line in-process and returns its exit
// code and output.
func runCLI(args ...string) (int, string) {
	var out bytes.Buffer
	code := Execute(args, &out, &out, []string{"PATH=" + os.Getenv("PATH")})
	return code, out.String()
}

// TestNodeGatewayConformance: the Node.js example passes the whole
// conformance kit against the toy gateway's fake, launched as the host
// launches it.
func TestNodeGatewayConformance(t *testing.T) {
	dir := nodeGateway(t, t.TempDir())
	paymenttest.Run(t, paymenttest.Executable(t, dir), toypay.NewFake(t), paymenttest.Options{})
}

// TestPluginTestCommand: `mikrobill plugin test` passes the Node.js
// example, and fails a copy that stopped verifying signatures, saying
// which check failed and what to do.
func TestPluginTestCommand(t *testing.T) {
	dir := nodeGateway(t, t.TempDir())
	settings := `{"base_url":"http://127.0.0.1:9","api_key":"k","webhook_secret":"node-gateway-secret-0123"}`
	code, out := runCLI("plugin", "test", "--settings", settings, "--hang-setting", "base_url", dir)
	if code != 0 || !strings.Contains(out, "10 passed, 0 failed, 0 skipped") {
		t.Fatalf("plugin test of the Node.js example: exit %d\n%s", code, out)
	}
	for _, check := range []string{"launch", "describe", "settings_refused", "settings_accepted", "health", "garbage_notification", "unsigned_notification", "oversized_notification", "deadlines", "shutdown"} {
		if !strings.Contains(out, "PASS  "+check+"\n") {
			t.Errorf("the report has no PASS for %s:\n%s", check, out)
		}
	}

	// The same plugin with its signature check gone.
	gw := filepath.Join(dir, "gateway.js")
	src, err := os.ReadFile(gw)
	if err != nil {
		t.Fatal(err)
	}
	const check = "if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) {"
	if !bytes.Contains(src, []byte(check)) {
		t.Fatalf("gateway.js no longer holds %q: update this test's mutation", check)
	}
	if err := os.WriteFile(gw, bytes.Replace(src, []byte(check), []byte("if (false) {"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = runCLI("plugin", "test", "--settings", settings, dir)
	if code != 1 || !strings.Contains(out, "FAIL  unsigned_notification\n") || !strings.Contains(out, "do:       verify the signature over the raw body") ||
		!strings.Contains(out, "SKIP  deadlines\n") || !strings.Contains(out, "some checks failed") {
		t.Errorf("plugin test of a plugin that accepts unsigned notifications: exit %d, want 1 with unsigned_notification failed and what to do\n%s", code, out)
	}

	// Not a plugin folder.
	if code, out := runCLI("plugin", "test", t.TempDir()); code != 1 || !strings.Contains(out, "plugin.json") {
		t.Errorf("plugin test of an empty folder: exit %d\n%s", code, out)
	}
}

// TestNodeGatewayThroughTheHost runs the Node.js example in a real host:
// it launches, a paid notification credits the invoice, a replay does not
// credit it again, the plugin killed with SIGKILL is restarted by the
// supervisor and still knows the notification, and the host stops it
// gracefully.
func TestNodeGatewayThroughTheHost(t *testing.T) {
	d := testenv.NewPluginDir(t)
	nodeGateway(t, d.Dir)
	d.Lock("node-gateway")
	fake := toypay.NewFake(t)
	h := startHost(t, d.Dir)
	tok := h.adminToken()

	if code, raw := h.api(http.MethodPut, "/api/v1/plugin-settings/node-gateway", tok, fake.Settings(), nil); code != http.StatusOK {
		t.Fatalf("save the settings: %d %s", code, raw)
	}
	started := h.payNewInvoice(tok, "node-gateway")
	p := payment.Payment{ID: started.Payment.ID, OrderID: started.Invoice.Number, Amount: payment.Money{Amount: started.Payment.Amount, Currency: started.Payment.Currency}}
	fake.SetPaid(t, p)
	note := fake.Notification(t, p, paymenttest.Paid)
	post := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr+"/webhooks/node-gateway", bytes.NewReader(note.Body))
		for k, vs := range note.Header {
			req.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	st, err := store.Open(context.Background(), store.Options{DataDir: h.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	credits := func() int {
		n, err := st.Q().InvoiceCredits(context.Background(), started.Invoice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	if code, raw := post(); code != http.StatusOK {
		t.Fatalf("the paid notification: %d %s", code, raw)
	}
	if code, raw := post(); code != http.StatusOK {
		t.Fatalf("the replayed notification: %d %s", code, raw)
	}
	if n := credits(); n != 1 {
		t.Fatalf("the invoice was credited %d times, want once", n)
	}

	pid := nodePID(t, h)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sdktest.WaitFor(t, 60*time.Second, "the supervisor to restart the Node.js plugin", func() bool {
		var ps pluginsBody
		h.getJSON("/health/plugins", &ps)
		for _, p := range ps.Plugins {
			if p.Name == "node-gateway" && p.PID != 0 && p.PID != pid && p.State == "running" {
				return true
			}
		}
		return false
	})
	if code, raw := post(); code != http.StatusOK {
		t.Fatalf("the notification again after the restart: %d %s", code, raw)
	}
	if n := credits(); n != 1 {
		t.Fatalf("after the restart and a replay the invoice was credited %d times, want once", n)
	}

	pid = nodePID(t, h)
	if err := h.stop(); err != nil {
		t.Fatalf("the host did not stop cleanly: %v", err)
	}
	if alive(pid) {
		t.Errorf("the Node.js plugin (pid %d) still runs after the host stopped", pid)
	}
	if log := h.stderr.String(); strings.Contains(log, "did not stop in time") {
		t.Errorf("the host had to kill the Node.js plugin at shutdown:\n%s", log)
	}
}

func nodePID(t *testing.T, h *host) int {
	t.Helper()
	var ps pluginsBody
	h.getJSON("/health/plugins", &ps)
	for _, p := range ps.Plugins {
		if p.Name == "node-gateway" {
			if p.State != "running" || p.PID == 0 {
				t.Fatalf("node-gateway is %s (pid %d, %s); want running", p.State, p.PID, p.LastError)
			}
			return p.PID
		}
	}
	t.Fatalf("node-gateway is not among the host's plugins: %+v", ps.Plugins)
	return 0
}

// TestMain removes the assembled Node.js example after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if nodeGatewayOnce.dir != "" {
		_ = os.RemoveAll(nodeGatewayOnce.dir)
	}
	os.Exit(code)
}
