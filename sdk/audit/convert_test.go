package audit

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/mikrobill/mikrobill/sdk/internal/convtest"
)

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

	fullCheckpoint = Checkpoint{
		Origin:    "mikrobill-audit",
		Size:      1000,
		RootHash:  bytes.Repeat([]byte{0xab}, 32),
		Time:      t0,
		PublicKey: bytes.Repeat([]byte{0xcd}, 32),
		Signature: bytes.Repeat([]byte{0xef}, 64),
	}
)

func TestConvertRoundTrip(t *testing.T) {
	cases := []convtest.Case{
		convtest.RoundTrip("Event", fullEvent, true, eventToProto, eventFromProto),

		convtest.RoundTrip("AppendRequest", &AppendRequest{Events: []Event{fullEvent, fullEvent}}, true, appendRequestToProto, appendRequestFromProto),
		convtest.RoundTrip("AppendResponse", &AppendResponse{Appended: 2, Duplicates: 1, LastSequence: 9, HeadHash: fullEvent.Hash}, true, appendResponseToProto, appendResponseFromProto),
		convtest.RoundTrip("QueryRequest", &QueryRequest{
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
		convtest.RoundTrip("QueryResponse", &QueryResponse{Events: []Event{fullEvent, fullEvent}, NextPageToken: "seq:150"}, true, queryResponseToProto, queryResponseFromProto),
		convtest.RoundTrip("VerifyRequest", &VerifyRequest{FromSequence: 1, ToSequence: 1000, KnownSize: 900, PublicKey: fullCheckpoint.PublicKey}, true, verifyRequestToProto, verifyRequestFromProto),
		convtest.RoundTrip("VerifyResponse", &VerifyResponse{OK: true, Checked: 1000, FirstBadSequence: 17, Message: "hash of 17 does not match", HeadHash: fullEvent.Hash, Checkpoint: &fullCheckpoint, CheckpointsChecked: 3, Reason: ReasonChain}, true, verifyResponseToProto, verifyResponseFromProto),
		convtest.RoundTrip("Checkpoint", fullCheckpoint, true, checkpointToProto, checkpointFromProto),
		convtest.RoundTrip("GetCheckpointRequest", &GetCheckpointRequest{Take: true}, true, getCheckpointRequestToProto, getCheckpointRequestFromProto),
		convtest.RoundTrip("GetCheckpointResponse", &GetCheckpointResponse{Checkpoint: fullCheckpoint}, true, getCheckpointResponseToProto, getCheckpointResponseFromProto),
		convtest.RoundTrip("ProveInclusionRequest", &ProveInclusionRequest{EventID: "evt-1", TreeSize: 1000}, true, proveInclusionRequestToProto, proveInclusionRequestFromProto),
		convtest.RoundTrip("ProveInclusionResponse", &ProveInclusionResponse{Event: fullEvent, LeafIndex: 6, Checkpoint: fullCheckpoint, Proof: [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}}, true, proveInclusionResponseToProto, proveInclusionResponseFromProto),

		// Zero values survive too (nil timestamps, nil slices and maps).
		convtest.RoundTrip("zero/Event", Event{}, false, eventToProto, eventFromProto),
		convtest.RoundTrip("zero/AppendRequest", &AppendRequest{}, false, appendRequestToProto, appendRequestFromProto),
		convtest.RoundTrip("zero/QueryRequest", &QueryRequest{}, false, queryRequestToProto, queryRequestFromProto),
		convtest.RoundTrip("zero/QueryResponse", &QueryResponse{}, false, queryResponseToProto, queryResponseFromProto),
		convtest.RoundTrip("zero/VerifyResponse", &VerifyResponse{}, false, verifyResponseToProto, verifyResponseFromProto),
		convtest.RoundTrip("zero/GetCheckpointResponse", &GetCheckpointResponse{}, false, getCheckpointResponseToProto, getCheckpointResponseFromProto),
		convtest.RoundTrip("zero/ProveInclusionResponse", &ProveInclusionResponse{}, false, proveInclusionResponseToProto, proveInclusionResponseFromProto),
		// An outcome the SDK does not know still travels as is.
		convtest.RoundTrip("other outcome", Event{ID: "e", Outcome: "denied"}, false, eventToProto, eventFromProto),
	}
	convtest.Run(t, cases...)
}

func TestConvertNil(t *testing.T) {
	// A nil response converts to nil, which the SDK's server guard answers
	// with sdk.ErrInternal; a nil message converts to the zero value.
	convtest.AssertNilMessages(t, map[string]proto.Message{
		"appendResponseToProto":         appendResponseToProto(nil),
		"queryResponseToProto":          queryResponseToProto(nil),
		"verifyResponseToProto":         verifyResponseToProto(nil),
		"getCheckpointResponseToProto":  getCheckpointResponseToProto(nil),
		"proveInclusionResponseToProto": proveInclusionResponseToProto(nil),
	})
	if diff := cmp.Diff(&QueryResponse{}, queryResponseFromProto(nil)); diff != "" {
		t.Errorf("queryResponseFromProto(nil) (-want +got):\n%s", diff)
	}
}
