package audit

import (
	"context"

	"github.com/mikrobill/mikrobill/sdk"
	auditv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/audit/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// client is the host's side: the same Sink interface over gRPC.
type client struct {
	sdk.Plugin
	c auditv1.AuditServiceClient
}

var _ Sink = (*client)(nil)

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
