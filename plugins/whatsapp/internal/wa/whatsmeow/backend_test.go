package whatsmeow

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"modernc.org/sqlite"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Nothing here connects: no test calls Connect, and every operation that
// would need WhatsApp's servers is called on a disconnected device.

// testLogger is a JSON hclog logger at trace level into a buffer.
func testLogger() (hclog.Logger, *sdktest.Buffer) {
	buf := &sdktest.Buffer{}
	return hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Trace, JSONFormat: true}), buf
}

// openBackend opens a backend on dir, closed at the end of the test.
func openBackend(t *testing.T, dir string) *Backend {
	t.Helper()
	log, _ := testLogger()
	b, err := Open(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// pair does to d what whatsmeow does when a pairing succeeds: the device
// gets its JID and account identity, is saved, and PairSuccess is
// dispatched.
func pair(t *testing.T, d *Device, phone string, deviceID uint8) types.JID {
	t.Helper()
	jid := types.NewADJID(phone, 0, deviceID)
	st := d.cli.Store
	st.ID = &jid
	st.Account = &waAdv.ADVSignedDeviceIdentity{
		Details:             []byte("details"),
		AccountSignature:    bytes.Repeat([]byte{1}, 64),
		AccountSignatureKey: bytes.Repeat([]byte{2}, 32),
		DeviceSignature:     bytes.Repeat([]byte{3}, 64),
	}
	if err := st.Save(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.handle(d.cli, &events.PairSuccess{ID: jid, Platform: "android"})
	return jid
}

// nextEvent reads one event, failing after a while.
func nextEvent(t *testing.T, d wa.Device) wa.Event {
	t.Helper()
	select {
	case e, ok := <-d.Events():
		if !ok {
			t.Fatal("events closed")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return wa.Event{}
}

func countDevices(t *testing.T, b *Backend) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(`SELECT count(*) FROM whatsmeow_device`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRegisterSQLite3Idempotent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = RegisterSQLite3() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := RegisterSQLite3(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range sql.Drivers() {
		if name == DriverName {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%q registered %d times, want once (drivers: %v)", DriverName, n, sql.Drivers())
	}
	db, err := sql.Open(DriverName, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, ok := db.Driver().(*sqlite.Driver); !ok {
		t.Fatalf("%q is %T, want modernc.org/sqlite", DriverName, db.Driver())
	}
	if err := checkDriver(); err != nil {
		t.Fatalf("checkDriver on our own registration: %v", err)
	}
}

func TestOpenDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b := openBackend(t, dir)
	var fk bool
	if err := b.db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || !fk {
		t.Fatalf("foreign_keys = %v (%v), want on", fk, err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, DBFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	if _, err := Open(context.Background(), "", nil); err == nil {
		t.Error("Open with no directory succeeded")
	}
}

func TestDeviceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	b := openBackend(t, dir)
	d, err := b.OpenDevice(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if phone, ok := d.Paired(); ok {
		t.Fatalf("new session paired with %q", phone)
	}
	jid := pair(t, d, "6281111111111", 3)
	if e := nextEvent(t, d); e.Type != wa.EventPairSuccess || e.Phone != "6281111111111" {
		t.Fatalf("event %+v, want pair_success for 6281111111111", e)
	}
	noise, identity := *d.cli.Store.NoiseKey.Priv, *d.cli.Store.IdentityKey.Priv
	// A second, unpaired session next to it.
	d2, err := b.OpenDevice(ctx, "s2")
	if err != nil {
		t.Fatal(err)
	}
	// Opening the session again closes the first device: one connection
	// per session.
	again, err := b.OpenDevice(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := <-d.Events(); ok {
		t.Error("the first device is still open after the session was opened again")
	}
	if phone, ok := again.Paired(); !ok || phone != "6281111111111" {
		t.Errorf("reopened: Paired() = %q, %v", phone, ok)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-again.Events(); ok {
		t.Error("events still open after Close")
	}
	_ = d2.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBackend(t, dir)
	d, err = b.OpenDevice(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if phone, ok := d.Paired(); !ok || phone != "6281111111111" {
		t.Fatalf("after restart Paired() = %q, %v; want 6281111111111, true", phone, ok)
	}
	st := d.cli.Store
	if *st.ID != jid || *st.NoiseKey.Priv != noise || *st.IdentityKey.Priv != identity {
		t.Fatalf("after restart the device is %v with other keys, want %v with the same keys", st.ID, jid)
	}
	if _, ok := mustDevice(t, b, "s2").Paired(); ok {
		t.Error("the unpaired session came back paired")
	}

	if err := b.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if n := countDevices(t, b); n != 0 {
		t.Fatalf("%d devices after Delete, want 0", n)
	}
	// The open device stays open, unpaired, and can pair again.
	if _, ok := d.Paired(); ok {
		t.Error("the open device is still paired after Delete")
	}
	if err := d.PairQR(ctx); err != nil {
		t.Errorf("pairing the deleted session again: %v", err)
	}
	_ = d.Close()
	if _, ok := mustDevice(t, b, "s1").Paired(); ok {
		t.Error("deleted session still paired")
	}
	if err := b.Delete(ctx, "never-existed"); err != nil {
		t.Errorf("Delete of an unknown session: %v", err)
	}
}

func mustDevice(t *testing.T, b *Backend, id string) *Device {
	t.Helper()
	d, err := b.OpenDevice(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestOpenUnpaired(t *testing.T) {
	b := openBackend(t, t.TempDir())
	var dev wa.Device
	dev, err := b.Open(context.Background(), "fresh")
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if phone, ok := dev.Paired(); ok || phone != "" {
		t.Errorf("Paired() = %q, %v; want unpaired", phone, ok)
	}
	if dev.Connected() {
		t.Error("Connected() before Connect")
	}
	if _, err := b.Open(context.Background(), " "); err == nil {
		t.Error("Open with a blank session id succeeded")
	}
	// QR pairing starts without connecting; a second call is harmless.
	for range 2 {
		if err := dev.PairQR(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := dev.Send(ctx, wa.Message{ID: "3EB0A1", To: "6281234567890", Text: "hi"}); !errors.Is(err, wa.ErrNotPaired) {
		t.Errorf("Send on an unpaired device: %v, want ErrNotPaired", err)
	}
	if _, err := dev.PairPhone(ctx, "6281234567890"); !errors.Is(err, wa.ErrNotConnected) {
		t.Errorf("PairPhone on a disconnected device: %v, want ErrNotConnected", err)
	}
	if err := dev.Logout(ctx); err != nil {
		t.Errorf("Logout of an unpaired device: %v", err)
	}
}

func TestDisconnectedDevice(t *testing.T) {
	b := openBackend(t, t.TempDir())
	d := mustDevice(t, b, "s1")
	pair(t, d, "6281111111111", 4)
	nextEvent(t, d)
	ctx := context.Background()

	if d.Connected() {
		t.Fatal("Connected() without a connection")
	}
	_, err := d.Send(ctx, wa.Message{ID: "3EB0A1", To: "6281234567890", Text: "Tagihan Anda"})
	if !errors.Is(err, wa.ErrNotConnected) {
		t.Errorf("Send: %v, want ErrNotConnected", err)
	}
	_, err = d.Send(ctx, wa.Message{ID: "3EB0A2", To: "6281234567890", Attachments: []wa.Attachment{{Filename: "r.pdf", Data: []byte("%PDF")}}})
	if !errors.Is(err, wa.ErrNotConnected) {
		t.Errorf("Send with an attachment: %v, want ErrNotConnected", err)
	}
	if _, err := d.OnWhatsApp(ctx, []string{"6281234567890"}); !errors.Is(err, wa.ErrNotConnected) {
		t.Errorf("OnWhatsApp: %v, want ErrNotConnected", err)
	}
	if err := d.PairQR(ctx); err == nil {
		t.Error("PairQR on a paired device succeeded")
	}
	if _, err := d.PairPhone(ctx, "6281111111111"); err == nil {
		t.Error("PairPhone on a paired device succeeded")
	}
	for _, m := range []wa.Message{
		{To: "6281234567890", Text: "x"},
		{ID: "3EB0A3", To: "+62 812", Text: "x"},
		{ID: "3EB0A4", To: "6281234567890"},
	} {
		if _, err := d.Send(ctx, m); err == nil || errors.Is(err, wa.ErrNotConnected) {
			t.Errorf("Send(%+v): %v, want a validation error", m, err)
		}
	}
}

// A logout from the phone: whatsmeow dispatches LoggedOut and deletes the
// keys; the session reports logged_out, is unpaired, and after a restart
// still is.
func TestLoggedOutFromPhone(t *testing.T) {
	dir := t.TempDir()
	b := openBackend(t, dir)
	d := mustDevice(t, b, "s1")
	pair(t, d, "6281111111111", 5)
	nextEvent(t, d)
	old := d.cli

	d.handle(old, &events.LoggedOut{Reason: events.ConnectFailureLoggedOut})
	if err := old.Store.Delete(context.Background()); err != nil { // what whatsmeow does next
		t.Fatal(err)
	}
	if e := nextEvent(t, d); e.Type != wa.EventLoggedOut || e.Err == nil {
		t.Fatalf("event %+v, want logged_out with a reason", e)
	}
	// The old connection's last words are not news.
	d.handle(old, &events.Disconnected{})
	if _, ok := d.Paired(); ok {
		t.Fatal("still paired after logged_out")
	}
	if d.cli == old {
		t.Fatal("the logged-out client was kept")
	}
	if err := d.PairQR(context.Background()); err != nil {
		t.Fatalf("pairing again: %v", err)
	}
	select {
	case e := <-d.Events():
		t.Fatalf("unexpected event %+v", e)
	default:
	}
	_ = d.Close()
	_ = b.Close()

	b = openBackend(t, dir)
	if _, ok := mustDevice(t, b, "s1").Paired(); ok {
		t.Error("paired after a restart")
	}
}

// Logout without a connection forgets the keys locally.
func TestLogoutOffline(t *testing.T) {
	b := openBackend(t, t.TempDir())
	d := mustDevice(t, b, "s1")
	pair(t, d, "6281111111111", 6)
	nextEvent(t, d)
	if err := d.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Paired(); ok {
		t.Error("paired after Logout")
	}
	if n := countDevices(t, b); n != 0 {
		t.Errorf("%d devices after Logout, want 0", n)
	}
}

func TestEventsInOrder(t *testing.T) {
	b := openBackend(t, t.TempDir())
	d := mustDevice(t, b, "s1")
	// More than any channel buffer: whatsmeow's dispatch must never block.
	const n = 500
	for i := range n {
		d.handle(d.cli, &events.Receipt{
			MessageSource: types.MessageSource{Sender: types.NewJID("6281234567890", types.DefaultUserServer)},
			MessageIDs:    []string{partID("3EB0FF", i+1)},
		})
	}
	for i := range n {
		e := nextEvent(t, d)
		if e.Type != wa.EventReceipt || !slices.Equal(e.MessageIDs, []string{partID("3EB0FF", i+1)}) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
}

// A connection without PairQR (pairing by phone code) forwards its first
// QR code: the session manager asks for the pairing code after it. With
// PairQR the QR channel reports the codes, and the raw event is dropped.
func TestRawQREvent(t *testing.T) {
	b := openBackend(t, t.TempDir())
	d := mustDevice(t, b, "s1")
	d.handle(d.cli, &events.QR{Codes: []string{"2@a", "2@b"}})
	if e := nextEvent(t, d); e.Type != wa.EventQR || e.QR != "2@a" {
		t.Fatalf("event %+v, want the first QR code", e)
	}
	if err := d.PairQR(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.handle(d.cli, &events.QR{Codes: []string{"2@c"}})
	d.handle(d.cli, &events.Connected{})
	if e := nextEvent(t, d); e.Type != wa.EventConnected {
		t.Fatalf("event %+v, want connected (the raw QR event dropped while the QR channel runs)", e)
	}
}

// The QR channel's items become the device's events in order, and the
// end of the channel ends QR pairing.
func TestQRChannelEvents(t *testing.T) {
	b := openBackend(t, t.TempDir())
	d := mustDevice(t, b, "s1")
	ch := make(chan whatsmeow.QRChannelItem, 4)
	ch <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@first", Timeout: 60 * time.Second}
	ch <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@second", Timeout: 20 * time.Second}
	ch <- whatsmeow.QRChannelTimeout
	close(ch)
	d.mu.Lock()
	d.qrActive = true
	d.mu.Unlock()
	d.readQR(d.cli, ch)
	for _, want := range []wa.Event{
		{Type: wa.EventQR, QR: "2@first", Timeout: 60 * time.Second},
		{Type: wa.EventQR, QR: "2@second", Timeout: 20 * time.Second},
		{Type: wa.EventPairError, Err: errQRExpired},
	} {
		if got := nextEvent(t, d); got.Type != want.Type || got.QR != want.QR || got.Timeout != want.Timeout || !errors.Is(got.Err, want.Err) {
			t.Errorf("event %+v, want %+v", got, want)
		}
	}
	d.mu.Lock()
	active := d.qrActive
	d.mu.Unlock()
	if active {
		t.Error("QR pairing still active after its channel closed")
	}
}

func TestPartID(t *testing.T) {
	if got := partID("3EB0ABC", 0); got != "3EB0ABC" {
		t.Errorf("partID(id, 0) = %q, want the id", got)
	}
	a, b := partID("3EB0ABC", 1), partID("3EB0ABC", 2)
	if a == b || a != partID("3EB0ABC", 1) {
		t.Errorf("part ids not distinct and stable: %q %q", a, b)
	}
	if len(a) != 22 || a[:4] != "3EB0" {
		t.Errorf("part id %q is not in whatsmeow's format", a)
	}
}
