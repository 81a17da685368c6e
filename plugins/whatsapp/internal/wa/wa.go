// Package wa is the narrow boundary between the WhatsApp plugin and
// WhatsApp itself. Everything the plugin needs from a linked device goes
// through Backend and Device: connecting, pairing (QR codes and phone
// pairing codes), sending, checking numbers, receipts and logout.
//
// Two implementations exist: package whatsmeow (the real one, over
// go.mau.fi/whatsmeow, keys in its SQL store in the plugin's data directory)
// and package fake (in-memory, for tests, and for the plugin binary built
// with the "wafake" build tag, which the host's end-to-end tests run). The
// queue, the rate limit, idempotency and the notify contract live above this
// package and never import whatsmeow. Both export and import one session's
// state (Backend.Export, Import, Changes), which the plugin copies to the
// host's durable store so that a session moves to another host paired.
package wa

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of the boundary. Implementations wrap them with %w.
var (
	// ErrNotPaired: the device has no keys yet (or lost them to a logout);
	// pair it first.
	ErrNotPaired = errors.New("whatsapp device not paired")
	// ErrNotConnected: the device is paired but not connected right now;
	// the message waits and is retried.
	ErrNotConnected = errors.New("whatsapp device not connected")
	// ErrNotOnWhatsApp: the recipient's number has no WhatsApp account. It
	// is permanent: the message fails at once, without retries.
	ErrNotOnWhatsApp = errors.New("number is not on whatsapp")
)

// Backend opens devices, one per sender session.
type Backend interface {
	// Open returns the device of a session, creating its (unpaired) record
	// when the session is new. It does not connect.
	Open(ctx context.Context, sessionID string) (Device, error)
	// Delete forgets a session's keys entirely (after a logout).
	Delete(ctx context.Context, sessionID string) error
	// Export returns everything a session's device keeps (for whatsmeow:
	// its identity, noise and adv keys, registration id, JID, signal
	// sessions, prekeys, sender keys and app-state keys), as opaque bytes
	// that Import takes back on this or another machine; nil when the
	// session has no keys (never paired, or logged out). The same state
	// gives the same bytes.
	Export(ctx context.Context, sessionID string) ([]byte, error)
	// Import replaces a session's state by what Export gave, so that Open
	// finds the device paired, with the same keys and JID. Call it while
	// the session's device is not open.
	Import(ctx context.Context, sessionID string, state []byte) error
	// Changes is a number that moves whenever any session's state may have
	// changed: a cheap check before Export. It starts anywhere.
	Changes(ctx context.Context) (uint64, error)
	// Close releases the backend's resources (its database).
	Close() error
}

// Device is one linked device (a sender session).
type Device interface {
	// Paired reports whether the device holds keys (it can connect without
	// pairing), and the phone it is paired with (digits, no "+").
	Paired() (phone string, ok bool)
	// Connect connects a paired device, or, for an unpaired one, starts a
	// connection on which pairing happens. It returns when the connection
	// attempt is under way; the outcome arrives on Events.
	Connect(ctx context.Context) error
	// Disconnect closes the connection, keeping the keys.
	Disconnect()
	// Connected reports whether the device can send now.
	Connected() bool
	// PairQR starts QR pairing on an unpaired device: it must be called
	// before Connect. Each code (they rotate) arrives as EventQR.
	PairQR(ctx context.Context) error
	// PairPhone asks for a pairing code for phone (digits with country
	// code, no "+") on a connected, unpaired device, and returns the code
	// the operator types on the phone (8 characters).
	PairPhone(ctx context.Context, phone string) (string, error)
	// Logout unpairs the device on WhatsApp's side and forgets the keys.
	Logout(ctx context.Context) error
	// OnWhatsApp reports, for each phone (digits, no "+"), whether it has a
	// WhatsApp account.
	OnWhatsApp(ctx context.Context, phones []string) (map[string]bool, error)
	// Send sends a message and returns when WhatsApp's server has taken it
	// (receipts follow as EventReceipt). Message.ID is chosen by the caller
	// and reused on a retry, so a message sent twice (a crash between
	// sending and recording it) is the same message to WhatsApp.
	Send(ctx context.Context, m Message) (SendResult, error)
	// Events delivers what happens to the device, in order. The channel is
	// closed when the device is closed.
	Events() <-chan Event
	// Close disconnects and stops Events.
	Close() error
}

// Message is one outgoing message.
type Message struct {
	// ID is the WhatsApp message id (uppercase hex, like whatsmeow's
	// GenerateMessageID), chosen when the message is queued.
	ID string
	// To is the recipient's phone, digits with country code, no "+".
	To          string
	Text        string
	Attachments []Attachment
}

// Attachment is a file sent as a document message (the text, if any, goes
// as its caption or as a separate message).
type Attachment struct {
	Filename string
	MIMEType string
	Data     []byte
}

// SendResult is WhatsApp's answer to a send.
type SendResult struct {
	// ServerTime is when WhatsApp's server took the message.
	ServerTime time.Time
}

// EventType names what happened to a device.
type EventType string

// Event types.
const (
	// EventQR: a new QR code to show (QR, Timeout set).
	EventQR EventType = "qr"
	// EventPairSuccess: pairing finished (Phone, PushName set).
	EventPairSuccess EventType = "pair_success"
	// EventPairError: pairing failed or timed out (Err set).
	EventPairError EventType = "pair_error"
	// EventConnected: connected and able to send.
	EventConnected EventType = "connected"
	// EventDisconnected: the connection dropped (network loss); the device
	// keeps its keys and may reconnect.
	EventDisconnected EventType = "disconnected"
	// EventLoggedOut: unpaired from the phone (or the keys were refused);
	// the keys are gone and the session needs pairing again.
	EventLoggedOut EventType = "logged_out"
	// EventReceipt: receipts for sent messages (MessageIDs, Receipt,
	// Time set).
	EventReceipt EventType = "receipt"
)

// ReceiptKind is what a receipt says.
type ReceiptKind string

// Receipt kinds.
const (
	ReceiptDelivered ReceiptKind = "delivered"
	ReceiptRead      ReceiptKind = "read"
	// ReceiptFailed: WhatsApp reported the message could not be delivered
	// (a server error receipt).
	ReceiptFailed ReceiptKind = "failed"
)

// Event is one thing that happened to a device.
type Event struct {
	Type EventType
	// QR is the text to encode as a QR code (EventQR).
	QR string
	// Timeout is how long the QR code is valid (EventQR).
	Timeout time.Duration
	// Phone (digits, no "+") and PushName of the paired account
	// (EventPairSuccess).
	Phone    string
	PushName string
	// MessageIDs, Receipt and Time describe a receipt (EventReceipt).
	MessageIDs []string
	Receipt    ReceiptKind
	Time       time.Time
	// Err says why (EventPairError, EventDisconnected, EventLoggedOut).
	Err error
}
