package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa/fake"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// testSettings are fast settings for tests: 5 ms between messages, retries
// after 50 ms.
func testSettings() map[string]any {
	return map[string]any{"message_delay_ms": 5, "jitter_percent": 10, "retry_min_ms": 100, "retry_max_ms": 400}
}

// startPlugin configures a plugin on fb in dir (a new temporary directory
// when empty), with a durable store of its own, and shuts it down at the
// end of the test.
func startPlugin(t testing.TB, fb wa.Backend, dir string, settings map[string]any) *Plugin {
	t.Helper()
	return startPluginOn(t, sdktest.NewFakeHost(), fb, dir, settings)
}

// startPluginOn is startPlugin on the durable store of host.
func startPluginOn(t testing.TB, host sdk.Host, fb wa.Backend, dir string, settings map[string]any) *Plugin {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	p := NewPlugin(func(string, hclog.Logger) (wa.Backend, error) { return fb, nil })
	p.host = host
	var logs *sdktest.Buffer
	p.logger, logs = sdktest.Logger(t)
	testLogs.Store(p, logs)
	raw := fmt.Sprintf("%s", mustJSON(t, settings))
	if _, err := p.Configure(context.Background(), &sdk.ConfigureRequest{Settings: []byte(raw), DataDir: dir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { shutdown(t, p) })
	return p
}

// testLogs holds each test plugin's log (logsOf).
var testLogs sync.Map

// logsOf is what a plugin started by startPlugin logged.
func logsOf(p *Plugin) string {
	b, _ := testLogs.Load(p)
	return b.(*sdktest.Buffer).String()
}

// startWithFake starts a plugin on a new in-memory fake WhatsApp that
// sends a delivered receipt for every message.
func startWithFake(t testing.TB, settings map[string]any) (*Plugin, *fake.Backend) {
	t.Helper()
	fb := fake.New(fake.Options{AutoReceipt: true})
	return startPlugin(t, fb, "", settings), fb
}

// waitConnected waits until n sessions of a notifier are connected.
func waitConnected(t testing.TB, nt notify.Notifier, n int) {
	t.Helper()
	sdktest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d sessions connected", n), func() bool {
		r, err := nt.ListSessions(context.Background(), &notify.ListSessionsRequest{})
		if err != nil {
			return false
		}
		c := 0
		for _, s := range r.Sessions {
			if s.Status == notify.SessionStatusConnected {
				c++
			}
		}
		return c == n
	})
}

func shutdown(t testing.TB, p *Plugin) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// pairByScan pairs new sessions by QR code, scanning each as phone
// 6281200000<n>.
func pairByScan(t testing.TB, p *Plugin, fb *fake.Backend, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for i, id := range ids {
		if _, err := p.StartPairing(ctx, &notify.StartPairingRequest{SessionID: id}); err != nil {
			t.Fatalf("StartPairing %s: %v", id, err)
		}
		if err := fb.Scan(id, fmt.Sprintf("628120000%04d", i+1)); err != nil {
			t.Fatalf("scan %s: %v", id, err)
		}
	}
	for _, id := range ids {
		waitStatus(t, p, id, notify.SessionStatusConnected)
	}
}

func waitStatus(t testing.TB, p *Plugin, id string, want notify.SessionStatus) notify.Session {
	t.Helper()
	var last notify.Session
	sdktest.WaitFor(t, 10*time.Second, fmt.Sprintf("session %s %s", id, want), func() bool {
		r, err := p.GetSession(context.Background(), &notify.GetSessionRequest{SessionID: id})
		if err != nil {
			return false
		}
		last = r.Session
		return last.Status == want
	})
	return last
}

func waitDelivery(t testing.TB, p *Plugin, key string, want notify.DeliveryStatus) *notify.GetDeliveryStatusResponse {
	t.Helper()
	var last *notify.GetDeliveryStatusResponse
	sdktest.WaitFor(t, 10*time.Second, fmt.Sprintf("message %s %s", key, want), func() bool {
		r, err := p.GetDeliveryStatus(context.Background(), &notify.GetDeliveryStatusRequest{IdempotencyKey: key})
		if err != nil {
			return false
		}
		last = r
		return r.Status == want
	})
	return last
}

func send(t testing.TB, p *Plugin, req *notify.SendRequest) *notify.SendResponse {
	t.Helper()
	resp, err := p.Send(context.Background(), req)
	if err != nil {
		t.Fatalf("Send %s: %v", req.IdempotencyKey, err)
	}
	return resp
}

func text(key, to string) *notify.SendRequest {
	return &notify.SendRequest{To: to, Text: "message " + key, IdempotencyKey: key}
}
