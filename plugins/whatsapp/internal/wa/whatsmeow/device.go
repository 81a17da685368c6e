package whatsmeow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
)

// PairClientName is the browser the phone shows while a pairing code is
// entered. WhatsApp accepts only common "Browser (OS)" pairs.
const PairClientName = "Chrome (Linux)"

// Device is one session's linked device: a whatsmeow client over the
// session's device store. Open it with Backend.Open.
//
// whatsmeow reconnects a paired device by itself after a dropped
// connection; Connect may be called again at any time (it does nothing on a
// connected device), so the session manager's own backoff and whatsmeow's
// do not fight.
type Device struct {
	b         *Backend
	sessionID string
	log       hclog.Logger
	ctx       context.Context // the device's lifetime: connections and the QR channel
	cancel    context.CancelFunc

	mu sync.Mutex
	// cli is the current client. It is replaced by a fresh one (new keys)
	// after a logout, so that the session can pair again.
	cli *whatsmeow.Client
	// stale is set when the current client's keys are gone (a logout).
	stale bool
	// qrActive: a QR channel drives the pairing events of cli.
	qrActive bool
	// keepaliveFailing: WhatsApp stopped answering pings on a socket that
	// still looks open.
	keepaliveFailing bool
	closed           bool

	queue queue
}

var _ wa.Device = (*Device)(nil)

func newDevice(b *Backend, sessionID string, dev *store.Device) *Device {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Device{
		b:         b,
		sessionID: sessionID,
		log:       b.log.With("session", sessionID),
		ctx:       ctx,
		cancel:    cancel,
	}
	d.queue.start()
	d.cli = d.newClient(dev)
	return d
}

// newClient builds a client over dev whose events reach this device while
// it is the current one.
func (d *Device) newClient(dev *store.Device) *whatsmeow.Client {
	cli := whatsmeow.NewClient(dev, newLogger(d.b.log.Named("whatsmeow").With("session", d.sessionID)))
	cli.EnableAutoReconnect = true
	cli.AddEventHandler(func(evt any) { d.handle(cli, evt) })
	return cli
}

// client returns the current client, replacing a logged-out one by a fresh
// unpaired device. Call with d.mu held.
func (d *Device) client() *whatsmeow.Client {
	if d.stale || (d.cli.Store.Initialized && d.cli.Store.ID == nil) {
		old := d.cli
		d.cli = d.newClient(d.b.container.NewDevice())
		d.stale = false
		d.qrActive = false
		d.keepaliveFailing = false
		go old.Disconnect()
	}
	return d.cli
}

// current is client() under the lock.
func (d *Device) current() *whatsmeow.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.client()
}

// handle receives every event of cli, on whatsmeow's goroutines.
func (d *Device) handle(cli *whatsmeow.Client, evt any) {
	d.mu.Lock()
	if d.closed || cli != d.cli || d.stale {
		// A closed device, a replaced client, or one whose keys are gone
		// (after its LoggedOut nothing it says is news).
		d.mu.Unlock()
		return
	}
	switch evt.(type) {
	case *events.QR, *events.QRScannedWithoutMultidevice, *events.PairError:
		// With PairQR the QR channel reports these (rotating the codes).
		// Without it (pairing by phone code) the connection's first code
		// still goes out: it says the connection can take a pairing code
		// request.
		if d.qrActive {
			d.mu.Unlock()
			return
		}
	case *events.KeepAliveTimeout:
		d.keepaliveFailing = true
	case *events.KeepAliveRestored, *events.Connected:
		d.keepaliveFailing = false
	case *events.LoggedOut:
		d.stale = true
	}
	d.mu.Unlock()

	switch v := evt.(type) {
	case *events.PairSuccess:
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		err := d.b.remember(ctx, d.sessionID, v.ID)
		cancel()
		if err != nil {
			d.log.Error("the device was paired but could not be recorded; it will need pairing again after a restart", "error", err)
		}
	case *events.LoggedOut:
		// whatsmeow deletes the keys; the session's row goes with them
		// (foreign key), and explicitly here in case that failed.
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		if err := d.b.forget(ctx, d.sessionID); err != nil {
			d.log.Error("forget the logged-out device", "error", err)
		}
		cancel()
	}
	if e, ok := translate(evt); ok {
		d.queue.push(e)
	}
}

// Paired reports whether the device holds keys, and its phone.
func (d *Device) Paired() (string, bool) {
	cli := d.current()
	id := cli.Store.ID
	if id == nil {
		return "", false
	}
	return id.User, true
}

// Connect connects the device (or, unpaired, opens the connection pairing
// happens on). It returns once the websocket is up and the handshake done;
// the login (or the QR codes) arrive as events. Connecting a connected
// device does nothing, unless its keepalives fail: then the dead connection
// is dropped and a new one made.
func (d *Device) Connect(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("whatsapp device is closed")
	}
	cli := d.client()
	failing := d.keepaliveFailing
	d.mu.Unlock()
	if cli.IsConnected() {
		if !failing {
			return nil
		}
		cli.Disconnect()
	}
	done := make(chan error, 1)
	go func() { done <- cli.ConnectContext(d.ctx) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, whatsmeow.ErrAlreadyConnected) {
			return fmt.Errorf("connect to whatsapp: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("connect to whatsapp: %w", ctx.Err())
	}
}

// Disconnect closes the connection, keeping the keys. whatsmeow does not
// reconnect after it.
func (d *Device) Disconnect() {
	d.current().Disconnect()
}

// Connected reports whether the device is logged in on a live connection.
func (d *Device) Connected() bool {
	d.mu.Lock()
	cli := d.client()
	failing := d.keepaliveFailing
	d.mu.Unlock()
	return !failing && cli.IsConnected() && cli.IsLoggedIn()
}

// PairQR starts QR pairing: the codes (they rotate: 60 seconds for the
// first, 20 for the next five) arrive as EventQR once Connect is called;
// the end of the codes, or a failure, as EventPairError; success as
// EventPairSuccess.
func (d *Device) PairQR(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("whatsapp device is closed")
	}
	cli := d.client()
	if cli.Store.ID != nil {
		return fmt.Errorf("pair by QR code: the session is already paired with +%s: log it out first", cli.Store.ID.User)
	}
	if d.qrActive {
		return nil
	}
	ch, err := cli.GetQRChannel(d.ctx)
	if errors.Is(err, whatsmeow.ErrQRAlreadyConnected) {
		return errors.New("pair by QR code: the device is already connected: disconnect it, then start QR pairing before connecting")
	}
	if err != nil {
		return fmt.Errorf("pair by QR code: %w", err)
	}
	d.qrActive = true
	go d.readQR(cli, ch)
	return nil
}

// readQR forwards the QR channel's items until it closes.
func (d *Device) readQR(cli *whatsmeow.Client, ch <-chan whatsmeow.QRChannelItem) {
	for item := range ch {
		d.mu.Lock()
		current := !d.closed && cli == d.cli
		d.mu.Unlock()
		if !current {
			continue
		}
		if e, ok := translateQR(item); ok {
			d.queue.push(e)
		}
	}
	d.mu.Lock()
	if cli == d.cli {
		d.qrActive = false
	}
	d.mu.Unlock()
}

// PairPhone asks WhatsApp for a pairing code for phone on a connected,
// unpaired device.
func (d *Device) PairPhone(ctx context.Context, phone string) (string, error) {
	cli := d.current()
	if cli.Store.ID != nil {
		return "", fmt.Errorf("pair by phone: the session is already paired with +%s: log it out first", cli.Store.ID.User)
	}
	if !cli.IsConnected() {
		return "", fmt.Errorf("pair by phone: %w: connect the session first", wa.ErrNotConnected)
	}
	code, err := cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, PairClientName)
	switch {
	case errors.Is(err, whatsmeow.ErrPhoneNumberTooShort), errors.Is(err, whatsmeow.ErrPhoneNumberIsNotInternational):
		return "", fmt.Errorf("pair by phone %q: %w: give the number with its country code, digits only (628123456789)", phone, err)
	case err != nil:
		return "", fmt.Errorf("pair by phone: %w", mapErr(err))
	}
	return code, nil
}

// Logout unlinks the device on WhatsApp's side and forgets its keys. When
// WhatsApp cannot be told (no connection), the keys are forgotten anyway and
// the phone keeps listing the device until it is removed there. Logging out
// an unpaired device does nothing.
func (d *Device) Logout(ctx context.Context) error {
	d.mu.Lock()
	cli := d.client()
	d.mu.Unlock()
	if cli.Store.ID == nil {
		return nil
	}
	if err := cli.Logout(ctx); err != nil {
		d.log.Warn("whatsapp was not told about the logout; the phone lists this device under Linked devices until it is removed there",
			"error", err)
		cli.Disconnect()
		if cli.Store.ID != nil {
			if err := cli.Store.Delete(ctx); err != nil {
				return fmt.Errorf("log out: delete the device keys: %w", err)
			}
		}
	}
	if err := d.b.forget(ctx, d.sessionID); err != nil {
		return fmt.Errorf("log out: %w", err)
	}
	d.mu.Lock()
	if cli == d.cli {
		d.stale = true
	}
	d.mu.Unlock()
	return nil
}

// OnWhatsApp reports which phones have a WhatsApp account.
func (d *Device) OnWhatsApp(ctx context.Context, phones []string) (map[string]bool, error) {
	if len(phones) == 0 {
		return map[string]bool{}, nil
	}
	if !d.Connected() {
		return nil, fmt.Errorf("check numbers on whatsapp: %w", wa.ErrNotConnected)
	}
	cli := d.current()
	query := make([]string, len(phones))
	out := make(map[string]bool, len(phones))
	for i, p := range phones {
		p = digits(p)
		query[i] = "+" + p
		out[p] = false
	}
	resp, err := cli.IsOnWhatsApp(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("check numbers on whatsapp: %w", mapErr(err))
	}
	for _, r := range resp {
		if p := digits(r.Query); p != "" {
			if _, asked := out[p]; asked {
				out[p] = r.IsIn
			}
		}
	}
	return out, nil
}

// Send sends m: its text alone, or each attachment as a document (the
// first one carrying the text as its caption). The first message has
// m.ID; further attachments get ids derived from it, so that a retry
// resends the same messages.
func (d *Device) Send(ctx context.Context, m wa.Message) (wa.SendResult, error) {
	if m.ID == "" {
		return wa.SendResult{}, errors.New("send: the message has no id")
	}
	to := digits(m.To)
	if to == "" || to != m.To {
		return wa.SendResult{}, fmt.Errorf("send: recipient %q is not a phone number in digits with its country code", m.To)
	}
	if m.Text == "" && len(m.Attachments) == 0 {
		return wa.SendResult{}, errors.New("send: the message has neither text nor attachments")
	}
	cli := d.current()
	if cli.Store.ID == nil {
		return wa.SendResult{}, fmt.Errorf("send: %w", wa.ErrNotPaired)
	}
	if !d.Connected() {
		return wa.SendResult{}, fmt.Errorf("send: %w", wa.ErrNotConnected)
	}
	jid := types.NewJID(to, types.DefaultUserServer)
	msgs, err := d.build(ctx, cli, m)
	if err != nil {
		return wa.SendResult{}, err
	}
	var res wa.SendResult
	for i, msg := range msgs {
		resp, err := cli.SendMessage(ctx, jid, msg, whatsmeow.SendRequestExtra{ID: partID(m.ID, i)})
		if err != nil {
			return wa.SendResult{}, fmt.Errorf("send: %w", mapErr(err))
		}
		if i == 0 {
			res.ServerTime = resp.Timestamp
		}
	}
	return res, nil
}

// build makes the protocol messages of m, uploading its attachments.
func (d *Device) build(ctx context.Context, cli *whatsmeow.Client, m wa.Message) ([]*waE2E.Message, error) {
	if len(m.Attachments) == 0 {
		return []*waE2E.Message{{Conversation: proto.String(m.Text)}}, nil
	}
	msgs := make([]*waE2E.Message, 0, len(m.Attachments))
	for i, a := range m.Attachments {
		up, err := cli.Upload(ctx, a.Data, whatsmeow.MediaDocument)
		if err != nil {
			return nil, fmt.Errorf("send: upload attachment %q: %w", a.Filename, mapErr(err))
		}
		doc := documentMessage(a, up)
		if i == 0 && m.Text != "" {
			doc.Caption = proto.String(m.Text)
		}
		msgs = append(msgs, &waE2E.Message{DocumentMessage: doc})
	}
	return msgs, nil
}

// documentMessage describes an uploaded attachment.
func documentMessage(a wa.Attachment, up whatsmeow.UploadResponse) *waE2E.DocumentMessage {
	mime := a.MIMEType
	if mime == "" {
		mime = "application/octet-stream"
	}
	name := a.Filename
	if name == "" {
		name = "attachment"
	}
	return &waE2E.DocumentMessage{
		URL:               proto.String(up.URL),
		DirectPath:        proto.String(up.DirectPath),
		MediaKey:          up.MediaKey,
		FileEncSHA256:     up.FileEncSHA256,
		FileSHA256:        up.FileSHA256,
		FileLength:        proto.Uint64(up.FileLength),
		Mimetype:          proto.String(mime),
		FileName:          proto.String(name),
		Title:             proto.String(name),
		MediaKeyTimestamp: proto.Int64(time.Now().Unix()),
	}
}

// partID is the id of the i-th protocol message of a message: the message's
// own id first, then ids derived from it in whatsmeow's format ("3EB0" and
// 18 uppercase hex digits).
func partID(id string, i int) string {
	if i == 0 {
		return id
	}
	sum := sha256.Sum256([]byte(id + "/" + strconv.Itoa(i)))
	return whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

// mapErr marks whatsmeow's lost-connection errors as wa.ErrNotConnected (the
// message waits and is retried), keeping whatsmeow's error in the chain.
func mapErr(err error) error {
	var disc *whatsmeow.DisconnectedError
	if errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, whatsmeow.ErrNotLoggedIn) ||
		errors.Is(err, socket.ErrSocketClosed) || errors.As(err, &disc) {
		return fmt.Errorf("%w: %w", wa.ErrNotConnected, err)
	}
	return err
}

// digits keeps the digits of s.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// forgetKeys makes the device unpaired after its keys were deleted
// (Backend.Delete): the current client is dropped and disconnected, and the
// next use starts from a fresh device.
func (d *Device) forgetKeys() {
	d.mu.Lock()
	cli := d.cli
	d.stale = true
	d.mu.Unlock()
	cli.Disconnect()
}

// Events delivers the device's events in order; closed by Close.
func (d *Device) Events() <-chan wa.Event { return d.queue.out }

// Close disconnects the device and closes Events. The keys stay.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	cli := d.cli
	d.mu.Unlock()
	d.cancel()
	cli.Disconnect()
	d.queue.stop()
	d.b.release(d.sessionID, d)
	return nil
}

// queue hands events to the Events channel in order without ever blocking
// whatsmeow's event dispatch (a slow reader must not stall the connection).
type queue struct {
	mu      sync.Mutex
	pending []wa.Event
	wake    chan struct{}
	done    chan struct{}
	out     chan wa.Event
	once    sync.Once
}

func (q *queue) start() {
	q.wake = make(chan struct{}, 1)
	q.done = make(chan struct{})
	q.out = make(chan wa.Event)
	go q.pump()
}

func (q *queue) push(e wa.Event) {
	q.mu.Lock()
	q.pending = append(q.pending, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) stop() { q.once.Do(func() { close(q.done) }) }

func (q *queue) pump() {
	defer close(q.out)
	for {
		q.mu.Lock()
		var e wa.Event
		ok := len(q.pending) > 0
		if ok {
			e = q.pending[0]
			q.pending[0] = wa.Event{}
			q.pending = q.pending[1:]
		}
		q.mu.Unlock()
		if !ok {
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		select {
		case q.out <- e:
		case <-q.done:
			return
		}
	}
}
