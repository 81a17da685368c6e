package billing_test

// 100,000 audit events through the host's job path reach the real audit
// plugin (plugins/audit, built and started as a process) once each, in the
// host log's order (10,000 under the race detector).

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// startAuditPlugin builds plugins/audit, starts it on a fresh data
// directory and returns its client; it stops when the test ends.
func startAuditPlugin(t testing.TB) audit.Sink {
	t.Helper()
	sink, stop := startAuditPluginIn(t, t.TempDir())
	t.Cleanup(stop)
	return sink
}

// startAuditPluginIn starts plugins/audit on the data directory dir (made
// if missing, as the host makes it) and returns its client and how to stop
// it.
func startAuditPluginIn(t testing.TB, dir string) (audit.Sink, func()) {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sockets, err := os.MkdirTemp("", "mb-audit-")
	if err != nil {
		t.Fatal(err)
	}
	proc, err := client.Start(ctx, client.Config{Name: "audit", Path: testenv.Build(t, "plugins/audit"), Env: client.PluginEnv(dir),
		SocketDir: sockets, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn})})
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = proc.Stop(ctx)
		_ = os.RemoveAll(sockets)
	}
	conn := proc.Conn()
	if _, err := client.NewPlugin(conn.ClientConn(), conn.HostBrokerID).Configure(ctx, &sdk.ConfigureRequest{Settings: []byte("{}"), DataDir: dir}); err != nil {
		stop()
		t.Fatal(err)
	}
	c, err := client.NewKind(sdk.KindAudit, conn.ClientConn(), conn.HostBrokerID)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	return c.(audit.Sink), stop
}

func TestAudit100kThroughTheJobPathToThePlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 events: not with -short")
	}
	st := storetest.Postgres(t)
	ctx := context.Background()
	if err := jobs.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	sink := startAuditPlugin(t)
	svc, err := billing.NewWithQueue(st, nil, testutil.Plugins{AuditSink: sink}, billing.Config{}, nil,
		billing.QueueConfig{Jobs: jobs.Config{Workers: 50, PollInterval: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Queue().Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Queue().Stop(ctx)
	})
	// 100,000 events take minutes; under the race detector (make test),
	// which slows each job several times, 10,000 do. The whole count:
	// go test -count=1 -run TestAudit100k ./internal/billing/
	n := 100_000
	if raceDetector {
		n = 10_000
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if err := svc.Audit(ctx, billing.AuditEvent{Actor: "system", Action: "load.test", ResourceType: "n", ResourceID: fmt.Sprint(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(15 * time.Minute)
	for {
		d, err := svc.AuditDelivery(ctx)
		if err != nil {
			t.Fatal(err)
		}
		host := hostCount(t, st)
		if host == n && d.Backlog.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15 minutes: %d of %d events in the host's log, %d waiting for the plugin", host, n, d.Backlog.Count)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The plugin's log, read back in sequence order, is the host's log in
	// id order: each event once.
	host := hostOrder(t, st.Q())
	var got []audit.Event
	token := ""
	for {
		page, err := sink.Query(ctx, &audit.QueryRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Events...)
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	if len(got) != n || len(host) != n {
		t.Fatalf("the plugin holds %d events, the host %d, want %d each", len(got), len(host), n)
	}
	t.Logf("%d events through the job path, delivered once each in order", n)
	for i := range got {
		if got[i].ID != host[i].EventID || got[i].Sequence != uint64(i+1) {
			t.Fatalf("plugin event %d (sequence %d) is %s; the host log has %s there", i+1, got[i].Sequence, got[i].ID, host[i].EventID)
		}
	}
	v, err := sink.Verify(ctx, &audit.VerifyRequest{})
	if err != nil || !v.OK || v.Checked != uint64(n) {
		t.Fatalf("the plugin's log after 100,000 events: %+v, %v", v, err)
	}
}
