// Command mikrobill-plugin-payment-stripe is mikrobill's payment plugin for
// Stripe Checkout. The host starts it; it is not run by hand.
//
// Payments are Checkout Sessions (hosted payment pages) created with the
// official stripe-go SDK; webhooks are verified from the Stripe-Signature
// header and confirmed with Stripe's API before a payment is reported paid.
// Start with gateway.go; amounts are converted in amount.go, webhooks
// handled in webhook.go.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway()) }
