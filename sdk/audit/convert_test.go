package audit

import (
	"math"
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

	fullEvent = Event{
		ID:           "evt-1",
		Time:         t0,
		Actor:        "admin-7",
		Action:       "invoice.paid",
		ResourceType: "invoice",
		ResourceID:   "42",
		Outcome:      OutcomeSuccess,
		RemoteAddr:   "203.0.113.9:51234",
		RequestID:    "req-abc",
		Metadata:     map[string]string{"method": "QRIS", "amount": "150000"},
		Sequence:     7,
		Hash:         "c52d9bc77d6f9e27bda0554da27234fec6675b18b389ab15bd82e224021939a8",
		PrevHash:     "59ecae6f43b6c32fbfaaa796815ee221810454b3e720b18e4956c4eb21188177",
	}
)

func TestConvertRoundTrip(t *testing.T) {
	cases := []convCase{
		roundTrip("Event", fullEvent, true, eventToProto, eventFromProto),

		roundTrip("AppendRequest", &AppendRequest{Events: []Event{fullEvent, fullEvent}}, true, appendRequestToProto, appendRequestFromProto),
		roundTrip("AppendResponse", &AppendResponse{Appended: 2, Duplicates: 1, LastSequence: 9, HeadHash: fullEvent.Hash}, true, appendResponseToProto, appendResponseFromProto),
		roundTrip("QueryRequest", &QueryRequest{
			Actor:        "admin-7",
			Action:       "invoice.paid",
			ResourceType: "invoice",
			ResourceID:   "42",
			Outcome:      OutcomeFailure,
			Since:        t0.Add(-24 * time.Hour),
			Until:        t0,
			PageSize:     50,
			PageToken:    "seq:100",
			Descending:   true,
		}, true, queryRequestToProto, queryRequestFromProto),
		roundTrip("QueryResponse", &QueryResponse{Events: []Event{fullEvent, fullEvent}, NextPageToken: "seq:150"}, true, queryResponseToProto, queryResponseFromProto),
		roundTrip("VerifyRequest", &VerifyRequest{FromSequence: 1, ToSequence: 1000}, true, verifyRequestToProto, verifyRequestFromProto),
		roundTrip("VerifyResponse", &VerifyResponse{OK: true, Checked: 1000, FirstBadSequence: 17, Message: "hash of 17 does not match", HeadHash: fullEvent.Hash}, true, verifyResponseToProto, verifyResponseFromProto),

		// Zero values survive too (nil timestamps, nil slices and maps).
		roundTrip("zero/Event", Event{}, false, eventToProto, eventFromProto),
		roundTrip("zero/AppendRequest", &AppendRequest{}, false, appendRequestToProto, appendRequestFromProto),
		roundTrip("zero/QueryRequest", &QueryRequest{}, false, queryRequestToProto, queryRequestFromProto),
		roundTrip("zero/QueryResponse", &QueryResponse{}, false, queryResponseToProto, queryResponseFromProto),
		// An outcome the SDK does not know still travels as is.
		roundTrip("other outcome", Event{ID: "e", Outcome: "denied"}, false, eventToProto, eventFromProto),
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

func TestConvertNil(t *testing.T) {
	if got := appendResponseToProto(nil); !proto.Equal(got, appendResponseToProto(&AppendResponse{})) {
		t.Errorf("appendResponseToProto(nil) = %v, want the zero response", got)
	}
	if diff := cmp.Diff(&QueryResponse{}, queryResponseFromProto(nil)); diff != "" {
		t.Errorf("queryResponseFromProto(nil) (-want +got):\n%s", diff)
	}
}

func TestCountClamp(t *testing.T) {
	tests := []struct {
		in   int
		want uint32
	}{
		{-1, 0},
		{0, 0},
		{50, 50},
		{math.MaxInt32, math.MaxInt32},
	}
	for _, tt := range tests {
		if got := u32(tt.in); got != tt.want {
			t.Errorf("u32(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
