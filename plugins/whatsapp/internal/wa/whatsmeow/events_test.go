package whatsmeow

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
)

// The translation of each real whatsmeow event type the plugin reacts to.
// Err is compared by a fragment of its text (want.Err's message).
func TestTranslate(t *testing.T) {
	at := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	customer := types.NewJID("6281234567890", types.DefaultUserServer)
	own := types.NewJID("6289876543210", types.DefaultUserServer)
	ownDevice := types.NewADJID("6289876543210", 0, 7)
	fromCustomer := types.MessageSource{Chat: customer, Sender: customer}
	fromMe := types.MessageSource{Chat: customer, Sender: own, IsFromMe: true}
	ids := []types.MessageID{"3EB0AAAA", "3EB0BBBB"}
	errPair := errors.New("bad device identity")

	tests := []struct {
		name string
		evt  any
		want *wa.Event // nil: dropped
	}{
		{"qr", &events.QR{Codes: []string{"2@first", "2@second"}},
			&wa.Event{Type: wa.EventQR, QR: "2@first", Timeout: 60 * time.Second}},
		{"qr without codes", &events.QR{}, nil},
		{"pair success", &events.PairSuccess{ID: ownDevice, BusinessName: "Net Bisnis", Platform: "android"},
			&wa.Event{Type: wa.EventPairSuccess, Phone: "6289876543210", PushName: "Net Bisnis"}},
		{"pair error", &events.PairError{ID: ownDevice, Error: errPair},
			&wa.Event{Type: wa.EventPairError, Phone: "6289876543210", Err: errPair}},
		{"pair error without error", &events.PairError{},
			&wa.Event{Type: wa.EventPairError, Err: errors.New("pairing failed")}},
		{"scanned without multidevice", &events.QRScannedWithoutMultidevice{},
			&wa.Event{Type: wa.EventPairError, Err: errors.New("without multi-device support")}},
		{"connected", &events.Connected{}, &wa.Event{Type: wa.EventConnected}},
		{"keepalive restored", &events.KeepAliveRestored{}, &wa.Event{Type: wa.EventConnected}},
		{"disconnected", &events.Disconnected{},
			&wa.Event{Type: wa.EventDisconnected, Err: errors.New("connection to whatsapp was closed")}},
		{"keepalive timeout", &events.KeepAliveTimeout{ErrorCount: 3, LastSuccess: at},
			&wa.Event{Type: wa.EventDisconnected, Err: errors.New("(3 failed, last answer 2026-12-05T06:00:00Z)")}},
		{"stream replaced", &events.StreamReplaced{},
			&wa.Event{Type: wa.EventDisconnected, Err: errors.New("same keys replaced this one")}},
		{"temporary ban", &events.TemporaryBan{Code: events.TempBanBlockedByUsers, Expire: time.Hour},
			&wa.Event{Type: wa.EventDisconnected, Err: errors.New("too many people blocked you")}},
		{"client outdated", &events.ClientOutdated{},
			&wa.Event{Type: wa.EventDisconnected, Err: errClientOutdated}},
		{"CAT refresh error", &events.CATRefreshError{Error: errors.New("expired")},
			&wa.Event{Type: wa.EventDisconnected, Err: errors.New("crypto auth token: expired")}},
		{"connect failure", &events.ConnectFailure{Reason: events.ConnectFailureBadUserAgent, Message: "nope"},
			&wa.Event{Type: wa.EventDisconnected, Err: errors.New("409: client user agent was rejected (nope)")}},
		{"connect failure that is a logout", &events.ConnectFailure{Reason: events.ConnectFailureMainDeviceGone},
			&wa.Event{Type: wa.EventLoggedOut, Err: errors.New("403: primary device was logged out")}},
		{"stream error", &events.StreamError{Code: "500"},
			&wa.Event{Type: wa.EventDisconnected, Err: errors.New("error code 500")}},
		{"logged out from the phone", &events.LoggedOut{Reason: events.ConnectFailureLoggedOut},
			&wa.Event{Type: wa.EventLoggedOut, Err: errors.New("401: logged out from another device")}},
		{"logged out on connect", &events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureUnknownLogout},
			&wa.Event{Type: wa.EventLoggedOut, Err: errors.New("pair the session again")}},
		{"delivered", &events.Receipt{MessageSource: fromCustomer, MessageIDs: ids, Timestamp: at, Type: types.ReceiptTypeDelivered},
			&wa.Event{Type: wa.EventReceipt, MessageIDs: []string{"3EB0AAAA", "3EB0BBBB"}, Receipt: wa.ReceiptDelivered, Time: at}},
		{"read", &events.Receipt{MessageSource: fromCustomer, MessageIDs: ids[:1], Timestamp: at, Type: types.ReceiptTypeRead},
			&wa.Event{Type: wa.EventReceipt, MessageIDs: []string{"3EB0AAAA"}, Receipt: wa.ReceiptRead, Time: at}},
		{"server error", &events.Receipt{MessageSource: fromCustomer, MessageIDs: ids[1:], Timestamp: at, Type: types.ReceiptTypeServerError},
			&wa.Event{Type: wa.EventReceipt, MessageIDs: []string{"3EB0BBBB"}, Receipt: wa.ReceiptFailed, Time: at}},
		{"read-self", &events.Receipt{MessageSource: fromMe, MessageIDs: ids, Timestamp: at, Type: types.ReceiptTypeReadSelf}, nil},
		{"our phone read an incoming message", &events.Receipt{MessageSource: fromMe, MessageIDs: ids, Timestamp: at, Type: types.ReceiptTypeRead}, nil},
		{"our other device got it", &events.Receipt{MessageSource: fromMe, MessageIDs: ids, Timestamp: at, Type: types.ReceiptTypeSender}, nil},
		{"retry receipt", &events.Receipt{MessageSource: fromCustomer, MessageIDs: ids, Timestamp: at, Type: types.ReceiptTypeRetry}, nil},
		{"played", &events.Receipt{MessageSource: fromCustomer, MessageIDs: ids, Timestamp: at, Type: types.ReceiptTypePlayed}, nil},
		{"receipt without ids", &events.Receipt{MessageSource: fromCustomer, Timestamp: at}, nil},
		{"incoming message", &events.Message{}, nil},
		{"presence", &events.Presence{}, nil},
		{"history sync", &events.HistorySync{}, nil},
		{"not an event", "text", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := translate(tt.evt)
			checkEvent(t, got, ok, tt.want)
		})
	}
}

func TestTranslateQR(t *testing.T) {
	errPair := errors.New("hmac mismatch")
	tests := []struct {
		name string
		item whatsmeow.QRChannelItem
		want *wa.Event
	}{
		{"code", whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@abc", Timeout: 20 * time.Second},
			&wa.Event{Type: wa.EventQR, QR: "2@abc", Timeout: 20 * time.Second}},
		{"success", whatsmeow.QRChannelSuccess, nil},
		{"timeout", whatsmeow.QRChannelTimeout, &wa.Event{Type: wa.EventPairError, Err: errQRExpired}},
		{"error", whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventError, Error: errPair},
			&wa.Event{Type: wa.EventPairError, Err: errPair}},
		{"client outdated", whatsmeow.QRChannelClientOutdated, &wa.Event{Type: wa.EventPairError, Err: errClientOutdated}},
		{"scanned without multidevice", whatsmeow.QRChannelScannedWithoutMultidevice,
			&wa.Event{Type: wa.EventPairError, Err: errScannedNoMultiDv}},
		{"unexpected state", whatsmeow.QRChannelErrUnexpectedEvent, &wa.Event{Type: wa.EventPairError, Err: errPairUnexpected}},
		{"unknown", whatsmeow.QRChannelItem{Event: "err-new-kind"},
			&wa.Event{Type: wa.EventPairError, Err: errors.New("pairing ended: err-new-kind")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := translateQR(tt.item)
			checkEvent(t, got, ok, tt.want)
		})
	}
}

// checkEvent compares an event with the expected one; want == nil means
// dropped. want.Err is matched by errors.Is or, failing that, as a fragment
// of got.Err's text.
func checkEvent(t *testing.T, got wa.Event, ok bool, want *wa.Event) {
	t.Helper()
	if want == nil {
		if ok {
			t.Fatalf("translated to %+v, want it dropped", got)
		}
		return
	}
	if !ok {
		t.Fatalf("dropped, want %+v", *want)
	}
	switch {
	case want.Err == nil && got.Err != nil:
		t.Errorf("Err = %v, want none", got.Err)
	case want.Err != nil && got.Err == nil:
		t.Errorf("Err = nil, want %v", want.Err)
	case want.Err != nil && !errors.Is(got.Err, want.Err) && !strings.Contains(got.Err.Error(), want.Err.Error()):
		t.Errorf("Err = %q, want it to be or contain %q", got.Err, want.Err)
	}
	got.Err, want.Err = nil, nil
	if diff := cmp.Diff(*want, got); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}
