// Command toypay is package toypay's gateway as a plugin executable, for
// the kit's tests of Executable.
package main

import (
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/paymenttest/toypay"
)

// flaw is the toy gateway's flaw, set with -ldflags "-X main.flaw=..." by
// the kit's tests of what only a process shows (a restart).
var flaw string

func main() { sdk.Serve(&toypay.Gateway{Flaw: toypay.Flaw(flaw)}) }
