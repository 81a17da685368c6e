// Command notifyfake is a notify plugin for the host's tests: the pairing
// of sender sessions as a WhatsApp plugin does it, with no WhatsApp behind
// it. The host launches it as any plugin (testenv.PluginDir.AddNotifyFake
// installs it); its behaviour comes from testplugin.json beside the
// executable, as testplugin's does.
//
// Sessions start disconnected. StartPairing makes one pairing: a QR code
// whose text rotates every rotate_ms (and, with a phone, an 8-character
// pairing code that does not). A test "scans" a code by posting it to the
// plugin's route, POST /plugins/<name>/scan {"session": "main", "code":
// "..."}: the current QR code, the one before it (shown a moment ago), or
// the pairing code is accepted and the session connects (after connect_ms
// in the connecting state); an older code is refused (400). A pairing
// nobody scans ends after pairing_timeout_ms, disconnected with an error.
// Logout logs a session out. Nothing survives a restart.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

// behaviour is testplugin.json.
type behaviour struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Sessions are the sessions that exist at start, disconnected
	// (default: "main").
	Sessions []string `json:"sessions"`
	// RotateMS is how long each QR code is shown (default 1500).
	RotateMS int `json:"rotate_ms"`
	// NoPNG leaves Pairing.QRPNG empty, so the host renders the QR code
	// from its text.
	NoPNG bool `json:"no_png"`
	// ConnectMS is how long a scanned session is connecting (default 300).
	ConnectMS int `json:"connect_ms"`
	// PairingTimeoutMS ends a pairing nobody scans (default 180000).
	PairingTimeoutMS int `json:"pairing_timeout_ms"`
	// Phone is the number a session scanned without a phone connects as
	// (default "+6281200000001").
	Phone string `json:"phone"`
	// Connected starts the sessions connected (as Phone), no pairing
	// needed.
	Connected bool `json:"connected"`
	// SentLog is a file each message sent is appended to, one JSON line
	// {"key", "to", "text"}; copies of the plugin (one per host, or one
	// after a restart) may share it, and a message sent by each shows
	// there once per copy.
	SentLog string `json:"sent_log"`
}

// pngSize is the side of the plugin's QR images, in pixels: not the host's
// 256, so a test can tell whose image it sees.
const pngSize = 240

func main() {
	exe, _ := os.Executable()
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(exe), "testplugin.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "notifyfake: no testplugin.json beside the executable:", err)
		os.Exit(1)
	}
	var b behaviour
	if err := json.Unmarshal(raw, &b); err != nil {
		fmt.Fprintln(os.Stderr, "notifyfake:", err)
		os.Exit(1)
	}
	sdk.Serve(newFake(b, time.Now))
}

// fake is the plugin.
type fake struct {
	sdk.Base
	b   behaviour
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
	sent     map[string]*notify.SendResponse // by idempotency key
	next     int
}

var (
	_ notify.Notifier = (*fake)(nil)
	_ sdk.HTTPHandler = (*fake)(nil)
)

// session is one sender session; its state while pairing follows from the
// clock (state).
type session struct {
	id     string
	status notify.SessionStatus
	phone  string
	since  time.Time // connected since
	err    string
	// While pairing: the pairing's start and secret (the QR codes are
	// derived from both), the phone asked for and its pairing code.
	pairStart   time.Time
	secret      []byte
	pairPhone   string
	pairingCode string
	// scannedAt is when a code was scanned: connecting until connect_ms
	// after it.
	scannedAt time.Time
}

func newFake(b behaviour, now func() time.Time) *fake {
	if len(b.Sessions) == 0 {
		b.Sessions = []string{"main"}
	}
	if b.RotateMS <= 0 {
		b.RotateMS = 1500
	}
	if b.ConnectMS <= 0 {
		b.ConnectMS = 300
	}
	if b.PairingTimeoutMS <= 0 {
		b.PairingTimeoutMS = 180000
	}
	if b.Phone == "" {
		b.Phone = "+6281200000001"
	}
	f := &fake{b: b, now: now, sessions: map[string]*session{}, sent: map[string]*notify.SendResponse{}}
	for _, id := range b.Sessions {
		f.sessions[id] = &session{id: id, status: notify.SessionStatusDisconnected}
		if b.Connected {
			f.sessions[id] = &session{id: id, status: notify.SessionStatusConnected, phone: b.Phone, since: now()}
		}
	}
	return f
}

func (f *fake) rotate() time.Duration { return time.Duration(f.b.RotateMS) * time.Millisecond }

func (f *fake) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: f.b.Name, Version: f.b.Version}, nil
}

func (f *fake) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	connected := 0
	for _, s := range f.sessions {
		if f.state(s); s.status == notify.SessionStatusConnected {
			connected++
		}
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "fake sessions", Details: map[string]any{"sessions": len(f.sessions), "connected": connected}}, nil
}

// state brings s up to the clock: a pairing that timed out, a scanned
// session done connecting. f.mu is held.
func (f *fake) state(s *session) {
	now := f.now()
	switch s.status {
	case notify.SessionStatusPairing:
		if timeout := time.Duration(f.b.PairingTimeoutMS) * time.Millisecond; now.Sub(s.pairStart) >= timeout {
			s.status, s.err = notify.SessionStatusDisconnected, fmt.Sprintf("pairing timed out: no code was scanned within %s; pair again", timeout)
			s.secret, s.pairingCode, s.pairPhone = nil, "", ""
		}
	case notify.SessionStatusConnecting:
		if now.Sub(s.scannedAt) >= time.Duration(f.b.ConnectMS)*time.Millisecond {
			s.status, s.since = notify.SessionStatusConnected, now
		}
	}
}

// index is the number of the QR code shown now.
func (f *fake) index(s *session) int64 {
	return int64(f.now().Sub(s.pairStart) / f.rotate())
}

// qrText is the text of a pairing's QR code number i.
func qrText(s *session, i int64) string {
	mac := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(mac, "%d", i)
	return fmt.Sprintf("notifyfake:%s:%d:%s", s.id, i, hex.EncodeToString(mac.Sum(nil))[:20])
}

// view is s as the contract shows it. f.mu is held.
func (f *fake) view(s *session) (notify.Session, error) {
	f.state(s)
	out := notify.Session{ID: s.id, Status: s.status, Error: s.err}
	if s.status == notify.SessionStatusConnected || s.status == notify.SessionStatusConnecting {
		out.Phone, out.DisplayName = s.phone, "Fake "+s.id
	}
	if s.status == notify.SessionStatusConnected {
		out.ConnectedAt, out.LastSeenAt = s.since, f.now()
	}
	if s.status != notify.SessionStatusPairing {
		return out, nil
	}
	i := f.index(s)
	p := &notify.Pairing{QRCode: qrText(s, i), PairingCode: s.pairingCode, ExpiresAt: s.pairStart.Add(time.Duration(i+1) * f.rotate())}
	if !f.b.NoPNG {
		png, err := qrcode.Encode(p.QRCode, qrcode.Medium, pngSize)
		if err != nil {
			return notify.Session{}, err
		}
		p.QRPNG = png
	}
	out.Pairing = p
	return out, nil
}

func (f *fake) ListSessions(context.Context, *notify.ListSessionsRequest) (*notify.ListSessionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.sessions))
	for id := range f.sessions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := &notify.ListSessionsResponse{}
	for _, id := range ids {
		v, err := f.view(f.sessions[id])
		if err != nil {
			return nil, err
		}
		v.Pairing = nil // the list is no place for codes
		out.Sessions = append(out.Sessions, v)
	}
	return out, nil
}

func (f *fake) GetSession(_ context.Context, req *notify.GetSessionRequest) (*notify.GetSessionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[req.SessionID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", notify.ErrUnknownSession, req.SessionID)
	}
	v, err := f.view(s)
	if err != nil {
		return nil, err
	}
	return &notify.GetSessionResponse{Session: v}, nil
}

func (f *fake) StartPairing(_ context.Context, req *notify.StartPairingRequest) (*notify.StartPairingResponse, error) {
	if req.SessionID == "" {
		return nil, fmt.Errorf("%w: session_id is required", sdk.ErrInvalidArgument)
	}
	if req.Phone != "" {
		if err := notify.ValidateE164(req.Phone); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[req.SessionID]
	if !ok {
		s = &session{id: req.SessionID}
		f.sessions[req.SessionID] = s
	}
	f.state(s)
	if s.status == notify.SessionStatusConnected || s.status == notify.SessionStatusConnecting {
		return nil, fmt.Errorf("%w: session %q is paired with %s; log it out first", sdk.ErrFailedPrecondition, s.id, s.phone)
	}
	s.status, s.err, s.pairStart, s.secret, s.pairPhone, s.pairingCode = notify.SessionStatusPairing, "", f.now(), randomBytes(16), req.Phone, ""
	if req.Phone != "" {
		s.pairingCode = strings.ToUpper(hex.EncodeToString(randomBytes(4)))
	}
	v, err := f.view(s)
	if err != nil {
		return nil, err
	}
	return &notify.StartPairingResponse{Session: v}, nil
}

func (f *fake) Logout(_ context.Context, req *notify.LogoutRequest) (*notify.LogoutResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[req.SessionID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", notify.ErrUnknownSession, req.SessionID)
	}
	*s = session{id: s.id, status: notify.SessionStatusLoggedOut}
	return &notify.LogoutResponse{}, nil
}

func (f *fake) Send(_ context.Context, req *notify.SendRequest) (*notify.SendResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if prev, ok := f.sent[req.IdempotencyKey]; ok {
		dup := *prev
		dup.Duplicate = true
		return &dup, nil
	}
	var from *session
	for _, s := range f.sessions {
		f.state(s)
		if s.status == notify.SessionStatusConnected && (req.SessionID == "" || req.SessionID == s.id) {
			from = s
			break
		}
	}
	if from == nil {
		return nil, fmt.Errorf("%w: no connected session to send from; pair one", notify.ErrSessionNotConnected)
	}
	if f.b.SentLog != "" {
		if err := appendSent(f.b.SentLog, req); err != nil {
			return nil, err
		}
	}
	f.next++
	resp := &notify.SendResponse{MessageID: fmt.Sprintf("fake-%d", f.next), Status: notify.DeliveryStatusSent, SessionID: from.id}
	f.sent[req.IdempotencyKey] = resp
	return resp, nil
}

// appendSent appends one line for req to the sent log, in one write with
// O_APPEND, so copies of the plugin writing at once do not interleave.
func appendSent(path string, req *notify.SendRequest) error {
	line, err := json.Marshal(map[string]string{"key": req.IdempotencyKey, "to": req.To, "text": req.Text})
	if err != nil {
		return err
	}
	fl, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("sent log: %w", err)
	}
	if _, err := fl.Write(append(line, '\n')); err != nil {
		fl.Close()
		return fmt.Errorf("sent log: %w", err)
	}
	return fl.Close()
}

func (f *fake) GetDeliveryStatus(_ context.Context, req *notify.GetDeliveryStatusRequest) (*notify.GetDeliveryStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, m := range f.sent {
		if key == req.IdempotencyKey || m.MessageID == req.MessageID {
			return &notify.GetDeliveryStatusResponse{MessageID: m.MessageID, Status: m.Status, UpdatedAt: f.now()}, nil
		}
	}
	return nil, notify.ErrUnknownMessage
}

// scanBody is POST /scan's body.
type scanBody struct {
	Session string `json:"session"`
	Code    string `json:"code"`
}

// HandleHTTP serves POST /scan: a phone scanning a QR code (or entering
// the pairing code) of a pairing session.
func (f *fake) HandleHTTP(_ context.Context, req *sdk.HandleHTTPRequest) (*sdk.HandleHTTPResponse, error) {
	if req.Route != "/scan" {
		return nil, fmt.Errorf("%w: no route %s", sdk.ErrNotFound, req.Route)
	}
	var body scanBody
	if err := json.Unmarshal(req.Request.Body, &body); err != nil {
		return nil, fmt.Errorf(`%w: send {"session": "...", "code": "..."}: %v`, sdk.ErrInvalidArgument, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[body.Session]
	if !ok {
		return nil, fmt.Errorf("%w: %q", notify.ErrUnknownSession, body.Session)
	}
	f.state(s)
	if s.status != notify.SessionStatusPairing {
		return nil, fmt.Errorf("%w: session %q is %s, not pairing", sdk.ErrInvalidArgument, s.id, s.status)
	}
	i := f.index(s)
	current := body.Code == qrText(s, i) || (i > 0 && body.Code == qrText(s, i-1)) || (s.pairingCode != "" && body.Code == s.pairingCode)
	if !current {
		return nil, fmt.Errorf("%w: %q is not the code session %q shows now (QR codes change every %s); scan the current one", sdk.ErrInvalidArgument, body.Code, s.id, f.rotate())
	}
	s.phone = s.pairPhone
	if s.phone == "" {
		s.phone = f.b.Phone
	}
	s.status, s.scannedAt, s.secret, s.pairingCode = notify.SessionStatusConnecting, f.now(), nil, ""
	out, _ := json.Marshal(map[string]string{"session": s.id, "status": string(s.status)})
	return &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: out}}, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
