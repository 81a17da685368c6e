package notify

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/mikrobill/mikrobill/sdk/internal/convtest"
)

var (
	t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

	fullPairing = Pairing{
		QRCode:      "2@abc,def,ghi",
		QRPNG:       []byte("\x89PNG\r\n\x1a\n"),
		PairingCode: "ABCD-1234",
		ExpiresAt:   t0.Add(20 * time.Second),
	}
	fullSession = Session{
		ID:          "billing",
		Status:      SessionStatusPairing,
		Phone:       "+6281234567890",
		DisplayName: "ISP Billing",
		ConnectedAt: t0,
		LastSeenAt:  t0.Add(time.Minute),
		Pairing:     &fullPairing,
		Error:       "stream replaced",
	}
	fullAttachment = Attachment{Filename: "invoice-42.pdf", MIMEType: "application/pdf", Data: []byte("%PDF-1.7")}
)

func TestConvertRoundTrip(t *testing.T) {
	cases := []convtest.Case{
		convtest.RoundTrip("Pairing", &fullPairing, true, pairingToProto, pairingFromProto),
		convtest.RoundTrip("Session", fullSession, true, sessionToProto, sessionFromProto),
		convtest.RoundTrip("Attachment", fullAttachment, true, attachmentToProto, attachmentFromProto),

		convtest.RoundTrip("ListSessionsRequest", &ListSessionsRequest{}, true, listSessionsRequestToProto, listSessionsRequestFromProto),
		convtest.RoundTrip("ListSessionsResponse", &ListSessionsResponse{Sessions: []Session{fullSession, fullSession}}, true, listSessionsResponseToProto, listSessionsResponseFromProto),
		convtest.RoundTrip("GetSessionRequest", &GetSessionRequest{SessionID: "billing"}, true, getSessionRequestToProto, getSessionRequestFromProto),
		convtest.RoundTrip("GetSessionResponse", &GetSessionResponse{Session: fullSession}, true, getSessionResponseToProto, getSessionResponseFromProto),
		convtest.RoundTrip("StartPairingRequest", &StartPairingRequest{SessionID: "billing", Phone: "+6281234567890"}, true, startPairingRequestToProto, startPairingRequestFromProto),
		convtest.RoundTrip("StartPairingResponse", &StartPairingResponse{Session: fullSession}, true, startPairingResponseToProto, startPairingResponseFromProto),
		convtest.RoundTrip("LogoutRequest", &LogoutRequest{SessionID: "billing"}, true, logoutRequestToProto, logoutRequestFromProto),
		convtest.RoundTrip("LogoutResponse", &LogoutResponse{}, true, logoutResponseToProto, logoutResponseFromProto),
		convtest.RoundTrip("SendRequest", &SendRequest{
			SessionID:      "billing",
			To:             "+6281234567890",
			Text:           "Invoice 42 is due on 1 April.",
			Attachments:    []Attachment{fullAttachment, fullAttachment},
			IdempotencyKey: "invoice-42-reminder-1",
			Location:       "Desa Sukamaju",
		}, true, sendRequestToProto, sendRequestFromProto),
		convtest.RoundTrip("SendResponse", &SendResponse{MessageID: "3EB0C431", Status: DeliveryStatusQueued, Duplicate: true, SessionID: "billing"}, true, sendResponseToProto, sendResponseFromProto),
		convtest.RoundTrip("GetDeliveryStatusRequest", &GetDeliveryStatusRequest{MessageID: "3EB0C431", IdempotencyKey: "invoice-42-reminder-1"}, true, getDeliveryStatusRequestToProto, getDeliveryStatusRequestFromProto),
		convtest.RoundTrip("GetDeliveryStatusResponse", &GetDeliveryStatusResponse{MessageID: "3EB0C431", Status: DeliveryStatusFailed, Error: "not on WhatsApp", UpdatedAt: t0}, true, getDeliveryStatusResponseToProto, getDeliveryStatusResponseFromProto),

		// Zero values survive too (nil sub-messages, nil slices).
		convtest.RoundTrip("zero/Session", Session{}, false, sessionToProto, sessionFromProto),
		convtest.RoundTrip("zero/SendRequest", &SendRequest{}, false, sendRequestToProto, sendRequestFromProto),
		convtest.RoundTrip("zero/GetDeliveryStatusResponse", &GetDeliveryStatusResponse{}, false, getDeliveryStatusResponseToProto, getDeliveryStatusResponseFromProto),
	}
	convtest.Run(t, cases...)
}

func TestConvertStatuses(t *testing.T) {
	// Every status survives the trip; an unknown one is sent as unspecified
	// and read back as "".
	for _, s := range []SessionStatus{SessionStatusDisconnected, SessionStatusPairing, SessionStatusConnecting, SessionStatusConnected, SessionStatusLoggedOut, ""} {
		if got := sessionStatusFromProto(sessionStatusToProto(s)); got != s {
			t.Errorf("session status %q came back as %q", s, got)
		}
	}
	if got := sessionStatusFromProto(sessionStatusToProto("banned")); got != "" {
		t.Errorf("unknown session status came back as %q, want \"\"", got)
	}
	for _, s := range []DeliveryStatus{DeliveryStatusQueued, DeliveryStatusSent, DeliveryStatusDelivered, DeliveryStatusRead, DeliveryStatusFailed, ""} {
		if got := deliveryStatusFromProto(deliveryStatusToProto(s)); got != s {
			t.Errorf("delivery status %q came back as %q", s, got)
		}
	}
	if got := deliveryStatusFromProto(deliveryStatusToProto("bounced")); got != "" {
		t.Errorf("unknown delivery status came back as %q, want \"\"", got)
	}
}

func TestConvertNil(t *testing.T) {
	// A nil response converts to nil, which the SDK's server guard answers
	// with sdk.ErrInternal; a nil message converts to the zero value.
	convtest.AssertNilMessages(t, map[string]proto.Message{
		"listSessionsResponseToProto":      listSessionsResponseToProto(nil),
		"getSessionResponseToProto":        getSessionResponseToProto(nil),
		"startPairingResponseToProto":      startPairingResponseToProto(nil),
		"logoutResponseToProto":            logoutResponseToProto(nil),
		"sendResponseToProto":              sendResponseToProto(nil),
		"getDeliveryStatusResponseToProto": getDeliveryStatusResponseToProto(nil),
	})
	if diff := cmp.Diff(&GetSessionResponse{}, getSessionResponseFromProto(nil)); diff != "" {
		t.Errorf("getSessionResponseFromProto(nil) (-want +got):\n%s", diff)
	}
}
