// Package paymenttest is the conformance kit for payment gateway plugins:
// the checks the mikrobill host relies on, which an integrator runs against
// their own plugin before shipping it.
//
// Start here: write a Fake, a stand-in for your gateway's HTTP API served on
// 127.0.0.1 (httptest) that answers with the gateway's documented request
// and response shapes and builds the notifications the gateway would send.
// Then get a Subject, either in-process (InProcess serves your
// implementation over real gRPC with mutual TLS, through package sdktest) or
// from your built executable (Executable launches it from the folder that
// holds plugin.json, exactly as the host does), and call Run:
//
//	func TestConformance(t *testing.T) {
//		fake := newFakeAPI(t) // your Fake
//		paymenttest.Run(t, paymenttest.InProcess(t, NewGateway()), fake, paymenttest.Options{})
//	}
//
// Run checks, as named subtests in this order and on one payment: describe,
// configure, health, create, cache_lost, status, unconfirmed, paid, replay,
// reused_event, refusals, status_after and cancel (see Run). Each failure
// says what the plugin did and what it must do instead.
//
// Run the suite on both subjects (the package example shows a plugin's
// conformance_test.go doing that): only an executable shows the handshake,
// the process's environment and that Describe matches plugin.json; only an
// in-process plugin lets the cancel check see that the plugin's own call
// ended when the host's deadline passed.
//
// Writing the Fake: give every notification Kind its own event id (else the
// plugin's replay record takes them for repeats before the check each is
// for), sign them the way the gateway signs, and let Stall delay the API's
// answers but give up when the plugin's request is cancelled. Settings
// point the plugin at the fake's URL. Implement EventReuser too, so that
// the kit can check that an event id used for one payment is refused for
// another.
//
// Options adapt the suite to gateways without a status API
// (NotificationIsAuthoritative) or without any remote API (NoRemoteAPI).
package paymenttest

import (
	"strconv"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Subject is the gateway under test, as the host sees it.
type Subject struct {
	Plugin  client.Plugin   // Describe, Configure, CheckHealth (sdk/client)
	Gateway payment.Gateway // the payment client
	// Name and Version the manifest declares; Executable fills them from
	// plugin.json, InProcess leaves them empty (then only non-empty is
	// checked).
	Name, Version string

	// manifestFile is the plugin.json Name and Version come from
	// (Executable), for messages.
	manifestFile string
	// inProcess: the plugin runs in this process (InProcess), so Run can
	// look at the plugin's side of a call.
	inProcess bool
	// dataDir is the plugin's data directory (Executable); Run passes it
	// to Configure as the host does. Empty: a new temporary directory.
	dataDir string
	// host is the host service offered to the plugin: sdktest's FakeHost,
	// with the host's limits (sdk.ValidateKV), whose cache Run drops.
	host *sdktest.FakeHost
}

// Fake is the test's stand-in for the gateway's HTTP API (a server on
// 127.0.0.1 speaking the gateway's documented request and response shapes),
// which the kit drives.
type Fake interface {
	// Settings are valid settings that point the plugin at the fake (its
	// base URL override).
	Settings() map[string]any
	// InvalidSettings are settings Configure must refuse with
	// sdk.ErrInvalidArgument.
	InvalidSettings() map[string]any
	// Amount is an amount the gateway takes, e.g.
	// payment.Money{Amount: 150000, Currency: "IDR"}.
	Amount() payment.Money
	// SetPaid makes the fake's status API report p paid from now on.
	SetPaid(t testing.TB, p payment.Payment)
	// Notification is a webhook request as the gateway would send it about
	// p (see Kind).
	Notification(t testing.TB, p payment.Payment, k Kind) sdk.HTTPRequest
	// Stall makes the fake's API answer only after d (0: at once again).
	Stall(d time.Duration)
}

// Kind is which notification Fake.Notification builds.
type Kind int

// Notification kinds.
const (
	// Paid is validly signed and says p is paid, with p's amount.
	Paid Kind = iota
	// BadSignature says p is paid; its signature does not verify.
	BadSignature
	// WrongAmount is validly signed and says p is paid with another amount.
	WrongAmount
	// UnknownOrder is validly signed and says paid for an order the gateway
	// never made (p only gives the shape).
	UnknownOrder
	// Malformed: the body does not parse as the gateway's notification
	// (signed over its raw bytes where the scheme signs raw bytes).
	Malformed
)

// String returns the kind's name, for example "BadSignature".
func (k Kind) String() string {
	switch k {
	case Paid:
		return "Paid"
	case BadSignature:
		return "BadSignature"
	case WrongAmount:
		return "WrongAmount"
	case UnknownOrder:
		return "UnknownOrder"
	case Malformed:
		return "Malformed"
	default:
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Options adapt the suite to a gateway.
type Options struct {
	// NotificationIsAuthoritative: the gateway has no status API apart from
	// its notifications (payment-manual: the signed confirmation is the
	// operator's word). Skips "a paid notification that the status API does
	// not back is not reported paid".
	NotificationIsAuthoritative bool
	// NoRemoteAPI: the plugin calls no remote API (payment-manual). Skips
	// the cancelled-context check.
	NoRemoteAPI bool
}
