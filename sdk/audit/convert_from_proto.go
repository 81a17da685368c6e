package audit

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	auditv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/audit/v1"
)

// Every converter here reads through the generated getters, so a nil message
// converts to the zero value.

func eventFromProto(e *auditv1.AuditEvent) Event {
	return Event{
		ID:           e.GetId(),
		Time:         convert.TimeFromProto(e.GetTime()),
		Actor:        e.GetActor(),
		Action:       e.GetAction(),
		ResourceType: e.GetResourceType(),
		ResourceID:   e.GetResourceId(),
		Outcome:      Outcome(e.GetOutcome()),
		RemoteAddr:   e.GetRemoteAddr(),
		RequestID:    e.GetRequestId(),
		Metadata:     e.GetMetadata(),
		Sequence:     e.GetSequence(),
		Hash:         e.GetHash(),
		PrevHash:     e.GetPrevHash(),
	}
}

func eventsFromProto(es []*auditv1.AuditEvent) []Event {
	var out []Event
	for _, e := range es {
		out = append(out, eventFromProto(e))
	}
	return out
}

func appendRequestFromProto(r *auditv1.AppendRequest) *AppendRequest {
	return &AppendRequest{Events: eventsFromProto(r.GetEvents())}
}

func appendResponseFromProto(r *auditv1.AppendResponse) *AppendResponse {
	return &AppendResponse{
		Appended:     int(r.GetAppended()),
		Duplicates:   int(r.GetDuplicates()),
		LastSequence: r.GetLastSequence(),
		HeadHash:     r.GetHeadHash(),
	}
}

func queryRequestFromProto(r *auditv1.QueryRequest) *QueryRequest {
	return &QueryRequest{
		Actor:        r.GetActor(),
		Action:       r.GetAction(),
		ResourceType: r.GetResourceType(),
		ResourceID:   r.GetResourceId(),
		Outcome:      Outcome(r.GetOutcome()),
		Since:        convert.TimeFromProto(r.GetSince()),
		Until:        convert.TimeFromProto(r.GetUntil()),
		PageSize:     int(r.GetPageSize()),
		PageToken:    r.GetPageToken(),
		Descending:   r.GetDescending(),
	}
}

func queryResponseFromProto(r *auditv1.QueryResponse) *QueryResponse {
	return &QueryResponse{Events: eventsFromProto(r.GetEvents()), NextPageToken: r.GetNextPageToken()}
}

func verifyRequestFromProto(r *auditv1.VerifyRequest) *VerifyRequest {
	return &VerifyRequest{
		FromSequence: r.GetFromSequence(),
		ToSequence:   r.GetToSequence(),
		KnownSize:    r.GetKnownSize(),
		PublicKey:    r.GetPublicKey(),
	}
}

func verifyResponseFromProto(r *auditv1.VerifyResponse) *VerifyResponse {
	return &VerifyResponse{
		OK:                 r.GetOk(),
		Checked:            r.GetChecked(),
		FirstBadSequence:   r.GetFirstBadSequence(),
		Message:            r.GetMessage(),
		HeadHash:           r.GetHeadHash(),
		Checkpoint:         checkpointPtrFromProto(r.GetCheckpoint()),
		CheckpointsChecked: r.GetCheckpointsChecked(),
		Reason:             VerifyReason(r.GetReason()),
	}
}

func checkpointFromProto(c *auditv1.Checkpoint) Checkpoint {
	return Checkpoint{
		Origin:    c.GetOrigin(),
		Size:      c.GetSize(),
		RootHash:  c.GetRootHash(),
		Time:      convert.TimeFromProto(c.GetTime()),
		PublicKey: c.GetPublicKey(),
		Signature: c.GetSignature(),
	}
}

func checkpointPtrFromProto(c *auditv1.Checkpoint) *Checkpoint {
	if c == nil {
		return nil
	}
	cp := checkpointFromProto(c)
	return &cp
}

func getCheckpointRequestFromProto(r *auditv1.GetCheckpointRequest) *GetCheckpointRequest {
	return &GetCheckpointRequest{Take: r.GetTake()}
}

func getCheckpointResponseFromProto(r *auditv1.GetCheckpointResponse) *GetCheckpointResponse {
	return &GetCheckpointResponse{Checkpoint: checkpointFromProto(r.GetCheckpoint())}
}

func proveInclusionRequestFromProto(r *auditv1.ProveInclusionRequest) *ProveInclusionRequest {
	return &ProveInclusionRequest{EventID: r.GetEventId(), TreeSize: r.GetTreeSize()}
}

func proveInclusionResponseFromProto(r *auditv1.ProveInclusionResponse) *ProveInclusionResponse {
	return &ProveInclusionResponse{
		Event:      eventFromProto(r.GetEvent()),
		LeafIndex:  r.GetLeafIndex(),
		Checkpoint: checkpointFromProto(r.GetCheckpoint()),
		Proof:      r.GetProof(),
	}
}
