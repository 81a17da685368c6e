// Command mikrobill-plugin-payment-midtrans is mikrobill's payment plugin for
// Midtrans Snap (QRIS, e-wallets, virtual accounts and cards, in IDR). The
// host starts it; it is not run by hand.
//
// It is built on the SDK's package gateway (sdk/payment/gateway), which does
// what every gateway does alike: idempotency and replay records, the
// confirmation of notifications by the status API, amount checks,
// deadlines, retries and metrics. Start with NewGateway in gateway.go: it
// creates Snap transactions and asks Midtrans' status API;
// notification.go verifies Midtrans' notifications, convert.go maps
// Midtrans' statuses and amounts, and store.go keeps the Snap checkout link
// Midtrans never hands out again in the host's durable store.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway()) }
