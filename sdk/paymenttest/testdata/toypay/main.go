// Command toypay is internal/toypay's gateway as a plugin executable, for
// the kit's tests of Executable.
package main

import (
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/paymenttest/internal/toypay"
)

func main() { sdk.Serve(&toypay.Gateway{}) }
