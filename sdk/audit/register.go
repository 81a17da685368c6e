package audit

import (
	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk"
	auditv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/audit/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
)

func init() {
	registry.RegisterKind(registry.Kind{
		Name: sdk.KindAudit,
		Implements: func(impl any) bool {
			_, ok := impl.(Sink)
			return ok
		},
		Capabilities: func(impl any) []string {
			if _, ok := impl.(Prover); ok {
				return []string{CapabilityProofs}
			}
			return nil
		},
		RegisterServer: func(s grpc.ServiceRegistrar, impl any) {
			auditv1.RegisterAuditServiceServer(s, &server{impl: impl.(Sink)})
		},
		NewClient: func(cc grpc.ClientConnInterface, base any) any {
			return &client{Plugin: base.(sdk.Plugin), c: auditv1.NewAuditServiceClient(cc)}
		},
	})
}
