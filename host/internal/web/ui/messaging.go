package ui

// Messaging: the sender sessions of every notify plugin (WhatsApp accounts
// and the like), through Deps.Messaging, which the web package implements
// with the API's own functions (GET /api/v1/messaging and its session
// routes). The page lists each plugin with its sessions; pairing a session
// leads to the session's page, whose card htmx reloads every 2 seconds
// while the session pairs or connects (the QR code as it rotates, then
// "connected"), for at most maxPolls reloads, after which a refresh button
// starts it again. Viewers see the sessions; operators pair (and see the
// codes that link a phone); admins log out.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/gorilla/mux"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

func init() {
	pageFiles = append(pageFiles, "messaging.html")
}

// Messaging is what the messaging page asks of the host: the API's
// functions, with the API's rules, audit and errors. Errors match
// sdk.ErrNotFound (no such plugin or session) and sdk.ErrPluginUnavailable
// (the plugin is not running) where they are those.
type Messaging interface {
	// Plugins lists the notify plugins, by name, each with its sessions
	// (without pairing codes).
	Plugins(ctx context.Context) []MessagingPlugin
	// Session reads one session, with its pairing codes while it pairs.
	Session(ctx context.Context, plugin, id string) (*notify.Session, error)
	// Pair starts pairing a session, creating it if needed; phone
	// (optional, E.164) asks for a pairing code. A refused field
	// ("session", "phone") is *Invalid; a session paired already is
	// ErrSessionPaired.
	Pair(r *http.Request, plugin, id, phone string) (*notify.Session, error)
	// Logout unpairs a session.
	Logout(r *http.Request, plugin, id string) error
}

// MessagingPlugin is a notify plugin with its sessions.
type MessagingPlugin struct {
	Name, Version string
	State         plugins.State
	// Sessions are listed from a running plugin.
	Sessions []notify.Session
	// ListError says why a running plugin's sessions could not be listed.
	ListError string
}

// ErrSessionPaired refuses pairing a session that is connected (or
// connecting): an admin logs it out first.
var ErrSessionPaired = errors.New("the session is paired already; log it out first")

// Polling of a session's card: every 2 seconds (the template's
// hx-trigger) while it pairs or connects, at most maxPolls times (3
// minutes) before a refresh button takes over.
const maxPolls = 90

// sessionCard is one session as its card shows it.
type sessionCard struct {
	User    *User
	Plugin  string
	Session notify.Session
	// Poll is the number of the card's next reload; Live says whether it
	// reloads (the session pairs or connects, and Poll is within
	// maxPolls); Stopped that the bound stopped a session still pairing.
	Poll          int
	Live, Stopped bool
	// QRVersion changes with the QR code, so the image's link does.
	QRVersion string
	// Problem is the catalog key of why the session could not be read.
	Problem string
	// Phone and Errs are the pair form's, as posted, when refused.
	Phone string
	Errs  fieldErrors
}

// StatusKey is the catalog key of the session's status.
func (c *sessionCard) StatusKey() string {
	switch s := c.Session.Status; s {
	case notify.SessionStatusDisconnected, notify.SessionStatusPairing, notify.SessionStatusConnecting,
		notify.SessionStatusConnected, notify.SessionStatusLoggedOut:
		return "messaging.status." + string(s)
	}
	return "messaging.status.unknown"
}

// ShowPairForm reports whether the card offers pairing: the session is
// not paired (connected or connecting), and the card does not reload (a
// reload would lose what is typed in the form).
func (c *sessionCard) ShowPairForm() bool {
	s := c.Session.Status
	return s != notify.SessionStatusConnected && s != notify.SessionStatusConnecting && !c.Live
}

// LoggedOut reports whether the session is logged out (no logout to offer).
func (c *sessionCard) LoggedOut() bool { return c.Session.Status == notify.SessionStatusLoggedOut }

// Path is the session page's link.
func (c *sessionCard) Path() string { return sessionPath(c.Plugin, c.Session.ID) }

// newCard makes a session's card, polling from poll on.
func newCard(r *http.Request, plugin string, s notify.Session, poll int) *sessionCard {
	c := &sessionCard{User: userFrom(r), Plugin: plugin, Session: s, Poll: poll + 1, Errs: fieldErrors{}}
	if s.Status == notify.SessionStatusPairing || s.Status == notify.SessionStatusConnecting {
		c.Live = poll < maxPolls
		c.Stopped = !c.Live
	}
	if p := s.Pairing; p != nil {
		sum := sha256.Sum256(append([]byte(p.QRCode+"\x00"), p.QRPNG...))
		c.QRVersion = hex.EncodeToString(sum[:8])
	}
	return c
}

// messagingPlugin is a plugin's section of the page.
type messagingPlugin struct {
	MessagingPlugin
	Cards []*sessionCard
	// New is the new session form, as posted, when refused.
	New *newSession
}

// ComingBack reports whether the plugin is starting or restarting, so its
// sessions show once it runs.
func (p messagingPlugin) ComingBack() bool {
	return p.State == plugins.StateStarting || p.State == plugins.StateRestarting
}

// newSession is the form that pairs a session by its id.
type newSession struct {
	Session, Phone string
	Errs           fieldErrors
}

// messagingData is the page's: every plugin, or one session (One).
type messagingData struct {
	Plugins []messagingPlugin
	One     *sessionCard
}

// MessagingPage serves GET /messaging: each notify plugin with its
// sessions, or how to install one.
func (u *UI) MessagingPage(w http.ResponseWriter, r *http.Request) error {
	return u.messagingList(w, r, http.StatusOK, view{}, "", nil)
}

// messagingList renders the list with v's problem, and ns as plugin's new
// session form (nil: every form empty).
func (u *UI) messagingList(w http.ResponseWriter, r *http.Request, status int, v view, plugin string, ns *newSession) error {
	var d messagingData
	for _, p := range u.deps.Messaging.Plugins(r.Context()) {
		mp := messagingPlugin{MessagingPlugin: p, New: &newSession{Errs: fieldErrors{}}}
		for _, s := range p.Sessions {
			mp.Cards = append(mp.Cards, newCard(r, p.Name, s, 0))
		}
		if p.Name == plugin {
			mp.New = ns
		}
		d.Plugins = append(d.Plugins, mp)
	}
	sort.Slice(d.Plugins, func(i, j int) bool { return d.Plugins[i].Name < d.Plugins[j].Name })
	v.Title, v.Data = "messaging.title", d
	return u.render(w, r, status, "messaging.html", v)
}

// MessagingSession serves GET /messaging/{plugin}/sessions/{id}: the
// session's page, or, to htmx, its card (?poll= counts the reloads).
func (u *UI) MessagingSession(w http.ResponseWriter, r *http.Request) error {
	plugin, id := mux.Vars(r)["plugin"], mux.Vars(r)["id"]
	poll, err := strconv.Atoi(r.URL.Query().Get("poll"))
	if err != nil || poll < 0 {
		poll = 0
	}
	s, err := u.deps.Messaging.Session(r.Context(), plugin, id)
	if r.Header.Get("HX-Request") == "true" {
		// A card always, so a failed reload shows why and stops.
		card := newCard(r, plugin, notify.Session{ID: id}, poll)
		if err == nil {
			card = newCard(r, plugin, *s, poll)
		} else {
			card.Problem = messagingProblem(err)
		}
		return u.renderPart(w, r, http.StatusOK, "messaging.html", "session_part", view{Data: card})
	}
	if err != nil {
		return err
	}
	v := view{}
	if r.URL.Query().Get("done") == "logout" {
		v.Notice, v.NoticeArg = "messaging.logged_out", id
	}
	return u.messagingOne(w, r, http.StatusOK, v, newCard(r, plugin, *s, 0))
}

func (u *UI) messagingOne(w http.ResponseWriter, r *http.Request, status int, v view, card *sessionCard) error {
	v.Title, v.Data = "messaging.session_title", messagingData{One: card}
	return u.render(w, r, status, "messaging.html", v)
}

// messagingProblem is the catalog key of why a session could not be read.
func messagingProblem(err error) string {
	switch {
	case errors.Is(err, sdk.ErrPluginUnavailable):
		return "messaging.unavailable_short"
	case errors.Is(err, sdk.ErrNotFound):
		return "messaging.no_session"
	}
	return "messaging.read_failed"
}

// PairSession serves POST /messaging/{plugin}/sessions/{id}/pair (phone,
// optional).
func (u *UI) PairSession(w http.ResponseWriter, r *http.Request) error {
	return u.pair(w, r, mux.Vars(r)["id"], false)
}

// PairNewSession serves POST /messaging/{plugin}/pair: the session's id
// from the form, to pair a session the plugin does not list yet.
func (u *UI) PairNewSession(w http.ResponseWriter, r *http.Request) error {
	return u.pair(w, r, newForm(r, "messaging").str("session"), true)
}

// pair starts pairing and shows the session's page; a refusal is shown on
// the form it came from.
func (u *UI) pair(w http.ResponseWriter, r *http.Request, id string, fromNew bool) error {
	plugin := mux.Vars(r)["plugin"]
	f := newForm(r, "messaging")
	phone := f.str("phone")
	_, err := u.deps.Messaging.Pair(r, plugin, id, phone)
	if err == nil {
		redirect(w, r, sessionPath(plugin, id))
		return nil
	}
	if errs, ok := refused(err, "messaging"); ok {
		v := view{Problem: "form.refused"}
		if fromNew {
			return u.messagingList(w, r, http.StatusUnprocessableEntity, v, plugin, &newSession{Session: id, Phone: phone, Errs: errs})
		}
		card := u.cardOf(r, plugin, id)
		card.Phone, card.Errs = phone, errs
		return u.messagingOne(w, r, http.StatusUnprocessableEntity, v, card)
	}
	switch {
	case errors.Is(err, ErrSessionPaired):
		return u.messagingOne(w, r, http.StatusConflict, view{Problem: "messaging.refused_paired"}, u.cardOf(r, plugin, id))
	case errors.Is(err, sdk.ErrPluginUnavailable):
		return u.messagingList(w, r, http.StatusServiceUnavailable, view{Problem: "messaging.unavailable", ProblemArg: plugin}, "", nil)
	}
	return err
}

// cardOf is a session's card as it stands (its id alone when it cannot be
// read).
func (u *UI) cardOf(r *http.Request, plugin, id string) *sessionCard {
	s, err := u.deps.Messaging.Session(r.Context(), plugin, id)
	if err != nil {
		return newCard(r, plugin, notify.Session{ID: id}, 0)
	}
	return newCard(r, plugin, *s, 0)
}

// LogoutSession serves POST /messaging/{plugin}/sessions/{id}/logout.
func (u *UI) LogoutSession(w http.ResponseWriter, r *http.Request) error {
	plugin, id := mux.Vars(r)["plugin"], mux.Vars(r)["id"]
	if err := u.deps.Messaging.Logout(r, plugin, id); err != nil {
		return err
	}
	redirect(w, r, sessionPath(plugin, id)+"?done=logout")
	return nil
}

// sessionPath is the link to a session's page.
func sessionPath(plugin, id string) string {
	return "/messaging/" + url.PathEscape(plugin) + "/sessions/" + url.PathEscape(id)
}

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// MessagingQR serves GET /messaging/{plugin}/sessions/{id}/qr.png: the
// QR code of a pairing session, the plugin's image, or drawn here from
// its text when the plugin sends none.
func (u *UI) MessagingQR(w http.ResponseWriter, r *http.Request) error {
	s, err := u.deps.Messaging.Session(r.Context(), mux.Vars(r)["plugin"], mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	p := s.Pairing
	switch {
	case p != nil && bytes.HasPrefix(p.QRPNG, pngMagic):
		writePNG(w, p.QRPNG)
	case p != nil && p.QRCode != "":
		png, err := qrcode.Encode(p.QRCode, qrcode.Medium, qrSize)
		if err != nil {
			return err
		}
		writePNG(w, png)
	default:
		u.Fail(w, r, http.StatusNotFound, "")
	}
	return nil
}

// writePNG answers with a PNG image that is not to be kept (a QR code
// changes, or links to a payment).
func writePNG(w http.ResponseWriter, png []byte) {
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", CSP)
	_, _ = w.Write(png)
}
