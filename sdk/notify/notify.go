// Package notify is the contract of notification plugins (kind "notify"):
// the plugins that send messages to customers (invoices, reminders,
// vouchers) from sender sessions such as WhatsApp accounts.
//
// Start with the Notifier interface. A plugin is a type that embeds sdk.Base
// (which holds the plugin's logger and the host's services), implements
// Notifier and sdk.Plugin's Describe, and is served from main with sdk.Serve:
// package sdk's example is a whole plugin, of another kind.
//
// An operator pairs each sender session once: StartPairing shows a QR code
// (or a pairing code) and GetSession follows it until the session is
// connected. After that the host calls Send, which queues a message and
// returns at once, and GetDeliveryStatus, which says where the message
// stands. Send is idempotent by SendRequest.IdempotencyKey: the host retries,
// and a customer must never get the same invoice twice. Check requests with
// SendRequest.Validate and phone numbers with ValidateE164.
package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// Notifier is what every notification plugin implements. Every method
// exists since protocol version 1.
type Notifier interface {
	sdk.Plugin
	// ListSessions lists the sender sessions.
	ListSessions(ctx context.Context, req *ListSessionsRequest) (*ListSessionsResponse, error)
	// GetSession reads one session, with the current QR code while it is
	// pairing. An unknown session is ErrUnknownSession.
	GetSession(ctx context.Context, req *GetSessionRequest) (*GetSessionResponse, error)
	// StartPairing creates the session if needed and starts pairing it. QR
	// codes rotate; the host polls GetSession for the current one.
	StartPairing(ctx context.Context, req *StartPairingRequest) (*StartPairingResponse, error)
	// Logout unpairs a session and forgets its keys. An unknown session is
	// ErrUnknownSession.
	Logout(ctx context.Context, req *LogoutRequest) (*LogoutResponse, error)
	// Send queues a message and returns without waiting for delivery. The
	// same IdempotencyKey never sends twice: a repeat returns the first
	// message with Duplicate set. Refuse a bad recipient with
	// ErrInvalidRecipient, and answer ErrSessionNotConnected when no
	// connected session can send.
	Send(ctx context.Context, req *SendRequest) (*SendResponse, error)
	// GetDeliveryStatus reports where a message stands, by message id or by
	// idempotency key. An unknown message is ErrUnknownMessage.
	GetDeliveryStatus(ctx context.Context, req *GetDeliveryStatusRequest) (*GetDeliveryStatusResponse, error)
}

// Sentinel errors of notification plugins. Each also matches a general sdk
// sentinel (shown in brackets), so the host can treat them by category.
var (
	// ErrSessionNotConnected: the sender session is not connected (not
	// paired yet, logged out, or reconnecting); pair it or wait
	// [sdk.ErrFailedPrecondition].
	ErrSessionNotConnected = rpcerr.New(codes.FailedPrecondition, "NOTIFY_SESSION_NOT_CONNECTED", "sender session not connected", sdk.ErrFailedPrecondition)
	// ErrInvalidRecipient: the recipient is not an E.164 phone number or
	// cannot receive messages [sdk.ErrInvalidArgument].
	ErrInvalidRecipient = rpcerr.New(codes.InvalidArgument, "NOTIFY_INVALID_RECIPIENT", "invalid recipient", sdk.ErrInvalidArgument)
	// ErrUnknownSession: no sender session has this id [sdk.ErrNotFound].
	ErrUnknownSession = rpcerr.New(codes.NotFound, "NOTIFY_UNKNOWN_SESSION", "unknown sender session", sdk.ErrNotFound)
	// ErrUnknownMessage: no message has this id or idempotency key
	// [sdk.ErrNotFound].
	ErrUnknownMessage = rpcerr.New(codes.NotFound, "NOTIFY_UNKNOWN_MESSAGE", "unknown message", sdk.ErrNotFound)
)

// SessionStatus is where a sender session stands. The empty SessionStatus
// is unspecified.
type SessionStatus string

// Session statuses.
const (
	// SessionStatusDisconnected: known but not connected.
	SessionStatusDisconnected SessionStatus = "disconnected"
	// SessionStatusPairing: waiting for the operator to scan the QR code or
	// enter the pairing code.
	SessionStatusPairing SessionStatus = "pairing"
	// SessionStatusConnecting: connecting or reconnecting.
	SessionStatusConnecting SessionStatus = "connecting"
	// SessionStatusConnected: connected and able to send.
	SessionStatusConnected SessionStatus = "connected"
	// SessionStatusLoggedOut: unpaired (from the phone or by Logout); it
	// needs pairing again.
	SessionStatusLoggedOut SessionStatus = "logged_out"
)

// DeliveryStatus is where a message stands. The empty DeliveryStatus is
// unspecified.
type DeliveryStatus string

// Delivery statuses.
const (
	// DeliveryStatusQueued: accepted, waiting to be sent (rate limits,
	// reconnects).
	DeliveryStatusQueued DeliveryStatus = "queued"
	// DeliveryStatusSent: sent to the network.
	DeliveryStatusSent DeliveryStatus = "sent"
	// DeliveryStatusDelivered: delivered to the recipient's device.
	DeliveryStatusDelivered DeliveryStatus = "delivered"
	// DeliveryStatusRead: read by the recipient.
	DeliveryStatusRead DeliveryStatus = "read"
	// DeliveryStatusFailed: given up; the response's Error says why.
	DeliveryStatusFailed DeliveryStatus = "failed"
)

// Session is one sender session.
type Session struct {
	ID     string
	Status SessionStatus
	// Phone is the paired phone number, E.164.
	Phone       string
	DisplayName string
	ConnectedAt time.Time
	LastSeenAt  time.Time
	// Pairing is set while Status is SessionStatusPairing, nil otherwise.
	Pairing *Pairing
	// Error is the last error, if any.
	Error string
}

// Pairing is what the operator needs to pair a session.
type Pairing struct {
	// QRCode is the text to encode as a QR code.
	QRCode string
	// QRPNG is the same QR code as a PNG image.
	QRPNG []byte
	// PairingCode is an 8-character code to enter on the phone instead of
	// scanning, when StartPairing was given a phone number.
	PairingCode string
	// ExpiresAt is when this QR code stops working.
	ExpiresAt time.Time
}

// ListSessionsRequest lists the sender sessions.
type ListSessionsRequest struct{}

// ListSessionsResponse lists the sender sessions.
type ListSessionsResponse struct {
	Sessions []Session
}

// GetSessionRequest reads one session.
type GetSessionRequest struct {
	SessionID string
}

// GetSessionResponse is one session.
type GetSessionResponse struct {
	Session Session
}

// StartPairingRequest starts pairing a session.
type StartPairingRequest struct {
	SessionID string
	// Phone, optional, E.164: ask for a pairing code for this phone instead
	// of a QR code.
	Phone string
}

// StartPairingResponse is the session, pairing.
type StartPairingResponse struct {
	Session Session
}

// LogoutRequest unpairs a session.
type LogoutRequest struct {
	SessionID string
}

// LogoutResponse acknowledges a logout.
type LogoutResponse struct{}

// Attachment is a file sent with a message.
type Attachment struct {
	Filename string
	// MIMEType, for example "application/pdf".
	MIMEType string
	Data     []byte
}

// SendRequest queues one message.
type SendRequest struct {
	// SessionID is the sender session; empty lets the plugin choose a
	// connected one.
	SessionID string
	// To is the recipient, E.164, for example "+6281234567890".
	To string
	// Text and Attachments: at least one of them is required.
	Text        string
	Attachments []Attachment
	// IdempotencyKey is required; the same key never sends twice.
	IdempotencyKey string
	// Location is the customer's location (its name); plugins may route by
	// it, for example to a sender session per location. Empty when unknown.
	Location string
}

// Validate checks the request as every plugin needs it. Plugins call it
// first; it returns an error that names every problem and wraps
// sdk.ErrInvalidArgument, or ErrInvalidRecipient (which also matches
// sdk.ErrInvalidArgument) when the recipient is among the problems.
func (r *SendRequest) Validate() error {
	var problems []string
	recipientOK := true
	if p := e164Problem(r.To); p != "" {
		recipientOK = false
		problems = append(problems, "to: "+p)
	}
	if strings.TrimSpace(r.Text) == "" && len(r.Attachments) == 0 {
		problems = append(problems, "text or an attachment is required")
	}
	for i, a := range r.Attachments {
		if len(a.Data) == 0 {
			problems = append(problems, fmt.Sprintf("attachments[%d] (%q) has no data", i, a.Filename))
		}
	}
	if strings.TrimSpace(r.IdempotencyKey) == "" {
		problems = append(problems, "idempotency_key is required (use one per message, for example the invoice number and the reminder's date, so a retry never sends twice)")
	}
	if len(problems) == 0 {
		return nil
	}
	var sentinel error = sdk.ErrInvalidArgument
	if !recipientOK {
		sentinel = ErrInvalidRecipient
	}
	return fmt.Errorf("%w: %s", sentinel, strings.Join(problems, "; "))
}

// SendResponse is the queued message.
type SendResponse struct {
	MessageID string
	Status    DeliveryStatus
	// Duplicate is true when the idempotency key was seen before; the
	// response then describes the first message.
	Duplicate bool
	// SessionID is the session that sends the message.
	SessionID string
}

// GetDeliveryStatusRequest names a message by its id or by the idempotency
// key it was sent with.
type GetDeliveryStatusRequest struct {
	MessageID      string
	IdempotencyKey string
}

// GetDeliveryStatusResponse is where a message stands.
type GetDeliveryStatusResponse struct {
	MessageID string
	Status    DeliveryStatus
	// Error says why, when Status is DeliveryStatusFailed.
	Error     string
	UpdatedAt time.Time
}

// ValidateE164 checks that phone is an E.164 number: a "+", then 8 to 15
// digits of which the first (the country code's) is not 0, with no spaces
// or punctuation. The error wraps ErrInvalidRecipient and says how to fix
// the number.
func ValidateE164(phone string) error {
	if p := e164Problem(phone); p != "" {
		return fmt.Errorf("%w: %s", ErrInvalidRecipient, p)
	}
	return nil
}

// e164Example is shown in every E.164 error.
const e164Example = `"+6281234567890"`

// e164Problem returns what is wrong with phone as an E.164 number, or "".
func e164Problem(phone string) string {
	if phone == "" {
		return "a phone number in E.164 form is required, for example " + e164Example
	}
	digits, ok := strings.CutPrefix(phone, "+")
	if !ok {
		if strings.HasPrefix(phone, "0") {
			return fmt.Sprintf("%q is a local number; write it with + and the country code instead of the leading 0, for example %s", phone, e164Example)
		}
		return fmt.Sprintf("%q must start with + and the country code, for example %s", phone, e164Example)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return fmt.Sprintf("%q may hold only digits after the +; remove spaces, dashes and brackets, for example %s", phone, e164Example)
		}
	}
	switch {
	case len(digits) < 8 || len(digits) > 15:
		return fmt.Sprintf("%q has %d digits, E.164 numbers have 8 to 15; check the number, for example %s", phone, len(digits), e164Example)
	case digits[0] == '0':
		return fmt.Sprintf("%q has a 0 after the +, where the country code belongs; put the country code in place of the 0, for example %s", phone, e164Example)
	}
	return ""
}
