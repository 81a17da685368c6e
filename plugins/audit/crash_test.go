package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// buildPlugin builds the plugin binary into a temporary folder with its
// manifest, as `make build` lays it out.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, "mikrobill-plugin-audit"), ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startPlugin starts the built plugin as the host does and configures it
// on dataDir.
func startPlugin(t *testing.T, binDir, dataDir string) (*client.Process, audit.Sink) {
	t.Helper()
	socketDir, err := os.MkdirTemp("/tmp", "mbau-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(socketDir) })
	proc, err := client.Start(context.Background(), client.Config{
		Name:      "audit",
		Path:      filepath.Join(binDir, "mikrobill-plugin-audit"),
		Env:       client.PluginEnv(dataDir),
		SocketDir: socketDir,
		Logger:    hclog.NewNullLogger(),
		Host:      sdktest.NewFakeHost(),
	})
	if err != nil {
		t.Fatalf("start the plugin: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = proc.Stop(ctx)
	})
	conn := proc.Conn()
	p := client.NewPlugin(conn.ClientConn(), conn.HostBrokerID)
	if _, err := p.Configure(context.Background(), &sdk.ConfigureRequest{Settings: []byte(`{"checkpoint_every": 500}`), DataDir: dataDir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return proc, client.NewAudit(conn.ClientConn(), conn.HostBrokerID)
}

// TestKillDuringAppend kills the plugin process (SIGKILL to its process
// group) while batches are being appended, restarts it, and checks that
// every acknowledged event is there, once, in order, and that the log
// verifies.
func TestKillDuringAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	binDir := buildPlugin(t)
	dataDir := t.TempDir()
	proc, sink := startPlugin(t, binDir, dataDir)

	var mu sync.Mutex
	acked := map[string]bool{}
	var lastAcked uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := 0; ; b++ {
			resp, err := sink.Append(context.Background(), &audit.AppendRequest{Events: events(b*100+1, 100)})
			if err != nil {
				return // the process is gone
			}
			mu.Lock()
			for i := b*100 + 1; i <= b*100+100; i++ {
				acked[ev(i).ID] = true
			}
			lastAcked = resp.LastSequence
			mu.Unlock()
		}
	}()
	sdktest.WaitFor(t, 60*time.Second, "2,000 acknowledged events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 2000
	})
	proc.Kill() // SIGKILL, mid-batch as likely as not
	<-done
	mu.Lock()
	defer mu.Unlock()
	t.Logf("killed after %d acknowledged events (last sequence %d)", len(acked), lastAcked)

	_, sink = startPlugin(t, binDir, dataDir)
	ctx := context.Background()
	seen := map[string]bool{}
	req := &audit.QueryRequest{PageSize: 1000}
	var want uint64 = 1
	for {
		page, err := sink.Query(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if e.Sequence != want || seen[e.ID] {
				t.Fatalf("event %s at sequence %d: want sequence %d, each event once", e.ID, e.Sequence, want)
			}
			if e.ID != ev(int(want)).ID {
				t.Fatalf("sequence %d holds %s, want %s (in the order sent)", want, e.ID, ev(int(want)).ID)
			}
			seen[e.ID] = true
			want++
		}
		if page.NextPageToken == "" {
			break
		}
		req.PageToken = page.NextPageToken
	}
	for id := range acked {
		if !seen[id] {
			t.Errorf("acknowledged event %s is lost", id)
		}
	}
	v, err := sink.Verify(ctx, &audit.VerifyRequest{})
	if err != nil || !v.OK {
		t.Fatalf("Verify after the crash = %+v, %v", v, err)
	}
	// And the log takes events again, after what survived.
	resp, err := sink.Append(ctx, &audit.AppendRequest{Events: []audit.Event{{ID: "after-crash", Actor: "system", Action: "x"}}})
	if err != nil || resp.LastSequence != want {
		t.Errorf("Append after the crash = %+v, %v; want sequence %d", resp, err, want)
	}
}
