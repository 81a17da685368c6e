// Command mikrobill-plugin-payment-template is a complete mikrobill payment
// plugin for Example Pay, a fictional gateway whose HTTP API is specified in
// README.md. It is the template to copy when you write a plugin for your own
// gateway: every place to change is marked "REPLACE:".
//
// Where to start:
//   - gateway.go: the plugin (settings, Configure, CreatePayment, GetPayment,
//     HandleWebhook).
//   - api.go: the client of the gateway's HTTP API (timeouts, bounded
//     retries, errors mapped to the SDK's sentinels).
//   - signature.go: the webhook signature, checked over the raw body.
//   - examplepay_fake_test.go: a fake of the gateway's API for the tests;
//     conformance_test.go runs the SDK's conformance kit against the plugin.
//
// The host starts this program; it is not run by hand. The guide is
// docs/writing-a-payment-plugin.md in the mikrobill repository.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway()) }
