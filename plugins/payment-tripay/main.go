// Command mikrobill-plugin-payment-tripay is mikrobill's payment plugin for
// Tripay (https://tripay.co.id) closed payments: QRIS, virtual accounts,
// retail outlets and e-wallets in IDR. The host starts it; it is not run by
// hand.
//
// Start with Gateway in gateway.go; the Tripay API client is in tripay.go and
// the callback check in webhook.go.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway()) }
