// Command mikrobill-plugin-payment-stripe is mikrobill's payment plugin for
// Stripe Checkout. The host starts it; it is not run by hand.
//
// It is built on the SDK's sdk/payment/gateway, which does idempotency and
// replay records, confirmation by the status query, amount checks,
// deadlines, metrics and health. Payments are Checkout Sessions (hosted
// payment pages) created with the official stripe-go client, kept for its
// form encoding, typed answers and errors, and retries with one
// Idempotency-Key. Start with gateway.go; amounts are converted in
// amount.go, webhooks verified and read in webhook.go.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway().Plugin()) }
