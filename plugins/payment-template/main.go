// Command mikrobill-plugin-payment-template is a complete mikrobill payment
// plugin for Example Pay, a fictional gateway whose HTTP API is specified in
// README.md. It is the template to copy when you write a plugin for your own
// gateway: every place to change is marked "REPLACE:".
//
// Where to start:
//   - gateway.go: the settings and Example Pay's API (create, status by id
//     and by order, notification signature and fields), on the SDK's
//     package gateway (sdk/payment/gateway), which does the rest the same
//     way for every gateway: idempotency and replay records, confirmation
//     by the status query, amount checks, deadlines, retries, health.
//   - examplepay.go: where Example Pay's JSON keeps each field, and its
//     status words.
//   - examplepay_fake_test.go: a fake of the gateway's API for the tests;
//     conformance_test.go runs the SDK's conformance kit against the plugin.
//
// The host starts this program; it is not run by hand. The guide is
// docs/writing-a-payment-plugin.md in the mikrobill repository.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway()) }
