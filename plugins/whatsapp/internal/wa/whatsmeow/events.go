package whatsmeow

import (
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
)

// firstQRTimeout is how long WhatsApp shows the first QR code of a pairing
// (the later ones last 20 seconds); whatsmeow's QR channel uses the same.
const firstQRTimeout = 60 * time.Second

// Reasons given with EventPairError when the QR channel ends without a
// pairing.
var (
	errQRExpired        = errors.New("the QR codes expired before one was scanned: start pairing again")
	errPairUnexpected   = errors.New("pairing ended by an unexpected connection event: the device may already be paired, reload the session")
	errClientOutdated   = errors.New("whatsapp rejected this client version as outdated: update the whatsapp plugin")
	errScannedNoMultiDv = errors.New("the QR code was scanned by a phone without multi-device support: update WhatsApp on the phone and scan again")
)

// translate turns one whatsmeow event into what the boundary reports. ok
// is false for events the plugin does not care about (incoming messages,
// presence, history sync, receipts of our own devices).
func translate(evt any) (e wa.Event, ok bool) {
	switch v := evt.(type) {
	case *events.QR:
		if len(v.Codes) == 0 {
			return wa.Event{}, false
		}
		return wa.Event{Type: wa.EventQR, QR: v.Codes[0], Timeout: firstQRTimeout}, true
	case *events.PairSuccess:
		return wa.Event{Type: wa.EventPairSuccess, Phone: v.ID.User, PushName: v.BusinessName}, true
	case *events.PairError:
		err := v.Error
		if err == nil {
			err = errors.New("pairing failed")
		}
		return wa.Event{Type: wa.EventPairError, Phone: v.ID.User, Err: fmt.Errorf("finish pairing: %w", err)}, true
	case *events.QRScannedWithoutMultidevice:
		// Not final: the same code can be scanned again after updating.
		return wa.Event{Type: wa.EventPairError, Err: errScannedNoMultiDv}, true
	case *events.Connected:
		return wa.Event{Type: wa.EventConnected}, true
	case *events.KeepAliveRestored:
		return wa.Event{Type: wa.EventConnected}, true
	case *events.Disconnected:
		return disconnected("the connection to whatsapp was closed"), true
	case *events.KeepAliveTimeout:
		return disconnected(fmt.Sprintf("whatsapp stopped answering keepalives (%d failed, last answer %s)",
			v.ErrorCount, v.LastSuccess.UTC().Format(time.RFC3339))), true
	case *events.StreamReplaced:
		return disconnected("another connection with the same keys replaced this one: make sure one plugin process runs this session"), true
	case *events.TemporaryBan:
		return disconnected("whatsapp banned the account temporarily: " + v.String()), true
	case *events.ClientOutdated:
		return wa.Event{Type: wa.EventDisconnected, Err: errClientOutdated}, true
	case *events.CATRefreshError:
		return disconnected(fmt.Sprintf("refresh the crypto auth token: %v", v.Error)), true
	case *events.ConnectFailure:
		if v.Reason.IsLoggedOut() {
			return loggedOut(v.Reason), true
		}
		msg := "whatsapp refused the connection: " + v.Reason.String()
		if v.Message != "" {
			msg += " (" + v.Message + ")"
		}
		return disconnected(msg), true
	case *events.StreamError:
		return disconnected("whatsapp closed the stream with error code " + v.Code), true
	case *events.LoggedOut:
		return loggedOut(v.Reason), true
	case *events.Receipt:
		return receipt(v)
	}
	return wa.Event{}, false
}

// disconnected is an EventDisconnected with a reason.
func disconnected(reason string) wa.Event {
	return wa.Event{Type: wa.EventDisconnected, Err: errors.New(reason)}
}

// loggedOut is an EventLoggedOut with the reason whatsmeow gives.
func loggedOut(r events.ConnectFailureReason) wa.Event {
	return wa.Event{Type: wa.EventLoggedOut,
		Err: fmt.Errorf("the device was unlinked from the phone (%s): pair the session again", r)}
}

// receipt translates a receipt for messages this device sent. Receipts from
// our own devices (the phone read an incoming message, another linked
// device got a copy) and the kinds the plugin does not track are dropped.
func receipt(v *events.Receipt) (wa.Event, bool) {
	if v.IsFromMe || len(v.MessageIDs) == 0 {
		return wa.Event{}, false
	}
	var kind wa.ReceiptKind
	switch v.Type {
	case types.ReceiptTypeDelivered:
		kind = wa.ReceiptDelivered
	case types.ReceiptTypeRead:
		kind = wa.ReceiptRead
	case types.ReceiptTypeServerError:
		kind = wa.ReceiptFailed
	default:
		return wa.Event{}, false
	}
	ids := make([]string, len(v.MessageIDs))
	copy(ids, v.MessageIDs)
	return wa.Event{Type: wa.EventReceipt, MessageIDs: ids, Receipt: kind, Time: v.Timestamp}, true
}

// translateQR turns one item of whatsmeow's QR channel into an event. The
// channel's "success" is dropped: the client's PairSuccess event reports it
// with the paired phone.
func translateQR(item whatsmeow.QRChannelItem) (wa.Event, bool) {
	switch item.Event {
	case whatsmeow.QRChannelEventCode:
		return wa.Event{Type: wa.EventQR, QR: item.Code, Timeout: item.Timeout}, true
	case whatsmeow.QRChannelSuccess.Event:
		return wa.Event{}, false
	case whatsmeow.QRChannelTimeout.Event:
		return wa.Event{Type: wa.EventPairError, Err: errQRExpired}, true
	case whatsmeow.QRChannelEventError:
		err := item.Error
		if err == nil {
			err = errors.New("pairing failed")
		}
		return wa.Event{Type: wa.EventPairError, Err: fmt.Errorf("finish pairing: %w", err)}, true
	case whatsmeow.QRChannelClientOutdated.Event:
		return wa.Event{Type: wa.EventPairError, Err: errClientOutdated}, true
	case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
		return wa.Event{Type: wa.EventPairError, Err: errScannedNoMultiDv}, true
	case whatsmeow.QRChannelErrUnexpectedEvent.Event:
		return wa.Event{Type: wa.EventPairError, Err: errPairUnexpected}, true
	}
	return wa.Event{Type: wa.EventPairError, Err: fmt.Errorf("pairing ended: %s", item.Event)}, true
}
