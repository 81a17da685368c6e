package metrics

import (
	"context"
	"testing"

	"google.golang.org/grpc"
)

// BenchmarkUnaryClientInterceptor is what the host's per-call metrics add to
// every call to a plugin (on top of the call itself, measured in
// sdk/client's BenchmarkCallRatio).
func BenchmarkUnaryClientInterceptor(b *testing.B) {
	m := New()
	icpt := m.UnaryClientInterceptor("bench")
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = icpt(ctx, "/mikrobill.payment.v1.PaymentService/CreatePayment", nil, nil, nil, invoker)
	}
}
