package ui

import (
	"net/http/httptest"
	"testing"

	"github.com/mikrobill/mikrobill/sdk/notify"
)

// TestMessagingStatusMessages: every session status of the notify
// contract has its own message in every language.
func TestMessagingStatusMessages(t *testing.T) {
	for _, s := range []notify.SessionStatus{notify.SessionStatusDisconnected, notify.SessionStatusPairing, notify.SessionStatusConnecting, notify.SessionStatusConnected, notify.SessionStatusLoggedOut} {
		key := (&sessionCard{Session: notify.Session{Status: s}}).StatusKey()
		if key == "messaging.status.unknown" {
			t.Errorf("status %q has no message of its own", s)
		}
		for lang, cat := range catalogs {
			if _, ok := cat[key]; !ok {
				t.Errorf("%s has no %q", lang, key)
			}
		}
	}
	if key := (&sessionCard{Session: notify.Session{Status: "sleeping"}}).StatusKey(); key != "messaging.status.unknown" {
		t.Errorf("an unknown status has the message %q", key)
	}
}

// TestSessionCardPolling: a card reloads while its session pairs or
// connects, up to maxPolls reloads, then offers a refresh; it offers the
// pair form only when it does not reload and the session is not paired.
func TestSessionCardPolling(t *testing.T) {
	r := httptest.NewRequest("GET", "/messaging", nil)
	for _, c := range []struct {
		status              notify.SessionStatus
		poll                int
		live, stopped, form bool
	}{
		{notify.SessionStatusPairing, 0, true, false, false},
		{notify.SessionStatusPairing, maxPolls - 1, true, false, false},
		{notify.SessionStatusPairing, maxPolls, false, true, true},
		{notify.SessionStatusConnecting, 3, true, false, false},
		{notify.SessionStatusConnecting, maxPolls, false, true, false},
		{notify.SessionStatusConnected, 0, false, false, false},
		{notify.SessionStatusDisconnected, 0, false, false, true},
		{notify.SessionStatusLoggedOut, 0, false, false, true},
	} {
		card := newCard(r, "whatsapp", notify.Session{ID: "main", Status: c.status}, c.poll)
		if card.Live != c.live || card.Stopped != c.stopped || card.ShowPairForm() != c.form || card.Poll != c.poll+1 {
			t.Errorf("%s at poll %d: live %v, stopped %v, form %v, next poll %d; want %v, %v, %v, %d",
				c.status, c.poll, card.Live, card.Stopped, card.ShowPairForm(), card.Poll, c.live, c.stopped, c.form, c.poll+1)
		}
	}
	a := newCard(r, "whatsapp", notify.Session{ID: "a b/c", Pairing: &notify.Pairing{QRCode: "one"}}, 0)
	b := newCard(r, "whatsapp", notify.Session{ID: "a b/c", Pairing: &notify.Pairing{QRCode: "two"}}, 0)
	if a.QRVersion == "" || a.QRVersion == b.QRVersion {
		t.Errorf("QR versions %q and %q: the image's link must change with the code", a.QRVersion, b.QRVersion)
	}
	if got := a.Path(); got != "/messaging/whatsapp/sessions/a%20b%2Fc" {
		t.Errorf("path %q: the session's id must be escaped", got)
	}
}
