package notify

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

// convCase is one round trip: Go -> proto -> wire -> proto -> Go.
type convCase struct {
	name string
	run  func(t *testing.T)
}

// roundTrip builds a case that converts in to proto, marshals and unmarshals
// it, converts it back and expects in again. With full set, it first checks
// that every field of in is set, so a field added to a type but not to its
// converters (or to the fixture) fails the test.
func roundTrip[G any, P proto.Message](name string, in G, full bool, to func(G) P, from func(P) G) convCase {
	return convCase{name: name, run: func(t *testing.T) {
		if full {
			assertAllSet(t, reflect.ValueOf(in), "in")
		}
		b, err := proto.Marshal(to(in))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		p := to(in).ProtoReflect().New().Interface().(P)
		if err := proto.Unmarshal(b, p); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if diff := cmp.Diff(in, from(p)); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
	}}
}

// assertAllSet fails for every exported field under v that holds its zero
// value, and for empty slices and maps.
func assertAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil; set every field in the fixture", path)
			return
		}
		assertAllSet(t, v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.IsZero() {
				t.Errorf("%s.%s is the zero value; set every field in the fixture", path, f.Name)
				continue
			}
			assertAllSet(t, fv, path+"."+f.Name)
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			t.Errorf("%s is empty; set every field in the fixture", path)
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			for i := range v.Len() {
				assertAllSet(t, v.Index(i), path)
			}
		}
	}
}

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
	cases := []convCase{
		roundTrip("Pairing", &fullPairing, true, pairingToProto, pairingFromProto),
		roundTrip("Session", fullSession, true, sessionToProto, sessionFromProto),
		roundTrip("Attachment", fullAttachment, true, attachmentToProto, attachmentFromProto),

		roundTrip("ListSessionsRequest", &ListSessionsRequest{}, true, listSessionsRequestToProto, listSessionsRequestFromProto),
		roundTrip("ListSessionsResponse", &ListSessionsResponse{Sessions: []Session{fullSession, fullSession}}, true, listSessionsResponseToProto, listSessionsResponseFromProto),
		roundTrip("GetSessionRequest", &GetSessionRequest{SessionID: "billing"}, true, getSessionRequestToProto, getSessionRequestFromProto),
		roundTrip("GetSessionResponse", &GetSessionResponse{Session: fullSession}, true, getSessionResponseToProto, getSessionResponseFromProto),
		roundTrip("StartPairingRequest", &StartPairingRequest{SessionID: "billing", Phone: "+6281234567890"}, true, startPairingRequestToProto, startPairingRequestFromProto),
		roundTrip("StartPairingResponse", &StartPairingResponse{Session: fullSession}, true, startPairingResponseToProto, startPairingResponseFromProto),
		roundTrip("LogoutRequest", &LogoutRequest{SessionID: "billing"}, true, logoutRequestToProto, logoutRequestFromProto),
		roundTrip("LogoutResponse", &LogoutResponse{}, true, logoutResponseToProto, logoutResponseFromProto),
		roundTrip("SendRequest", &SendRequest{
			SessionID:      "billing",
			To:             "+6281234567890",
			Text:           "Invoice 42 is due on 1 April.",
			Attachments:    []Attachment{fullAttachment, fullAttachment},
			IdempotencyKey: "invoice-42-reminder-1",
		}, true, sendRequestToProto, sendRequestFromProto),
		roundTrip("SendResponse", &SendResponse{MessageID: "3EB0C431", Status: DeliveryStatusQueued, Duplicate: true, SessionID: "billing"}, true, sendResponseToProto, sendResponseFromProto),
		roundTrip("GetDeliveryStatusRequest", &GetDeliveryStatusRequest{MessageID: "3EB0C431", IdempotencyKey: "invoice-42-reminder-1"}, true, getDeliveryStatusRequestToProto, getDeliveryStatusRequestFromProto),
		roundTrip("GetDeliveryStatusResponse", &GetDeliveryStatusResponse{MessageID: "3EB0C431", Status: DeliveryStatusFailed, Error: "not on WhatsApp", UpdatedAt: t0}, true, getDeliveryStatusResponseToProto, getDeliveryStatusResponseFromProto),

		// Zero values survive too (nil sub-messages, nil slices).
		roundTrip("zero/Session", Session{}, false, sessionToProto, sessionFromProto),
		roundTrip("zero/SendRequest", &SendRequest{}, false, sendRequestToProto, sendRequestFromProto),
		roundTrip("zero/GetDeliveryStatusResponse", &GetDeliveryStatusResponse{}, false, getDeliveryStatusResponseToProto, getDeliveryStatusResponseFromProto),
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
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
	if got := sendResponseToProto(nil); !proto.Equal(got, sendResponseToProto(&SendResponse{})) {
		t.Errorf("sendResponseToProto(nil) = %v, want the zero response", got)
	}
	if diff := cmp.Diff(&GetSessionResponse{}, getSessionResponseFromProto(nil)); diff != "" {
		t.Errorf("getSessionResponseFromProto(nil) (-want +got):\n%s", diff)
	}
}
