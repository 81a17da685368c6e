package payment

import (
	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk"
	paymentv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/payment/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
)

func init() {
	registry.RegisterKind(registry.Kind{
		Name: sdk.KindPayment,
		Implements: func(impl any) bool {
			_, ok := impl.(Gateway)
			return ok
		},
		Capabilities: func(impl any) []string {
			var caps []string
			if _, ok := impl.(Refunder); ok {
				caps = append(caps, CapabilityRefund)
			}
			if _, ok := impl.(MethodLister); ok {
				caps = append(caps, CapabilityListMethods)
			}
			return caps
		},
		RegisterServer: func(s grpc.ServiceRegistrar, impl any) {
			paymentv1.RegisterPaymentServiceServer(s, &server{impl: impl.(Gateway)})
		},
		NewClient: func(cc grpc.ClientConnInterface, base any) any {
			return &client{Plugin: base.(sdk.Plugin), c: paymentv1.NewPaymentServiceClient(cc)}
		},
	})
}
