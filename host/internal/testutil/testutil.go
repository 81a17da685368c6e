// Package testutil holds the fakes the host's tests share: Gateway, a
// payment plugin whose behaviour each test gives in function fields,
// AuditLog, an in-memory audit plugin (auditlog.go), and Plugins, the set
// of plugins a test hands billing. Serve a fake with
// sdktest.Serve, so that the host reaches it over real gRPC as it reaches a
// plugin process. The generic helpers (WaitFor, Buffer, Logger, Clock) are
// sdktest's, shared with plugin authors. Only tests import this package.
package testutil

import (
	"context"
	"fmt"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// Gateway is a payment plugin for the host's tests, in the style of
// grafana-plugin-sdk-go's handlertest: each method calls its function
// field, and a method whose field is nil answers sdk.ErrNotSupported. A
// field may use the Gateway's sdk.Base (g.Host(), the host's services once
// the plugin is configured) by closing over the Gateway:
//
//	gw := &testutil.Gateway{}
//	gw.HandleWebhookFunc = func(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
//		stored, err := gw.Host().StoreSet(ctx, "event:"+id, nil, sdk.StoreSetOptions{OnlyIfAbsent: true})
//		...
//	}
//	client := sdktest.Serve(t, gw).Payment()
//
// Set the fields before serving it; they are read without a lock.
type Gateway struct {
	sdk.Base
	// Name is what Describe answers, with version 1.0.0; "payment-fake"
	// when empty.
	Name string

	CreatePaymentFunc func(context.Context, *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error)
	GetPaymentFunc    func(context.Context, *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error)
	HandleWebhookFunc func(context.Context, *payment.WebhookRequest) (*payment.WebhookResponse, error)
}

var _ payment.Gateway = (*Gateway)(nil)

// Describe answers the Gateway's Name, version 1.0.0.
func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	name := g.Name
	if name == "" {
		name = "payment-fake"
	}
	return &sdk.DescribeResponse{Name: name, Version: "1.0.0"}, nil
}

// CreatePayment calls CreatePaymentFunc.
func (g *Gateway) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if g.CreatePaymentFunc == nil {
		return nil, fmt.Errorf("%w: the test gave this gateway no CreatePaymentFunc", sdk.ErrNotSupported)
	}
	return g.CreatePaymentFunc(ctx, req)
}

// GetPayment calls GetPaymentFunc.
func (g *Gateway) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	if g.GetPaymentFunc == nil {
		return nil, fmt.Errorf("%w: the test gave this gateway no GetPaymentFunc", sdk.ErrNotSupported)
	}
	return g.GetPaymentFunc(ctx, req)
}

// HandleWebhook calls HandleWebhookFunc.
func (g *Gateway) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	if g.HandleWebhookFunc == nil {
		return nil, fmt.Errorf("%w: the test gave this gateway no HandleWebhookFunc", sdk.ErrNotSupported)
	}
	return g.HandleWebhookFunc(ctx, req)
}

// Plugins hands billing the plugins a test gives, by name (usually their
// sdktest clients); any other name is billing.ErrNoPlugin. Without
// AuditSink there is no audit plugin, and billing keeps audit events in the
// host's own log. The zero Plugins is a host without plugins.
type Plugins struct {
	Payments  map[string]payment.Gateway
	Routers   map[string]router.Router
	Notifiers map[string]notify.Notifier
	AuditSink audit.Sink
}

var _ billing.Plugins = Plugins{}

// Payment returns the payment plugin called name.
func (p Plugins) Payment(name string) (payment.Gateway, error) { return find(p.Payments, name) }

// Router returns the router plugin called name.
func (p Plugins) Router(name string) (router.Router, error) { return find(p.Routers, name) }

// Notifier returns the notification plugin called name.
func (p Plugins) Notifier(name string) (notify.Notifier, error) { return find(p.Notifiers, name) }

// AuditInstalled reports whether the test gave an audit plugin.
func (p Plugins) AuditInstalled() bool { return p.AuditSink != nil }

// Audit returns the audit plugin, if the test gave one.
func (p Plugins) Audit() (audit.Sink, bool) { return p.AuditSink, p.AuditSink != nil }

func find[T any](m map[string]T, name string) (T, error) {
	v, ok := m[name]
	if !ok {
		return v, fmt.Errorf("%w: %s", billing.ErrNoPlugin, name)
	}
	return v, nil
}
