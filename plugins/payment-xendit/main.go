// Command mikrobill-plugin-payment-xendit is the mikrobill payment plugin
// for Xendit Invoices (https://developers.xendit.co/api-reference/#invoices):
// a payment is an invoice, paid on Xendit's checkout page with a virtual
// account, an e-wallet, a QR code, a retail outlet or a card, in IDR or PHP.
//
// Where to start: gateway.go is the whole plugin, built on the SDK's package
// gateway (sdk/payment/gateway); README.md documents its settings and what
// it expects of Xendit. The host starts this program; it is not run by
// hand.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway()) }
