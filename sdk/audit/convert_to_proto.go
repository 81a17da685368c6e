package audit

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	auditv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/audit/v1"
)

// A nil request converts as the zero value. A nil response converts to nil,
// which the SDK's server guard answers with sdk.ErrInternal naming the
// method: an implementation returns a response or an error (see package
// sdk).

func eventToProto(e Event) *auditv1.AuditEvent {
	return &auditv1.AuditEvent{
		Id:           e.ID,
		Time:         convert.TimeToProto(e.Time),
		Actor:        e.Actor,
		Action:       e.Action,
		ResourceType: e.ResourceType,
		ResourceId:   e.ResourceID,
		Outcome:      string(e.Outcome),
		RemoteAddr:   e.RemoteAddr,
		RequestId:    e.RequestID,
		Metadata:     e.Metadata,
		Sequence:     e.Sequence,
		Hash:         e.Hash,
		PrevHash:     e.PrevHash,
	}
}

func eventsToProto(es []Event) []*auditv1.AuditEvent {
	var out []*auditv1.AuditEvent
	for _, e := range es {
		out = append(out, eventToProto(e))
	}
	return out
}

func appendRequestToProto(r *AppendRequest) *auditv1.AppendRequest {
	if r == nil {
		r = &AppendRequest{}
	}
	return &auditv1.AppendRequest{Events: eventsToProto(r.Events)}
}

func appendResponseToProto(r *AppendResponse) *auditv1.AppendResponse {
	if r == nil {
		return nil
	}
	return &auditv1.AppendResponse{
		Appended:     convert.CountToProto(r.Appended),
		Duplicates:   convert.CountToProto(r.Duplicates),
		LastSequence: r.LastSequence,
		HeadHash:     r.HeadHash,
	}
}

func queryRequestToProto(r *QueryRequest) *auditv1.QueryRequest {
	if r == nil {
		r = &QueryRequest{}
	}
	return &auditv1.QueryRequest{
		Actor:        r.Actor,
		Action:       r.Action,
		ResourceType: r.ResourceType,
		ResourceId:   r.ResourceID,
		Outcome:      string(r.Outcome),
		Since:        convert.TimeToProto(r.Since),
		Until:        convert.TimeToProto(r.Until),
		PageSize:     convert.CountToProto(r.PageSize),
		PageToken:    r.PageToken,
		Descending:   r.Descending,
	}
}

func queryResponseToProto(r *QueryResponse) *auditv1.QueryResponse {
	if r == nil {
		return nil
	}
	return &auditv1.QueryResponse{Events: eventsToProto(r.Events), NextPageToken: r.NextPageToken}
}

func verifyRequestToProto(r *VerifyRequest) *auditv1.VerifyRequest {
	if r == nil {
		r = &VerifyRequest{}
	}
	return &auditv1.VerifyRequest{
		FromSequence: r.FromSequence,
		ToSequence:   r.ToSequence,
		KnownSize:    r.KnownSize,
		PublicKey:    r.PublicKey,
	}
}

func verifyResponseToProto(r *VerifyResponse) *auditv1.VerifyResponse {
	if r == nil {
		return nil
	}
	return &auditv1.VerifyResponse{
		Ok:                 r.OK,
		Checked:            r.Checked,
		FirstBadSequence:   r.FirstBadSequence,
		Message:            r.Message,
		HeadHash:           r.HeadHash,
		Checkpoint:         checkpointPtrToProto(r.Checkpoint),
		CheckpointsChecked: r.CheckpointsChecked,
		Reason:             string(r.Reason),
	}
}

func checkpointToProto(c Checkpoint) *auditv1.Checkpoint {
	return &auditv1.Checkpoint{
		Origin:    c.Origin,
		Size:      c.Size,
		RootHash:  c.RootHash,
		Time:      convert.TimeToProto(c.Time),
		PublicKey: c.PublicKey,
		Signature: c.Signature,
	}
}

func checkpointPtrToProto(c *Checkpoint) *auditv1.Checkpoint {
	if c == nil {
		return nil
	}
	return checkpointToProto(*c)
}

func getCheckpointRequestToProto(r *GetCheckpointRequest) *auditv1.GetCheckpointRequest {
	if r == nil {
		r = &GetCheckpointRequest{}
	}
	return &auditv1.GetCheckpointRequest{Take: r.Take}
}

func getCheckpointResponseToProto(r *GetCheckpointResponse) *auditv1.GetCheckpointResponse {
	if r == nil {
		return nil
	}
	return &auditv1.GetCheckpointResponse{Checkpoint: checkpointToProto(r.Checkpoint)}
}

func proveInclusionRequestToProto(r *ProveInclusionRequest) *auditv1.ProveInclusionRequest {
	if r == nil {
		r = &ProveInclusionRequest{}
	}
	return &auditv1.ProveInclusionRequest{EventId: r.EventID, TreeSize: r.TreeSize}
}

func proveInclusionResponseToProto(r *ProveInclusionResponse) *auditv1.ProveInclusionResponse {
	if r == nil {
		return nil
	}
	return &auditv1.ProveInclusionResponse{
		Event:      eventToProto(r.Event),
		LeafIndex:  r.LeafIndex,
		Checkpoint: checkpointToProto(r.Checkpoint),
		Proof:      r.Proof,
	}
}
