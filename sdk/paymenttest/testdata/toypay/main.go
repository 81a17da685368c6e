// Command toypay is package toypay's gateway as a plugin executable, for
// the kit's tests of Executable.
package main

import (
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/paymenttest/toypay"
)

func main() { sdk.Serve(&toypay.Gateway{}) }
