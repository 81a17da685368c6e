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
// Run checks, as named subtests in this order: describe, configure, health,
// create, currency, cache_lost, status, status_by_order, unconfirmed, paid,
// replay, concurrent_replays, reused_event, refusals, unpaid, status_after,
// hang, restart_replay, limits and secrets (see Run). Each failure says what
// the plugin did and what it must do instead.
//
// Run the suite on both subjects (the package example shows a plugin's
// conformance_test.go doing that): only an executable shows the handshake,
// the process's environment and that Describe matches plugin.json; only an
// in-process plugin lets the cancel check see that the plugin's own call
// ended when the host's deadline passed.
//
// Writing the Fake: give every notification Kind its own event id (else the
// plugin's replay record takes them for repeats before the check each is
// for), sign them the way the gateway signs, build every Kind and list them
// in Kinds (paymenttest.AllKinds), and let Stall delay the API's answers but
// give up when the plugin's request is cancelled (read the request body
// before stalling: a fake that stalls before reading it never sees the
// client give up). Settings
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
	// logs holds what the plugin logged (its stderr, for an Executable).
	logs *sdktest.Buffer
	// secretKeys are the settings plugin.json's config_schema marks secret
	// ("format": "password" or "writeOnly": true); nil: unknown.
	secretKeys []string
	// restart stops the plugin process and starts it again on the same
	// host service and data directory, returning the new clients
	// (Executable only).
	restart func(t testing.TB) (client.Plugin, payment.Gateway)
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
//
// A Fake builds the first five kinds (Paid to Malformed); the later ones
// are asked of a Fake that lists them in Kinds (the Kinds interface), and
// the checks that need them are skipped, saying so, for one that does not.
// New Fakes should build them all: they are what catches a plugin that
// accepts an unsigned notification, or reports a failed payment paid.
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
	// Unsigned is Paid without its signature: the header (or the body
	// field) that carries it left out.
	Unsigned
	// EmptySignature is Paid with its signature present but empty (the
	// header sent with an empty value, or the field "").
	EmptySignature
	// TamperedAmount is Paid's signature as the gateway made it for the
	// genuine notification, sent with the amount in the body changed (an
	// attacker's edit): the signature does not cover this body.
	TamperedAmount
	// Failed is validly signed and says p failed; from this call on the
	// fake's status API says p failed too.
	Failed
	// Cancelled is validly signed and says p was cancelled; from this call
	// on the fake's status API says so too.
	Cancelled
	// Expired is validly signed and says p expired; from this call on the
	// fake's status API says so too.
	Expired
	// UnknownStatus is validly signed and carries a status word the
	// gateway does not document (say "chargeback_reversed"); from this call
	// on the fake's status API answers that word too.
	UnknownStatus
)

// kindNames are the kinds' names, in order.
var kindNames = [...]string{
	Paid: "Paid", BadSignature: "BadSignature", WrongAmount: "WrongAmount", UnknownOrder: "UnknownOrder", Malformed: "Malformed",
	Unsigned: "Unsigned", EmptySignature: "EmptySignature", TamperedAmount: "TamperedAmount",
	Failed: "Failed", Cancelled: "Cancelled", Expired: "Expired", UnknownStatus: "UnknownStatus",
}

// String returns the kind's name, for example "BadSignature".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// AllKinds are every Kind, for a Fake's Kinds that builds them all.
func AllKinds() []Kind {
	out := make([]Kind, len(kindNames))
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// Kinds is an optional part of a Fake: the notification kinds its
// Notification builds. Without it the kit asks only for the first five
// (Paid to Malformed) and skips the checks of the others, saying which.
//
//	func (f *fake) Kinds() []paymenttest.Kind { return paymenttest.AllKinds() }
type Kinds interface {
	Kinds() []Kind
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
