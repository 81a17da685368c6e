package audit

import (
	"context"

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
