package audit

import (
	"context"
	"fmt"

	auditv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/audit/v1"
)

// server serves AuditService over a Sink. Each method: convert in, call,
// convert out. The SDK's interceptor maps errors to statuses.
type server struct {
	auditv1.UnimplementedAuditServiceServer
	impl Sink
}

func (s *server) Append(ctx context.Context, req *auditv1.AppendRequest) (*auditv1.AppendResponse, error) {
	resp, err := s.impl.Append(ctx, appendRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return appendResponseToProto(resp), nil
}

func (s *server) Query(ctx context.Context, req *auditv1.QueryRequest) (*auditv1.QueryResponse, error) {
	resp, err := s.impl.Query(ctx, queryRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return queryResponseToProto(resp), nil
}

func (s *server) Verify(ctx context.Context, req *auditv1.VerifyRequest) (*auditv1.VerifyResponse, error) {
	resp, err := s.impl.Verify(ctx, verifyRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return verifyResponseToProto(resp), nil
}

func (s *server) GetCheckpoint(ctx context.Context, req *auditv1.GetCheckpointRequest) (*auditv1.GetCheckpointResponse, error) {
	p, ok := s.impl.(Prover)
	if !ok {
		return nil, fmt.Errorf("%w (implement audit.Prover)", ErrNoProofs)
	}
	resp, err := p.GetCheckpoint(ctx, getCheckpointRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return getCheckpointResponseToProto(resp), nil
}

func (s *server) ProveInclusion(ctx context.Context, req *auditv1.ProveInclusionRequest) (*auditv1.ProveInclusionResponse, error) {
	p, ok := s.impl.(Prover)
	if !ok {
		return nil, fmt.Errorf("%w (implement audit.Prover)", ErrNoProofs)
	}
	resp, err := p.ProveInclusion(ctx, proveInclusionRequestFromProto(req))
	if err != nil {
		return nil, err
	}
	return proveInclusionResponseToProto(resp), nil
}
