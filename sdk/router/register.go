package router

import (
	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk"
	routerv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/router/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
)

func init() {
	registry.RegisterKind(registry.Kind{
		Name: sdk.KindRouter,
		Implements: func(impl any) bool {
			_, ok := impl.(Router)
			return ok
		},
		Capabilities: func(any) []string { return nil },
		RegisterServer: func(s grpc.ServiceRegistrar, impl any) {
			routerv1.RegisterRouterServiceServer(s, &server{impl: impl.(Router)})
		},
		NewClient: func(cc grpc.ClientConnInterface, base any) any {
			return &client{Plugin: base.(sdk.Plugin), c: routerv1.NewRouterServiceClient(cc)}
		},
	})
}
