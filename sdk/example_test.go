package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Greeter is a generic plugin: it implements only sdk.Plugin, with sdk.Base
// supplying Configure, CheckHealth and CollectMetrics.
type Greeter struct {
	sdk.Base
}

// Describe says who the plugin is; it must match the plugin's plugin.json.
func (g *Greeter) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "greeter", Version: "1.0.0", Description: "Says hello"}, nil
}

// A plugin's main calls Serve and does nothing else. Serve speaks the
// handshake with the host, serves until the host stops the plugin, and
// explains itself and exits when someone runs the program by hand.
func ExampleServe() {
	// func main() {
	sdk.Serve(&Greeter{})
	// }
}

// A plugin decodes its settings in Configure. Defaults go into the value
// first; the operator's settings override them, and a field the plugin does
// not know is an error that names it.
func ExampleDecodeConfig() {
	type settings struct {
		ServerKey string `json:"server_key"`
		Sandbox   bool   `json:"sandbox"`
	}

	cfg := settings{Sandbox: true}
	err := sdk.DecodeConfig(json.RawMessage(`{"server_key":"SB-Mid-server-123"}`), &cfg)
	fmt.Printf("%+v %v\n", cfg, err)

	err = sdk.DecodeConfig(json.RawMessage(`{"server_key":"x","sandbx":false}`), &cfg)
	fmt.Println(err)
	// Output:
	// {ServerKey:SB-Mid-server-123 Sandbox:true} <nil>
	// invalid argument: settings: unknown field "sandbx"; check the plugin's config_schema for the fields it takes
}

// Gateway is a payment plugin. sdk.Base gives it CheckHealth and
// CollectMetrics; it implements Describe, Configure and payment.Gateway.
type Gateway struct {
	sdk.Base
	settings atomic.Pointer[acmeSettings]
}

// acmeSettings are the plugin's settings, as its config_schema
// describes them.
type acmeSettings struct {
	ServerKey string `json:"server_key"`
	Sandbox   bool   `json:"sandbox"`
}

var _ payment.Gateway = (*Gateway)(nil)

func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "payment-acme", Version: "1.0.0"}, nil
}

// Configure decodes the settings over their defaults. It runs again when an
// operator changes them, while requests are served: swap the settings
// whole.
func (g *Gateway) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	s := acmeSettings{Sandbox: true}
	if err := sdk.DecodeConfig(req.Settings, &s); err != nil {
		return nil, err
	}
	g.settings.Store(&s)
	return &sdk.ConfigureResponse{}, nil
}

func (g *Gateway) CreatePayment(_ context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	// Here: ask the gateway's API for a payment, with req.IdempotencyKey.
	return &payment.CreatePaymentResponse{Payment: payment.Payment{
		ID: "ACME-" + req.OrderID, OrderID: req.OrderID, Status: payment.StatusPending, Amount: req.Amount,
	}}, nil
}

func (g *Gateway) GetPayment(context.Context, *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	return nil, payment.ErrUnknownOrder
}

func (g *Gateway) HandleWebhook(context.Context, *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	// Here: verify the signature over req.Request.Body, then parse it.
	return nil, payment.ErrInvalidSignature
}

// A payment plugin: a type that embeds sdk.Base and implements
// payment.Gateway, served from main. docs/writing-a-payment-plugin.md and
// plugins/payment-template have the whole of it.
func Example_gateway() {
	// func main() {
	sdk.Serve(&Gateway{})
	// }
}

// Configure calls DecodeConfig with the defaults already in place; a
// mistake in the settings is an error that names it, which the host shows
// the operator.
func ExampleDecodeConfig_configure() {
	g := &Gateway{}
	ctx := context.Background()

	_, err := g.Configure(ctx, &sdk.ConfigureRequest{Settings: json.RawMessage(`{"server_key":"SB-Mid-server-123"}`)})
	fmt.Printf("%+v %v\n", *g.settings.Load(), err)

	_, err = g.Configure(ctx, &sdk.ConfigureRequest{Settings: json.RawMessage(`{"server_key":42}`)})
	fmt.Println(err)
	// Output:
	// {ServerKey:SB-Mid-server-123 Sandbox:true} <nil>
	// invalid argument: settings: field "server_key": expected string, got a JSON number
}

// Metered is a plugin that counts its calls to a gateway's API.
type Metered struct {
	sdk.Base
	calls *sdk.Counters
}

// CollectMetrics writes the counters in the Prometheus text format.
func (m *Metered) CollectMetrics(context.Context, *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	var b bytes.Buffer
	m.calls.WriteText(&b)
	return &sdk.CollectMetricsResponse{Text: b.Bytes()}, nil
}

// A plugin counts what it does with Counters, and CollectMetrics writes
// them for the host, which adds them to its /metrics with a plugin label.
func ExampleCounters() {
	m := &Metered{calls: sdk.NewCounters("examplepay_api_requests_total",
		"Calls to Example Pay's API by operation and outcome.", "operation", "outcome")}
	m.calls.Inc("create", "ok")
	m.calls.Inc("create", "ok")
	m.calls.Inc("status", "unavailable")
	fmt.Println(m.calls.Get("create", "ok"))

	resp, err := m.CollectMetrics(context.Background(), &sdk.CollectMetricsRequest{})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(resp.Text))
	// Output:
	// 2
	// # HELP examplepay_api_requests_total Calls to Example Pay's API by operation and outcome.
	// # TYPE examplepay_api_requests_total counter
	// examplepay_api_requests_total{operation="create",outcome="ok"} 2
	// examplepay_api_requests_total{operation="status",outcome="unavailable"} 1
}
