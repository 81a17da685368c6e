package main

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa/fake"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestPairByQR(t *testing.T) {
	fb := fake.New(fake.Options{QRTimeout: 300 * time.Millisecond, QRCodes: 3})
	p := startPlugin(t, fb, "", testSettings())
	ctx := context.Background()

	before := time.Now()
	resp, err := p.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "main"})
	if err != nil {
		t.Fatal(err)
	}
	s := resp.Session
	if s.Status != notify.SessionStatusPairing || s.Pairing == nil || s.Pairing.QRCode == "" {
		t.Fatalf("StartPairing = %+v, want pairing with a QR code", s)
	}
	if exp := s.Pairing.ExpiresAt; exp.Before(before.Add(300*time.Millisecond)) || exp.After(time.Now().Add(300*time.Millisecond)) {
		t.Errorf("ExpiresAt %v is not 300ms after the code was shown", exp)
	}
	img, err := png.Decode(bytes.NewReader(s.Pairing.QRPNG))
	if err != nil {
		t.Fatalf("QRPNG does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() != qrPNGSize {
		t.Errorf("QR image is %dpx wide, want %d", b.Dx(), qrPNGSize)
	}
	// The code rotates.
	first := s.Pairing.QRCode
	sdktest.WaitFor(t, 5*time.Second, "the next QR code", func() bool {
		r, _ := p.GetSession(ctx, &notify.GetSessionRequest{SessionID: "main"})
		return r != nil && r.Session.Pairing != nil && r.Session.Pairing.QRCode != first
	})
	if err := fb.Scan("main", "6281234567890"); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, p, "main", notify.SessionStatusConnected)
	if got.Phone != "+6281234567890" || got.Pairing != nil || got.ConnectedAt.IsZero() {
		t.Errorf("paired session = %+v", got)
	}
	if logs := logsOf(p); strings.Contains(logs, first) || !strings.Contains(logs, "session paired") {
		t.Errorf("the log shows a QR code, or not the pairing:\n%s", logs)
	}
	// Pairing a paired session is refused: log out first.
	if _, err := p.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "main"}); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("StartPairing on a paired session: %v, want ErrFailedPrecondition", err)
	}

	// Nobody scans: after the last code the pairing ends, with a reason.
	if _, err := p.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "second"}); err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, p, "second", notify.SessionStatusDisconnected)
	if !strings.Contains(s.Error, "pairing failed") || s.Pairing != nil {
		t.Errorf("expired pairing = %+v, want disconnected with the reason", s)
	}
}

func TestPairByCode(t *testing.T) {
	p, fb := startWithFake(t, testSettings())
	ctx := context.Background()
	resp, err := p.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "office-2", Phone: "+62 812-3456-7890"})
	if err != nil {
		t.Fatal(err)
	}
	pr := resp.Session.Pairing
	if resp.Session.Status != notify.SessionStatusPairing || pr == nil || len(pr.PairingCode) != 8 {
		t.Fatalf("StartPairing by code = %+v, want an 8-character code", resp.Session)
	}
	if pr.QRCode != "" || pr.QRPNG != nil {
		t.Errorf("pairing by code also shows a QR code: %+v", pr)
	}
	if err := fb.EnterCode("office-2", "WRONG123"); err == nil {
		t.Error("a wrong code paired the session")
	}
	if err := fb.EnterCode("office-2", pr.PairingCode); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, p, "office-2", notify.SessionStatusConnected)
	if strings.Contains(logsOf(p), pr.PairingCode) {
		t.Error("the log shows the pairing code")
	}
	if s.Phone != "+6281234567890" {
		t.Errorf("phone = %q", s.Phone)
	}
	// Bad input says what is wrong.
	for _, req := range []notify.StartPairingRequest{{SessionID: "no spaces"}, {SessionID: "x", Phone: "12"}} {
		if _, err := p.StartPairing(ctx, &req); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("StartPairing(%+v): %v, want ErrInvalidArgument", req, err)
		}
	}
}

func TestMaxSessions(t *testing.T) {
	fb := fake.New(fake.Options{AutoReceipt: true})
	settings := testSettings()
	settings["max_sessions"] = 2
	p := startPlugin(t, fb, "", settings)
	pairByScan(t, p, fb, "a", "b")
	_, err := p.StartPairing(context.Background(), &notify.StartPairingRequest{SessionID: "c"})
	if !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), "max_sessions") {
		t.Errorf("a third session: %v, want a max_sessions error", err)
	}
	// A logged-out session does not count, and pairing it again does.
	fb.LogoutFromPhone("a")
	waitStatus(t, p, "a", notify.SessionStatusLoggedOut)
	if _, err := p.StartPairing(context.Background(), &notify.StartPairingRequest{SessionID: "c"}); err != nil {
		t.Fatalf("a new session after a logout: %v", err)
	}
	if _, err := p.StartPairing(context.Background(), &notify.StartPairingRequest{SessionID: "a"}); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Errorf("pairing the logged-out session again over max_sessions: %v", err)
	}
	// Pairing a session that is pairing restarts it (a fresh QR code).
	if _, err := p.StartPairing(context.Background(), &notify.StartPairingRequest{SessionID: "c"}); err != nil {
		t.Errorf("restarting a pairing: %v", err)
	}
}

func TestFiveSessionsShareTheLoad(t *testing.T) {
	p, fb := startWithFake(t, testSettings())
	ids := []string{"s1", "s2", "s3", "s4", "s5"}
	pairByScan(t, p, fb, ids...)
	const n = 100
	for i := range n {
		send(t, p, text(keyN(i), "+6281234567890"))
	}
	sdktest.WaitFor(t, 20*time.Second, "every message sent", func() bool { return len(fb.Sent()) == n })
	per := map[string]int{}
	for _, s := range fb.Sent() {
		per[s.Session]++
	}
	for _, id := range ids {
		if per[id] < n/len(ids)/2 {
			t.Errorf("session %s sent %d of %d messages: %v", id, per[id], n, per)
		}
	}
}

func keyN(i int) string { return "k-" + strings.Repeat("0", 4-len(itoa(i))) + itoa(i) }

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// startByLocation starts a plugin routing by location, Desa A's session
// being a, with sessions a and b paired.
func startByLocation(t *testing.T) (*Plugin, *fake.Backend) {
	settings := testSettings()
	settings["routing"] = "by_location"
	settings["location_sessions"] = []map[string]string{{"location": "Desa A", "session": "a"}}
	p, fb := startWithFake(t, settings)
	pairByScan(t, p, fb, "a", "b")
	return p, fb
}

func TestLogoutFromThePhone(t *testing.T) {
	p, fb := startByLocation(t)
	ctx := context.Background()

	r := send(t, p, &notify.SendRequest{To: "+6281234567890", Text: "one", IdempotencyKey: "one", Location: "Desa A"})
	if r.SessionID != "a" {
		t.Errorf("a message of Desa A is planned for %q, want a", r.SessionID)
	}
	waitDelivery(t, p, "one", notify.DeliveryStatusDelivered)

	fb.LogoutFromPhone("a")
	s := waitStatus(t, p, "a", notify.SessionStatusLoggedOut)
	if !strings.Contains(s.Error, "logged out from the phone") || !strings.Contains(s.Error, "pair it again") {
		t.Errorf("logged-out session's error = %q", s.Error)
	}
	if _, ok := fb.Paired("a"); ok {
		t.Error("the logged-out session's keys were kept")
	}
	// Desa A's messages move to the session still connected.
	send(t, p, &notify.SendRequest{To: "+6281234567890", Text: "two", IdempotencyKey: "two", Location: "Desa A"})
	waitDelivery(t, p, "two", notify.DeliveryStatusDelivered)
	sent := fb.Sent()
	if last := sent[len(sent)-1]; last.Text != "two" || last.Session != "b" {
		t.Errorf("after the logout, message two went %+v, want through b", last)
	}
	// So do messages that name the logged-out session; an unknown one is
	// refused.
	if r := send(t, p, &notify.SendRequest{SessionID: "a", To: "+6281234567890", Text: "named", IdempotencyKey: "named"}); r.SessionID != "" {
		t.Errorf("a message naming the logged-out session is planned for %q, want any", r.SessionID)
	}
	waitDelivery(t, p, "named", notify.DeliveryStatusDelivered)
	if _, err := p.Send(ctx, &notify.SendRequest{SessionID: "nope", To: "+6281234567890", Text: "x", IdempotencyKey: "x"}); !errors.Is(err, notify.ErrUnknownSession) {
		t.Errorf("Send naming an unknown session: %v, want ErrUnknownSession", err)
	}
	h, _ := p.CheckHealth(ctx, nil)
	if h.Status != sdk.HealthOK || h.Details["sessions"].(map[string]any)["a"] != "logged_out" {
		t.Errorf("health = %+v", h)
	}

	// Paired again, a's location sticks to it again.
	if _, err := p.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := fb.Scan("a", "6281200000009"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, p, "a", notify.SessionStatusConnected)
	send(t, p, &notify.SendRequest{To: "+6281234567890", Text: "three", IdempotencyKey: "three", Location: "Desa A"})
	waitDelivery(t, p, "three", notify.DeliveryStatusDelivered)
	sent = fb.Sent()
	if last := sent[len(sent)-1]; last.Session != "a" {
		t.Errorf("message three went through %s, want a", last.Session)
	}
}

func TestByLocationWaitsForItsDisconnectedSession(t *testing.T) {
	p, fb := startByLocation(t)
	fb.SetOnline("a", false)
	waitStatus(t, p, "a", notify.SessionStatusConnecting)
	send(t, p, &notify.SendRequest{To: "+6281234567890", Text: "waits", IdempotencyKey: "w", Location: "Desa A"})
	// More of Desa A's messages than the sender reads at once do not hold
	// up a message any session may send.
	for i := range dueBatch + 10 {
		send(t, p, &notify.SendRequest{To: "+6281234567890", Text: "waits too", IdempotencyKey: keyN(i), Location: "Desa A"})
	}
	send(t, p, &notify.SendRequest{To: "+6281234567890", Text: "goes", IdempotencyKey: "g"})
	waitDelivery(t, p, "g", notify.DeliveryStatusDelivered)
	if s := fb.Sent(); len(s) != 1 || s[0].Session != "b" {
		t.Fatalf("sent %+v, want only the message without a location, through b", s)
	}
	time.Sleep(300 * time.Millisecond) // longer than a reconnect's backoff
	waitDelivery(t, p, "w", notify.DeliveryStatusQueued)
	if n := len(fb.Sent()); n != 1 {
		t.Fatalf("%d sent while Desa A's session reconnects, want 1: %+v", n, fb.Sent())
	}
	fb.SetOnline("a", true)
	waitDelivery(t, p, "w", notify.DeliveryStatusDelivered)
	sdktest.WaitFor(t, 20*time.Second, "Desa A's messages sent", func() bool { return len(fb.Sent()) == dueBatch+12 })
	for _, s := range fb.Sent()[1:] {
		if s.Session != "a" {
			t.Fatalf("a message of Desa A went through %s", s.Session)
		}
	}
}

func TestLogoutFromTheMessagingPage(t *testing.T) {
	p, fb := startWithFake(t, testSettings())
	pairByScan(t, p, fb, "main")
	ctx := context.Background()
	if _, err := p.Logout(ctx, &notify.LogoutRequest{SessionID: "main"}); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, p, "main", notify.SessionStatusLoggedOut)
	if !strings.Contains(s.Error, "Messaging page") {
		t.Errorf("error = %q", s.Error)
	}
	if _, ok := fb.Paired("main"); ok {
		t.Error("keys kept after Logout")
	}
	// Logging out a logged-out session forgets it.
	if _, err := p.Logout(ctx, &notify.LogoutRequest{SessionID: "main"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetSession(ctx, &notify.GetSessionRequest{SessionID: "main"}); !errors.Is(err, notify.ErrUnknownSession) {
		t.Errorf("GetSession after forgetting: %v", err)
	}
	if _, err := p.Logout(ctx, &notify.LogoutRequest{SessionID: "nope"}); !errors.Is(err, notify.ErrUnknownSession) {
		t.Errorf("Logout of an unknown session: %v", err)
	}
}

func TestInvalidNumber(t *testing.T) {
	p, fb := startWithFake(t, testSettings())
	pairByScan(t, p, fb, "main")
	for _, to := range []string{"12", "0812-abc", "+620000000000", ""} {
		_, err := p.Send(context.Background(), text("bad-"+to, to))
		if !errors.Is(err, notify.ErrInvalidRecipient) {
			t.Errorf("Send to %q: %v, want ErrInvalidRecipient", to, err)
		}
	}
	// A local number is fine: it belongs to default_country.
	r := send(t, p, text("local", "0812-3456-7890"))
	waitDelivery(t, p, "local", notify.DeliveryStatusDelivered)
	if s := fb.Sent(); len(s) != 1 || s[0].To != "6281234567890" || s[0].ID != r.MessageID {
		t.Errorf("sent %+v", s)
	}
	// Other problems name themselves.
	_, err := p.Send(context.Background(), &notify.SendRequest{To: "+6281234567890"})
	if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "idempotency_key") {
		t.Errorf("Send without text or key: %v", err)
	}
}

func TestNotOnWhatsAppFailsWithoutRetry(t *testing.T) {
	p, fb := startWithFake(t, testSettings())
	pairByScan(t, p, fb, "main")
	fb.SetNotOnWhatsApp("6281299999999")
	send(t, p, text("nowa", "+6281299999999"))
	st := waitDelivery(t, p, "nowa", notify.DeliveryStatusFailed)
	if !strings.Contains(st.Error, "not on WhatsApp") {
		t.Errorf("error = %q", st.Error)
	}
	time.Sleep(300 * time.Millisecond) // longer than a retry's backoff
	if n := fb.SendAttempts(); n != 0 {
		t.Errorf("%d sends to a number without WhatsApp", n)
	}
	if got := p.stats.attempts.Get("failed"); got != 1 {
		t.Errorf("failed attempts = %d, want 1 (no retries)", got)
	}
}

func TestDisconnectedWaitsAndIsRetried(t *testing.T) {
	p, fb := startWithFake(t, testSettings())
	pairByScan(t, p, fb, "main")
	ctx := context.Background()

	// The network goes: the message waits.
	fb.SetOnline("main", false)
	waitStatus(t, p, "main", notify.SessionStatusConnecting)
	send(t, p, text("wait", "+6281234567890"))
	h, _ := p.CheckHealth(ctx, nil)
	if h.Status != sdk.HealthDegraded {
		t.Errorf("health while reconnecting = %+v", h)
	}
	time.Sleep(300 * time.Millisecond)
	waitDelivery(t, p, "wait", notify.DeliveryStatusQueued)
	fb.SetOnline("main", true)
	waitDelivery(t, p, "wait", notify.DeliveryStatusDelivered)

	// WhatsApp refuses sends for a while: retried with backoff, never
	// dropped.
	fb.FailSends("main", errors.New("server error 500"))
	send(t, p, text("retry", "+6281234567890"))
	sdktest.WaitFor(t, 5*time.Second, "two retries", func() bool { return p.stats.attempts.Get("retry") >= 2 })
	waitDelivery(t, p, "retry", notify.DeliveryStatusQueued)
	fb.FailSends("main", nil)
	waitDelivery(t, p, "retry", notify.DeliveryStatusDelivered)
	if n := len(fb.Sent()); n != 2 {
		t.Errorf("%d messages sent, want 2", n)
	}
}

func TestReceipts(t *testing.T) {
	fb := fake.New(fake.Options{})
	p := startPlugin(t, fb, "", testSettings())
	pairByScan(t, p, fb, "main")
	r1 := send(t, p, text("r1", "+6281234567890"))
	r2 := send(t, p, text("r2", "+6281234567890"))
	waitDelivery(t, p, "r1", notify.DeliveryStatusSent)
	waitDelivery(t, p, "r2", notify.DeliveryStatusSent)
	fb.Receipt("main", wa.ReceiptRead, r1.MessageID)
	waitDelivery(t, p, "r1", notify.DeliveryStatusRead)
	// A late delivered receipt does not move it back.
	fb.Receipt("main", wa.ReceiptDelivered, r1.MessageID)
	fb.Receipt("main", wa.ReceiptFailed, r2.MessageID)
	st := waitDelivery(t, p, "r2", notify.DeliveryStatusFailed)
	if st.Error == "" {
		t.Error("a failed receipt gave no reason")
	}
	got, err := p.GetDeliveryStatus(context.Background(), &notify.GetDeliveryStatusRequest{MessageID: r1.MessageID})
	if err != nil || got.Status != notify.DeliveryStatusRead {
		t.Errorf("r1 by id = %+v, %v; want read", got, err)
	}
	if _, err := p.GetDeliveryStatus(context.Background(), &notify.GetDeliveryStatusRequest{MessageID: "3EB0NOPE"}); !errors.Is(err, notify.ErrUnknownMessage) {
		t.Errorf("unknown message: %v", err)
	}
}

func TestIdempotencyAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	fb1, err := fake.NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p1 := startPlugin(t, fb1, dir, testSettings())
	// No session yet: queued, and Send says no session can send.
	_, err = p1.Send(ctx, text("invoice-42", "+6281234567890"))
	if !errors.Is(err, notify.ErrSessionNotConnected) || !strings.Contains(err.Error(), "Messaging page") {
		t.Fatalf("Send with no session paired: %v, want ErrSessionNotConnected", err)
	}
	first := waitDelivery(t, p1, "invoice-42", notify.DeliveryStatusQueued)
	shutdown(t, p1)

	fb2, err := fake.NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p2 := startPlugin(t, fb2, dir, testSettings())
	if _, err := p2.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "main"}); err != nil {
		t.Fatal(err) // the wafake backend pairs by itself
	}
	waitStatus(t, p2, "main", notify.SessionStatusConnected)
	waitDelivery(t, p2, "invoice-42", notify.DeliveryStatusDelivered)
	r := send(t, p2, text("invoice-42", "+6281234567890"))
	if !r.Duplicate || r.MessageID != first.MessageID || r.SessionID != "main" {
		t.Errorf("repeat after a restart = %+v, want the first message (%s) as a duplicate", r, first.MessageID)
	}
	shutdown(t, p2)

	// A third run reconnects without pairing and still knows the key.
	fb3, err := fake.NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p3 := startPlugin(t, fb3, dir, testSettings())
	waitStatus(t, p3, "main", notify.SessionStatusConnected)
	if r := send(t, p3, text("invoice-42", "+6281234567890")); !r.Duplicate {
		t.Errorf("third run: %+v", r)
	}
	if n := len(fb3.Sent()); n != 1 {
		t.Errorf("%d messages sent, want 1", n)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	p, fb := startWithFake(t, testSettings())
	ctx := context.Background()
	h, _ := p.CheckHealth(ctx, nil)
	if h.Status != sdk.HealthDegraded || !strings.Contains(h.Message, "pair a session on the Messaging page") {
		t.Errorf("health with no session = %+v", h)
	}
	pairByScan(t, p, fb, "a", "b")
	h, _ = p.CheckHealth(ctx, nil)
	if h.Status != sdk.HealthOK {
		t.Errorf("health with two connected = %+v", h)
	}
	fb.SetOnline("b", false)
	waitStatus(t, p, "b", notify.SessionStatusConnecting)
	h, _ = p.CheckHealth(ctx, nil)
	if h.Status != sdk.HealthDegraded || !strings.Contains(h.Message, "1 of 2") || h.Details["sessions"].(map[string]any)["b"] != "connecting" {
		t.Errorf("health with one reconnecting = %+v", h)
	}
	send(t, p, text("m", "+6281234567890"))
	waitDelivery(t, p, "m", notify.DeliveryStatusDelivered)
	m, err := p.CollectMetrics(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"whatsapp_queue_depth 0\n",
		`whatsapp_messages{status="delivered"} 1`,
		`whatsapp_sessions{state="connected"} 1`,
		`whatsapp_sessions{state="connecting"} 1`,
		`whatsapp_send_attempts_total{result="sent"} 1`,
		"whatsapp_send_seconds_count 1\n",
		"whatsapp_messages_queued_total 1\n",
	} {
		if !strings.Contains(string(m.Text), want) {
			t.Errorf("metrics lack %q:\n%s", want, m.Text)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	p := NewPlugin(nil)
	for _, bad := range []string{
		`{"max_sessions": 0}`,
		`{"routing": "by_location"}`,
		`{"default_country": "XX"}`,
		`{"retry_min_ms": 5000, "retry_max_ms": 1000}`,
		`{"location_sessions": [{"location": "A", "session": "bad id"}]}`,
		`{"unknown": 1}`,
	} {
		_, err := p.Configure(context.Background(), &sdk.ConfigureRequest{Settings: []byte(bad), DataDir: t.TempDir()})
		if !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("Configure(%s): %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// A connection that opens but never logs in (no connected or disconnected
// event follows) is dropped after the watchdog and tried again, so the
// session does not stay "connecting" for good and its messages go once the
// network answers.
func TestHungConnectionIsRetried(t *testing.T) {
	defer connectWatchdog.Store(connectWatchdog.Swap(int64(200 * time.Millisecond)))
	p, fb := startWithFake(t, testSettings())
	pairByScan(t, p, fb, "main")

	fb.HangConnects("main", true)
	fb.SetOnline("main", false)
	waitStatus(t, p, "main", notify.SessionStatusConnecting)
	fb.SetOnline("main", true)
	send(t, p, text("hung", "+6281234567890"))
	sdktest.WaitFor(t, 10*time.Second, "the watchdog says the connection hung", func() bool {
		s := waitStatus(t, p, "main", notify.SessionStatusConnecting)
		return strings.Contains(s.Error, "did not log in")
	})
	waitDelivery(t, p, "hung", notify.DeliveryStatusQueued)

	fb.HangConnects("main", false)
	waitStatus(t, p, "main", notify.SessionStatusConnected)
	waitDelivery(t, p, "hung", notify.DeliveryStatusDelivered)
}
