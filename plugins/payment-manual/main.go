// Command mikrobill-plugin-payment-manual is mikrobill's payment plugin for
// cash and bank transfers that an operator confirms. The host starts it; it
// is not run by hand.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewGateway()) }
