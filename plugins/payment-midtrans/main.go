// Command mikrobill-plugin-payment-midtrans is mikrobill's payment plugin for
// Midtrans Snap (QRIS, e-wallets, virtual accounts and cards, in IDR). The
// host starts it; it is not run by hand.
//
// Start with Gateway in gateway.go; api.go talks to Midtrans through the
// official midtrans-go SDK, notification.go verifies and confirms Midtrans'
// notifications, and store.go keeps what must survive a restart in the
// host's durable store.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway()) }
