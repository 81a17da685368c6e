// Package fake is an in-memory WhatsApp behind the wa boundary, for tests
// and for the plugin binary built with the "wafake" build tag (which the
// host's end-to-end tests run). Nothing here touches a network.
//
// In a test, make a Backend with New and drive it with its controls: Scan
// and EnterCode pair a session as a phone would, SetOnline drops or restores
// a session's connection, LogoutFromPhone unpairs it, SetNotOnWhatsApp lists
// numbers without an account, Receipt sends receipts, FailSends makes sends
// fail, and Sent is every message WhatsApp took, once per message id (as
// WhatsApp drops a message whose id it has seen).
//
// # The wafake binary's file protocol
//
// NewInDir is the backend of the wafake build. Its controls are files in the
// plugin's data directory, so a test that runs the real plugin process
// drives it from outside:
//
//   - Pairing completes by itself AutoPairAfter (300 ms) after it starts:
//     QR pairing after the first code is shown, code pairing after the code
//     is given. The paired account's phone is 6281100000001 for the first
//     session paired, ...002 for the second, and so on.
//   - wafake-devices.json holds the paired sessions (session id to phone),
//     so a restarted plugin reconnects without pairing again, as whatsmeow's
//     store does. Delete a session from it (while the plugin is stopped) to
//     have it come back unpaired. A session's entry is what Export gives
//     and Import takes (the plugin copies it to the host's durable store,
//     and a plugin started on another data directory imports it).
//   - wafake-not-on-whatsapp.txt, when it exists, lists phone numbers
//     (digits with country code, no "+", one per line) that have no
//     WhatsApp account; it is read on every check. Every other number has
//     an account.
//   - wafake-sent.jsonl gets one JSON line per message WhatsApp took, the
//     first time its message id is seen, fsynced before Send returns:
//     {"id", "session", "to", "text", "attachments": [{"name", "mime",
//     "size"}], "time"}. Ids already in the file when the backend starts
//     are remembered, so a message sent again after a kill (same id) is not
//     written twice, exactly as WhatsApp deduplicates it.
//   - Every message sent gets a delivered receipt right after Send.
package fake

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
)

// Files of the wafake protocol, in the plugin's data directory.
const (
	DevicesFile       = "wafake-devices.json"
	NotOnWhatsAppFile = "wafake-not-on-whatsapp.txt"
	SentFile          = "wafake-sent.jsonl"
)

// Options shape a Backend.
type Options struct {
	// AutoPairAfter completes a pairing by itself this long after it
	// starts (the first QR code shown, or the pairing code given); 0 waits
	// for Scan or EnterCode.
	AutoPairAfter time.Duration
	// QRTimeout is how long each QR code is valid before the next one
	// (default 20s); QRCodes is how many codes are shown before the
	// pairing times out (default 6).
	QRTimeout time.Duration
	QRCodes   int
	// AutoReceipt sends a delivered receipt for every message sent.
	AutoReceipt bool
	// ConnectDelay is how long a connection takes (default 5ms).
	ConnectDelay time.Duration
	// Dir, when set, keeps the protocol files there (see the package doc).
	Dir string
}

// Sent is one message WhatsApp took.
type Sent struct {
	ID          string           `json:"id"`
	Session     string           `json:"session"`
	To          string           `json:"to"`
	Text        string           `json:"text"`
	Attachments []SentAttachment `json:"attachments,omitempty"`
	Time        time.Time        `json:"time"`
}

// SentAttachment describes an attachment of a sent message.
type SentAttachment struct {
	Name string `json:"name"`
	MIME string `json:"mime"`
	Size int    `json:"size"`
}

// Backend is the fake WhatsApp: every device it opens, the accounts that
// exist and the messages it took.
type Backend struct {
	opts Options

	mu        sync.Mutex
	devices   map[string]*Device
	paired    map[string]string // session id -> phone; survives Open
	notOnWA   map[string]bool
	sent      []Sent
	sentIDs   map[string]bool
	attempts  int // Send calls that reached a connected device
	failSends map[string]error
	hangs     map[string]bool // session ids whose connections never log in
	nextPhone int
	sentFile  *os.File
	closed    bool
	changes   uint64 // moves with every change of paired (Changes)
}

var _ wa.Backend = (*Backend)(nil)

// New returns an in-memory backend.
func New(opts Options) *Backend {
	if opts.QRTimeout <= 0 {
		opts.QRTimeout = 20 * time.Second
	}
	if opts.QRCodes <= 0 {
		opts.QRCodes = 6
	}
	if opts.ConnectDelay <= 0 {
		opts.ConnectDelay = 5 * time.Millisecond
	}
	return &Backend{
		opts:      opts,
		devices:   map[string]*Device{},
		paired:    map[string]string{},
		notOnWA:   map[string]bool{},
		sentIDs:   map[string]bool{},
		failSends: map[string]error{},
	}
}

// NewInDir is the wafake build's backend: the file protocol of the package
// doc in dir, pairing completing by itself, delivered receipts.
func NewInDir(dir string) (*Backend, error) {
	b := New(Options{AutoPairAfter: 300 * time.Millisecond, AutoReceipt: true, Dir: dir})
	if raw, err := os.ReadFile(filepath.Join(dir, DevicesFile)); err == nil {
		if err := json.Unmarshal(raw, &b.paired); err != nil {
			return nil, fmt.Errorf("wafake: read %s: %w", DevicesFile, err)
		}
		b.nextPhone = len(b.paired)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("wafake: %w", err)
	}
	path := filepath.Join(dir, SentFile)
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var s Sent
			if json.Unmarshal(sc.Bytes(), &s) == nil {
				b.sentIDs[s.ID] = true
				b.sent = append(b.sent, s)
			}
		}
		f.Close()
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wafake: %w", err)
	}
	b.sentFile = f
	return b, nil
}

// Open implements wa.Backend.
func (b *Backend) Open(_ context.Context, sessionID string) (wa.Device, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("fake backend closed")
	}
	if old := b.devices[sessionID]; old != nil {
		old.closeLocked()
	}
	d := &Device{b: b, id: sessionID, online: true, out: make(chan wa.Event), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	b.devices[sessionID] = d
	go d.pump()
	return d, nil
}

// Delete implements wa.Backend.
func (b *Backend) Delete(_ context.Context, sessionID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.paired, sessionID)
	return b.saveLocked()
}

// Close implements wa.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, d := range b.devices {
		d.closeLocked()
	}
	if b.sentFile != nil {
		return b.sentFile.Close()
	}
	return nil
}

// deviceState is what Export gives for a paired session of the fake.
type deviceState struct {
	Session string `json:"session"`
	Phone   string `json:"phone"`
}

// Export implements wa.Backend: the session's paired phone, or nil.
func (b *Backend) Export(_ context.Context, sessionID string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	phone, ok := b.paired[sessionID]
	if !ok {
		return nil, nil
	}
	return json.Marshal(deviceState{Session: sessionID, Phone: phone})
}

// Import implements wa.Backend.
func (b *Backend) Import(_ context.Context, sessionID string, state []byte) error {
	var st deviceState
	if err := json.Unmarshal(state, &st); err != nil || st.Phone == "" {
		return fmt.Errorf("fake: session %q: the state to import is not an export of the fake backend (%v)", sessionID, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := b.devices[sessionID]; d != nil && !d.closed {
		return fmt.Errorf("fake: session %q is open; import its state before opening it", sessionID)
	}
	b.paired[sessionID] = st.Phone
	return b.saveLocked()
}

// Changes implements wa.Backend.
func (b *Backend) Changes(context.Context) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changes, nil
}

// saveLocked records a change of the paired devices and writes them (with
// a Dir).
func (b *Backend) saveLocked() error {
	b.changes++
	if b.opts.Dir == "" {
		return nil
	}
	raw, _ := json.Marshal(b.paired)
	tmp := filepath.Join(b.opts.Dir, DevicesFile+".tmp")
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(b.opts.Dir, DevicesFile))
}

// device returns the open device of a session, or nil.
func (b *Backend) device(sessionID string) *Device {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.devices[sessionID]
}

// Scan pairs a session that is showing a QR code, as the phone that scans
// it, and connects it. The phone is the account's number (digits).
func (b *Backend) Scan(sessionID, phone string) error {
	d := b.device(sessionID)
	if d == nil {
		return fmt.Errorf("fake: no device %q", sessionID)
	}
	return d.completePairing(phone, false)
}

// EnterCode pairs a session that asked for a pairing code, as the phone the
// operator typed code on. A wrong code is refused.
func (b *Backend) EnterCode(sessionID, code string) error {
	d := b.device(sessionID)
	if d == nil {
		return fmt.Errorf("fake: no device %q", sessionID)
	}
	d.b.mu.Lock()
	want, phone := d.code, d.codePhone
	d.b.mu.Unlock()
	if want == "" || code != want {
		return fmt.Errorf("fake: session %q: wrong pairing code", sessionID)
	}
	return d.completePairing(phone, true)
}

// Pair marks a session paired with phone without any pairing flow, as if it
// had been paired in an earlier run.
func (b *Backend) Pair(sessionID, phone string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.paired[sessionID] = phone
	_ = b.saveLocked()
}

// SetOnline drops (false) or restores (true) a session's network. Dropping
// disconnects a connected device (EventDisconnected) and makes Connect
// fail; restoring lets the next Connect succeed.
func (b *Backend) SetOnline(sessionID string, online bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.devices[sessionID]
	if d == nil {
		return
	}
	d.online = online
	if !online && d.connected {
		d.connected = false
		d.emitLocked(wa.Event{Type: wa.EventDisconnected, Err: errors.New("fake: network lost")})
	}
}

// HangConnects makes the session's connections hang (true): Connect
// succeeds, as when the socket opens, but the connection never logs in, so
// no EventConnected or EventDisconnected follows. false lets the next
// Connect log in again.
func (b *Backend) HangConnects(sessionID string, hang bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hangs == nil {
		b.hangs = map[string]bool{}
	}
	b.hangs[sessionID] = hang
}

// LogoutFromPhone unpairs a session from the phone: its keys are gone and
// it gets EventLoggedOut.
func (b *Backend) LogoutFromPhone(sessionID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.paired, sessionID)
	_ = b.saveLocked()
	if d := b.devices[sessionID]; d != nil {
		d.connected, d.connecting = false, false
		d.emitLocked(wa.Event{Type: wa.EventLoggedOut, Err: errors.New("fake: logged out from the phone")})
	}
}

// SetNotOnWhatsApp says these phones (digits) have no WhatsApp account.
func (b *Backend) SetNotOnWhatsApp(phones ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range phones {
		b.notOnWA[p] = true
	}
}

// FailSends makes every Send on the session fail with err (nil: succeed
// again). The message is not taken.
func (b *Backend) FailSends(sessionID string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.failSends, sessionID)
		return
	}
	b.failSends[sessionID] = err
}

// Receipt sends a receipt for message ids to the session's device.
func (b *Backend) Receipt(sessionID string, kind wa.ReceiptKind, ids ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := b.devices[sessionID]; d != nil {
		d.emitLocked(wa.Event{Type: wa.EventReceipt, MessageIDs: ids, Receipt: kind, Time: time.Now()})
	}
}

// Sent is every message WhatsApp took, once per id, in order.
func (b *Backend) Sent() []Sent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Sent(nil), b.sent...)
}

// SendAttempts counts the Send calls that reached a connected device,
// repeats of a message id included.
func (b *Backend) SendAttempts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.attempts
}

// Paired reports the phone a session is paired with.
func (b *Backend) Paired(sessionID string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.paired[sessionID]
	return p, ok
}

// notOnWhatsApp reports whether phone has no account (the map, and with a
// Dir the file).
func (b *Backend) notOnWhatsApp(phone string) bool {
	if b.notOnWA[phone] {
		return true
	}
	if b.opts.Dir == "" {
		return false
	}
	raw, err := os.ReadFile(filepath.Join(b.opts.Dir, NotOnWhatsAppFile))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.TrimPrefix(strings.TrimSpace(line), "+") == phone {
			return true
		}
	}
	return false
}

// Device is one fake linked device.
type Device struct {
	b  *Backend
	id string

	// Guarded by b.mu.
	online, connected, connecting bool
	pairingQR                     bool
	code, codePhone               string
	pairGen                       int // ends the timers of an older pairing
	queue                         []wa.Event
	closed                        bool

	out  chan wa.Event
	kick chan struct{}
	stop chan struct{}
}

var _ wa.Device = (*Device)(nil)

// emitLocked queues an event; pump delivers it in order without blocking
// the caller.
func (d *Device) emitLocked(e wa.Event) {
	if d.closed {
		return
	}
	d.queue = append(d.queue, e)
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Device) pump() {
	defer close(d.out)
	for {
		d.b.mu.Lock()
		var e wa.Event
		have := len(d.queue) > 0
		if have {
			e = d.queue[0]
			d.queue = d.queue[1:]
		}
		d.b.mu.Unlock()
		if !have {
			select {
			case <-d.kick:
				continue
			case <-d.stop:
				return
			}
		}
		select {
		case d.out <- e:
		case <-d.stop:
			return
		}
	}
}

func (d *Device) closeLocked() {
	if d.closed {
		return
	}
	d.closed = true
	d.connected, d.connecting = false, false
	d.pairGen++
	close(d.stop)
	if d.b.devices[d.id] == d {
		delete(d.b.devices, d.id)
	}
}

// Paired implements wa.Device.
func (d *Device) Paired() (string, bool) { return d.b.Paired(d.id) }

// Connect implements wa.Device.
func (d *Device) Connect(context.Context) error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if d.closed {
		return errors.New("fake: device closed")
	}
	if !d.online {
		return fmt.Errorf("fake: dial: network unreachable")
	}
	if d.connected || d.connecting {
		return nil
	}
	_, paired := d.b.paired[d.id]
	d.connecting = true
	gen := d.pairGen
	switch {
	case paired:
		time.AfterFunc(d.b.opts.ConnectDelay, func() {
			d.b.mu.Lock()
			defer d.b.mu.Unlock()
			if gen != d.pairGen || !d.connecting || !d.online || d.b.hangs[d.id] {
				return
			}
			d.connecting, d.connected = false, true
			d.emitLocked(wa.Event{Type: wa.EventConnected})
		})
	default:
		// Unpaired: QR codes, as WhatsApp shows them on any connection of
		// an unpaired device (PairPhone stops them).
		go d.showQRCodes(gen)
	}
	return nil
}

// showQRCodes shows the rotating codes of a QR pairing until it completes,
// is replaced, or times out.
func (d *Device) showQRCodes(gen int) {
	for i := 0; i < d.b.opts.QRCodes; i++ {
		d.b.mu.Lock()
		if gen != d.pairGen {
			d.b.mu.Unlock()
			return
		}
		d.emitLocked(wa.Event{Type: wa.EventQR, QR: "2@" + randomHex(16) + "," + randomHex(16), Timeout: d.b.opts.QRTimeout})
		if i == 0 && d.b.opts.AutoPairAfter > 0 && d.pairingQR {
			d.autoPairLocked(gen, false)
		}
		d.b.mu.Unlock()
		select {
		case <-time.After(d.b.opts.QRTimeout):
		case <-d.stop:
			return
		}
	}
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if gen == d.pairGen {
		d.pairGen++
		d.pairingQR, d.connecting = false, false
		d.emitLocked(wa.Event{Type: wa.EventPairError, Err: errors.New("fake: QR pairing timed out: nobody scanned the codes")})
	}
}

// autoPairLocked completes the pairing after AutoPairAfter.
func (d *Device) autoPairLocked(gen int, code bool) {
	d.b.nextPhone++
	phone := fmt.Sprintf("62811%08d", d.b.nextPhone)
	if code {
		phone = d.codePhone
	}
	time.AfterFunc(d.b.opts.AutoPairAfter, func() {
		d.b.mu.Lock()
		stale := gen != d.pairGen
		d.b.mu.Unlock()
		if !stale {
			_ = d.completePairing(phone, code)
		}
	})
}

// completePairing pairs the device as phone and connects it.
func (d *Device) completePairing(phone string, code bool) error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if code && d.code == "" || !code && !d.pairingQR {
		return fmt.Errorf("fake: session %q is not pairing", d.id)
	}
	d.pairGen++
	d.pairingQR, d.code, d.codePhone = false, "", ""
	d.b.paired[d.id] = phone
	if err := d.b.saveLocked(); err != nil {
		return err
	}
	d.emitLocked(wa.Event{Type: wa.EventPairSuccess, Phone: phone, PushName: "Fake " + phone})
	d.connecting, d.connected = false, true
	d.emitLocked(wa.Event{Type: wa.EventConnected})
	return nil
}

// Disconnect implements wa.Device.
func (d *Device) Disconnect() {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	d.pairGen++
	d.connected, d.connecting, d.pairingQR, d.code = false, false, false, ""
}

// Connected implements wa.Device.
func (d *Device) Connected() bool {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	return d.connected
}

// PairQR implements wa.Device.
func (d *Device) PairQR(context.Context) error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if _, ok := d.b.paired[d.id]; ok {
		return errors.New("fake: device already paired")
	}
	if d.connected || d.connecting {
		return errors.New("fake: PairQR must be called before Connect")
	}
	d.pairingQR = true
	return nil
}

// PairPhone implements wa.Device.
func (d *Device) PairPhone(_ context.Context, phone string) (string, error) {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if _, ok := d.b.paired[d.id]; ok {
		return "", errors.New("fake: device already paired")
	}
	if !d.connecting {
		return "", fmt.Errorf("fake: PairPhone needs a connection: %w", wa.ErrNotConnected)
	}
	d.pairGen++
	d.code = strings.ToUpper(randomHex(4))
	d.codePhone = phone
	if d.b.opts.AutoPairAfter > 0 {
		d.autoPairLocked(d.pairGen, true)
	}
	return d.code, nil
}

// Logout implements wa.Device.
func (d *Device) Logout(context.Context) error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	d.pairGen++
	d.connected, d.connecting, d.pairingQR, d.code = false, false, false, ""
	delete(d.b.paired, d.id)
	return d.b.saveLocked()
}

// OnWhatsApp implements wa.Device.
func (d *Device) OnWhatsApp(_ context.Context, phones []string) (map[string]bool, error) {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if !d.connected {
		return nil, wa.ErrNotConnected
	}
	out := make(map[string]bool, len(phones))
	for _, p := range phones {
		out[p] = !d.b.notOnWhatsApp(p)
	}
	return out, nil
}

// Send implements wa.Device.
func (d *Device) Send(_ context.Context, m wa.Message) (wa.SendResult, error) {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if _, ok := d.b.paired[d.id]; !ok {
		return wa.SendResult{}, wa.ErrNotPaired
	}
	if !d.connected {
		return wa.SendResult{}, wa.ErrNotConnected
	}
	if err := d.b.failSends[d.id]; err != nil {
		return wa.SendResult{}, err
	}
	d.b.attempts++
	now := time.Now()
	if !d.b.sentIDs[m.ID] {
		s := Sent{ID: m.ID, Session: d.id, To: m.To, Text: m.Text, Time: now}
		for _, a := range m.Attachments {
			s.Attachments = append(s.Attachments, SentAttachment{Name: a.Filename, MIME: a.MIMEType, Size: len(a.Data)})
		}
		if f := d.b.sentFile; f != nil {
			line, _ := json.Marshal(s)
			if _, err := f.Write(append(line, '\n')); err != nil {
				return wa.SendResult{}, fmt.Errorf("fake: write %s: %w", SentFile, err)
			}
			if err := f.Sync(); err != nil {
				return wa.SendResult{}, fmt.Errorf("fake: sync %s: %w", SentFile, err)
			}
		}
		d.b.sentIDs[m.ID] = true
		d.b.sent = append(d.b.sent, s)
	}
	if d.b.opts.AutoReceipt {
		d.emitLocked(wa.Event{Type: wa.EventReceipt, MessageIDs: []string{m.ID}, Receipt: wa.ReceiptDelivered, Time: now})
	}
	return wa.SendResult{ServerTime: now}, nil
}

// Events implements wa.Device.
func (d *Device) Events() <-chan wa.Event { return d.out }

// Close implements wa.Device.
func (d *Device) Close() error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	d.closeLocked()
	return nil
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return fmt.Sprintf("%x", buf)
}
