package web

// Messaging sessions: the sender sessions of the notify plugins (WhatsApp
// accounts and the like) through the notify contract (sdk/notify), for the
// API and, through messagingPages, the admin UI's messaging page.
//
// Anyone signed in sees the plugins and their sessions. The codes that
// link a phone (the QR code's text and image, the pairing code) are for
// operators: whoever has them can link their own phone as the business's
// sender. Operators pair (it only links a session that is not paired, so
// it cannot take over one that sends), admins log out (it stops a
// working sender and forgets its keys). Pairing and logging out are
// audited.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

// messagingListTimeout bounds each plugin's ListSessions in the list, so a
// plugin that hangs does not hold up the others.
const messagingListTimeout = 5 * time.Second

// maxSessionID is the longest session id the host accepts.
const maxSessionID = 128

// sessionJSON is a session as the API shows it.
type sessionJSON struct {
	ID          string       `json:"id"`
	Status      string       `json:"status"`
	Phone       string       `json:"phone,omitempty"`
	DisplayName string       `json:"display_name,omitempty"`
	ConnectedAt time.Time    `json:"connected_at,omitzero"`
	LastSeenAt  time.Time    `json:"last_seen_at,omitzero"`
	Error       string       `json:"error,omitempty"`
	Pairing     *pairingJSON `json:"pairing,omitempty"`
}

// pairingJSON is what links a phone to a pairing session.
type pairingJSON struct {
	QRCode      string    `json:"qr_code,omitempty"`
	QRPNG       []byte    `json:"qr_png,omitempty"`
	PairingCode string    `json:"pairing_code,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// sessionOf is s as the API shows it; codes says whether the caller may
// see the pairing codes.
func sessionOf(s notify.Session, codes bool) sessionJSON {
	out := sessionJSON{ID: s.ID, Status: string(s.Status), Phone: s.Phone, DisplayName: s.DisplayName,
		ConnectedAt: s.ConnectedAt, LastSeenAt: s.LastSeenAt, Error: s.Error}
	if p := s.Pairing; p != nil && codes {
		out.Pairing = &pairingJSON{QRCode: p.QRCode, QRPNG: p.QRPNG, PairingCode: p.PairingCode, ExpiresAt: p.ExpiresAt}
	}
	return out
}

// seesPairingCodes reports whether the request's caller may see the codes
// that link a phone: operators and admins.
func seesPairingCodes(r *http.Request) bool {
	p := PrincipalFrom(r.Context())
	return p != nil && RoleAtLeast(p.Role, RoleOperator)
}

// listMessaging answers every notify plugin with its sessions.
func (s *Server) listMessaging(w http.ResponseWriter, r *http.Request) error {
	type pluginJSON struct {
		Name     string        `json:"name"`
		Version  string        `json:"version"`
		State    plugins.State `json:"state"`
		Sessions []sessionJSON `json:"sessions"`
		Error    string        `json:"error,omitempty"`
	}
	out := []pluginJSON{}
	for _, p := range s.messagingPlugins(r.Context()) {
		pj := pluginJSON{Name: p.Name, Version: p.Version, State: p.State, Sessions: []sessionJSON{}, Error: p.ListError}
		if !p.State.Up() {
			pj.Error = notRunningMessage(p.Name, string(p.State))
		}
		for _, sess := range p.Sessions {
			pj.Sessions = append(pj.Sessions, sessionOf(sess, false))
		}
		out = append(out, pj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"plugins": out})
	return nil
}

// getMessagingSession answers one session, with its pairing codes for
// operators.
func (s *Server) getMessagingSession(w http.ResponseWriter, r *http.Request) error {
	v := mux.Vars(r)
	sess, err := s.messagingSession(r.Context(), v["plugin"], v["id"])
	if err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{"session": sessionOf(*sess, seesPairingCodes(r))})
	return nil
}

// pairBody is POST .../pair's optional body.
type pairBody struct {
	Phone string `json:"phone"`
}

// pairMessagingSession starts pairing a session and answers it with its
// codes.
func (s *Server) pairMessagingSession(w http.ResponseWriter, r *http.Request) error {
	var body pairBody
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	v := mux.Vars(r)
	sess, err := s.pairSession(r, v["plugin"], v["id"], body.Phone)
	if err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{"session": sessionOf(*sess, true)})
	return nil
}

// logoutMessagingSession logs a session out.
func (s *Server) logoutMessagingSession(w http.ResponseWriter, r *http.Request) error {
	v := mux.Vars(r)
	if err := s.logoutSession(r, v["plugin"], v["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// messagingPlugins lists the notify plugins by name, the sessions of each
// that runs (without their pairing codes).
func (s *Server) messagingPlugins(ctx context.Context) []ui.MessagingPlugin {
	out := []ui.MessagingPlugin{}
	if s.deps.Plugins == nil {
		return out
	}
	for _, p := range s.deps.Plugins.Plugins() {
		if p.Kind() != sdk.KindNotify {
			continue
		}
		st := p.Status()
		mp := ui.MessagingPlugin{Name: st.Name, Version: st.Version, State: st.State}
		if st.State.Up() {
			mp.Sessions, mp.ListError = listSessions(ctx, p)
		}
		out = append(out, mp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// listSessions lists a running plugin's sessions, or says why it could not.
func listSessions(ctx context.Context, p *plugins.Plugin) ([]notify.Session, string) {
	n, err := p.Notifier()
	if err != nil {
		return nil, err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, messagingListTimeout)
	defer cancel()
	resp, err := n.ListSessions(ctx, &notify.ListSessionsRequest{})
	if err != nil {
		return nil, err.Error()
	}
	for i := range resp.Sessions {
		resp.Sessions[i].Pairing = nil
	}
	return resp.Sessions, ""
}

// messagingSession reads one session, with its pairing codes.
func (s *Server) messagingSession(ctx context.Context, plugin, id string) (*notify.Session, error) {
	if err := knownSessionID(plugin, id); err != nil {
		return nil, err
	}
	n, err := s.notifier(plugin)
	if err != nil {
		return nil, err
	}
	resp, err := n.GetSession(ctx, &notify.GetSessionRequest{SessionID: id})
	if err != nil {
		return nil, s.messagingError(plugin, id, err)
	}
	return &resp.Session, nil
}

// pairSession starts pairing a session, creating it if needed (phone,
// optional, asks for a pairing code), and audits it. A session that is
// paired (connected or connecting) is refused: an admin logs it out
// first.
func (s *Server) pairSession(r *http.Request, plugin, id, phone string) (*notify.Session, error) {
	if err := checkPairing(id, phone); err != nil {
		return nil, err
	}
	n, err := s.notifier(plugin)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	cur, err := n.GetSession(ctx, &notify.GetSessionRequest{SessionID: id})
	switch {
	case errors.Is(err, sdk.ErrNotFound):
		// A new session: StartPairing creates it.
	case err != nil:
		return nil, s.messagingError(plugin, id, err)
	case cur.Session.Status == notify.SessionStatusConnected || cur.Session.Status == notify.SessionStatusConnecting:
		return nil, errors.Join(&apiError{http.StatusConflict, "session_paired", fmt.Sprintf(
			"session %q of %q is paired with %s (%s); to pair another phone, an admin logs it out first (POST /api/v1/messaging/%s/sessions/%s/logout)",
			id, plugin, orUnknown(cur.Session.Phone), cur.Session.Status, plugin, id), nil}, ui.ErrSessionPaired)
	}
	resp, err := n.StartPairing(ctx, &notify.StartPairingRequest{SessionID: id, Phone: phone})
	if err != nil {
		return nil, s.messagingError(plugin, id, err)
	}
	meta := map[string]string{"plugin": plugin, "session": id, "with": "qr_code"}
	if phone != "" {
		meta["with"], meta["phone"] = "pairing_code", phone
	}
	s.audit(r, &auditEvent{Action: "messaging_session.pairing_started", ResourceType: "messaging_session", ResourceID: plugin + "/" + id, Metadata: meta})
	s.log.Info("messaging session pairing", "plugin", plugin, "session", id, "with", meta["with"], "by", actor(r))
	return &resp.Session, nil
}

// logoutSession logs a session out and audits it.
func (s *Server) logoutSession(r *http.Request, plugin, id string) error {
	if err := knownSessionID(plugin, id); err != nil {
		return err
	}
	n, err := s.notifier(plugin)
	if err != nil {
		return err
	}
	if _, err := n.Logout(r.Context(), &notify.LogoutRequest{SessionID: id}); err != nil {
		return s.messagingError(plugin, id, err)
	}
	s.audit(r, &auditEvent{Action: "messaging_session.logged_out", ResourceType: "messaging_session", ResourceID: plugin + "/" + id,
		Metadata: map[string]string{"plugin": plugin, "session": id}})
	s.log.Info("messaging session logged out", "plugin", plugin, "session", id, "by", actor(r))
	return nil
}

// notifier is the notify plugin's client: 404 for a plugin that is not a
// notify plugin, 503 for one that is stopped, failed or disabled. One that
// is starting or restarting gets the call, which waits for it
// (plugins.call_wait).
func (s *Server) notifier(name string) (notify.Notifier, error) {
	var p *plugins.Plugin
	ok := false
	if s.deps.Plugins != nil {
		p, ok = s.deps.Plugins.Plugin(name)
	}
	if !ok || p.Kind() != sdk.KindNotify {
		return nil, errors.Join(&apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no messaging (notify) plugin %q; GET /api/v1/messaging lists them", name), nil}, sdk.ErrNotFound)
	}
	switch st := p.Status(); st.State {
	case plugins.StateStopped, plugins.StateFailed, plugins.StateDisabled:
		cause := &plugins.UnavailableError{Err: fmt.Errorf("%w: plugin %q is %s", sdk.ErrPluginUnavailable, name, st.State)}
		if st.NextAttempt != nil {
			cause.RetryAt = *st.NextAttempt
		}
		return nil, notRunning(name, string(st.State), cause)
	}
	return p.Notifier()
}

// messagingError is a notify plugin's error as the API answers it: an
// unknown session 404, a plugin that is not running 503 (saying what to
// do), a refused phone number 422 on the phone field, others by their
// sentinel (classify). Each still matches its sentinel.
func (s *Server) messagingError(plugin, id string, err error) error {
	var elsewhere *plugins.ElsewhereError
	switch {
	case errors.As(err, &elsewhere):
		// A singleton another host runs: pairing and reading sessions are
		// done on that host (docs/operations.md, "Several hosts").
		return errors.Join(&apiError{http.StatusServiceUnavailable, "plugin_unavailable", elsewhere.Error(), nil}, err)
	case errors.Is(err, sdk.ErrPluginUnavailable):
		return notRunning(plugin, "not running", err)
	case errors.Is(err, sdk.ErrNotFound):
		return errors.Join(&apiError{http.StatusNotFound, "not_found", fmt.Sprintf(
			"messaging plugin %q has no session %q; GET /api/v1/messaging lists its sessions, and pairing one (POST .../pair) creates it", plugin, id), nil}, err)
	case errors.Is(err, notify.ErrInvalidRecipient):
		return errors.Join(&apiError{http.StatusUnprocessableEntity, "validation_failed", "some fields are not valid; see details",
			FieldErrors{"phone": "refused by the plugin: " + err.Error()}}, err)
	}
	return fmt.Errorf("messaging plugin %q, session %q: %w", plugin, id, err)
}

// notRunning is the 503 of a notify plugin that is not running, with what
// to do; cause (matching sdk.ErrPluginUnavailable, perhaps a
// *plugins.UnavailableError with the next attempt) sets Retry-After.
func notRunning(plugin, state string, cause error) error {
	return errors.Join(&apiError{http.StatusServiceUnavailable, "plugin_unavailable", notRunningMessage(plugin, state) + " (" + cause.Error() + ")", nil}, cause)
}

// notRunningMessage says that a notify plugin does not run, and what to do.
func notRunningMessage(plugin, state string) string {
	if state == string(plugins.StateStarting) || state == string(plugins.StateRestarting) {
		return fmt.Sprintf("the messaging plugin %q is %s; its sessions show once it runs (GET /api/v1/plugins/%s says when it tries next)", plugin, state, plugin)
	}
	return fmt.Sprintf("the messaging plugin %q is %s, so its sessions cannot be read or paired; see why with GET /api/v1/plugins/%s (or on its page, /plugin/%s), then restart it, or enable it if it is disabled",
		plugin, state, plugin, plugin)
}

// checkPairing checks a session id and an optional phone number: 422 with
// what is wrong with each.
func checkPairing(id, phone string) error {
	var v validation
	v.check(validSessionID(id), "session", fmt.Sprintf("a session id is 1 to %d letters, digits or . _ - @ : + (no spaces or slashes), such as \"main\"", maxSessionID))
	if phone != "" {
		err := notify.ValidateE164(phone)
		v.check(err == nil, "phone", strings.TrimPrefix(fmt.Sprint(err), notify.ErrInvalidRecipient.Error()+": "))
	}
	return v.err()
}

// knownSessionID refuses an id no session can have (404), before the
// plugin is asked.
func knownSessionID(plugin, id string) error {
	if validSessionID(id) {
		return nil
	}
	return errors.Join(&apiError{http.StatusNotFound, "not_found", fmt.Sprintf(
		"messaging plugin %q has no session %q: session ids are 1 to %d letters, digits or . _ - @ : +; GET /api/v1/messaging lists the sessions", plugin, id, maxSessionID), nil}, sdk.ErrNotFound)
}

// validSessionID reports whether id is a session id the host passes on.
func validSessionID(id string) bool {
	if id == "" || len(id) > maxSessionID {
		return false
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@:+", c)
		if !ok {
			return false
		}
	}
	return true
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown phone"
	}
	return s
}

// messagingPages is ui.Messaging over the server: the API's functions.
type messagingPages struct{ s *Server }

var _ ui.Messaging = messagingPages{}

func (m messagingPages) Plugins(ctx context.Context) []ui.MessagingPlugin {
	return m.s.messagingPlugins(ctx)
}

func (m messagingPages) Session(ctx context.Context, plugin, id string) (*notify.Session, error) {
	return m.s.messagingSession(ctx, plugin, id)
}

func (m messagingPages) Pair(r *http.Request, plugin, id, phone string) (*notify.Session, error) {
	sess, err := m.s.pairSession(r, plugin, id, phone)
	return sess, pageRefusal(err)
}

func (m messagingPages) Logout(r *http.Request, plugin, id string) error {
	return m.s.logoutSession(r, plugin, id)
}
