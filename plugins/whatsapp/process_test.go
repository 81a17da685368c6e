package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa/fake"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// buildWafake builds the plugin with the fake WhatsApp into a temporary
// directory, beside its manifest.
func buildWafake(t testing.TB) string {
	t.Helper()
	return buildPlugin(t, "wafake")
}

// buildPlugin builds the plugin with the build tags (none: the real one).
func buildPlugin(t testing.TB, tags string) string {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "mikrobill-plugin-"+Name)
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-tags", tags, "-o", exe, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %q: %v\n%s", tags, err, out)
	}
	return exe
}

// wafakeProcess is the wafake plugin running as the host runs it.
type wafakeProcess struct {
	proc *client.Process
	n    notify.Notifier
}

func startWafake(t testing.TB, exe, dataDir string, settings map[string]any) *wafakeProcess {
	t.Helper()
	p := launchWafake(t, exe, dataDir)
	p.configure(t, dataDir, settings)
	return p
}

// launchWafake starts the plugin process (any build) without configuring
// it, with a durable store of its own.
func launchWafake(t testing.TB, exe, dataDir string) *wafakeProcess {
	t.Helper()
	return launchWafakeOn(t, sdktest.NewFakeHost(), exe, dataDir)
}

// launchWafakeOn is launchWafake on the durable store of host (several
// processes on one host's store are hosts sharing one database).
func launchWafakeOn(t testing.TB, host sdk.Host, exe, dataDir string) *wafakeProcess {
	t.Helper()
	socketDir, err := os.MkdirTemp("/tmp", "mbwa-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(socketDir) })
	logger, _ := sdktest.Logger(t)
	proc, err := client.Start(context.Background(), client.Config{
		Name: Name, Path: exe, Env: client.PluginEnv(dataDir), SocketDir: socketDir,
		Logger: logger, Host: host,
	})
	if err != nil {
		t.Fatalf("start the wafake plugin: %v", err)
	}
	t.Cleanup(proc.Kill)
	conn := proc.Conn()
	return &wafakeProcess{proc: proc, n: client.NewNotifier(conn.ClientConn(), conn.HostBrokerID)}
}

func (p *wafakeProcess) configure(t testing.TB, dataDir string, settings map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.n.Configure(ctx, &sdk.ConfigureRequest{Settings: mustJSON(t, settings), DataDir: dataDir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
}

// readSent reads wafake-sent.jsonl.
func readSent(t testing.TB, dataDir string) []fake.Sent {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, fake.SentFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	// A line without its newline yet is one the running fake is still
	// appending: not sent yet. A torn line that later lines follow is a
	// message the kill cut in half, and fails.
	raw = raw[:bytes.LastIndexByte(raw, '\n')+1]
	var out []fake.Sent
	for line := range bytes.Lines(raw) {
		var s fake.Sent
		if err := json.Unmarshal(line, &s); err != nil {
			t.Fatalf("%s: a torn line %q: %v", fake.SentFile, line, err)
		}
		out = append(out, s)
	}
	return out
}

// A kill -9 in the middle of a drain of 500 queued messages loses none and
// sends none twice: after a restart every message is sent exactly once.
func TestKillDuringDrainLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin")
	}
	exe := buildWafake(t)
	dataDir := t.TempDir()
	settings := map[string]any{"message_delay_ms": 20, "jitter_percent": 10, "retry_min_ms": 200, "retry_max_ms": 1000}
	ctx := context.Background()

	p := startWafake(t, exe, dataDir, settings)
	// Queue everything before any session is paired (Send queues and says
	// no session can send yet), then pair: the drain runs on a full queue.
	const total = 500
	for i := range total {
		key := fmt.Sprintf("invoice-%03d", i)
		_, err := p.n.Send(ctx, &notify.SendRequest{To: fmt.Sprintf("+62812%08d", i), Text: "Invoice " + key, IdempotencyKey: key})
		if !errors.Is(err, notify.ErrSessionNotConnected) {
			t.Fatalf("Send %s with no session paired: %v, want ErrSessionNotConnected", key, err)
		}
	}
	ids := map[string]string{} // message id -> idempotency key
	for i := range total {
		key := fmt.Sprintf("invoice-%03d", i)
		st, err := p.n.GetDeliveryStatus(ctx, &notify.GetDeliveryStatusRequest{IdempotencyKey: key})
		if err != nil || st.Status != notify.DeliveryStatusQueued {
			t.Fatalf("%s: %+v, %v; want queued", key, st, err)
		}
		ids[st.MessageID] = key
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		r, err := p.n.StartPairing(ctx, &notify.StartPairingRequest{SessionID: id})
		if err != nil {
			t.Fatal(err)
		}
		// Over gRPC too the answer carries the QR code and its image.
		if pr := r.Session.Pairing; pr == nil || pr.QRCode == "" || len(pr.QRPNG) == 0 || pr.ExpiresAt.IsZero() {
			t.Errorf("StartPairing %s = %+v, want the QR code, its PNG and its expiry", id, r.Session)
		}
	}
	sdktest.WaitFor(t, 30*time.Second, "a part of the queue sent", func() bool { return len(readSent(t, dataDir)) >= total/5 })
	if err := syscall.Kill(p.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.proc.Done()
	before := len(readSent(t, dataDir))
	if before >= total {
		t.Fatalf("the drain finished before the kill (%d sent); nothing was tested", before)
	}
	t.Logf("killed with %d of %d sent", before, total)

	p = startWafake(t, exe, dataDir, settings)
	// Repeats after the restart are duplicates of the first messages.
	for i := range 20 {
		key := fmt.Sprintf("invoice-%03d", i)
		r, err := p.n.Send(ctx, &notify.SendRequest{To: fmt.Sprintf("+62812%08d", i), Text: "again", IdempotencyKey: key})
		if err != nil || !r.Duplicate || ids[r.MessageID] != key {
			t.Fatalf("repeat of %s after the kill = %+v, %v; want its first message", key, r, err)
		}
	}
	sdktest.WaitFor(t, 60*time.Second, "the rest of the queue sent", func() bool { return len(readSent(t, dataDir)) >= total })
	time.Sleep(200 * time.Millisecond) // anything sent twice would show now
	sent := readSent(t, dataDir)
	seen := map[string]int{}
	for _, s := range sent {
		seen[s.ID]++
		if _, ok := ids[s.ID]; !ok {
			t.Errorf("sent a message nobody queued: %+v", s)
		}
	}
	if len(sent) != total || len(seen) != total {
		t.Errorf("%d lines for %d distinct messages, want %d of each", len(sent), len(seen), total)
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("message %s (%s) sent %d times", id, ids[id], n)
		}
	}
	for id, key := range ids {
		st, err := p.n.GetDeliveryStatus(ctx, &notify.GetDeliveryStatusRequest{MessageID: id})
		if err != nil || (st.Status != notify.DeliveryStatusDelivered && st.Status != notify.DeliveryStatusSent) {
			t.Errorf("message %s (%s): %+v, %v", id, key, st, err)
		}
	}
}
