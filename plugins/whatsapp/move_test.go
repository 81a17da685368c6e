package main

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa/fake"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// The plugin moves to another host: A pairs a session and accepts a
// message it has not sent yet (the session's delay holds it), and is
// SIGKILLed. B, on an empty data directory and the same durable store (two
// hosts on one database), finds the session paired without pairing again,
// sends the pending message once, answers for the message A sent, treats a
// retry of the pending message's job as a duplicate, and sends a new one.
func TestMoveToAnotherHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin")
	}
	exe := buildWafake(t)
	host := sdktest.NewFakeHost()
	settings := map[string]any{"message_delay_ms": 3000, "jitter_percent": 0, "retry_min_ms": 200, "retry_max_ms": 1000}
	ctx := context.Background()

	dirA := t.TempDir()
	a := launchWafakeOn(t, host, exe, dirA)
	a.configure(t, dirA, settings)
	if _, err := a.n.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "main"}); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, a.n, 1)
	sa, err := a.n.GetSession(ctx, &notify.GetSessionRequest{SessionID: "main"})
	if err != nil || sa.Session.Phone == "" {
		t.Fatalf("A's session: %+v, %v", sa, err)
	}
	// The pairing reaches the store at once (not at the next check).
	sdktest.WaitFor(t, 5*time.Second, "the device state in the durable store", func() bool {
		_, ok, _ := host.StoreGet(ctx, prefixDevice+"main")
		return ok
	})
	first, err := a.n.Send(ctx, &notify.SendRequest{To: "+6281200000001", Text: "first", IdempotencyKey: "first"})
	if err != nil {
		t.Fatal(err)
	}
	sdktest.WaitFor(t, 10*time.Second, "A sent the first message and recorded it", func() bool {
		st, err := a.n.GetDeliveryStatus(ctx, &notify.GetDeliveryStatusRequest{IdempotencyKey: "first"})
		if err != nil || st.Status != notify.DeliveryStatusDelivered {
			return false
		}
		// Its send is recorded in the durable store too. (Killed between
		// WhatsApp taking a message and this record, the next host sends it
		// again with the same id, which WhatsApp drops; the fake's sent
		// files are per data directory and would count it twice.)
		_, queued, _ := host.StoreGet(ctx, prefixQueued+first.MessageID)
		return !queued
	})
	pending, err := a.n.Send(ctx, &notify.SendRequest{To: "+6281200000002", Text: "pending", IdempotencyKey: "pending"})
	if err != nil || pending.Status != notify.DeliveryStatusQueued {
		t.Fatalf("Send of the pending message = %+v, %v; want it queued", pending, err)
	}
	if err := syscall.Kill(a.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.proc.Done()
	if sent := readSent(t, dirA); len(sent) != 1 || sent[0].ID != first.MessageID {
		t.Fatalf("A sent %+v before it was killed; want only the first message (the delay holds the second)", sent)
	}

	dirB := t.TempDir()
	b := launchWafakeOn(t, host, exe, dirB)
	b.configure(t, dirB, settings)
	waitConnected(t, b.n, 1)
	sb, err := b.n.GetSession(ctx, &notify.GetSessionRequest{SessionID: "main"})
	if err != nil || sb.Session.Phone != sa.Session.Phone || sb.Session.Pairing != nil {
		t.Fatalf("B's session = %+v, %v; want it paired with %s, without pairing", sb, err, sa.Session.Phone)
	}
	sdktest.WaitFor(t, 10*time.Second, "B sent the pending message", func() bool { return len(readSent(t, dirB)) >= 1 })
	// The job of the pending message, retried on B, is a duplicate.
	again, err := b.n.Send(ctx, &notify.SendRequest{To: "+6281200000002", Text: "pending", IdempotencyKey: "pending"})
	if err != nil || !again.Duplicate || again.MessageID != pending.MessageID {
		t.Fatalf("retry of the pending message on B = %+v, %v; want a duplicate of %s", again, err, pending.MessageID)
	}
	// B answers for the message A sent.
	st, err := b.n.GetDeliveryStatus(ctx, &notify.GetDeliveryStatusRequest{IdempotencyKey: "first"})
	if err != nil || st.MessageID != first.MessageID || (st.Status != notify.DeliveryStatusSent && st.Status != notify.DeliveryStatusDelivered) {
		t.Fatalf("B's status of A's message = %+v, %v", st, err)
	}
	fresh, err := b.n.Send(ctx, &notify.SendRequest{To: "+6281200000003", Text: "new", IdempotencyKey: "new"})
	if err != nil {
		t.Fatal(err)
	}
	sdktest.WaitFor(t, 15*time.Second, "B sent the new message", func() bool { return len(readSent(t, dirB)) >= 2 })
	time.Sleep(300 * time.Millisecond) // a message sent twice would show now
	all := append(readSent(t, dirA), readSent(t, dirB)...)
	count := map[string]int{}
	for _, s := range all {
		count[s.ID]++
		if s.Session != "main" {
			t.Errorf("sent from session %q: %+v", s.Session, s)
		}
	}
	for _, id := range []string{first.MessageID, pending.MessageID, fresh.MessageID} {
		if count[id] != 1 {
			t.Errorf("message %s sent %d times, want once", id, count[id])
		}
	}
	if len(all) != 3 {
		t.Errorf("WhatsApp took %d messages, want 3: %+v", len(all), all)
	}
	for _, key := range []string{"pending", "new"} {
		sdktest.WaitFor(t, 5*time.Second, key+" delivered", func() bool {
			st, err := b.n.GetDeliveryStatus(ctx, &notify.GetDeliveryStatusRequest{IdempotencyKey: key})
			return err == nil && st.Status == notify.DeliveryStatusDelivered
		})
	}
}

// A logout on one host reaches the others: a host that held the session's
// keys and starts after it deletes them (the tombstone is a newer
// generation) and shows the session logged out.
func TestLogoutOnAnotherHost(t *testing.T) {
	ctx := context.Background()
	host := sdktest.NewFakeHost()
	dirA := t.TempDir()
	fa, err := fake.NewInDir(dirA)
	if err != nil {
		t.Fatal(err)
	}
	a := startPluginOn(t, host, fa, dirA, testSettings())
	if _, err := a.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "main"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, a, "main", notify.SessionStatusConnected)
	shutdown(t, a)

	fb := fake.New(fake.Options{AutoReceipt: true})
	b := startPluginOn(t, host, fb, "", testSettings())
	waitStatus(t, b, "main", notify.SessionStatusConnected)
	if _, err := b.Logout(ctx, &notify.LogoutRequest{SessionID: "main"}); err != nil {
		t.Fatal(err)
	}
	shutdown(t, b)

	fa2, err := fake.NewInDir(dirA)
	if err != nil {
		t.Fatal(err)
	}
	a2 := startPluginOn(t, host, fa2, dirA, testSettings())
	if st, _ := fa2.Export(ctx, "main"); st != nil {
		t.Errorf("the first host kept the keys of the session logged out on the second: %s", st)
	}
	if s := waitStatus(t, a2, "main", notify.SessionStatusLoggedOut); s.Phone == "" {
		t.Errorf("session after the logout elsewhere = %+v", s)
	}
}

// A host that finds a newer copy of a session's device state in the store
// than its own (another host ran the session after it) does not overwrite
// it.
func TestOvertakenHostStopsWriting(t *testing.T) {
	ctx := context.Background()
	a, fa := startPaired(t, 20*time.Millisecond)
	var hdr blobHeader
	newer := []byte(`{"session":"main","phone":"6281299999999"}`)
	if err := a.shared.putBlob(ctx, prefixDevice+"main", 5, newer, 0, blobHeader{}); err != nil {
		t.Fatal(err)
	}
	fa.Pair("main", "6281200000077") // a change this host would write
	sdktest.WaitFor(t, 5*time.Second, "the host to notice", func() bool {
		return strings.Contains(logsOf(a), "another host wrote this session's device state")
	})
	if ok, _ := a.shared.getJSON(ctx, prefixDevice+"main", &hdr); !ok || hdr.Gen != 5 || !bytes.Equal(hdr.Inline, newer) {
		t.Errorf("the store's copy is now %+v; want the newer one kept", hdr)
	}
}

// A receipt that reaches the next host for a message the previous one sent
// updates what GetDeliveryStatus answers there; a receipt never moves a
// message back.
func TestReceiptForPreviousHostsMessage(t *testing.T) {
	ctx := context.Background()
	host := sdktest.NewFakeHost()
	fa := fake.New(fake.Options{})
	a := startPluginOn(t, host, fa, "", testSettings())
	pairByScan(t, a, fa, "main")
	r := send(t, a, text("k1", "+6281200000001"))
	waitDelivery(t, a, "k1", notify.DeliveryStatusSent)
	shutdown(t, a)

	fb := fake.New(fake.Options{})
	b := startPluginOn(t, host, fb, "", testSettings())
	waitStatus(t, b, "main", notify.SessionStatusConnected)
	if st, err := b.GetDeliveryStatus(ctx, &notify.GetDeliveryStatusRequest{MessageID: r.MessageID}); err != nil || st.Status != notify.DeliveryStatusSent {
		t.Fatalf("status on the next host = %+v, %v; want sent", st, err)
	}
	fb.Receipt("main", wa.ReceiptRead, r.MessageID)
	waitDelivery(t, b, "k1", notify.DeliveryStatusRead)
	fb.Receipt("main", wa.ReceiptDelivered, r.MessageID)
	time.Sleep(100 * time.Millisecond)
	if st := waitDelivery(t, b, "k1", notify.DeliveryStatusRead); st.MessageID != r.MessageID {
		t.Errorf("status = %+v", st)
	}
}

// Shutdown writes the device state that changed since the last check, so a
// clean stop loses nothing of it.
func TestShutdownSavesDeviceState(t *testing.T) {
	ctx := context.Background()
	a, fa := startPaired(t, time.Hour)
	var hdr blobHeader
	fa.Pair("main", "6281200000077") // changed after the last check
	shutdown(t, a)
	if ok, _ := a.shared.getJSON(ctx, prefixDevice+"main", &hdr); !ok || hdr.Gen != 2 || !bytes.Contains(hdr.Inline, []byte("6281200000077")) {
		t.Errorf("after Shutdown the store holds %+v; want generation 2 with the new state", hdr)
	}
}

// The first start of this version on a data directory that has sessions,
// keys and queued messages from before (a store that never had them) puts
// them in the store, so the next host takes them over: the session paired,
// the message sent once.
func TestFirstStartFillsTheStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	before := sdktest.NewFakeHost() // the state before: a store of no use
	fa, err := fake.NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := startPluginOn(t, before, fa, dir, testSettings())
	if _, err := a.StartPairing(ctx, &notify.StartPairingRequest{SessionID: "main"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, a, "main", notify.SessionStatusConnected)
	fa.SetOnline("main", false)
	r := send(t, a, text("k1", "+6281200000001"))
	shutdown(t, a)

	host := sdktest.NewFakeHost()
	fa2, err := fake.NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The session does not log in here, so the message waits for the
	// next host.
	fa2.HangConnects("main", true)
	a2 := startPluginOn(t, host, fa2, dir, testSettings())
	sdktest.WaitFor(t, 5*time.Second, "the device state in the store", func() bool {
		_, ok, _ := host.StoreGet(ctx, prefixDevice+"main")
		return ok
	})
	for _, key := range []string{keyInit, prefixSession + "main", prefixQueued + r.MessageID, keyOf("k1")} {
		if _, ok, _ := host.StoreGet(ctx, key); !ok {
			t.Errorf("%s is not in the store after the first start", key)
		}
	}
	shutdown(t, a2)

	fb := fake.New(fake.Options{AutoReceipt: true})
	b := startPluginOn(t, host, fb, "", testSettings())
	waitStatus(t, b, "main", notify.SessionStatusConnected)
	waitDelivery(t, b, "k1", notify.DeliveryStatusDelivered)
	if again := send(t, b, text("k1", "+6281200000001")); !again.Duplicate || again.MessageID != r.MessageID {
		t.Errorf("repeat on the next host = %+v", again)
	}
	if sent := fb.Sent(); len(sent) != 1 || sent[0].ID != r.MessageID {
		t.Errorf("the next host sent %+v, want the queued message once", sent)
	}
}

// startPaired starts a plugin whose device state is checked every interval,
// pairs session "main" and waits for its first copy in the store.
func startPaired(t *testing.T, interval time.Duration) (*Plugin, *fake.Backend) {
	t.Helper()
	old := syncInterval
	syncInterval = interval
	t.Cleanup(func() { syncInterval = old })
	fa := fake.New(fake.Options{AutoReceipt: true})
	a := startPluginOn(t, sdktest.NewFakeHost(), fa, "", testSettings())
	pairByScan(t, a, fa, "main")
	sdktest.WaitFor(t, 5*time.Second, "the pairing in the store", func() bool {
		var hdr blobHeader
		ok, _ := a.shared.getJSON(context.Background(), prefixDevice+"main", &hdr)
		return ok && hdr.Gen == 1
	})
	return a, fa
}
