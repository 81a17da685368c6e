package notify

import (
	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk"
	notifyv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/notify/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
)

func init() {
	registry.RegisterKind(registry.Kind{
		Name: sdk.KindNotify,
		Implements: func(impl any) bool {
			_, ok := impl.(Notifier)
			return ok
		},
		Capabilities: func(any) []string { return nil },
		RegisterServer: func(s grpc.ServiceRegistrar, impl any) {
			notifyv1.RegisterNotifyServiceServer(s, &server{impl: impl.(Notifier)})
		},
		NewClient: func(cc grpc.ClientConnInterface, base any) any {
			return &client{Plugin: base.(sdk.Plugin), c: notifyv1.NewNotifyServiceClient(cc)}
		},
	})
}
