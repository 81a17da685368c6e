package audit

import (
	"context"

	"github.com/mikrobill/mikrobill/sdk"
	auditv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/audit/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// client is the host's side: the same Sink interface over gRPC. It
// implements Prover too; against a sink without it, its methods return an
// error matching ErrNoProofs (check Describe's capabilities first).
type client struct {
	sdk.Plugin
	c auditv1.AuditServiceClient
}

var (
	_ Sink   = (*client)(nil)
	_ Prover = (*client)(nil)
)

func (c *client) Append(ctx context.Context, req *AppendRequest) (*AppendResponse, error) {
	resp, err := c.c.Append(ctx, appendRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return appendResponseFromProto(resp), nil
}

func (c *client) Query(ctx context.Context, req *QueryRequest) (*QueryResponse, error) {
	resp, err := c.c.Query(ctx, queryRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return queryResponseFromProto(resp), nil
}

func (c *client) Verify(ctx context.Context, req *VerifyRequest) (*VerifyResponse, error) {
	resp, err := c.c.Verify(ctx, verifyRequestToProto(req))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return verifyResponseFromProto(resp), nil
}

func (c *client) GetCheckpoint(ctx context.Context, req *GetCheckpointRequest) (*GetCheckpointResponse, error) {
	resp, err := c.c.GetCheckpoint(ctx, getCheckpointRequestToProto(req))
	if err != nil {
		return nil, noProofs(rpcerr.FromStatus(err))
	}
	return getCheckpointResponseFromProto(resp), nil
}

func (c *client) ProveInclusion(ctx context.Context, req *ProveInclusionRequest) (*ProveInclusionResponse, error) {
	resp, err := c.c.ProveInclusion(ctx, proveInclusionRequestToProto(req))
	if err != nil {
		return nil, noProofs(rpcerr.FromStatus(err))
	}
	return proveInclusionResponseFromProto(resp), nil
}
