// Command mikrobill-plugin-payment-tripay is mikrobill's payment plugin for
// Tripay (https://tripay.co.id) closed payments: QRIS, virtual accounts,
// retail outlets and e-wallets in IDR. The host starts it; it is not run by
// hand.
//
// It is built on the SDK's package gateway (sdk/payment/gateway): start with
// NewGateway and the API in gateway.go; Tripay's wire format is in
// tripay.go, the callback check in webhook.go, and the records of the
// version before the SDK in store.go.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway().Plugin()) }
